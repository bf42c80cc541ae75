//! `/api/attendance/scans/`: listing, manual entry and bulk import.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, TestApp, codes, error_code, spawn_app};

/// A past working day (a Wednesday; Friday is the default weekly off day).
pub const DAY: &str = "2025-06-11";

pub fn scan(code: &str, time: &str, scan_type: Option<&str>) -> Value {
    json!({
        "employee_id": code,
        "scan_time": format!("{DAY}T{time}"),
        "scan_type": scan_type,
        "reason": "machine was down",
    })
}

/// The scan list and manual scan endpoint.
pub const SCANS: &str = "/api/attendance/scans/";

/// The import endpoint.
pub const IMPORT: &str = "/api/attendance/scans/import/";

/// Imports a JSON array of scans as HR and returns the answer.
pub async fn import(c: &Callers<'_>, body: Value) -> reqwest::Response {
    c.send(Method::POST, "hr", IMPORT, Some(body)).await
}

/// Posts a manual scan as HR and returns the answer.
pub async fn manual(c: &Callers<'_>, body: Value) -> (u16, Value) {
    let response = c.send(Method::POST, "hr", SCANS, Some(body)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn scan_count(app: &TestApp) -> u64 {
    app.store.count_scans().await.unwrap()
}

#[tokio::test]
async fn a_manual_scan_makes_the_summary_show_the_employee_present() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let (status, first) = manual(&c, scan("EMP001", "08:00:00", Some("IN"))).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["created"], true);
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["scan"]["machine_id"], "MANUAL");
    assert_eq!(first["scan"]["verify_mode"], "manual");
    assert_eq!(first["scan"]["punch_state"], "check_in");
    assert_eq!(first["scan"]["local_time"], format!("{DAY}T08:00:00"));
    assert_eq!(first["scan"]["timestamp"], format!("{DAY}T02:00:00Z"));
    assert_eq!(first["summary"]["check_in"], "08:00");
    // RFC 3339 with an offset works as well (17:30 in Dhaka).
    let (status, second) = manual(
        &c,
        json!({"employee_id": "EMP001", "scan_time": format!("{DAY}T11:30:00Z"),
            "scan_type": "OUT", "reason": "forgot to scan"}),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["summary"]["status"], "Present-OnTime");
    assert_eq!(second["summary"]["working_hours"], 8.25);
    assert_eq!(second["summary"]["overtime"], 0.5);

    let summary = c
        .get_ok(
            "hr",
            &format!("/api/attendance/daily-attendance/summary/?date={DAY}"),
        )
        .await;
    assert_eq!(codes(&summary), ["EMP001", "EMP002", "EMP005"]);
    let emp001 = &summary[0];
    assert_eq!(
        *emp001,
        json!({
            "employee_id": "EMP001",
            "employee_name": "Name of EMP001",
            "department": "Sewing",
            "designation": "Operator",
            "level_of_work": "Worker",
            "date": DAY,
            "status": "Present-OnTime",
            "check_in": "08:00",
            "check_out": "17:30",
            "working_hours": 8.25,
            "overtime": 0.5,
            "extra_overtime": 0.0,
            "attendance_count": 2,
            "scans": [{"time": "08:00", "type": "IN"}, {"time": "17:30", "type": "OUT"}],
            "snacks_eligible": false,
            "night_bill_eligible": false,
            "missing_checkout": false,
            "half_day_leave": false,
            "computed_status": "Present-OnTime",
            "override": null,
        })
    );
    let emp002 = &summary[1];
    assert_eq!(emp002["status"], "Absent");
    assert_eq!(emp002["check_in"], Value::Null);
    assert_eq!(emp002["attendance_count"], 0);
    assert_eq!(
        emp002.as_object().unwrap().keys().collect::<Vec<_>>(),
        emp001.as_object().unwrap().keys().collect::<Vec<_>>()
    );

    // The same scan again is a duplicate: 200, nothing new stored.
    let (status, again) = manual(&c, scan("EMP001", "08:00:00", Some("IN"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["created"].clone(), again["duplicate"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(again["summary"]["status"], "Present-OnTime");
    assert_eq!(scan_count(&app).await, 2);
}

#[tokio::test]
async fn manual_scans_need_hr_and_valid_fields_and_change_nothing_otherwise() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    for user in ["worker", "head", "other"] {
        assert_eq!(
            c.send_error(
                Method::POST,
                user,
                SCANS,
                Some(scan("EMP001", "08:00:00", None)),
                403
            )
            .await,
            "forbidden",
            "{user}"
        );
    }
    let mut bad = Vec::new();
    let mut no_reason = scan("EMP001", "08:00:00", None);
    no_reason.as_object_mut().unwrap().remove("reason");
    bad.push(no_reason);
    let mut blank = scan("EMP001", "08:00:00", None);
    blank["reason"] = json!("   ");
    bad.push(blank);
    let mut long = scan("EMP001", "08:00:00", None);
    long["reason"] = json!("x".repeat(501));
    bad.push(long);
    bad.push(scan("EMP001", "08:00:00", Some("BREAK")));
    let mut garbled = scan("EMP001", "08:00:00", None);
    garbled["scan_time"] = json!("yesterday morning");
    bad.push(garbled);
    let mut future = scan("EMP001", "08:00:00", None);
    future["scan_time"] = json!("2999-01-01T08:00:00+06:00");
    bad.push(future);
    let mut no_time = scan("EMP001", "08:00:00", None);
    no_time.as_object_mut().unwrap().remove("scan_time");
    bad.push(no_time);
    let mut wrong_type = scan("EMP001", "08:00:00", None);
    wrong_type["scan_time"] = json!(12);
    bad.push(wrong_type);
    for body in bad {
        assert_eq!(
            c.send_error(Method::POST, "hr", SCANS, Some(body.clone()), 422)
                .await,
            "validation_error",
            "{body}"
        );
    }
    assert_eq!(
        c.send_error(
            Method::POST,
            "hr",
            SCANS,
            Some(scan("EMP404", "08:00:00", None)),
            404
        )
        .await,
        "not_found"
    );
    let response = c
        .send_raw("hr", SCANS, "application/json", "{not json")
        .await;
    assert_eq!(error_code(response, 400).await, "bad_request");
    assert_eq!(scan_count(&app).await, 0);
    let records = c.get_ok("hr", "/api/attendance/daily-attendance/").await;
    assert_eq!(records["count"], 0);
}

#[tokio::test]
async fn a_csv_import_reports_its_bad_lines_stores_the_rest_and_counts_duplicates() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let csv = format!(
        "employee_id,scan_time,scan_type,reason\n\
         EMP001,{DAY}T08:00:00,IN,paper register\n\
         EMP404,{DAY}T08:01:00,IN,paper register\n\
         EMP002,not a time,,paper register\n\
         EMP002,{DAY} 08:05,,paper register\n\
         EMP001,{DAY}T17:00:00,OUT,\n\
         EMP005,{DAY}T08:30:00,IN,paper register\n\
         EMP001,{DAY}T09:00:00\n"
    );
    let import = || c.send_raw("hr", IMPORT, "text/csv", csv.clone());
    let response = import().await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["new"], 3, "{first}");
    assert_eq!(first["duplicate"], 0);
    let lines: Vec<u64> = first["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 6, 8], "{first}");
    assert!(
        first["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("EMP404")
    );
    assert_eq!(scan_count(&app).await, 3);
    // The stored scans were attributed: EMP005 came at 08:30.
    let late = c
        .get_ok(
            "hr",
            &format!("/api/attendance/daily-attendance/EMP005/{DAY}/"),
        )
        .await;
    assert_eq!(late["status"], "Present-Late");

    let again: Value = import().await.json().await.unwrap();
    assert_eq!(
        (again["new"].clone(), again["duplicate"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(again["rejected"].as_array().unwrap().len(), 4);
    assert_eq!(scan_count(&app).await, 3);

    // A JSON array: lines are the index + 1.
    let body = json!([
        scan("EMP002", "17:00:00", Some("OUT")),
        {"employee_id": "EMP002"},
        scan("EMP001", "08:00:00", Some("IN")),
    ]);
    let response = c
        .send(
            Method::POST,
            "admin",
            "/api/attendance/scans/import",
            Some(body),
        )
        .await;
    let result: Value = response.json().await.unwrap();
    assert_eq!(
        (result["new"].clone(), result["duplicate"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(result["rejected"][0]["line"], 2);
    assert_eq!(scan_count(&app).await, 4);
}

#[tokio::test]
async fn imports_need_hr_and_a_readable_bounded_body() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let csv = format!("employee_id,scan_time,scan_type,reason\nEMP001,{DAY}T08:00:00,IN,x\n");
    let rows = format!("[{}]", vec!["{}"; 100_001].join(","));
    let huge = "x".repeat(17 * 1024 * 1024);
    for (user, content_type, body, status, code) in [
        ("worker", "text/csv", csv.clone(), 403, "forbidden"),
        ("head", "text/csv", csv.clone(), 403, "forbidden"),
        (
            "hr",
            "text/plain",
            csv.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            "hr",
            "text/csv",
            "name,when\nEMP001,today\n".to_owned(),
            422,
            "validation_error",
        ),
        (
            "hr",
            "application/json",
            r#"{"employee_id": "EMP001"}"#.to_owned(),
            422,
            "validation_error",
        ),
        (
            "hr",
            "application/json",
            "[{".to_owned(),
            400,
            "bad_request",
        ),
        ("hr", "application/json", rows, 413, "payload_too_large"),
        ("hr", "text/csv", huge, 413, "payload_too_large"),
    ] {
        let response = c.send_raw(user, IMPORT, content_type, body).await;
        assert_eq!(
            error_code(response, status).await,
            code,
            "{user} {content_type} {status}"
        );
    }
    assert_eq!(scan_count(&app).await, 0);
}

#[tokio::test]
async fn scan_lists_are_scoped_by_role() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let body = json!([
        scan("EMP001", "08:00:00", Some("IN")),
        scan("EMP002", "08:02:00", Some("IN")),
        scan("EMP005", "08:03:00", Some("IN")),
        scan("EMP001", "17:00:00", Some("OUT")),
    ]);
    let response = import(&c, body).await;
    assert_eq!(response.status(), 200);
    let list = |user: &'static str, query: &'static str| {
        let c = &c;
        async move {
            c.get_ok(
                user,
                &format!("/api/attendance/scans/?from={DAY}&to={DAY}{query}"),
            )
            .await
        }
    };
    let all = list("hr", "").await;
    assert_eq!(codes(&all), ["EMP001", "EMP001", "EMP002", "EMP005"]);
    assert_eq!(all["results"][0]["local_time"], format!("{DAY}T08:00:00"));
    assert_eq!(
        codes(&list("head", "").await),
        ["EMP001", "EMP001", "EMP005"]
    );
    assert_eq!(codes(&list("worker", "").await), ["EMP001", "EMP001"]);
    assert_eq!(codes(&list("other", "").await), ["EMP002"]);
    assert_eq!(codes(&list("hr", "&employee_id=EMP005").await), ["EMP005"]);
    let page = list("admin", "&page_size=3&page=2").await;
    assert_eq!(
        (page["count"].clone(), codes(&page)),
        (json!(4), vec!["EMP005".to_owned()])
    );
    for (user, query, status) in [
        (
            "worker",
            format!("?employee_id=EMP002&from={DAY}&to={DAY}"),
            403,
        ),
        (
            "head",
            format!("?employee_id=EMP002&from={DAY}&to={DAY}"),
            403,
        ),
        (
            "hr",
            format!("?employee_id=EMP404&from={DAY}&to={DAY}"),
            404,
        ),
        ("hr", "?from=2025-06-12&to=2025-06-11".to_owned(), 422),
        ("hr", "?from=2025-01-01&to=2025-06-11".to_owned(), 422),
        ("hr", "?from=yesterday".to_owned(), 400),
    ] {
        assert_eq!(
            c.get_status(user, &format!("/api/attendance/scans/{query}"))
                .await,
            status,
            "{user} {query}"
        );
    }
    // One employee may be listed over a longer range.
    let long = c
        .get_ok(
            "worker",
            "/api/attendance/scans/?employee_id=EMP001&from=2025-01-01&to=2025-06-30",
        )
        .await;
    assert_eq!(long["count"], 2);
}
