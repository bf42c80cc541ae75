//! The devices: each pushes its `ATTLOG` batches as a ZKTeco ADMS device does.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct DeviceOutcome {
    /// Every request's latency, 503s included.
    pub(crate) latencies: Vec<Duration>,
    /// Every request's start, from the device's first request (for `ATT_E2E_TRACE`).
    pub(crate) starts: Vec<Duration>,
    pub(crate) busy: u64,
    pub(crate) errors: u64,
}

/// Sends `bodies` in order, one request at a time, each on a new connection; re-sends a batch
/// answered 503 (or not answered) after a short wait, at most 1,000 times in all.
pub(crate) async fn push(
    base: String,
    serial: String,
    bodies: Vec<(String, usize)>,
) -> DeviceOutcome {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut out = DeviceOutcome::default();
    let mut stamp = 0usize;
    let first = Instant::now();
    for (body, lines) in bodies {
        stamp += lines;
        let url = format!("{base}/iclock/cdata?SN={serial}&table=ATTLOG&Stamp={stamp}");
        loop {
            let started = Instant::now();
            let reply = client
                .post(&url)
                .header("Content-Type", "text/plain")
                .body(body.clone())
                .send()
                .await;
            let reply = match reply {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(e) => (0, e.to_string()),
            };
            out.latencies.push(started.elapsed());
            out.starts.push(started - first);
            match reply {
                (200, text) if text.trim() == format!("OK: {lines}") => break,
                (200, text) => panic!("{serial}: unexpected reply {text:?} to {lines} lines"),
                (503, _) => out.busy += 1,
                (status, text) => {
                    out.errors += 1;
                    eprintln!("{serial}: {status} {text}; retrying");
                }
            }
            assert!(
                out.busy + out.errors < 1_000,
                "{serial}: 1,000 failed requests, giving up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    out
}
