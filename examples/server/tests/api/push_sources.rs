//! Per-machine allowed source addresses of the push receivers (issue 15): an ADMS device or a
//! Hikvision terminal pushing from outside its machine's `allowed_sources` is refused (403) and
//! nothing is stored; from inside (here 127.0.0.1) it is served; a bad entry is a 422 on
//! create and on update.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::machines::spawn_machine_app;

const MACHINES: &str = "/api/attendance/machines/";

fn adms(id: &str, serial: &str, sources: &[&str]) -> Value {
    json!({"machine_id": id, "name": "Gate", "machine_type": "zkteco_adms",
        "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka",
        "config": {"serial": serial, "allowed_sources": sources}})
}

/// Pushes one ATTLOG line of device user 1 until the device is registered (its machine's task
/// runs) or refused for good; the last status and body.
async fn push(app: &TestApp, serial: &str, minute: u32) -> (u16, String) {
    let day = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Dhaka)
        - chrono::TimeDelta::days(1))
    .date_naive()
    .format("%Y-%m-%d");
    let body = format!("1\t{day} 08:{minute:02}:00\t0\t1\t0\t0\n");
    let url = app.url(&format!(
        "/iclock/cdata?SN={serial}&table=ATTLOG&Stamp={minute}"
    ));
    let r = app.client.post(url).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Waits until the runtime has registered the ADMS serial (its handshake is answered at all by
/// the hub, allowed or not: a refused source and an unknown serial look the same from outside,
/// so this reads the runtime's view).
async fn wait_registered(m: &crate::machines::MachineApp, serial: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !m.runtime.hub().is_allowed(serial) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{serial} not registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn adms_pushes_from_outside_the_allowed_sources_are_refused() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;

    // A device allowed from 127.0.0.0/8 (and an IPv6 block): served and stored.
    let r = app
        .call(
            Method::POST,
            MACHINES,
            &hr,
            Some(adms("ADMS-IN", "SRCIN001", &["127.0.0.0/8", "fd00::/8"])),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    wait_registered(&m, "SRCIN001").await;
    let (status, text) = push(app, "SRCIN001", 1).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("OK"), "{text}");
    assert_eq!(app.store.count_scans().await.unwrap(), 1);

    // A device allowed only from elsewhere: every route refused, nothing stored.
    let r = app
        .call(
            Method::POST,
            MACHINES,
            &hr,
            Some(adms(
                "ADMS-OUT",
                "SRCOUT01",
                &["10.1.2.0/24", "192.168.1.7"],
            )),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    wait_registered(&m, "SRCOUT01").await;
    for _ in 0..5 {
        let (status, text) = push(app, "SRCOUT01", 2).await;
        assert_eq!(status, 403, "{text}");
        assert_eq!(text, "unknown device");
    }
    for path in [
        "/iclock/cdata?SN=SRCOUT01&options=all",
        "/iclock/getrequest?SN=SRCOUT01",
        "/iclock/ping?SN=SRCOUT01",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(app.store.count_scans().await.unwrap(), 1);

    // Opening the list to 127.0.0.1 (an update) lets it in.
    let r = app
        .call(
            Method::PUT,
            "/api/attendance/machines/ADMS-OUT/",
            &hr,
            Some(adms("ADMS-OUT", "SRCOUT01", &["10.1.2.0/24", "127.0.0.1"])),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = push(app, "SRCOUT01", 2).await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status} {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.store.count_scans().await.unwrap(), 2);
}

#[tokio::test]
async fn hikvision_pushes_from_outside_the_allowed_sources_are_refused() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let machine = |id: &str, sources: &[&str]| {
        json!({"machine_id": id, "name": "Door", "machine_type": "hikvision",
            "ip_address": "127.0.0.1", "port": 9, "time_zone": "Asia/Dhaka",
            "config": {"username": "admin", "password": "secret", "allowed_sources": sources}})
    };
    for (id, sources) in [
        ("HIK-IN", vec!["127.0.0.1"]),
        ("HIK-OUT", vec!["10.0.0.0/8"]),
    ] {
        let r = app
            .call(Method::POST, MACHINES, &hr, Some(machine(id, &sources)))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let heartbeat = json!({"ipAddress": "127.0.0.1", "portNo": 80, "protocol": "HTTP",
        "dateTime": "2026-01-01T08:00:00+06:00", "activePostCount": 1,
        "eventType": "heartBeat", "eventState": "active", "eventDescription": "heartBeat"});
    let send = |id: &'static str| {
        let url = app.url(&format!("/hikvision/events/{id}"));
        let heartbeat = heartbeat.clone();
        async move {
            app.client
                .post(url)
                .json(&heartbeat)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The allowed one is served once its machine runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while send("HIK-IN").await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "HIK-IN never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The other is registered (its status exists) but refused from 127.0.0.1.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while m.runtime.hikvision_hub().status("HIK-OUT").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "HIK-OUT not registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(send("HIK-OUT").await, 403);
    assert_eq!(
        m.runtime
            .hikvision_hub()
            .status("HIK-OUT")
            .unwrap()
            .heartbeats,
        0
    );
}

#[tokio::test]
async fn bad_allowed_sources_are_422() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    for bad in ["10.1.2.0/33", "not-an-address", "::1/200"] {
        let r = app
            .call(
                Method::POST,
                MACHINES,
                &hr,
                Some(adms("ADMS-BAD", "SRCBAD01", &[bad])),
            )
            .await;
        assert_eq!(r.status(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_error", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("allowed_sources") && message.contains(bad),
            "{message}"
        );
    }
    let r = app
        .call(
            Method::POST,
            MACHINES,
            &hr,
            Some(
                json!({"machine_id": "HIK-BAD", "name": "Door", "machine_type": "hikvision",
                "ip_address": "127.0.0.1", "config": {"allowed_sources": ["300.1.1.1"]}}),
            ),
        )
        .await;
    assert_eq!(r.status(), 422);
    // An update with a bad list is refused too, and the stored list stays.
    let r = app
        .call(
            Method::POST,
            MACHINES,
            &hr,
            Some(adms("ADMS-OK", "SRCOK001", &["127.0.0.1"])),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .call(
            Method::PUT,
            "/api/attendance/machines/ADMS-OK/",
            &hr,
            Some(adms("ADMS-OK", "SRCOK001", &["127.0.0.1/40"])),
        )
        .await;
    assert_eq!(r.status(), 422);
    let stored: Value = app
        .call(Method::GET, "/api/attendance/machines/ADMS-OK/", &hr, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["config"]["allowed_sources"], json!(["127.0.0.1"]));
}
