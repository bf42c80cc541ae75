//! Downloading 100,000 forty-byte attendance records from the ZKTeco fake over TCP on 127.0.0.1:
//! our client (connect, pull with users, records turned into scans, disconnect) against the
//! `pyzk` Python client doing the same (connect, `get_attendance`, disconnect) in the same run.
//!
//! pyzk runs from `PYZK_PYTHON` (a Python with pyzk installed; `.ci/run` makes one in
//! `target/pyzk-venv`); without it only our client is measured, and the bench says so.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use attendance_adapters::zk::client::{ZkClient, ZkConfig};
use attendance_adapters::zk::codec::RecordLayout;
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice};
use attendance_core::scan::MachineId;
use criterion::{Criterion, criterion_group, criterion_main};

const RECORDS: usize = 100_000;

fn download(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let config = FakeConfig {
        records: RECORDS,
        record_layout: RecordLayout::Text40,
        users: 500,
        ..FakeConfig::default()
    };
    let fake = runtime
        .block_on(FakeDevice::spawn_tcp(config, 0))
        .unwrap_or_else(|e| panic!("fake device: {e}"));
    let addr = fake.local_addr();
    let machine = MachineId::parse("FAKE0000000001").unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group(format!("zk_download_{RECORDS}_records_40b"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("ours", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut client = ZkClient::connect(ZkConfig::tcp(addr))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let pull = client
                .pull(&machine, chrono_tz::Asia::Dhaka)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pull.scans.len(), RECORDS);
            client.disconnect().await.unwrap_or_else(|e| panic!("{e}"));
        })
    });
    match std::env::var("PYZK_PYTHON") {
        Ok(python) if !python.is_empty() => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pyzk_download.py");
            group.bench_function("pyzk", |b| {
                b.iter_custom(|iters| {
                    let output = Command::new(&python)
                        .arg(&script)
                        .args([addr.port().to_string(), iters.to_string()])
                        .output()
                        .unwrap_or_else(|e| panic!("running pyzk: {e}"));
                    let text = String::from_utf8_lossy(&output.stdout);
                    let mut fields = text.split_whitespace();
                    let seconds: f64 =
                        fields
                            .next()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(|| {
                                panic!("pyzk failed: {}", String::from_utf8_lossy(&output.stderr))
                            });
                    assert_eq!(
                        fields.next(),
                        Some(RECORDS.to_string().as_str()),
                        "pyzk's record count"
                    );
                    Duration::from_secs_f64(seconds)
                })
            });
        }
        _ => eprintln!("PYZK_PYTHON is not set: measuring our client only, without the pyzk peer"),
    }
    group.finish();
    runtime.block_on(fake.shutdown());
}

criterion_group!(benches, download);
criterion_main!(benches);
