//! Day overrides over a real socket: who sets and removes them, their errors, and the overridden
//! status wherever a day is shown or counted (list and its status filter, one day, summary,
//! timesheet, statistics, WebSocket), kept across recomputes.

use std::time::Duration;

use attendance_core::employee::EmployeeCode;
use chrono::{Days, NaiveDate};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, codes, spawn_app};
use crate::realtime::{connect, wait_for};
use crate::scans::{DAY, import, scan};

fn one(code: &str, date: &str) -> String {
    format!("/api/attendance/daily-attendance/{code}/{date}/")
}

fn row<'a>(list: &'a Value, code: &str) -> &'a Value {
    let list = list.get("results").unwrap_or(list);
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["employee_id"] == code)
        .unwrap_or_else(|| panic!("{code} is not in {list}"))
}

#[tokio::test]
async fn an_override_shows_and_counts_everywhere_and_outlives_recomputes() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    // EMP001 on time 08:00–17:30, EMP005 late 08:30–17:00.
    let body = json!([
        scan("EMP001", "08:00:00", Some("IN")),
        scan("EMP001", "17:30:00", Some("OUT")),
        scan("EMP005", "08:30:00", Some("IN")),
        scan("EMP005", "17:00:00", Some("OUT")),
    ]);
    assert_eq!(import(&c, body).await.status(), 200);
    let path = one("EMP005", DAY);
    let set = json!({"status": "Present-OnTime", "reason": "the bus broke down"});

    // Only HR and admins; the employee must exist; the fields are checked.
    for user in ["worker", "head"] {
        assert_eq!(
            c.send_error(Method::PUT, user, &path, Some(set.clone()), 403)
                .await,
            "forbidden"
        );
    }
    assert_eq!(
        c.send_error(
            Method::PUT,
            "hr",
            one("EMP404", DAY),
            Some(set.clone()),
            404
        )
        .await,
        "not_found"
    );
    for (body, field) in [
        (json!({"status": "Present", "reason": "x"}), "status"),
        (json!({"status": "Pending", "reason": "x"}), "status"),
        (json!({"reason": "x"}), "status"),
        (json!({"status": "Absent", "reason": "  "}), "reason"),
        (json!({"status": "Absent"}), "reason"),
    ] {
        let response = c.send(Method::PUT, "hr", &path, Some(body.clone())).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        let named = error["error"]["details"]["field"] == field
            || error["error"]["message"].as_str().unwrap().contains(field);
        assert!(named, "{field}: {error}");
    }
    assert_eq!(
        c.send_error(
            Method::PUT,
            "hr",
            one("EMP005", "2999-01-01"),
            Some(set.clone()),
            422
        )
        .await,
        "validation_error"
    );

    // HR overrides the late day, and HR's WebSocket hears of it as shown.
    let mut socket = connect(&app, "hr").await;
    let shown = c
        .send_json(Method::PUT, "hr", &path, Some(set.clone()), 200)
        .await;
    assert_eq!(shown["status"], "Present-OnTime", "{shown}");
    assert_eq!(shown["computed_status"], "Present-Late");
    assert_eq!(shown["override"]["set_by"], "hr");
    assert_eq!(shown["override"]["reason"], "the bus broke down");
    assert_eq!(shown["check_in"], "08:30", "the times stay as computed");
    let event = wait_for(
        &mut socket,
        "attendance_updated",
        Some("EMP005"),
        Duration::from_secs(10),
    )
    .await
    .expect("the override is published");
    assert_eq!(event["data"]["status"], "Present-OnTime");
    assert_eq!(event["data"]["override"]["set_by"], "hr");

    // The list, its status filter, one day, the summary.
    let base = "/api/attendance/daily-attendance/";
    let list = c.get_ok("head", &format!("{base}?date={DAY}")).await;
    assert_eq!(row(&list, "EMP005")["status"], "Present-OnTime");
    assert_eq!(row(&list, "EMP005")["computed_status"], "Present-Late");
    assert_eq!(row(&list, "EMP001")["override"], Value::Null);
    let late = c.get_ok("hr", &format!("{base}?status=Present-Late")).await;
    assert_eq!(late["count"], 0, "{late}");
    let on_time = c
        .get_ok("hr", &format!("{base}?status=Present-OnTime&page_size=1"))
        .await;
    assert_eq!(on_time["count"], 2, "{on_time}");
    assert_eq!(codes(&on_time), ["EMP001"]);
    let second = c.get_ok("hr", on_time["next"].as_str().unwrap()).await;
    assert_eq!(codes(&second), ["EMP005"]);
    assert_eq!(
        c.get_ok("worker", &one("EMP001", DAY)).await["override"],
        Value::Null
    );
    assert_eq!(c.get_ok("head", &path).await["status"], "Present-OnTime");
    let summary = c
        .get_ok(
            "hr",
            &format!("/api/attendance/daily-attendance/summary/?date={DAY}"),
        )
        .await;
    assert_eq!(row(&summary, "EMP005")["status"], "Present-OnTime");

    // The timesheet counts the day by its overridden status; statistics too.
    let sheet = c
        .get_ok(
            "head",
            "/api/attendance/timesheet/?employee_id=EMP005&month=2025-06",
        )
        .await;
    let day = sheet["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == DAY)
        .unwrap();
    assert_eq!(day["status"], "Present-OnTime");
    assert_eq!(day["computedStatus"], "Present-Late");
    assert_eq!(sheet["totals"]["late_days"], 0, "{}", sheet["totals"]);
    let department = c
        .get_ok(
            "hr",
            "/api/attendance/timesheet/?department=Sewing&month=2025-06",
        )
        .await;
    let of_emp005 = department
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["employee_id"] == "EMP005")
        .unwrap();
    assert_eq!(of_emp005["totals"]["late_days"], 0);
    let stats = c
        .get_ok(
            "hr",
            &format!("/api/attendance/statistics/?date={DAY}&department=Sewing"),
        )
        .await;
    assert_eq!(stats["late"], 0, "{stats}");
    assert_eq!(stats["by_status"]["Present-OnTime"], 2);
    assert!(stats["by_status"].get("Present-Late").is_none(), "{stats}");
    assert_eq!(stats["present"], 2);

    // A recompute keeps the override: POST, and PUT without a body.
    let recomputed = c
        .send_json(
            Method::POST,
            "hr",
            base,
            Some(json!({"employee_id": "EMP005", "date": DAY})),
            200,
        )
        .await;
    assert_eq!(recomputed["status"], "Present-OnTime");
    assert_eq!(recomputed["computed_status"], "Present-Late");
    let plain = c.send_json(Method::PUT, "admin", &path, None, 200).await;
    assert_eq!(plain["override"]["status"], "Present-OnTime");

    // A day with no stored record is computed first: EMP002 absent the day before.
    let before: NaiveDate = DAY.parse::<NaiveDate>().unwrap() - Days::new(1);
    let code = EmployeeCode::parse("EMP002").unwrap();
    assert!(app.store.record(&code, before).await.unwrap().is_none());
    let excused = c
        .send_json(
            Method::PUT,
            "hr",
            one("EMP002", &before.to_string()),
            Some(json!({"status": "Leave-Casual", "reason": "leave form filed late"})),
            200,
        )
        .await;
    assert_eq!(excused["status"], "Leave-Casual", "{excused}");
    assert_eq!(excused["computed_status"], "Absent");
    assert!(app.store.record(&code, before).await.unwrap().is_some());

    // DELETE removes the override (a reason in the query or the body) and answers the day as
    // computed; without an override, a reason gets 404 and no reason deletes the record.
    let removed = c
        .send_json(
            Method::DELETE,
            "hr",
            format!("{path}?reason=checked"),
            None,
            200,
        )
        .await;
    assert_eq!(removed["status"], "Present-Late", "{removed}");
    assert_eq!(removed["override"], Value::Null);
    assert_eq!(
        c.send_error(
            Method::DELETE,
            "hr",
            &path,
            Some(json!({"reason": "again"})),
            404
        )
        .await,
        "not_found"
    );
    assert_eq!(
        c.get_ok("hr", &format!("{base}?status=Present-Late")).await["count"],
        1
    );
    let response = c.send(Method::DELETE, "hr", &path, None).await;
    assert_eq!(response.status(), 204, "the record itself, as before");
    assert_eq!(c.get_status("hr", &path).await, 404);

    // The audit trail has each change, with who and why.
    let log = c
        .get_ok(
            "hr",
            &format!("/api/attendance/audit-log/?target=employee:EMP005:{DAY}"),
        )
        .await;
    let actions: Vec<&str> = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["day_override_removed", "day_overridden"]);
    assert_eq!(log["results"][0]["reason"], "checked");
    assert_eq!(log["results"][1]["after"]["status"], "Present-OnTime");
}
