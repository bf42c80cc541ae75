//! Every write path publishes: device pushes (ADMS, Hikvision), manual scans, imports, leave
//! decisions and cancellations, holidays, settings and employee changes each reach an HR client
//! and the employee concerned over a real WebSocket within a second, and nobody outside the
//! scope. (Device pulls: `realtime::a_device_punch_reaches_each_allowed_client`.)

use std::time::{Duration, Instant};

use attendance_adapters::hikvision::codec::{PushEnvelope, PushedEvent};
use chrono::{Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::machines::spawn_machine_app;
use crate::realtime::{Socket, connect, next_event};

const DHAKA: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

/// What the issue asks of every write: its events within a second.
const LIMIT: Duration = Duration::from_secs(1);

/// The last working day before today in Dhaka (Friday is the weekly day off).
fn last_working_day() -> NaiveDate {
    let mut day = Utc::now().with_timezone(&DHAKA).date_naive() - TimeDelta::days(1);
    while day.weekday() == Weekday::Fri {
        day -= TimeDelta::days(1);
    }
    day
}

struct Clients {
    hr: Socket,
    worker: Socket,
    head: Socket,
    other: Socket,
}

impl Clients {
    async fn connect(app: &TestApp) -> Self {
        Self {
            hr: connect(app, "hr").await,
            worker: connect(app, "worker").await,
            head: connect(app, "head").await,
            other: connect(app, "other").await,
        }
    }

    /// HR, the worker (EMP001) and the worker's head each receive every one of `kinds` about
    /// EMP001 (in any order) within the limit of the write that `started` them.
    async fn expect(&mut self, what: &str, kinds: &[&str], started: Instant) {
        for (who, socket) in [
            ("hr", &mut self.hr),
            ("worker", &mut self.worker),
            ("head", &mut self.head),
        ] {
            let mut missing: Vec<&str> = kinds.to_vec();
            while !missing.is_empty() {
                let left = LIMIT.saturating_sub(started.elapsed());
                let Some(event) = next_event(socket, left).await else {
                    panic!("{what}: {who} got no {missing:?} about EMP001 within {LIMIT:?}");
                };
                if event["data"]["employee_id"] == "EMP001" {
                    missing.retain(|k| event["type"] != *k);
                }
            }
        }
    }
}

/// A new scan is published, and the day it changes.
const SCAN_EVENTS: &[&str] = &["scan_received", "attendance_updated"];

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    ok(app, token, Method::POST, path, body).await
}

async fn ok(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let response = app.call(method, path, token, Some(body)).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_write_path_publishes_to_the_employee_and_hr_and_nobody_else() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;
    let day = last_working_day();
    let mut c = Clients::connect(app).await;

    // A manual scan.
    let started = Instant::now();
    post(app, &hr, "/api/attendance/scans/",
        json!({"employee_id": "EMP001", "scan_time": format!("{day}T08:01:00"), "reason": "forgot"}),
    )
    .await;
    c.expect("manual scan", SCAN_EVENTS, started).await;

    // An import.
    let started = Instant::now();
    post(app, &hr, "/api/attendance/scans/import/",
        json!([{"employee_id": "EMP001", "scan_time": format!("{day}T17:31:00"), "reason": "import"}]),
    )
    .await;
    c.expect("import", SCAN_EVENTS, started).await;

    // An ADMS push: answered only once stored, then published.
    post(app, &hr, "/api/attendance/machines/",
        json!({"machine_id": "ADMS-1", "name": "Door", "machine_type": "zkteco_adms",
               "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka", "config": {"serial": "ADMSW1"}}),
    )
    .await;
    let scans_before = app.store.count_scans().await.unwrap();
    let started = Instant::now();
    let reply = app
        .client
        .post(app.url("/iclock/cdata?SN=ADMSW1&table=ATTLOG&Stamp=7"))
        .body(format!("1\t{day} 12:00:00\t0\t1\t0\t0\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "OK: 1");
    assert_eq!(
        app.store.count_scans().await.unwrap(),
        scans_before + 1,
        "stored before acknowledged"
    );
    c.expect("ADMS push", SCAN_EVENTS, started).await;

    // A Hikvision push (the receiver is mounted at /hikvision/events/{machine}).
    post(
        app,
        &hr,
        "/api/attendance/machines/",
        json!({"machine_id": "HIK-1", "name": "Gate", "machine_type": "hikvision",
               "ip_address": "127.0.0.1", "port": 9, "time_zone": "Asia/Dhaka",
               "config": {"password": "not-used"}}),
    )
    .await;
    let envelope = PushEnvelope {
        event_type: "AccessControllerEvent".into(),
        date_time: format!("{day}T12:30:00+06:00"),
        event: Some(PushedEvent {
            major: 5,
            minor: 38,
            employee_no_string: Some("1".into()),
            serial_no: Some(41),
            attendance_status: Some("checkIn".into()),
            name: None,
        }),
    };
    let started = Instant::now();
    let reply = app
        .client
        .post(app.url("/hikvision/events/HIK-1"))
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    c.expect("Hikvision push", SCAN_EVENTS, started).await;

    // Leave: approved by the head then HR, then cancelled.
    post(
        app,
        &hr,
        "/api/attendance/leave-balances/allocate/",
        json!({"employee_id": "EMP001", "leave_type": "Casual", "year": day.year(), "days": 10.0}),
    )
    .await;
    let request = post(
        app,
        &worker,
        "/api/attendance/leave-requests/",
        json!({"leave_type": "Casual", "start_date": day, "end_date": day, "reason": "errand"}),
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    let decide = |token: &str, what: &'static str| {
        let path = format!("/api/attendance/leave-requests/{id}/{what}/");
        let token = token.to_owned();
        async move { post(app, &token, &path, json!({"note": what})).await }
    };
    decide(&head, "approve").await;
    let started = Instant::now();
    decide(&hr, "approve").await;
    c.expect("leave approval", &["attendance_updated"], started)
        .await;
    let started = Instant::now();
    decide(&hr, "cancel").await;
    c.expect("leave cancellation", &["attendance_updated"], started)
        .await;

    // A holiday on that day, then its removal.
    let started = Instant::now();
    let holiday = post(
        app,
        &hr,
        "/api/attendance/holidays/",
        json!({"name": "Test Day", "start": day}),
    )
    .await;
    c.expect("holiday", &["attendance_updated"], started).await;
    let started = Instant::now();
    let response = app
        .call(
            Method::DELETE,
            &format!("/api/attendance/holidays/{}/", holiday["holiday"]["id"]),
            &hr,
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    c.expect("holiday removal", &["attendance_updated"], started)
        .await;

    // Settings: the open range is recomputed in the background.
    let settings = app.get_json("/api/attendance/settings/", &hr).await;
    let started = Instant::now();
    ok(app, &hr, Method::PUT, "/api/attendance/settings/", settings).await;
    c.expect("settings", &["attendance_updated"], started).await;
    let status = app.get_json("/api/attendance/system-status/", &hr).await;
    assert!(
        status["engine"]["recompute_job"]["reason"] == "settings changed",
        "{status}"
    );
    assert!(
        status["counts"]["daily_records"].as_u64().unwrap() > 0,
        "{status}"
    );

    // An employee change: EMP001 deactivated.
    let mut employee = app.get_json("/api/attendance/employees/EMP001/", &hr).await;
    employee["active"] = json!(false);
    let started = Instant::now();
    ok(
        app,
        &hr,
        Method::PUT,
        "/api/attendance/employees/EMP001/",
        employee,
    )
    .await;
    c.expect("employee change", &["attendance_updated"], started)
        .await;

    // The colleague in another department heard nothing about EMP001 all along.
    let mut heard = Vec::new();
    while let Some(event) = next_event(&mut c.other, Duration::from_millis(300)).await {
        heard.push(event);
    }
    assert!(
        heard.iter().any(|e| e["type"] == "attendance_updated"),
        "the colleague hears of their own days (the holiday): {heard:?}"
    );
    assert!(
        heard.iter().all(|e| e["data"]["employee_id"] != "EMP001"),
        "{heard:?}"
    );
    m.runtime.shutdown().await;
}

#[tokio::test]
async fn an_adms_line_dated_outside_the_window_is_set_aside_and_the_rest_of_its_upload_stored() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    post(app, &hr, "/api/attendance/machines/",
        json!({"machine_id": "ADMS-2", "name": "Door", "machine_type": "zkteco_adms",
               "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka", "config": {"serial": "ADMSW2"}}),
    )
    .await;
    let day = last_working_day();
    let mut body = String::new();
    for minute in 0..5 {
        body.push_str(&format!("1\t{day} 08:0{minute}:00\t0\t1\t0\t0\n"));
    }
    body.push_str("2\t0000-01-01 08:00:00\t0\t1\t0\t0\n");
    body.push_str("2\t1970-01-01 08:00:00\t0\t1\t0\t0\n");
    body.push_str("2\t2099-06-01 08:00:00\t0\t1\t0\t0\n");
    for minute in 5..8 {
        body.push_str(&format!("2\t{day} 08:0{minute}:00\t0\t1\t0\t0\n"));
    }
    let reply = app
        .client
        .post(app.url("/iclock/cdata?SN=ADMSW2&table=ATTLOG&Stamp=11"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Every line is handled (the device must not send the bad ones again) …
    assert_eq!(reply.text().await.unwrap(), "OK: 11");
    // … the eight valid punches are stored, the three out-of-range ones are not …
    assert_eq!(app.store.count_scans().await.unwrap(), 8);
    // … and HR sees them set aside, with the device's own line.
    let aside = app.get_json("/api/attendance/scans/set-aside/", &hr).await;
    let aside = aside.as_array().unwrap();
    assert_eq!(aside.len(), 3, "{aside:?}");
    assert!(aside.iter().all(|a| a["machine_id"] == "ADMS-2"));
    assert!(aside[0]["raw"].as_str().unwrap().contains("0000-01-01"));
    assert!(aside[2]["reason"].as_str().unwrap().contains("after"));
    let status = app.get_json("/api/attendance/system-status/", &hr).await;
    assert_eq!(status["engine"]["scans_set_aside"], 3);
    // No day was made of them.
    let records = app
        .get_json("/api/attendance/daily-attendance/?from=2099-01-01", &hr)
        .await;
    assert_eq!(records["count"], 0);
    // Only HR and super admins see them.
    let worker = app.token("worker").await;
    assert_eq!(
        app.get_error("/api/attendance/scans/set-aside/", &worker, 403)
            .await,
        "forbidden"
    );
    m.runtime.shutdown().await;
}
