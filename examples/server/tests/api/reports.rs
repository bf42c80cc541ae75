//! The monthly report (`GET reports/monthly/`) as JSON, CSV and XLSX, its scope, and the
//! timesheet's CSV and XLSX, over a real socket.

use std::collections::HashMap;
use std::io::Cursor;

use attendance_core::employee::EmployeeCode;
use attendance_core::overrides::DayOverride;
use attendance_core::status::AttendanceStatus;
use calamine::{Data, Reader, Xlsx};
use chrono::{NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, employee, spawn_app};
use crate::scans::import;

const REPORT: &str = "/api/attendance/reports/monthly/";

/// June 2025: 30 days, Fridays the 6th, 13th, 20th and 27th (the weekly off day).
const MONTH: &str = "2025-06";

/// EMP001 on time 08:00–17:30 on the 11th and the 12th, EMP002 considered (08:10, no
/// checkout) on the 11th, EMP005 late 08:30–17:00 on the 11th.
async fn scans_of_june(c: &Callers<'_>) {
    let scan = |code: &str, at: &str, kind: &str| json!({"employee_id": code, "scan_time": at, "scan_type": kind, "reason": "paper sheet"});
    let body = json!([
        scan("EMP001", "2025-06-11T08:00:00", "IN"),
        scan("EMP001", "2025-06-11T17:30:00", "OUT"),
        scan("EMP001", "2025-06-12T08:00:00", "IN"),
        scan("EMP001", "2025-06-12T17:30:00", "OUT"),
        scan("EMP002", "2025-06-11T08:10:00", "IN"),
        scan("EMP005", "2025-06-11T08:30:00", "IN"),
        scan("EMP005", "2025-06-11T17:00:00", "OUT"),
    ]);
    let result: Value = import(c, body).await.json().await.unwrap();
    assert_eq!(result["new"], 7, "{result}");
}

/// HR sets EMP001's absent 2nd of June to present by hand.
async fn override_the_second(c: &Callers<'_>) {
    let day = DayOverride::new(
        EmployeeCode::parse("EMP001").unwrap(),
        NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
        AttendanceStatus::PresentOnTime,
        "the gate's machine was down",
        "hr",
        Utc::now(),
    )
    .unwrap();
    c.app.store.put_override(&day).await.unwrap();
}

/// `GET path` as `user`: asserts 200 and returns the content type, the content disposition
/// and the bytes.
async fn file(c: &Callers<'_>, user: &str, path: &str) -> (String, String, Vec<u8>) {
    let response = c.send(Method::GET, user, path, None).await;
    assert_eq!(response.status(), 200, "GET {path} as {user}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (kind, disposition, response.bytes().await.unwrap().to_vec())
}

fn row<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["employees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["employee_id"] == code)
        .unwrap_or_else(|| panic!("{code} is not in {report}"))
}

#[tokio::test]
async fn the_monthly_report_counts_every_day_of_every_employee_with_overrides() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    scans_of_june(&c).await;
    override_the_second(&c).await;
    let report = c.get_ok("hr", &format!("{REPORT}?month={MONTH}")).await;
    assert_eq!(report["month"], MONTH);
    assert!(report["generated_at"].is_string(), "{report}");
    let order: Vec<&str> = report["employees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["employee_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["EMP002", "EMP001", "EMP005"],
        "by department, then code"
    );
    let leave_types: Vec<&str> = report["leave_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        leave_types,
        [
            "Casual",
            "Sick",
            "Annual",
            "Maternity",
            "Unpaid",
            "Compensatory"
        ]
    );

    let one = row(&report, "EMP001");
    assert_eq!(one["employee_name"], "Name of EMP001");
    assert_eq!(one["department"], "Sewing");
    assert_eq!(one["designation"], "Operator");
    assert_eq!(one["level_of_work"], "Worker");
    assert_eq!(one["days"], 30);
    assert_eq!(one["weekend_days"], 4);
    assert_eq!(one["working_days"], 26);
    // Two days worked, and the overridden 2nd counted present.
    assert_eq!(one["present_days"], 3);
    assert_eq!(one["on_time_days"], 3);
    assert_eq!(one["overridden_days"], 1);
    assert_eq!(one["absent_days"], 23);
    assert_eq!(one["leave_days"], 0);
    assert_eq!(one["leave_by_type"]["Casual"], 0);
    assert_eq!(one["working_hours"], 16.5);
    assert_eq!(one["working_seconds"], 2 * 29_700);
    assert_eq!(one["overtime"], 1.0);

    let two = row(&report, "EMP002");
    assert_eq!(two["considered_days"], 1);
    assert_eq!(two["absent_days"], 25);
    let five = row(&report, "EMP005");
    assert_eq!(five["late_days"], 1);
    assert_eq!(five["late_minutes"], 30);

    let departments: Vec<(&str, u64, u64)> = report["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["department"].as_str().unwrap(),
                d["totals"]["employees"].as_u64().unwrap(),
                d["totals"]["present_days"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(departments, [("Cutting", 1, 1), ("Sewing", 2, 4)]);
    let totals = &report["totals"];
    assert_eq!(totals["employees"], 3);
    assert_eq!(totals["days"], 90);
    assert_eq!(totals["present_days"], 5);
    assert_eq!(totals["late_minutes"], 30);
    assert_eq!(totals["overridden_days"], 1);
    // The timesheet counts the override the same way.
    let sheet = c
        .get_ok(
            "hr",
            &format!("/api/attendance/timesheet/?month={MONTH}&employee_id=EMP001"),
        )
        .await;
    assert_eq!(sheet["days"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn the_csv_and_the_workbook_hold_what_the_json_holds() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    scans_of_june(&c).await;
    override_the_second(&c).await;
    let report = c.get_ok("hr", &format!("{REPORT}?month={MONTH}")).await;

    // CSV: one header row, one line per employee, the JSON's values.
    let (kind, disposition, bytes) =
        file(&c, "hr", &format!("{REPORT}?month={MONTH}&format=csv")).await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert_eq!(
        disposition,
        "attachment; filename=\"attendance-2025-06.csv\""
    );
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header[..8],
        [
            "employee_id",
            "employee_name",
            "department",
            "designation",
            "level_of_work",
            "days",
            "working_days",
            "present_days"
        ]
    );
    assert!(header.contains(&"leave_casual".to_owned()), "{header:?}");
    assert!(
        header.contains(&"leave_compensatory".to_owned()),
        "{header:?}"
    );
    assert_eq!(header.last().unwrap(), "overridden_days");
    let lines: Vec<HashMap<String, String>> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 3);
    for (line, json_row) in lines.iter().zip(report["employees"].as_array().unwrap()) {
        for column in &header {
            let text = &line[column];
            let value = match column.strip_prefix("leave_") {
                Some(kind) if column != "leave_days" => {
                    let name = kind[..1].to_uppercase() + &kind[1..];
                    json_row["leave_by_type"][name].clone()
                }
                _ => json_row[column].clone(),
            };
            match value {
                Value::String(s) => assert_eq!(text, &s, "{column}"),
                Value::Number(n) => {
                    assert_eq!(
                        text.parse::<f64>().unwrap(),
                        n.as_f64().unwrap(),
                        "{column}"
                    )
                }
                other => panic!("{column}: {other}"),
            }
        }
    }
    assert_eq!(lines[1]["working_hours"], "16.50");

    // One department: its lines only, and its name in the file name, made safe.
    let odd = employee("EMP009", "Cut & Sew");
    app.store.create_employee(&odd).await.unwrap();
    let (_, disposition, bytes) = file(
        &c,
        "hr",
        &format!("{REPORT}?month={MONTH}&department=Cut%20%26%20Sew&format=csv"),
    )
    .await;
    assert_eq!(
        disposition,
        "attachment; filename=\"attendance-2025-06-Cut-Sew.csv\""
    );
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().nth(1).unwrap().starts_with("EMP009,"),
        "{text}"
    );

    // XLSX: a Summary sheet and one per department, numbers as numbers.
    let (kind, disposition, bytes) =
        file(&c, "hr", &format!("{REPORT}?month={MONTH}&format=xlsx")).await;
    assert_eq!(
        kind,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        disposition,
        "attachment; filename=\"attendance-2025-06.xlsx\""
    );
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["Summary", "Cut & Sew", "Cutting", "Sewing"]
    );
    let sewing = book.worksheet_range("Sewing").unwrap();
    let top: Vec<String> = sewing
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(top, header);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let cells: Vec<&[Data]> = sewing.rows().skip(1).collect();
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0][0], Data::String("EMP001".into()));
    assert_eq!(cells[0][column("working_hours")], Data::Float(16.5));
    assert_eq!(cells[0][column("present_days")], Data::Float(3.0));
    assert_eq!(cells[1][column("late_minutes")], Data::Float(30.0));
    let summary = book.worksheet_range("Summary").unwrap();
    let rows: Vec<&[Data]> = summary.rows().collect();
    assert_eq!(rows[0][0], Data::String("department".into()));
    assert_eq!(rows[0][1], Data::String("employees".into()));
    let last = rows.last().unwrap();
    assert_eq!(last[0], Data::String("All departments".into()));
    assert_eq!(last[1], Data::Float(4.0));
    assert_eq!(rows.len(), 5, "the header, three departments, all");
}

#[tokio::test]
async fn the_report_keeps_to_the_callers_scope_and_checks_its_query() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    scans_of_june(&c).await;
    let codes = |report: &Value| -> Vec<String> {
        report["employees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["employee_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let own = c.get_ok("worker", &format!("{REPORT}?month={MONTH}")).await;
    assert_eq!(codes(&own), ["EMP001"]);
    assert_eq!(own["totals"]["employees"], 1);
    let own = c
        .get_ok(
            "worker",
            &format!("{REPORT}?month={MONTH}&employee_id=EMP001"),
        )
        .await;
    assert_eq!(codes(&own), ["EMP001"]);
    let sewing = c.get_ok("head", &format!("{REPORT}?month={MONTH}")).await;
    assert_eq!(codes(&sewing), ["EMP001", "EMP005"]);
    let sewing = c
        .get_ok("head", &format!("{REPORT}?month={MONTH}&department=Sewing"))
        .await;
    assert_eq!(sewing["departments"].as_array().unwrap().len(), 1);
    let all = c.get_ok("admin", &format!("{REPORT}?month={MONTH}")).await;
    assert_eq!(codes(&all), ["EMP002", "EMP001", "EMP005"]);
    for (user, query, status, code) in [
        ("worker", "&employee_id=EMP002", 403, "forbidden"),
        ("worker", "&department=Sewing", 403, "forbidden"),
        ("head", "&department=Cutting", 403, "forbidden"),
        ("head", "&employee_id=EMP002", 403, "forbidden"),
        ("hr", "&employee_id=EMP404", 404, "not_found"),
        ("hr", "&format=pdf", 422, "validation_error"),
    ] {
        let path = format!("{REPORT}?month={MONTH}{query}");
        assert_eq!(
            c.get_error(user, &path, status).await,
            code,
            "{user} {query}"
        );
    }
    for query in ["?month=2025-13", "", "?month=2999-01", "?month=June"] {
        let response = c
            .send(Method::GET, "hr", format!("{REPORT}{query}"), None)
            .await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["details"]["field"], "month",
            "{query}: {body}"
        );
    }
    let response = c
        .send(
            Method::GET,
            "hr",
            format!("{REPORT}?month={MONTH}&format=pdf"),
            None,
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "format", "{body}");
    let anonymous = app
        .client
        .get(app.url(&format!("{REPORT}?month={MONTH}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // The document lists the route and the timesheet's format.
    let doc = app.openapi().await;
    let monthly = &doc["paths"]["/api/attendance/reports/monthly/"]["get"];
    assert!(monthly.is_object(), "{doc}");
    let names: Vec<&str> = monthly["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["month", "department", "employee_id", "format"]);
    let timesheet = &doc["paths"]["/api/attendance/timesheet/"]["get"]["parameters"];
    assert!(
        timesheet
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "format"),
        "{timesheet}"
    );
}

#[tokio::test]
async fn timesheets_come_as_csv_and_xlsx_too() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    scans_of_june(&c).await;
    override_the_second(&c).await;
    let path = format!("/api/attendance/timesheet/?month={MONTH}&employee_id=EMP001");
    // JSON stays the default.
    let sheet = c.get_ok("worker", &path).await;
    assert_eq!(sheet["employee_id"], "EMP001");

    let (kind, disposition, bytes) = file(&c, "worker", &format!("{path}&format=csv")).await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert_eq!(
        disposition,
        "attachment; filename=\"timesheet-2025-06-EMP001.csv\""
    );
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let lines: Vec<HashMap<String, String>> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 30);
    for (line, day) in lines.iter().zip(sheet["days"].as_array().unwrap()) {
        assert_eq!(line["date"], day["date"].as_str().unwrap());
        assert_eq!(line["status"], day["status"].as_str().unwrap());
        assert_eq!(
            line["working_hours"].parse::<f64>().unwrap(),
            day["workingHours"].as_f64().unwrap()
        );
        assert_eq!(line["check_in"], day["checkIn"].as_str().unwrap_or(""));
    }
    assert_eq!(lines[10]["check_in"], "08:00");
    assert_eq!(lines[10]["working_hours"], "8.25");
    assert_eq!(lines[10]["employee_id"], "EMP001");

    let (_, disposition, bytes) = file(
        &c,
        "head",
        &format!("/api/attendance/timesheet/?month={MONTH}&department=Sewing&format=xlsx"),
    )
    .await;
    assert_eq!(
        disposition,
        "attachment; filename=\"timesheet-2025-06-Sewing.xlsx\""
    );
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["Timesheet"]);
    let range = book.worksheet_range("Timesheet").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 1 + 2 * 30, "a row per employee-day");
    assert_eq!(rows[0][3], Data::String("date".into()));
    assert!(
        matches!(rows[11][3], Data::DateTime(_)),
        "{:?}",
        rows[11][3]
    );
    assert_eq!(rows[11][0], Data::String("EMP001".into()));
    assert_eq!(rows[11][9], Data::Float(8.25));
    assert_eq!(rows[11][12], Data::Bool(false));
    assert_eq!(
        c.get_error("hr", &format!("{path}&format=doc"), 422).await,
        "validation_error"
    );
}
