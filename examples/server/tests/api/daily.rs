//! Daily attendance, the daily summary, timesheets and statistics.

use attendance_core::employee::EmployeeCode;
use attendance_core::holiday::{Holiday, NewHoliday};
use chrono::NaiveDate;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, SickLeave, codes, spawn_app};
use crate::scans::{DAY, import, scan};

/// EMP001 on time 08:00–17:30, EMP002 considered (08:10, no checkout), EMP005 late 08:30–17:00.
async fn a_day_of_scans(c: &Callers<'_>) {
    let body = json!([
        scan("EMP001", "08:00:00", Some("IN")),
        scan("EMP001", "17:30:00", Some("OUT")),
        scan("EMP002", "08:10:00", Some("IN")),
        scan("EMP005", "08:30:00", Some("IN")),
        scan("EMP005", "17:00:00", Some("OUT")),
    ]);
    let response = import(c, body).await;
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["new"], 5, "{result}");
}

fn statuses(body: &Value) -> Vec<(String, String)> {
    let list = body.get("results").unwrap_or(body);
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["employee_id"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn daily_attendance_lists_are_scoped_filtered_and_ordered() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    a_day_of_scans(&c).await;
    let base = "/api/attendance/daily-attendance/";
    let all = c.get_ok("hr", &format!("{base}?date={DAY}")).await;
    assert_eq!(
        statuses(&all),
        [
            ("EMP001".to_owned(), "Present-OnTime".to_owned()),
            ("EMP002".to_owned(), "Present-Considered".to_owned()),
            ("EMP005".to_owned(), "Present-Late".to_owned()),
        ]
    );
    assert_eq!(all["count"], 3);
    assert_eq!(all["results"][0]["check_out"], "17:30");
    assert_eq!(
        c.get_ok("hr", &format!("{base}?from={DAY}")).await["count"],
        3
    );
    assert_eq!(
        c.get_ok("hr", "/api/attendance/daily-attendance/?from=2025-06-12")
            .await["count"],
        0
    );
    assert_eq!(
        c.get_ok("hr", &format!("{base}?to={DAY}")).await["count"],
        3
    );
    assert_eq!(codes(&c.get_ok("head", base).await), ["EMP001", "EMP005"]);
    assert_eq!(codes(&c.get_ok("worker", base).await), ["EMP001"]);
    assert_eq!(codes(&c.get_ok("other", base).await), ["EMP002"]);
    assert_eq!(
        codes(
            &c.get_ok("worker", &format!("{base}?employee_id=EMP002"))
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        codes(
            &c.get_ok("head", &format!("{base}?department=Cutting"))
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        codes(&c.get_ok("hr", &format!("{base}?status=Present-Late")).await),
        ["EMP005"]
    );
    assert_eq!(
        codes(
            &c.get_ok(
                "hr",
                &format!("{base}?department=Sewing&from={DAY}&to={DAY}")
            )
            .await
        ),
        ["EMP001", "EMP005"]
    );
    // Leave types other than the defaults are valid statuses (a site's own types).
    assert_eq!(
        c.get_ok("hr", &format!("{base}?status=Leave-Sick")).await["count"],
        0
    );
    let page = c
        .get_ok("hr", &format!("{base}?ordering=-date&page_size=1&page=3"))
        .await;
    assert_eq!(
        (page["count"].clone(), codes(&page)),
        (json!(3), vec!["EMP005".to_owned()])
    );
    assert_eq!(page["next"], Value::Null);
    for query in [
        "?status=Present",
        "?status=Leave-",
        "?status=Leave-%21%21",
        "?from=2025-06-12&to=2025-06-11",
        "?ordering=name",
        "?date=2025-06-11&from=2025-06-01",
    ] {
        assert_eq!(
            c.get_error("hr", &format!("{base}{query}"), 422).await,
            "validation_error",
            "{query}"
        );
    }
    assert_eq!(
        c.get_error("hr", &format!("{base}?date=June"), 400).await,
        "bad_request"
    );
}

#[tokio::test]
async fn one_record_is_read_recomputed_and_deleted_by_the_right_roles() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    a_day_of_scans(&c).await;
    let one = |code: &str| format!("/api/attendance/daily-attendance/{code}/{DAY}/");
    let record = c.get_ok("worker", &one("EMP001")).await;
    assert_eq!(record["status"], "Present-OnTime");
    assert_eq!(record["working_hours"], 8.25);
    for (user, code, status) in [
        ("worker", "EMP002", 403),
        ("head", "EMP002", 403),
        ("head", "EMP005", 200),
        ("hr", "EMP404", 404),
    ] {
        assert_eq!(
            c.get_status(user, &one(code)).await,
            status,
            "{user} {code}"
        );
    }
    assert_eq!(
        c.get_status("hr", "/api/attendance/daily-attendance/EMP001/2025-06-12/")
            .await,
        404
    );
    assert_eq!(
        c.get_status("hr", "/api/attendance/daily-attendance/EMP001/not-a-date/")
            .await,
        400
    );
    for user in ["worker", "head"] {
        for method in [Method::PUT, Method::DELETE] {
            assert_eq!(
                c.send_error(method.clone(), user, &one("EMP001"), None, 403)
                    .await,
                "forbidden",
                "{user} {method}"
            );
        }
        assert_eq!(
            c.send_error(
                Method::POST,
                user,
                "/api/attendance/daily-attendance/",
                Some(json!({"employee_id": "EMP001", "date": DAY})),
                403
            )
            .await,
            "forbidden"
        );
    }
    let code = EmployeeCode::parse("EMP001").unwrap();
    let date: NaiveDate = DAY.parse().unwrap();
    assert!(app.store.record(&code, date).await.unwrap().is_some());

    let response = c.send(Method::DELETE, "hr", &one("EMP001"), None).await;
    assert_eq!(response.status(), 204);
    assert!(app.store.record(&code, date).await.unwrap().is_none());
    assert_eq!(
        c.send_error(Method::DELETE, "hr", &one("EMP001"), None, 404)
            .await,
        "not_found"
    );

    // POST recomputes the day from the stored scans, and so does PUT.
    let recomputed = c
        .send_json(
            Method::POST,
            "hr",
            "/api/attendance/daily-attendance/",
            Some(json!({"employee_id": "EMP001", "date": DAY})),
            200,
        )
        .await;
    assert_eq!(recomputed, record);
    assert!(app.store.record(&code, date).await.unwrap().is_some());
    let response = c.send(Method::PUT, "admin", &one("EMP001"), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), record);

    for body in [
        json!({"employee_id": "EMP001", "date": "2999-01-01"}),
        json!({"employee_id": "EMP001"}),
        json!({"employee_id": "EMP001", "date": "11/06/2025"}),
    ] {
        assert_eq!(
            c.send_error(
                Method::POST,
                "hr",
                "/api/attendance/daily-attendance/",
                Some(body.clone()),
                422
            )
            .await,
            "validation_error",
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_summary_covers_every_active_employee_in_scope() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let response = c
        .send(
            Method::POST,
            "hr",
            "/api/attendance/scans/",
            Some(scan("EMP005", "08:00:00", None)),
        )
        .await;
    assert_eq!(response.status(), 201);
    let path = format!("/api/attendance/daily-attendance/summary/?date={DAY}");
    let hr = c.get_ok("hr", &path).await;
    assert_eq!(codes(&hr), ["EMP001", "EMP002", "EMP005"]);
    assert_eq!(hr[0]["status"], "Absent");
    assert_eq!(hr[2]["status"], "Present-OnTime");
    assert_eq!(hr[2]["check_out"], Value::Null);
    assert_eq!(codes(&c.get_ok("head", &path).await), ["EMP001", "EMP005"]);
    assert_eq!(codes(&c.get_ok("worker", &path).await), ["EMP001"]);
    assert_eq!(
        codes(&c.get_ok("hr", &format!("{path}&department=Cutting")).await),
        ["EMP002"]
    );
    // A holiday (stored before anyone asked for the day) shows for everyone.
    let holiday = Holiday::parse(&NewHoliday {
        name: "Test Day".into(),
        start: "2025-06-10".parse().unwrap(),
        end: None,
        recurring_yearly: false,
        observed: true,
        holiday_type: Default::default(),
    })
    .unwrap();
    app.store.create_holiday(&holiday).await.unwrap();
    let off = c
        .get_ok(
            "head",
            "/api/attendance/daily-attendance/summary/?date=2025-06-10",
        )
        .await;
    assert_eq!(
        statuses(&off),
        [
            ("EMP001".to_owned(), "Holiday".to_owned()),
            ("EMP005".to_owned(), "Holiday".to_owned()),
        ]
    );
    // A Friday is a weekend day for everyone.
    let friday = c
        .get_ok(
            "hr",
            "/api/attendance/daily-attendance/summary/?date=2025-06-13",
        )
        .await;
    assert!(
        friday
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "Weekend")
    );
    assert_eq!(
        c.get_error(
            "hr",
            "/api/attendance/daily-attendance/summary/?date=2025-13-01",
            400
        )
        .await,
        "bad_request"
    );
    assert_eq!(
        c.get_error(
            "hr",
            "/api/attendance/daily-attendance/summary/?date=2999-01-01",
            422
        )
        .await,
        "validation_error"
    );
    // Nothing was stored for the refused dates.
    let stored = c
        .get_ok(
            "hr",
            "/api/attendance/daily-attendance/?from=2999-01-01&to=2999-01-01",
        )
        .await;
    assert_eq!(stored["count"], 0);
}

#[tokio::test]
async fn timesheets_have_every_day_of_the_month_and_respect_scope() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    a_day_of_scans(&c).await;
    let sheet = c
        .get_ok(
            "worker",
            "/api/attendance/timesheet/?month=2025-06&employee_id=EMP001",
        )
        .await;
    assert_eq!(sheet["employee_id"], "EMP001");
    assert_eq!(sheet["month"], "2025-06");
    let days = sheet["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[10]["date"], DAY);
    assert_eq!(days[10]["checkIn"], "08:00");
    assert_eq!(days[10]["workingHours"], 8.25);
    assert_eq!(days[12]["status"], "Weekend");
    assert_eq!(sheet["totals"]["present_days"], 1);
    assert_eq!(sheet["totals"]["absent_days"], 25);

    let sewing = c
        .get_ok(
            "head",
            "/api/attendance/timesheet/?month=2025-06&department=Sewing",
        )
        .await;
    assert_eq!(codes(&sewing), ["EMP001", "EMP005"]);
    assert_eq!(sewing[1]["totals"]["late_days"], 1);
    for (user, query, status) in [
        ("worker", "?month=2025-06&employee_id=EMP002", 403),
        ("head", "?month=2025-06&employee_id=EMP002", 403),
        ("head", "?month=2025-06&department=Cutting", 403),
        ("worker", "?month=2025-06&department=Sewing", 403),
        ("hr", "?month=2025-06&employee_id=EMP404", 404),
        ("hr", "?month=2025-13&employee_id=EMP001", 422),
        ("hr", "?employee_id=EMP001", 422),
        ("hr", "?month=2025-06", 422),
        ("hr", "?month=2999-01&employee_id=EMP001", 422),
        (
            "hr",
            "?month=2025-06&employee_id=EMP001&department=Sewing",
            422,
        ),
    ] {
        assert_eq!(
            c.get_status(user, &format!("/api/attendance/timesheet/{query}"))
                .await,
            status,
            "{user} {query}"
        );
    }
    let cutting = c
        .get_ok(
            "hr",
            "/api/attendance/timesheet?month=2025-06&department=Cutting",
        )
        .await;
    assert_eq!(codes(&cutting), ["EMP002"]);
}

#[tokio::test]
async fn statistics_count_every_employee_day_in_scope() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let response = c
        .send(
            Method::POST,
            "hr",
            "/api/attendance/scans/",
            Some(scan("EMP005", "08:30:00", Some("IN"))),
        )
        .await;
    assert_eq!(response.status(), 201);
    let stats = c
        .get_ok("hr", &format!("/api/attendance/statistics/?date={DAY}"))
        .await;
    assert_eq!(
        stats,
        json!({
            "from": DAY,
            "to": DAY,
            "department": null,
            "total_records": 3,
            "by_status": {"Absent": 2, "Present-Late": 1},
            "present": 1,
            "late": 1,
            "absent": 2,
            "on_leave": 0,
            "attendance_rate": 33.33,
            "complete": true,
        })
    );
    let head = c
        .get_ok("head", &format!("/api/attendance/statistics/?date={DAY}"))
        .await;
    assert_eq!(
        (head["total_records"].clone(), head["present"].clone()),
        (json!(2), json!(1))
    );
    let worker = c
        .get_ok(
            "worker",
            &format!("/api/attendance/statistics/?from={DAY}&to={DAY}"),
        )
        .await;
    assert_eq!(worker["by_status"], json!({"Absent": 1}));
    let cutting = c
        .get_ok(
            "head",
            &format!("/api/attendance/statistics/?date={DAY}&department=Cutting"),
        )
        .await;
    assert_eq!(cutting["total_records"], 0);
    let week = c
        .get_ok(
            "hr",
            "/api/attendance/statistics/?from=2025-06-08&to=2025-06-14&department=Sewing",
        )
        .await;
    assert_eq!(week["total_records"], 14);
    assert_eq!(week["by_status"]["Weekend"], 2);
    for query in [
        "?from=2025-06-12&to=2025-06-11",
        "?from=2020-01-01&to=2025-06-11",
    ] {
        assert_eq!(
            c.get_error("hr", &format!("/api/attendance/statistics/{query}"), 422)
                .await,
            "validation_error",
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_these_endpoints() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    for path in [
        "/api/attendance/employees/",
        "/api/attendance/employees/{employee_id}/",
        "/api/attendance/scans/",
        "/api/attendance/scans/import/",
        "/api/attendance/daily-attendance/",
        "/api/attendance/daily-attendance/summary/",
        "/api/attendance/daily-attendance/{employee_id}/{date}/",
        "/api/attendance/timesheet/",
        "/api/attendance/statistics/",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["schemas"].get("EmployeeView").is_some());
}

#[tokio::test]
async fn the_summary_and_statistics_show_approved_leave() {
    use attendance_core::service::AttendanceService;

    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    // Leave is another module's endpoints: approve it through the service, as they would.
    let service = AttendanceService::new(app.store.clone());
    let leave = SickLeave::file(&*app.store, &service, "EMP002", "Cutting", DAY).await;
    leave.approve(&service).await;
    let summary = c
        .get_ok(
            "hr",
            &format!("/api/attendance/daily-attendance/summary/?date={DAY}"),
        )
        .await;
    assert_eq!(
        statuses(&summary),
        [
            ("EMP001".to_owned(), "Absent".to_owned()),
            ("EMP002".to_owned(), "Leave-Sick".to_owned()),
            ("EMP005".to_owned(), "Absent".to_owned()),
        ]
    );
    let stats = c
        .get_ok("hr", &format!("/api/attendance/statistics/?date={DAY}"))
        .await;
    assert_eq!(
        (stats["on_leave"].clone(), stats["absent"].clone()),
        (json!(1), json!(2))
    );
    let leave = c
        .get_ok(
            "other",
            "/api/attendance/daily-attendance/?status=Leave-Sick",
        )
        .await;
    assert_eq!(codes(&leave), ["EMP002"]);
    let none = c
        .get_ok(
            "worker",
            "/api/attendance/daily-attendance/?status=Leave-Sick",
        )
        .await;
    assert_eq!(none["count"], 0);
}
