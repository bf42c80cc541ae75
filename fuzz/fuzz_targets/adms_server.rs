//! The ADMS push server as devices reach it: a raw HTTP request (request line with the query
//! string, headers, body) sent to the real axum router of `adms::server` (query parsing,
//! handshake, `ATTLOG` / `OPERLOG` uploads, `getrequest`, `devicecmd`, `ping`), with a hub that
//! allows the serial of the captured requests and acknowledges every batch as stored.
#![no_main]

use attendance_fuzz::{ADMS_SERIAL, RawRequest, adms_call, runtime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = RawRequest::parse(data);
    let Some(request) = raw.to_request(None) else {
        return;
    };
    let (status, hub) = runtime().block_on(adms_call(request));
    assert!(
        !status.is_server_error() || status.as_u16() == 503,
        "{status}"
    );
    if let Some(device) = hub.status(ADMS_SERIAL) {
        let _ = (device.firmware(), device.record_count());
    }
});
