//! What the fuzz targets share: the machine and zone their scans belong to, one async runtime, a
//! reader of raw HTTP requests (the seeds of the push targets are captured requests), and the
//! push routers over a hub that acknowledges every batch as stored.
//!
//! Every target lives in `fuzz_targets/`; `scripts/fuzz.sh` at the root of the repository builds
//! and runs them all. Targets panic only on a broken invariant (a decoder that panics, or a
//! round trip that does not give back what was encoded): that is the crash libFuzzer reports.

use std::sync::OnceLock;
use std::time::Duration;

use attendance_adapters::adms::server::{AdmsConfig, AdmsDevice, AdmsHub, router};
use attendance_adapters::engine::ingest_channel;
use attendance_adapters::hikvision::push::{HikPushConfig, HikPushDevice, HikPushHub, push_router};
use attendance_core::scan::MachineId;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono_tz::Tz;
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

/// The serial the ADMS hub allows: the one of the captured requests under
/// `attendance-adapters/tests/fixtures/adms/`.
pub const ADMS_SERIAL: &str = "0316144680030";

/// The machine every decoded scan belongs to (also the allowed Hikvision push machine).
pub fn machine() -> MachineId {
    MachineId::parse("FUZZ1").unwrap_or_else(|e| panic!("fuzz machine id: {e}"))
}

/// A zone with a fractional offset and daylight saving time, so local-time conversion is tried
/// on gaps and folds.
pub fn zone() -> Tz {
    chrono_tz::America::St_Johns
}

/// One current-thread runtime for every execution.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("fuzz runtime: {e}"))
    })
}

/// A raw HTTP/1 request as captured: request line, headers, a blank line, the body.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    /// The method of the request line.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The headers, as written.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Splits `data`: the head ends at the first blank line (CRLF or LF); without one, the
    /// whole input is the head and the body is empty.
    pub fn parse(data: &[u8]) -> Self {
        let (head, body) = match find(data, b"\r\n\r\n") {
            Some(at) => (&data[..at], &data[at + 4..]),
            None => match find(data, b"\n\n") {
                Some(at) => (&data[..at], &data[at + 2..]),
                None => (data, &[][..]),
            },
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap_or_default().split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self {
            method,
            target,
            headers,
            body: body.to_vec(),
        }
    }

    /// The value of header `name` (compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request for a router, with `target` in place of the captured one when given; `None`
    /// when the method, target or a header is not valid HTTP (hyper refuses those before any
    /// router sees them).
    pub fn to_request(&self, target: Option<&str>) -> Option<Request<Body>> {
        let method = Method::from_bytes(self.method.as_bytes()).ok()?;
        let mut builder = Request::builder()
            .method(method)
            .uri(target.unwrap_or(&self.target));
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder.body(Body::from(self.body.clone())).ok()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A hub's ingest side that answers every batch as stored (drained by a task on the runtime).
fn acknowledging_sender() -> attendance_adapters::engine::IngestSender {
    let (sender, receiver) = ingest_channel(16);
    let mut batches = receiver.acknowledging(16);
    tokio::spawn(async move { while batches.recv().await.is_some() {} });
    sender
}

/// Sends `request` to a fresh ADMS router that allows [`ADMS_SERIAL`] and returns the status
/// and the hub (to read what it recorded).
pub async fn adms_call(request: Request<Body>) -> (StatusCode, AdmsHub) {
    let hub = AdmsHub::new(
        AdmsConfig {
            devices: vec![AdmsDevice {
                serial: ADMS_SERIAL.to_owned(),
                machine_id: machine(),
                time_zone: zone(),
                allowed_sources: Default::default(),
            }],
            enqueue_timeout: Duration::from_secs(5),
            commit_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            ..AdmsConfig::default()
        },
        acknowledging_sender(),
    );
    let app: axum::Router = router(hub.clone());
    let status = match app.oneshot(request).await {
        Ok(response) => response.status(),
        Err(never) => match never {},
    };
    (status, hub)
}

/// Sends `request` to a fresh Hikvision push router that allows [`machine`].
pub async fn hik_push_call(request: Request<Body>) -> StatusCode {
    let hub = HikPushHub::new(
        HikPushConfig {
            devices: vec![HikPushDevice {
                machine_id: machine(),
                time_zone: zone(),
                allowed_sources: Default::default(),
            }],
            enqueue_timeout: Duration::from_secs(5),
            commit_timeout: Duration::from_secs(5),
            ..HikPushConfig::default()
        },
        acknowledging_sender(),
    );
    let app: axum::Router = push_router(hub);
    match app.oneshot(request).await {
        Ok(response) => response.status(),
        Err(never) => match never {},
    }
}
