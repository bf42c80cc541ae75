//! Shifts: the settings' catalogue, employees on their own shift, night work.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, spawn_app};
use crate::scans::manual;

const SETTINGS: &str = "/api/attendance/settings/";
const EMPLOYEES: &str = "/api/attendance/employees/";

/// Adds `NIGHT`, 20:00–05:00, to the site's shift catalogue as HR.
async fn add_night_shift(c: &Callers<'_>) {
    let mut settings = c.get_ok("hr", SETTINGS).await;
    assert_eq!(settings["shifts"], json!([]), "no catalogue by default");
    settings["shifts"] =
        json!([{"id": "NIGHT", "name": "Night", "start": "20:00:00", "end": "05:00:00"}]);
    let stored = c
        .send_json(Method::PUT, "hr", SETTINGS, Some(settings), 200)
        .await;
    assert_eq!(stored["shifts"][0]["id"], "NIGHT");
}

fn new_employee(code: &str, shift: &str) -> Value {
    json!({
        "employee_id": code,
        "employee_name": format!("Name of {code}"),
        "department": "Sewing",
        "designation": "Operator",
        "level_of_work": "Worker",
        "shift": shift,
    })
}

/// Creates `EMP010` on `NIGHT` as HR (asserting 201).
async fn create_night_worker(c: &Callers<'_>) {
    let created = c
        .send_json(
            Method::POST,
            "hr",
            EMPLOYEES,
            Some(new_employee("EMP010", "NIGHT")),
            201,
        )
        .await;
    assert_eq!(created["shift"], "NIGHT");
}

/// `EMP010`'s line of the summary of `date`, as HR sees it.
async fn summary_of(c: &Callers<'_>, date: &str) -> Value {
    let summary = c
        .get_ok(
            "hr",
            &format!("/api/attendance/daily-attendance/summary/?date={date}"),
        )
        .await;
    summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["employee_id"] == "EMP010")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_night_workers_shift_is_answered_for_the_evenings_date() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    add_night_shift(&c).await;
    create_night_worker(&c).await;

    // A Wednesday evening to the Thursday morning, each scan entered on its own.
    let at = |time: &str| json!({"employee_id": "EMP010", "scan_time": time, "scan_type": null, "reason": "night gate down"});
    let (status, arrival) = manual(&c, at("2025-06-11T19:55:00")).await;
    assert_eq!(status, 201, "{arrival}");
    let (status, departure) = manual(&c, at("2025-06-12T05:03:00")).await;
    assert_eq!(status, 201, "{departure}");
    assert_eq!(departure["summary"]["date"], "2025-06-11");
    // A duplicate recomputes the employee's own shift too.
    let (status, again) = manual(&c, at("2025-06-12T05:03:00")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["summary"]["date"], "2025-06-11");

    let night = summary_of(&c, "2025-06-11").await;
    assert_eq!(night["status"], "Present-OnTime", "{night}");
    assert_eq!(night["check_in"], "19:55");
    assert_eq!(night["check_out"], "05:03");
    assert_eq!(night["attendance_count"], 2);
    assert_eq!(
        night["scans"],
        json!([{"time": "19:55", "type": "IN"}, {"time": "05:03", "type": "OUT"}])
    );
    // The morning's check-out is not the next day's arrival.
    let next = summary_of(&c, "2025-06-12").await;
    assert_eq!(next["status"], "Absent", "{next}");
    assert_eq!(next["attendance_count"], 0);
}

#[tokio::test]
async fn an_employee_naming_a_shift_the_site_does_not_have_is_refused() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let body = c
        .send(
            Method::POST,
            "hr",
            EMPLOYEES,
            Some(new_employee("EMP010", "NIGHT")),
        )
        .await;
    assert_eq!(body.status(), 422);
    let body: Value = body.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_error", "{body}");
    assert_eq!(body["error"]["details"]["field"], "shift");
    assert!(body["error"]["message"].as_str().unwrap().contains("NIGHT"));
    c.get_error("hr", &format!("{EMPLOYEES}EMP010/"), 404).await;

    // Replacing an employee with an unknown shift changes nothing either.
    let mut emp001 = new_employee("EMP001", "GHOST");
    emp001["employee_name"] = json!("Renamed");
    c.send_error(
        Method::PUT,
        "hr",
        format!("{EMPLOYEES}EMP001/"),
        Some(emp001.clone()),
        422,
    )
    .await;
    let stored = c.get_ok("hr", &format!("{EMPLOYEES}EMP001/")).await;
    assert_eq!(stored["employee_name"], "Name of EMP001");
    assert_eq!(stored["shift"], Value::Null);

    // The default shift's id and, once in the catalogue, NIGHT are accepted.
    emp001["shift"] = json!("DAY");
    c.send_json(
        Method::PUT,
        "hr",
        format!("{EMPLOYEES}EMP001/"),
        Some(emp001),
        200,
    )
    .await;
    add_night_shift(&c).await;
    create_night_worker(&c).await;
}
