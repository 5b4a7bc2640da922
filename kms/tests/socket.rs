//! kage-kms's server on a real Unix socket with a stand-in for Transit: the HTTP/2 round trip,
//! and each limit of the socket refused as documented.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kage_kms::client::{Client, ClientError};
use kage_kms::grpc::{MAX_CONNECTIONS, MAX_MESSAGE_BYTES, READ_TIMEOUT, serve};
use kage_kms::plugin::{Backend, BackendFuture, Plugin};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use zeroize::Zeroizing;

/// "vault:v1:" + the plaintext as hex; waits `delay` first.
struct Slow {
    delay: Duration,
}

impl Backend for Slow {
    fn key_path(&self) -> String {
        "transit/keys/kage".to_owned()
    }
    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BackendFuture<'a, String> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let hex: String = plaintext.iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("vault:v1:{hex}"))
        })
    }
    fn decrypt<'a>(&'a self, ciphertext: &'a str) -> BackendFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(async move {
            let hex = ciphertext.trim_start_matches("vault:v1:");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            Ok(Zeroizing::new(bytes))
        })
    }
}

fn start(dir: &Path, delay: Duration) -> std::path::PathBuf {
    let socket = dir.join("kms.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let plugin = Arc::new(Plugin::new(Slow { delay }));
    tokio::spawn(serve(listener, plugin, std::future::pending()));
    socket
}

#[tokio::test]
async fn a_round_trip_over_http2_and_the_message_limit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = start(dir.path(), Duration::ZERO);
    let mut client = Client::connect(&socket).await.unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(
        (
            status.version.as_str(),
            status.healthz.as_str(),
            status.key_id.as_str()
        ),
        ("v2", "ok", "transit/keys/kage:v1")
    );
    let sealed = client.encrypt(&[9; 32]).await.unwrap();
    assert_eq!(sealed.key_id, "transit/keys/kage:v1");
    let opened = client
        .decrypt(&sealed.ciphertext, &sealed.key_id)
        .await
        .unwrap();
    assert_eq!(opened.plaintext, vec![9; 32]);

    // A Decrypt whose message is over MAX_MESSAGE_BYTES (its annotations): refused with
    // RESOURCE_EXHAUSTED (8) before anything is decoded.
    let request = kage_kms::proto::DecryptRequest {
        ciphertext: sealed.ciphertext.clone(),
        annotations: [("a.example".to_owned(), vec![0; MAX_MESSAGE_BYTES])].into(),
        ..Default::default()
    };
    let refused = client
        .call_raw::<_, kage_kms::proto::DecryptResponse>("Decrypt", &request)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Status { code: 8, .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn a_call_ends_at_the_clients_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let socket = start(dir.path(), Duration::from_secs(60));
    let mut client = Client::connect(&socket).await.unwrap();
    client.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let refused = client.encrypt(&[1; 32]).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::Status { code: 4, .. }),
        "{refused}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_a_slow_request_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = start(dir.path(), Duration::ZERO);
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(Client::connect(&socket).await.unwrap());
    }
    let mut extra = UnixStream::connect(&socket).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buffer))
        .await
        .expect("the extra connection is closed, not left open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(held);

    // Headers sent, the body never finished: DEADLINE_EXCEEDED (4) after READ_TIMEOUT.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = Client::connect(&socket).await.unwrap();
    let started = Instant::now();
    let refused = tokio::time::timeout(READ_TIMEOUT * 3, client.stalled_call("Encrypt"))
        .await
        .expect("the server answers a stalled request")
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Status { code: 4, .. }),
        "{refused}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= READ_TIMEOUT && waited < READ_TIMEOUT + Duration::from_secs(3),
        "{waited:?}"
    );
}
