//! The WebSocket end to end: a punch on a fake ZKTeco terminal reaches the clients allowed to
//! see it, and only them.

use std::time::{Duration, Instant};

use attendance_adapters::zk::codec::{RealtimeAttendance, encode_timehex};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle};
use attendance_core::employee::EmployeeCode;
use attendance_core::scan::MachineId;
use attendance_server::runtime::MachineRuntime;
use chrono::{NaiveDate, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::TestApp;

const DHAKA: chrono_tz::Tz = chrono_tz::Asia::Dhaka;
use crate::machines::spawn_machine_app;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(app: &TestApp, user: &str) -> Socket {
    let token = app.token(user).await;
    let url = format!("{}/ws?token={token}", app.base.replace("http://", "ws://"));
    let (socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON event within `limit`, skipping control frames; `None` on timeout.
pub async fn next_event(socket: &mut Socket, limit: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match frame.ok()? {
            Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Waits for an event of `kind` about `employee` (any employee when `None`).
pub async fn wait_for(
    socket: &mut Socket,
    kind: &str,
    employee: Option<&str>,
    limit: Duration,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = next_event(socket, left).await?;
        if event["type"] == kind && employee.is_none_or(|e| event["data"]["employee_id"] == e) {
            return Some(event);
        }
    }
}

/// A fake ZKTeco terminal on 127.0.0.1 (any port) with no stored records, its clock at the
/// present time in Dhaka.
pub async fn spawn_zk_fake() -> FakeHandle {
    FakeDevice::spawn_tcp(
        FakeConfig {
            records: 0,
            clock: Utc::now().with_timezone(&DHAKA).naive_local(),
            ..FakeConfig::default()
        },
        0,
    )
    .await
    .unwrap()
}

/// The body that registers `fake` as the ZKTeco machine `id`.
pub fn zk_machine(id: &str, fake: &FakeHandle) -> Value {
    json!({
        "machine_id": id,
        "name": "Gate",
        "machine_type": "zkteco",
        "ip_address": "127.0.0.1",
        "port": fake.local_addr().port(),
        "time_zone": "Asia/Dhaka",
        "config": {"timeout_ms": 2000}
    })
}

/// Waits (up to 20 s) until `runtime` reads the machine `id` live.
pub async fn wait_live(runtime: &MachineRuntime, id: &str) {
    let id = MachineId::parse(id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runtime.health_of(&id).is_some_and(|h| h.live) {
        assert!(Instant::now() < deadline, "the machine never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `device_user` punches in on `fake` now (Dhaka time); the event must reach a live reader.
pub fn punch_now(fake: &FakeHandle, device_user: &str) {
    let receivers = fake.push_event(RealtimeAttendance {
        user_id: device_user.into(),
        verify_type: 1,
        punch_state: 0,
        time: encode_timehex(Utc::now().with_timezone(&DHAKA).naive_local()).unwrap(),
    });
    assert!(receivers >= 1);
}

#[tokio::test]
async fn a_live_punch_reaches_hr_and_the_employee_but_not_a_colleague() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let fake = spawn_zk_fake().await;
    let mut hr = connect(app, "hr").await;
    let mut worker = connect(app, "worker").await;
    let mut other = connect(app, "other").await;
    let mut head = connect(app, "head").await;

    let created = app
        .client
        .post(app.url("/api/attendance/machines/"))
        .bearer_auth(app.token("hr").await)
        .json(&zk_machine("ZK-E2E", &fake))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // HR sees the machine connect (a site-wide event).
    let connected = wait_for(&mut hr, "machine_connected", None, Duration::from_secs(10))
        .await
        .expect("machine_connected for hr");
    assert_eq!(connected["data"]["machine_id"], "ZK-E2E");
    // The original system's client reads `data.machine_id`; others read it at the top level.
    assert_eq!(connected["machine_id"], "ZK-E2E");
    wait_live(&m.runtime, "ZK-E2E").await;

    // EMP001 is enrolled as device user 1.
    let pushed_at = Instant::now();
    punch_now(&fake, "1");

    let limit = Duration::from_secs(5);
    let scan = wait_for(&mut hr, "scan_received", Some("EMP001"), limit)
        .await
        .expect("hr: scan_received");
    let hr_latency = pushed_at.elapsed();
    assert_eq!(scan["data"]["machine_id"], "ZK-E2E");
    assert_eq!(scan["data"]["device_user_id"], "1");
    let updated = wait_for(&mut hr, "attendance_updated", Some("EMP001"), limit)
        .await
        .expect("hr: attendance_updated");
    let worker_scan = wait_for(&mut worker, "scan_received", Some("EMP001"), limit)
        .await
        .expect("worker: scan_received");
    let worker_latency = pushed_at.elapsed();
    assert_eq!(worker_scan["data"], scan["data"]);
    wait_for(&mut worker, "attendance_updated", Some("EMP001"), limit)
        .await
        .expect("worker: attendance_updated");
    wait_for(&mut head, "scan_received", Some("EMP001"), limit)
        .await
        .expect("head of Sewing: scan_received");
    println!("punch → scan_received latency: hr {hr_latency:?}, worker {worker_latency:?}");
    assert!(hr_latency < limit);

    // The colleague gets nothing of EMP001, and no site-wide machine events.
    let mut seen = Vec::new();
    while let Some(event) = next_event(&mut other, Duration::from_millis(700)).await {
        seen.push(event);
    }
    assert!(
        seen.iter().all(|e| e["data"]["employee_id"] != "EMP001"
            && !e["type"].as_str().unwrap_or("").starts_with("machine_")),
        "{seen:?}"
    );

    // The day is stored.
    let date: NaiveDate = serde_json::from_value(updated["data"]["date"].clone()).unwrap();
    let record = app
        .store
        .record(&EmployeeCode::parse("EMP001").unwrap(), date)
        .await
        .unwrap()
        .expect("EMP001's day is stored");
    assert!(record.check_in.is_some());

    // A text ping is answered.
    worker
        .send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    let pong = wait_for(&mut worker, "pong", None, Duration::from_secs(2)).await;
    assert!(pong.is_some());

    // Shutdown closes every socket with 1001.
    m.state.realtime.shutdown();
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match hr.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed, Some(1001));
    m.runtime.shutdown().await;
    fake.shutdown().await;
}

#[tokio::test]
async fn a_client_that_lags_gets_a_note_and_stays_connected() {
    use attendance_adapters::engine::{EngineEvent, ErrorEvent};
    let m = spawn_machine_app().await;
    let mut hr = connect(&m.app, "hr").await;
    // Wait until the server side subscribed (it answers a ping after subscribing).
    hr.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert!(
        wait_for(&mut hr, "pong", None, Duration::from_secs(2))
            .await
            .is_some()
    );
    // Without yielding, this test's thread publishes more than the bus keeps.
    let event = |n: usize| {
        EngineEvent::ErrorOccurred(ErrorEvent {
            source: "test".into(),
            kind: "flood".into(),
            message: format!("event {n}"),
        })
    };
    for n in 0..5_000 {
        m.state.engine.publish(event(n), None);
    }
    let note = wait_for(&mut hr, "error_occurred", None, Duration::from_secs(5))
        .await
        .expect("a note");
    assert_eq!(note["data"]["kind"], "lagged", "{note}");
    assert_eq!(note["data"]["source"], "websocket");
    // Still connected: later events arrive.
    m.state.engine.publish(event(99_999), None);
    let mut found = false;
    while let Some(e) = next_event(&mut hr, Duration::from_secs(2)).await {
        if e["data"]["message"] == "event 99999" {
            found = true;
            break;
        }
    }
    assert!(found, "the connection did not survive the lag");
}

#[tokio::test]
async fn the_websocket_needs_a_valid_token() {
    let m = spawn_machine_app().await;
    let ws = m.app.base.replace("http://", "ws://");
    for url in [
        format!("{ws}/ws"),
        format!("{ws}/ws?token=not-a-token"),
        format!("{ws}/ws?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.forged"),
    ] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{url}");
            }
            other => panic!("{url}: expected a 401, got {other:?}"),
        }
    }
    // A plain GET with a token but no upgrade is a 400 in the envelope.
    let token = m.app.token("hr").await;
    let plain = m
        .app
        .client
        .get(m.app.url(&format!("/ws?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(plain, 400).await, "bad_request");
}

#[tokio::test]
async fn the_websocket_closes_when_its_token_expires() {
    use attendance_core::access::Role;
    use attendance_server::auth::Claims;
    let m = spawn_machine_app().await;
    let now = Utc::now().timestamp();
    let token = m
        .state
        .tokens
        .issue(&Claims {
            sub: "hr".into(),
            role: Role::HrStaff,
            employee: None,
            department: None,
            iat: now,
            exp: now + 2,
            ver: 0,
        })
        .unwrap();
    let url = format!(
        "{}/ws?token={token}",
        m.app.base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 6 s");
    assert_eq!(code, Some(1008));
}
