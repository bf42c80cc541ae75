//! Voiding a scan and the audit trail, over a real socket.

use attendance_core::employee::EmployeeCode;
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app};

/// A recent past date that is not a Friday (the default weekly off day).
fn working_day() -> NaiveDate {
    let mut date = Utc::now().date_naive() - Days::new(5);
    if date.weekday() == Weekday::Fri {
        date = date - Days::new(1);
    }
    date
}

#[tokio::test]
async fn hr_voids_a_scan_the_day_follows_and_the_audit_log_shows_it() {
    let app = spawn_app().await;
    let [hr, worker] = app.tokens(["hr", "worker"]).await;
    let day = working_day();
    for (time, kind) in [("08:00", "IN"), ("17:00", "OUT"), ("19:30", "OUT")] {
        app.call_json(
            Method::POST,
            "/api/attendance/scans/",
            &hr,
            Some(
                json!({"employee_id": "EMP001", "scan_time": format!("{day}T{time}:00"),
                "scan_type": kind, "reason": "paper register"}),
            ),
            201,
        )
        .await;
    }
    let code = EmployeeCode::parse("EMP001").unwrap();
    let before = app.store.record(&code, day).await.unwrap().unwrap();
    let listed = app
        .get_json(
            &format!("/api/attendance/scans/?employee_id=EMP001&from={day}&to={day}"),
            &hr,
        )
        .await;
    let scans = listed["results"].as_array().unwrap();
    assert_eq!(scans.len(), 3, "{listed}");
    let late = scans
        .iter()
        .find(|s| s["local_time"].as_str().unwrap().ends_with("19:30:00"))
        .unwrap();
    let id = late["id"].as_str().unwrap().to_owned();
    let path = format!("/api/attendance/scans/{id}/void/");

    // Only HR voids; a reason is required; a bad id is named.
    let refused = app
        .call(Method::POST, &path, &worker, Some(json!({"reason": "x"})))
        .await;
    assert_eq!(error_code(refused, 403).await, "forbidden");
    let blank = app
        .call(Method::POST, &path, &hr, Some(json!({"reason": "  "})))
        .await;
    assert_eq!(blank.status(), 422);
    let bad = app
        .call(
            Method::POST,
            "/api/attendance/scans/nonsense/void/",
            &hr,
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(bad.status(), 422);

    let voided = app
        .call_json(
            Method::POST,
            &path,
            &hr,
            Some(json!({"reason": "the guard punched twice"})),
            200,
        )
        .await;
    assert_eq!(voided["scan_id"], id.as_str());
    assert_eq!(voided["voided_by"], "hr");
    let after = app.store.record(&code, day).await.unwrap().unwrap();
    assert!(
        after.check_out < before.check_out,
        "the voided 19:30 scan no longer counts: {:?} → {:?}",
        before.check_out,
        after.check_out
    );
    assert!(after.overtime_seconds < before.overtime_seconds);
    let twice = app
        .call(Method::POST, &path, &hr, Some(json!({"reason": "again"})))
        .await;
    assert_eq!(twice.status(), 409);

    // The audit trail: HR and admins only, filtered.
    let denied = app
        .call(Method::GET, "/api/attendance/audit-log/", &worker, None)
        .await;
    assert_eq!(error_code(denied, 403).await, "forbidden");
    let log = app
        .get_json(
            &format!("/api/attendance/audit-log/?action=scan_voided&from={day}"),
            &hr,
        )
        .await;
    assert_eq!(log["count"], 1, "{log}");
    let entry = &log["results"][0];
    assert_eq!(entry["actor"], "hr");
    assert_eq!(entry["target"], format!("scan:{id}"));
    assert_eq!(entry["reason"], "the guard punched twice");
    assert_eq!(entry["before"]["voided"], false);
    assert_eq!(entry["after"]["voided"], true);
    let by_other: Value = app
        .get_json("/api/attendance/audit-log/?actor=someone-else", &hr)
        .await;
    assert_eq!(by_other["count"], 0);
    let reversed = app
        .call(
            Method::GET,
            "/api/attendance/audit-log/?from=2026-12-07&to=2026-12-01",
            &hr,
            None,
        )
        .await;
    assert_eq!(reversed.status(), 422);
    // No route edits or deletes an entry.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let r = app
            .call(method, "/api/attendance/audit-log/", &hr, None)
            .await;
        assert_eq!(r.status(), 405);
    }
}
