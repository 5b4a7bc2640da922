//! kage-kms's request handling: any body on any of the service's paths is parsed or refused
//! with a gRPC code, and what parses is checked against the limits, without a panic or a hang.
#![no_main]

use kage_kms::grpc::{Call, parse};
use kage_kms::plugin::{check_decrypt, check_encrypt};
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 5] = [
    "/v2.KeyManagementService/Status",
    "/v2.KeyManagementService/Encrypt",
    "/v2.KeyManagementService/Decrypt",
    "/v2.KeyManagementService/Other",
    "/v1beta1.KeyManagementService/Encrypt",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let path = PATHS[usize::from(selector) % PATHS.len()];
    match parse(path, body) {
        Ok(Call::Encrypt(request)) => {
            let _ = check_encrypt(&request);
        }
        Ok(Call::Decrypt(request)) => {
            let _ = check_decrypt(&request);
        }
        Ok(Call::Status) | Err(_) => {}
    }
});
