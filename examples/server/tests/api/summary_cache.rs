//! The daily summary's cache: a kept answer changes after every kind of write, one scope's
//! answer never reaches another, gzip, `ETag` and 304.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_core::employee::EmployeeCode;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::service::AttendanceService;
use attendance_core::store::ScanBatch;
use attendance_server::AppState;
use chrono::Datelike;
use reqwest::Method;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, IF_NONE_MATCH, VARY};
use serde_json::{Value, json};

use crate::helpers::{
    Callers, SickLeave, TestApp, codes, seeded_store, serve, test_engine, test_keys,
};
use crate::scans::{DAY, scan};

fn path() -> String {
    format!("/api/attendance/daily-attendance/summary/?date={DAY}")
}

/// The status of `code` in a summary.
fn status_of(summary: &Value, code: &str) -> String {
    summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["employee_id"] == code)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{code} not in {summary}"))
}

/// A server whose engine's service (the path of device scans and of every write) the test
/// can also write through directly, so a change reaches the cache only through the engine's
/// events, not through the API's writes.
async fn app_with_service() -> (TestApp, AttendanceService) {
    let store = seeded_store().await;
    let engine = test_engine(&store);
    let service = engine.service().clone();
    let app = serve(AppState::new(store, Arc::new(engine), test_keys())).await;
    (app, service)
}

/// GETs the summary as `token` with `headers`, returning the raw answer.
async fn raw(
    app: &TestApp,
    token: &str,
    headers: &[(reqwest::header::HeaderName, &str)],
) -> reqwest::Response {
    let mut request = app.client.get(app.url(&path())).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.unwrap()
}

/// The summary's `ETag` as `token` sees it now.
async fn etag(app: &TestApp, token: &str) -> String {
    let response = raw(app, token, &[]).await;
    assert_eq!(response.status(), 200);
    response.headers()[ETAG].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_kept_summary_changes_after_every_kind_of_write() {
    let (app, service) = app_with_service().await;
    let c = Callers::new(&app).await;
    let hr = app.token("hr").await;
    let first = c.get_ok("hr", &path()).await;
    assert_eq!(status_of(&first, "EMP001"), "Absent");
    // Asked again, the same answer, kept: the same tag.
    let tag = etag(&app, &hr).await;
    assert_eq!(etag(&app, &hr).await, tag);

    // A scan through the engine (as a device's): only its event can tell the cache.
    let worker = app
        .store
        .employee(&EmployeeCode::parse("EMP001").unwrap())
        .await
        .unwrap();
    let machine = MachineId::parse("GATE-1").unwrap();
    // 08:00 in Dhaka (the default time zone).
    let at = format!("{DAY}T02:00:00Z").parse().unwrap();
    service
        .record_scans(
            ScanBatch {
                machine_id: machine.clone(),
                scans: vec![ScanData {
                    machine_id: machine,
                    device_user_id: worker.device_user_id.clone(),
                    timestamp: at,
                    punch_state: PunchState::CheckIn,
                    verify_mode: VerifyMode::Fingerprint,
                    raw: None,
                }],
                cursor: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let after_scan = c.get_ok("hr", &path()).await;
    assert_eq!(
        status_of(&after_scan, "EMP001"),
        "Present-OnTime",
        "{after_scan}"
    );

    // A manual scan through the API.
    let response = c
        .send(
            Method::POST,
            "hr",
            "/api/attendance/scans/",
            Some(scan("EMP005", "08:40:00", Some("IN"))),
        )
        .await;
    assert_eq!(response.status(), 201);
    let after_manual = c.get_ok("hr", &path()).await;
    assert_eq!(status_of(&after_manual, "EMP005"), "Present-Late");

    // An override.
    let response = c
        .send(
            Method::PUT,
            "hr",
            format!("/api/attendance/daily-attendance/EMP005/{DAY}/"),
            Some(json!({"status": "Present-OnTime", "reason": "bus broke down"})),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let after_override = c.get_ok("hr", &path()).await;
    assert_eq!(status_of(&after_override, "EMP005"), "Present-OnTime");

    // A leave decision through the engine's service (its event drops the date).
    let leave = SickLeave::file(&*app.store, &service, "EMP002", "Cutting", DAY).await;
    assert_eq!(
        status_of(&c.get_ok("hr", &path()).await, "EMP002"),
        "Absent"
    );
    leave.approve(&service).await;
    let after_leave = c.get_ok("hr", &path()).await;
    assert_eq!(
        status_of(&after_leave, "EMP002"),
        "Leave-Sick",
        "{after_leave}"
    );

    // Holidays and settings recompute recent dates only: a recent working day, its windows
    // closed, nobody scanned (Dhaka, the default time zone, is UTC+6).
    let mut recent =
        (chrono::Utc::now() + chrono::Duration::hours(6)).date_naive() - chrono::Duration::days(3);
    while recent.weekday() == chrono::Weekday::Fri {
        recent -= chrono::Duration::days(1);
    }
    let recent_path = format!("/api/attendance/daily-attendance/summary/?date={recent}");
    assert_eq!(
        status_of(&c.get_ok("hr", &recent_path).await, "EMP001"),
        "Absent"
    );
    let kept = app
        .client
        .get(app.url(&recent_path))
        .bearer_auth(&hr)
        .send()
        .await
        .unwrap();
    let recent_tag = kept.headers()[ETAG].to_str().unwrap().to_owned();

    // A holiday through the API, then its removal.
    let response = c
        .send(
            Method::POST,
            "hr",
            "/api/attendance/holidays/",
            Some(json!({"name": "Founders Day", "start": recent})),
        )
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let created: Value = response.json().await.unwrap();
    let after_holiday = c.get_ok("hr", &recent_path).await;
    assert_eq!(
        status_of(&after_holiday, "EMP001"),
        "Holiday",
        "{after_holiday}"
    );
    let holiday_id = created
        .get("holiday")
        .and_then(|h| h.get("id"))
        .or_else(|| created.get("id"))
        .unwrap_or_else(|| panic!("no id in {created}"))
        .clone();
    let response = c
        .send(
            Method::DELETE,
            "hr",
            format!("/api/attendance/holidays/{holiday_id}/"),
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        status_of(&c.get_ok("hr", &recent_path).await, "EMP001"),
        "Absent"
    );
    // The same answer as before the holiday, so the same tag.
    let back = app
        .client
        .get(app.url(&recent_path))
        .bearer_auth(&hr)
        .send()
        .await
        .unwrap();
    assert_eq!(back.headers()[ETAG].to_str().unwrap(), recent_tag);

    // Settings: the day becomes a weekly off day. Its recompute runs in the background, so
    // the summary is asked until it shows (the deadline only guards against a hang).
    let mut settings = c.get_ok("hr", "/api/attendance/settings/").await;
    settings["weekly_off_days"] = json!(["Fri", recent.weekday().to_string()]);
    let response = c
        .send(
            Method::PUT,
            "hr",
            "/api/attendance/settings/",
            Some(settings),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let summary = c.get_ok("hr", &recent_path).await;
        if status_of(&summary, "EMP002") == "Weekend" {
            break;
        }
        assert!(Instant::now() < deadline, "never recomputed: {summary}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_scope_never_gets_another_scopes_summary() {
    let (app, _service) = app_with_service().await;
    let c = Callers::new(&app).await;
    let with_cutting = format!("{}&department=Cutting", path());
    // Each asked twice, in an order where a wrong key would hand one the other's answer.
    for _ in 0..2 {
        assert_eq!(
            codes(&c.get_ok("hr", &path()).await),
            ["EMP001", "EMP002", "EMP005"]
        );
        assert_eq!(
            codes(&c.get_ok("admin", &path()).await),
            ["EMP001", "EMP002", "EMP005"]
        );
        assert_eq!(
            codes(&c.get_ok("head", &path()).await),
            ["EMP001", "EMP005"]
        );
        assert_eq!(codes(&c.get_ok("worker", &path()).await), ["EMP001"]);
        assert_eq!(codes(&c.get_ok("other", &path()).await), ["EMP002"]);
        assert_eq!(codes(&c.get_ok("hr", &with_cutting).await), ["EMP002"]);
        assert!(codes(&c.get_ok("head", &with_cutting).await).is_empty());
        assert!(codes(&c.get_ok("worker", &with_cutting).await).is_empty());
        assert_eq!(codes(&c.get_ok("other", &with_cutting).await), ["EMP002"]);
    }
}

#[tokio::test]
async fn the_summary_comes_gzipped_when_asked_and_304_to_its_tag() {
    let (app, _service) = app_with_service().await;
    let hr = app.token("hr").await;
    let plain = raw(&app, &hr, &[]).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(plain.headers()[VARY], "accept-encoding");
    let plain_tag = plain.headers()[ETAG].to_str().unwrap().to_owned();
    let plain_body = plain.bytes().await.unwrap();
    let parsed: Value = serde_json::from_slice(&plain_body).unwrap();
    assert_eq!(codes(&parsed), ["EMP001", "EMP002", "EMP005"]);

    let zipped = raw(&app, &hr, &[(ACCEPT_ENCODING, "gzip, deflate")]).await;
    assert_eq!(zipped.status(), 200);
    assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(zipped.headers()[VARY], "accept-encoding");
    let zipped_tag = zipped.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(zipped_tag, plain_tag, "each representation has its own tag");
    let compressed = zipped.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain_body);

    // Either tag answers 304, with no body; another tag the whole answer.
    for tag in [&plain_tag, &zipped_tag] {
        let again = raw(&app, &hr, &[(IF_NONE_MATCH, tag.as_str())]).await;
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()[ETAG].to_str().unwrap(), plain_tag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let other = raw(&app, &hr, &[(IF_NONE_MATCH, "\"something-else\"")]).await;
    assert_eq!(other.status(), 200);
    // gzip refused with q=0: plain.
    let refused = raw(&app, &hr, &[(ACCEPT_ENCODING, "gzip;q=0")]).await;
    assert!(refused.headers().get(CONTENT_ENCODING).is_none());

    // After a write, the old tag no longer matches: a new answer, a new tag.
    let c = Callers::new(&app).await;
    let response = c
        .send(
            Method::POST,
            "hr",
            "/api/attendance/scans/",
            Some(scan("EMP001", "08:00:00", Some("IN"))),
        )
        .await;
    assert_eq!(response.status(), 201);
    let changed = raw(&app, &hr, &[(IF_NONE_MATCH, plain_tag.as_str())]).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()[ETAG].to_str().unwrap(), plain_tag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(status_of(&body, "EMP001"), "Present-OnTime");
}
