//! `POST /api/attendance/employees/import/`: CSV or JSON, all or nothing, every bad line named.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, TestApp, error_code, json_of, spawn_app};
use crate::realtime::{connect, wait_for};

const IMPORT: &str = "/api/attendance/employees/import/";

async fn employee_count(app: &TestApp) -> usize {
    app.store.list_employees(None).await.unwrap().len()
}

#[tokio::test]
async fn a_csv_import_creates_every_employee_and_publishes_their_days() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let mut hr_socket = connect(&app, "hr").await;
    let csv = "employee_id,employee_name,department,designation,level_of_work,device_user_id,shift,active,joined_on\n\
               EMP100,Rahima Khatun,Finishing,Senior Tailor,Worker,,,,\n\
               EMP101,Karim Uddin,Finishing,Helper,Worker,9101,,true,2020-01-01\n\
               EMP102,Salma Begum,Cutting,Cutter,Staff,,,false,\n";
    let response = c.send_raw("hr", IMPORT, "text/csv", csv).await;
    let outcome = json_of(response, 201).await;
    assert_eq!(outcome["created"], 3);
    assert_eq!(outcome["employees"], json!(["EMP100", "EMP101", "EMP102"]));
    let karim = c.get_ok("hr", "/api/attendance/employees/EMP101/").await;
    assert_eq!(karim["device_user_id"], "9101");
    assert_eq!(karim["department"], "Finishing");
    let salma = c.get_ok("hr", "/api/attendance/employees/EMP102/").await;
    assert_eq!(salma["active"], false);
    assert_eq!(salma["level_of_work"], "Staff");
    // Their days were recomputed through the engine's service: HR's socket hears of them.
    let event = wait_for(
        &mut hr_socket,
        "attendance_updated",
        Some("EMP100"),
        Duration::from_secs(10),
    )
    .await;
    assert!(
        event.is_some(),
        "no attendance_updated for an imported employee"
    );
}

#[tokio::test]
async fn one_bad_line_and_nothing_is_stored_with_every_bad_line_named() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let before = employee_count(&app).await;
    let good = |code: &str| {
        json!({"employee_id": code, "employee_name": "A Name", "department": "Sewing",
               "designation": "Operator", "level_of_work": "Worker"})
    };
    let rows = json!([
        good("EMP200"),
        // 2: no name.
        {"employee_id": "EMP201", "department": "Sewing", "designation": "Operator", "level_of_work": "Worker"},
        good("EMP202"),
        // 4: the code of line 1 again.
        good("EMP200"),
        // 5: an employee already registered.
        good("EMP001"),
        // 6: a shift the site does not have.
        {"employee_id": "EMP206", "employee_name": "B", "department": "Sewing",
         "designation": "Operator", "level_of_work": "Worker", "shift": "MOON"},
        // 7: a bad date.
        {"employee_id": "EMP207", "employee_name": "C", "department": "Sewing",
         "designation": "Operator", "level_of_work": "Worker", "joined_on": "yesterday"},
        // 8: a device user id enrolled for EMP001.
        {"employee_id": "EMP208", "employee_name": "D", "department": "Sewing",
         "designation": "Operator", "level_of_work": "Worker", "device_user_id": "1"},
        // 9: an unknown field.
        {"employee_id": "EMP209", "employee_name": "E", "department": "Sewing",
         "designation": "Operator", "level_of_work": "Worker", "colour": "red"},
        good("EMP210"),
    ]);
    let response = c.send(Method::POST, "hr", IMPORT, Some(rows)).await;
    let body = json_of(response, 422).await;
    assert_eq!(body["error"]["code"], "validation_error");
    let rejected: Vec<(u64, String)> = body["error"]["details"]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(lines, [2, 4, 5, 6, 7, 8, 9], "{body}");
    for (line, field) in [
        (2, "employee_name"),
        (4, "employee_id"),
        (5, "employee_id"),
        (6, "shift"),
        (7, "joined_on"),
        (8, "device_user_id"),
        (9, "colour"),
    ] {
        let reason = &rejected.iter().find(|r| r.0 == line).unwrap().1;
        assert!(reason.contains(field), "line {line}: {reason}");
    }
    assert_eq!(employee_count(&app).await, before, "nothing stored");

    // CSV: lines are file lines (the header is line 1).
    let csv = "employee_id,employee_name,department,designation,level_of_work\n\
               EMP300,A,Sewing,Operator,Worker\n\
               EMP301,,Sewing,Operator,Worker\n\
               nope!,B,Sewing,Operator,Worker\n";
    let body = json_of(c.send_raw("hr", IMPORT, "text/csv", csv).await, 422).await;
    let lines: Vec<u64> = body["error"]["details"]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{body}");
    assert_eq!(employee_count(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn imports_are_for_hr_and_refuse_bad_bodies_in_the_envelope() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let one = json!([{"employee_id": "EMP400", "employee_name": "A", "department": "Sewing",
                      "designation": "Operator", "level_of_work": "Worker"}]);
    for user in ["worker", "head"] {
        let refused = c.send(Method::POST, user, IMPORT, Some(one.clone())).await;
        assert_eq!(error_code(refused, 403).await, "forbidden", "{user}");
    }
    let cases: [(&str, &str, u16); 5] = [
        ("text/plain", "EMP1", 415),
        ("application/json", "[not json", 400),
        ("application/json", "{\"employee_id\": \"EMP1\"}", 422),
        ("application/json", "[]", 422),
        (
            "text/csv",
            "employee_id,employee_name,department,designation\nEMP1,A,B,C\n",
            422,
        ),
    ];
    for (content_type, body, status) in cases {
        let response = c.send_raw("hr", IMPORT, content_type, body).await;
        error_code(response, status).await;
    }
    let missing: Value = json_of(
        c.send_raw(
            "hr",
            IMPORT,
            "text/csv",
            "employee_id,employee_name,department,designation\nEMP1,A,B,C\n",
        )
        .await,
        422,
    )
    .await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("level_of_work"),
        "{missing}"
    );
    // The admin may import too.
    c.send_json(Method::POST, "admin", IMPORT, Some(one), 201)
        .await;
}
