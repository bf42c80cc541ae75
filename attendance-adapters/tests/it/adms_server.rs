//! The ADMS router served on 127.0.0.1 with the fake ADMS device pushing to it over real sockets:
//! profiles, odd lines, allow-list refusals, back-pressure, re-sent and cut uploads, commands, the
//! adapter's live stream, fetch and connection test, and the device's own run loop.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use attendance_adapters::adms::codec::{HandshakeOptions, LineEnding};
use attendance_adapters::adms::fake::{AdmsFault, FakeAdmsConfig, FakeAdmsDevice, FakeAdmsError};
use attendance_adapters::adms::{AdmsAdapter, AdmsConfig, AdmsDevice, AdmsHub, router};
use attendance_adapters::engine::ingest_channel;
use attendance_adapters::{AdapterError, BaseMachineAdapter};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::ScanBatch;
use attendance_core::time::local_to_utc;
use tokio::sync::{mpsc, oneshot};

const SERIAL: &str = "BOCK200961014";
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(hub: AdmsHub) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let app: axum::Router = router(hub);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

fn device() -> AdmsDevice {
    AdmsDevice {
        serial: SERIAL.into(),
        machine_id: MachineId::parse(SERIAL).unwrap(),
        time_zone: ZONE,
        allowed_sources: Default::default(),
    }
}

/// A hub whose uploads are answered once they are in the returned channel (the engine's place).
fn hub(capacity: usize, config: AdmsConfig) -> (AdmsHub, mpsc::Receiver<ScanBatch>) {
    let (tx, rx) = ingest_channel(capacity);
    (AdmsHub::new(config, tx), rx.acknowledging(capacity))
}

fn allowed() -> AdmsConfig {
    AdmsConfig {
        devices: vec![device()],
        ..AdmsConfig::default()
    }
}

fn key(scan: &ScanData) -> (String, i64) {
    (scan.device_user_id.to_string(), scan.timestamp.timestamp())
}

fn expected_keys(config: &FakeAdmsConfig, n: usize) -> HashSet<(String, i64)> {
    config
        .punches(n)
        .iter()
        .map(|p| (p.pin.clone(), local_to_utc(ZONE, p.time).timestamp()))
        .collect()
}

fn drain(rx: &mut mpsc::Receiver<ScanBatch>) -> Vec<ScanBatch> {
    let mut out = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        out.push(batch);
    }
    out
}

#[tokio::test]
async fn every_profile_delivers_every_punch_once_with_stamps_as_cursors() {
    let profiles = [
        (5, LineEnding::Lf, false, false),
        (7, LineEnding::CrLf, false, false),
        (10, LineEnding::CrLf, false, true),
        (12, LineEnding::Lf, false, false),
        (7, LineEnding::Lf, true, true),
    ];
    for (columns, ending, spaces, aspx) in profiles {
        let (hub, mut rx) = hub(64, allowed());
        let server = Server::start(hub.clone()).await;
        let mut config = FakeAdmsConfig::new(SERIAL, &server.url());
        config.columns = columns;
        config.line_ending = ending;
        config.space_separated = spaces;
        config.aspx = aspx;
        config.odd_lines = 2;
        config.batch_size = 25;
        let mut fake = FakeAdmsDevice::new(config.clone()).unwrap();
        let reply = fake.handshake().await.unwrap();
        assert_eq!(reply.serial, SERIAL);
        // Dhaka is UTC+6 all year: whole hours.
        assert_eq!(reply.number("TimeZone"), Some(6));
        fake.punch(config.punches(60));
        let report = fake.upload().await.unwrap();
        assert_eq!(
            (report.batches, report.delivered, report.refused),
            (3, 60, None)
        );
        let batches = drain(&mut rx);
        let cursors: Vec<_> = batches
            .iter()
            .map(|b| b.cursor.clone().unwrap().0)
            .collect();
        assert_eq!(cursors, ["25", "50", "60"], "{columns} columns");
        let scans: Vec<ScanData> = batches.into_iter().flat_map(|b| b.scans).collect();
        assert_eq!(scans.len(), 60);
        let keys: HashSet<_> = scans.iter().map(key).collect();
        assert_eq!(keys, expected_keys(&config, 60), "{columns} columns");
        assert!(scans.iter().all(|s| s.raw.is_some()));
        let status = hub.status(SERIAL).unwrap();
        assert_eq!(status.lines_rejected, 6, "two odd lines per batch");
        assert_eq!(status.last_stamp.as_deref(), Some("60"));
        // The next handshake offers the last stamp back so the device resumes there.
        assert_eq!(
            fake.handshake().await.unwrap().get("ATTLOGStamp"),
            Some("60")
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn devices_off_the_allow_list_are_refused_and_keep_their_punches() {
    let (hub, mut rx) = hub(8, AdmsConfig::default());
    let server = Server::start(hub.clone()).await;
    let config = FakeAdmsConfig::new(SERIAL, &server.url());
    let mut fake = FakeAdmsDevice::new(config.clone()).unwrap();
    match fake.handshake().await {
        Err(FakeAdmsError::Status { status: 403, .. }) => {}
        other => panic!("expected 403, got {other:?}"),
    }
    fake.punch(config.punches(5));
    assert_eq!(fake.upload().await.unwrap().refused, Some(403));
    assert_eq!(fake.pending(), 5);
    // Registered later, the device delivers what it kept.
    hub.allow(device());
    assert_eq!(fake.upload().await.unwrap().delivered, 5);
    assert_eq!(drain(&mut rx).len(), 1);
    // A request without a serial number is a bad request.
    let status = reqwest::get(format!("{}/iclock/getrequest", server.url()))
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 400);
    server.stop().await;
}

#[tokio::test]
async fn a_full_channel_answers_503_and_the_device_retries_without_loss() {
    let config = AdmsConfig {
        enqueue_timeout: Duration::from_millis(50),
        commit_timeout: Duration::from_millis(50),
        ..allowed()
    };
    let (hub, mut rx) = hub(1, config);
    let server = Server::start(hub.clone()).await;
    let mut fake_config = FakeAdmsConfig::new(SERIAL, &server.url());
    fake_config.batch_size = 10;
    let mut fake = FakeAdmsDevice::new(fake_config.clone()).unwrap();
    fake.punch(fake_config.punches(30));
    // The consumer is not reading: the first batch fills the channel, the second is not
    // confirmed in time and is refused (it may still arrive: the device re-sends it anyway).
    let report = fake.upload().await.unwrap();
    assert_eq!((report.delivered, report.refused), (10, Some(503)));
    assert_eq!(fake.pending(), 20);
    assert_eq!(hub.status(SERIAL).unwrap().busy_replies, 1);
    // A consumer catches up while the device retries.
    let consumer = tokio::spawn(async move {
        let mut scans: Vec<ScanData> = Vec::new();
        while scans.iter().map(key).collect::<HashSet<_>>().len() < 30 {
            let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap();
            scans.extend(batch.scans);
        }
        scans
    });
    let mut rounds = 0;
    while fake.pending() > 0 {
        rounds += 1;
        assert!(rounds < 100, "the device never caught up");
        fake.upload().await.unwrap();
    }
    let scans = consumer.await.unwrap();
    // Every punch arrived; a refused batch that was stored after all came twice, which the
    // store's (machine, user, second) key makes once.
    let keys: HashSet<_> = scans.iter().map(key).collect();
    assert_eq!(keys, expected_keys(&fake_config, 30));
    server.stop().await;
}

#[tokio::test]
async fn resent_and_cut_uploads_leave_each_punch_once_after_dedupe() {
    for fault in [AdmsFault::ResendEveryBatch, AdmsFault::CutFirstUpload] {
        let (hub, mut rx) = hub(64, allowed());
        let server = Server::start(hub.clone()).await;
        let mut config = FakeAdmsConfig::new(SERIAL, &server.url());
        config.batch_size = 7;
        config.fault = Some(fault);
        let mut fake = FakeAdmsDevice::new(config.clone()).unwrap();
        fake.punch(config.punches(20));
        fake.upload().await.unwrap();
        assert_eq!(fake.pending(), 0);
        let batches = drain(&mut rx);
        let scans: Vec<ScanData> = batches.iter().flat_map(|b| b.scans.clone()).collect();
        match fault {
            // Every batch came twice, with the same stamp and the same scans: the store's
            // (machine, user, second) key makes them one.
            AdmsFault::ResendEveryBatch => {
                assert_eq!(batches.len(), 6);
                for pair in batches.chunks(2) {
                    assert_eq!(pair[0], pair[1]);
                }
                assert_eq!(scans.len(), 40);
            }
            // The cut request never reached the channel.
            AdmsFault::CutFirstUpload => assert_eq!(scans.len(), 20),
        }
        let keys: HashSet<_> = scans
            .iter()
            .map(|s| (s.machine_id.clone(), key(s)))
            .collect();
        assert_eq!(keys.len(), 20, "{fault:?}");
        server.stop().await;
    }
}

fn machine() -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: SERIAL.into(),
            name: "Gate".into(),
            machine_type: "zkteco_adms".into(),
            config: Some(serde_json::json!({"stale_after_secs": 60})),
            ..NewMachine::default()
        },
        ZONE,
    )
    .unwrap()
}

#[tokio::test]
async fn the_adapter_reads_no_scans_twice_and_reports_last_contact() {
    let (hub, mut rx) = hub(64, AdmsConfig::default());
    let server = Server::start(hub.clone()).await;
    let mut adapter = AdmsAdapter::new(machine(), hub.clone()).unwrap();
    // The router stores every upload itself: the adapter streams nothing.
    assert!(!adapter.supports_live());
    assert!(matches!(
        adapter.fetch_scans(None).await,
        Err(AdapterError::NotConnected { .. })
    ));
    // Connecting puts the device on the allow-list; it has not called yet.
    let err = adapter
        .test_connection(chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unreachable { .. }), "{err}");
    assert!(matches!(
        adapter.live_scans().await,
        Err(AdapterError::Unsupported { .. })
    ));
    // Observers of the hub still see copies of what was stored.
    let mut live = hub.subscribe(SERIAL).unwrap();

    let config = FakeAdmsConfig::new(SERIAL, &server.url());
    let mut fake = FakeAdmsDevice::new(config.clone()).unwrap();
    fake.handshake().await.unwrap();
    fake.punch(config.punches(12));
    fake.upload().await.unwrap();
    hub.queue_command(SERIAL, "INFO").unwrap();
    let commands = fake.poll().await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(fake.executed()[0].return_code, Some(0));
    assert_eq!(
        hub.command_result(SERIAL, &commands[0].id).unwrap().info[1].1,
        "Ver 2.4.1-fake"
    );

    let mut streamed = Vec::new();
    for _ in 0..12 {
        let scan = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .unwrap()
            .unwrap();
        streamed.push(scan);
    }
    let stored: Vec<ScanData> = drain(&mut rx).into_iter().flat_map(|b| b.scans).collect();
    assert_eq!(stored, streamed);
    // The fetch returns the last stored stamp and no scan: each scan entered once.
    let fetched = adapter.fetch_scans(None).await.unwrap();
    assert!(fetched.scans.is_empty());
    assert_eq!(fetched.cursor.unwrap().0, "12");

    let report = adapter.test_connection(chrono::Utc::now()).await.unwrap();
    assert!(report.reachable);
    assert_eq!(report.firmware.as_deref(), Some("Ver 2.4.1-fake"));
    assert_eq!(report.record_count, Some(12));
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
    assert!(adapter.test_connection(later).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn the_device_loop_obeys_realtime_and_catches_up_after_an_outage() {
    let options = HandshakeOptions {
        delay: 1,
        error_delay: 1,
        realtime: true,
        ..HandshakeOptions::default()
    };
    let (hub, mut rx) = hub(
        64,
        AdmsConfig {
            options,
            ..AdmsConfig::default()
        },
    );
    let server = Server::start(hub.clone()).await;
    let mut config = FakeAdmsConfig::new(SERIAL, &server.url());
    config.second = Duration::from_millis(20);
    let fake = FakeAdmsDevice::new(config.clone()).unwrap();
    let (punch_tx, punch_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(fake.run(punch_rx, async {
        let _ = stop_rx.await;
    }));
    // Not allowed yet: the device keeps failing its handshake and keeps the punches.
    for p in config.punches(5) {
        punch_tx.send(p).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err());
    hub.allow(device());
    let mut scans = Vec::new();
    while scans.len() < 5 {
        let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        scans.extend(batch.scans);
    }
    // Realtime: a new punch goes up without waiting for the cycle.
    let extra = config.punch(99, config.punches(1)[0].time + chrono::TimeDelta::hours(3));
    punch_tx.send(extra).await.unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.scans[0].device_user_id.as_str(), "1010");
    stop_tx.send(()).unwrap();
    let fake = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.pending(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_stamp_that_is_not_a_number_is_neither_kept_nor_echoed_and_results_stay_bounded() {
    let (hub, mut rx) = hub(64, allowed());
    let server = Server::start(hub.clone()).await;
    let client = reqwest::Client::new();
    let cdata = |stamp: &str| {
        format!(
            "{}/iclock/cdata?SN={SERIAL}&table=ATTLOG&Stamp={stamp}",
            server.url()
        )
    };
    let line = |minute: u32| format!("7\t2026-01-05 08:{minute:02}:00\t0\t1\t0\t0\n");
    // A stamp of digits is kept …
    let reply = client.post(cdata("40")).body(line(1)).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "OK: 1");
    // … one with line breaks (options of its own) is not, but its punch is stored.
    let injected = "999%0D%0ATimeZone=-12%0D%0ADelay=86400";
    let reply = client
        .post(cdata(injected))
        .body(line(2))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.text().await.unwrap(), "OK: 1");
    let batches = drain(&mut rx);
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].cursor.as_ref().map(|c| c.0.as_str()), Some("40"));
    assert_eq!(batches[1].cursor, None);
    assert_eq!(
        hub.status(SERIAL).unwrap().last_stamp.as_deref(),
        Some("40")
    );
    let handshake = client
        .get(format!(
            "{}/iclock/cdata?SN={SERIAL}&options=all",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(handshake.contains("ATTLOGStamp=40\n"), "{handshake}");
    assert!(
        !handshake.contains("86400") && !handshake.contains("TimeZone=-12"),
        "{handshake}"
    );
    // Command results: each cut to size, only the latest few hundred kept.
    let mut body = String::new();
    for id in 0..2_000 {
        body.push_str(&format!("ID={id}&Return=0&CMD=INFO\n"));
    }
    body.push_str(&format!("big={}\n", "x".repeat(1_000_000)));
    let reply = client
        .post(format!("{}/iclock/devicecmd?SN={SERIAL}", server.url()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(hub.command_result(SERIAL, "0").is_none(), "the oldest went");
    let last = hub.command_result(SERIAL, "1999").unwrap();
    assert_eq!(last.info[0].1.len(), 1_024);
    assert!(hub.command_result(SERIAL, "1744").is_some());
    assert!(hub.command_result(SERIAL, "1743").is_none());
    server.stop().await;
}
