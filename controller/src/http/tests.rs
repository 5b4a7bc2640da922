//! The endpoints over real connections: limits, refusals and their shape.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn a_client_gets_its_burst_then_is_limited_while_others_are_not() {
    let limiter = RateLimiter::default();
    let allowed = (0..100).filter(|_| limiter.allow("a")).count();
    assert_eq!(allowed, RATE_BURST as usize);
    assert!(limiter.allow("b"));
}

#[test]
fn only_a_trusted_proxy_names_the_client_and_only_by_its_own_entry() {
    let peer: SocketAddr = "10.1.0.5:4000".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        "system:admin, 192.0.2.7".parse().unwrap(),
    );
    assert_eq!(client_of(&headers, Some(peer), &[]), "10.1.0.5");
    let proxies = ["10.1.0.0/16".parse().unwrap()];
    assert_eq!(
        client_of(&headers, Some(peer), &proxies),
        "192.0.2.7 via 10.1.0.5"
    );
    let elsewhere = ["10.2.0.0/16".parse().unwrap()];
    assert_eq!(client_of(&headers, Some(peer), &elsewhere), "10.1.0.5");
}

#[test]
fn address_ranges_parse_and_match() {
    let net: Cidr = "10.213.0.0/16".parse().unwrap();
    assert!(net.contains("10.213.4.1".parse().unwrap()));
    assert!(!net.contains("10.214.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.213.0.9".parse().unwrap()));
    let one: Cidr = "127.0.0.1".parse().unwrap();
    assert!(one.contains("127.0.0.1".parse().unwrap()));
    assert!(!one.contains("127.0.0.2".parse().unwrap()));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains("8.8.8.8".parse().unwrap()));
    assert!(!all.contains("::1".parse().unwrap()));
    for bad in ["10.0.0.0/33", "10.0.0/8", "x", "::/129"] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad}");
    }
}

/// Serves `router` (built on a fresh offline state) on a loopback port.
async fn server(router: fn(AppState) -> Router) -> SocketAddr {
    let state = AppState::new(Shared::offline(), Vec::new(), Vec::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(listener, router(state), MAX_API_CONNECTIONS));
    addr
}

async fn api_server() -> SocketAddr {
    server(api_router).await
}

async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
}

#[tokio::test]
async fn reseal_keeps_no_recipient_the_controller_was_not_told_of() {
    let addr = api_server().await;
    let stranger = kage_core::Identity::generate().recipient().to_string();
    let body = "apiVersion: kage.dev/v1alpha1\nkind: SealedSecret\nmetadata: {name: a, namespace: b}\nspec: {encryptedData: {}}\n";
    let head = format!(
        "POST /v1/reseal?keep={stranger} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = request(addr, &head, body.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not a recovery recipient"), "{answer}");
}

#[tokio::test]
async fn no_route_changes_keys() {
    let addr = api_server().await;
    let answer = request(
        addr,
        "POST /v1/rotate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_eq!(status_body(&answer)["kind"], "Status");
}

/// The JSON body of a raw HTTP answer.
fn status_body(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn not_ready_says_so_in_a_status_and_nothing_more() {
    let addr = server(health_router).await;
    let answer = request(
        addr,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(status_body(&answer)["message"], NOT_READY);
}

#[tokio::test]
async fn every_error_answers_as_a_kubernetes_status() {
    let addr = api_server().await;
    let wrong_method = request(
        addr,
        "GET /v1/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert!(wrong_method.starts_with("HTTP/1.1 405"), "{wrong_method}");
    assert_eq!(status_body(&wrong_method)["code"], 405);
    let body = vec![b' '; MAX_REQUEST_BYTES + 1];
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let too_large = request(addr, &head, &body).await;
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    let status = status_body(&too_large);
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(413))
    );
}

#[tokio::test]
async fn a_request_beyond_the_value_budget_is_refused_before_any_crypto() {
    let addr = api_server().await;
    let values: String = (0..=MAX_VALUES_PER_REQUEST)
        .map(|i| format!("    k{i}: x\n"))
        .collect();
    let body = format!(
        "apiVersion: kage.dev/v1alpha1\nkind: SealedSecret\nmetadata: {{name: a, namespace: b}}\nspec:\n  encryptedData:\n{values}"
    );
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = request(addr, &head, body.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(&format!("more than {MAX_VALUES_PER_REQUEST}")),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let addr = api_server().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v1/keys HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(HEADER_READ_TIMEOUT * 3, stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the connection was still open after {:?}",
        HEADER_READ_TIMEOUT * 3
    );
    assert!(started.elapsed() >= HEADER_READ_TIMEOUT - Duration::from_millis(100));
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_served_again_when_others_leave() {
    let addr = api_server().await;
    let mut held = Vec::new();
    for _ in 0..MAX_API_CONNECTIONS {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ask = "GET /v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let started = Instant::now();
    let refused = request(addr, ask, b"").await;
    assert_eq!(refused, "", "served beyond the cap");
    assert!(started.elapsed() < HEADER_READ_TIMEOUT);
    held.clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = request(addr, ask, b"").await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

/// The value of one exact series in the metrics text, parsed.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| *s == name)
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_the_route_matched_and_every_other_path_as_one() {
    let state = AppState::new(Shared::offline(), Vec::new(), Vec::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_on(
        listener,
        api_router(state.clone()),
        MAX_API_CONNECTIONS,
    ));
    request(
        addr,
        "GET /v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    for path in ["/v1/nope", "/v1/keys/x", "/a-made-up-path-1"] {
        request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            b"",
        )
        .await;
    }
    let text = state.shared.metrics.render();
    let count = |route: &str, code: &str| {
        series(
            &text,
            &format!("kage_http_requests_total{{route=\"{route}\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(count("/v1/keys", "200"), Some(1.0), "{text}");
    assert_eq!(count("other", "404"), Some(3.0), "{text}");
    assert!(!text.contains("made-up"), "a client's path became a label");
}
