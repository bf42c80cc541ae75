//! `/api/attendance/employees/`.

use attendance_core::employee::EmployeeCode;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, TestApp, codes, error_code, spawn_app};

const EMPLOYEES: &str = "/api/attendance/employees/";

fn new_employee(code: &str) -> Value {
    json!({
        "employee_id": code,
        "employee_name": "Rahima Khatun",
        "department": "Finishing",
        "designation": "Senior Tailor",
        "level_of_work": "Worker",
    })
}

async fn employee_count(app: &TestApp) -> usize {
    app.store.list_employees(None).await.unwrap().len()
}

#[tokio::test]
async fn hr_creates_reads_replaces_and_deletes_an_employee() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let created = c
        .send_json(
            Method::POST,
            "hr",
            EMPLOYEES,
            Some(new_employee("EMP010")),
            201,
        )
        .await;
    assert_eq!(
        created,
        json!({
            "employee_id": "EMP010",
            "employee_name": "Rahima Khatun",
            "department": "Finishing",
            "designation": "Senior Tailor",
            "level_of_work": "Worker",
            "device_user_id": "10",
            "shift": null,
            "active": true,
            "joined_on": null,
        })
    );
    // Both path forms answer.
    assert_eq!(
        c.get_ok("hr", "/api/attendance/employees/EMP010/").await,
        created
    );
    assert_eq!(
        c.get_ok("hr", "/api/attendance/employees/EMP010").await,
        created
    );

    let mut changed = new_employee("EMP010");
    changed["designation"] = json!("Line Chief");
    changed["device_user_id"] = json!("1010");
    changed["active"] = json!(false);
    let response = c
        .send(
            Method::PUT,
            "admin",
            "/api/attendance/employees/EMP010/",
            Some(changed),
        )
        .await;
    assert_eq!(response.status(), 200);
    let stored = app
        .store
        .employee(&EmployeeCode::parse("EMP010").unwrap())
        .await
        .unwrap();
    assert_eq!(
        (
            stored.designation.as_str(),
            stored.device_user_id.as_str(),
            stored.active
        ),
        ("Line Chief", "1010", false)
    );
    // Without a device user id, PUT keeps the enrolled one.
    let mut renamed = new_employee("EMP010");
    renamed["employee_name"] = json!("Rahima Begum");
    renamed["active"] = json!(false);
    let response = c
        .send(
            Method::PUT,
            "hr",
            "/api/attendance/employees/EMP010",
            Some(renamed),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (
            body["employee_name"].clone(),
            body["device_user_id"].clone()
        ),
        (json!("Rahima Begum"), json!("1010"))
    );
    let inactive = c
        .get_ok("hr", "/api/attendance/employees/?active=false")
        .await;
    assert_eq!(codes(&inactive), ["EMP010"]);

    let response = c
        .send(
            Method::DELETE,
            "hr",
            "/api/attendance/employees/EMP010/",
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        c.get_error("hr", "/api/attendance/employees/EMP010/", 404)
            .await,
        "not_found"
    );
    assert_eq!(employee_count(&app).await, 3);
}

#[tokio::test]
async fn only_hr_and_admins_manage_employees() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    for user in ["worker", "head", "other"] {
        for (method, path, body) in [
            (Method::POST, EMPLOYEES, Some(new_employee("EMP011"))),
            (
                Method::PUT,
                "/api/attendance/employees/EMP001/",
                Some(new_employee("EMP001")),
            ),
            (Method::DELETE, "/api/attendance/employees/EMP002/", None),
        ] {
            assert_eq!(
                c.send_error(method, user, path, body, 403).await,
                "forbidden",
                "{user} {path}"
            );
        }
    }
    assert_eq!(employee_count(&app).await, 3);
    let worker = app
        .store
        .employee(&EmployeeCode::parse("EMP001").unwrap())
        .await
        .unwrap();
    assert_eq!(worker.department.as_str(), "Sewing");
    let response = c
        .send(
            Method::POST,
            "admin",
            "/api/attendance/employees",
            Some(new_employee("EMP011")),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = c
        .get_status("worker", "/api/attendance/employees/EMP001/")
        .await;
    assert_eq!(response, 200);
}

#[tokio::test]
async fn employee_lists_are_scoped_by_role_filtered_and_paginated() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let all = c.get_ok("hr", EMPLOYEES).await;
    assert_eq!(codes(&all), ["EMP001", "EMP002", "EMP005"]);
    assert_eq!(all["count"], 3);
    let sewing = c.get_ok("head", EMPLOYEES).await;
    assert_eq!(codes(&sewing), ["EMP001", "EMP005"]);
    let cutting = c
        .get_ok("head", "/api/attendance/employees/?department=Cutting")
        .await;
    assert_eq!(cutting["count"], 0);
    let own = c.get_ok("worker", EMPLOYEES).await;
    assert_eq!(codes(&own), ["EMP001"]);
    let own = c.get_ok("other", EMPLOYEES).await;
    assert_eq!(codes(&own), ["EMP002"]);
    for (user, code, status) in [
        ("worker", "EMP002", 403),
        ("worker", "EMP005", 403),
        ("head", "EMP002", 403),
        ("head", "EMP001", 200),
        ("other", "EMP002", 200),
        ("hr", "EMP005", 200),
        ("hr", "EMP404", 404),
    ] {
        assert_eq!(
            c.get_status(user, &format!("/api/attendance/employees/{code}/"))
                .await,
            status,
            "{user} {code}"
        );
    }
    let found = c
        .get_ok(
            "admin",
            "/api/attendance/employees/?search=emp00&department=Sewing",
        )
        .await;
    assert_eq!(codes(&found), ["EMP001", "EMP005"]);
    let found = c
        .get_ok(
            "admin",
            "/api/attendance/employees/?search=name%20of%20emp002",
        )
        .await;
    assert_eq!(codes(&found), ["EMP002"]);
    let page = c
        .get_ok("hr", "/api/attendance/employees/?page_size=2")
        .await;
    assert_eq!(codes(&page), ["EMP001", "EMP002"]);
    assert_eq!(page["count"], 3);
    assert_eq!(
        page["next"],
        "/api/attendance/employees/?page=2&page_size=2"
    );
    let page = c
        .get_ok("hr", "/api/attendance/employees/?page=2&page_size=2")
        .await;
    assert_eq!(codes(&page), ["EMP005"]);
    assert_eq!(page["next"], Value::Null);
}

#[tokio::test]
async fn bad_employee_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let post = |body: Value| c.send(Method::POST, "hr", EMPLOYEES, Some(body));
    let mut missing = new_employee("EMP020");
    missing.as_object_mut().unwrap().remove("employee_name");
    assert_eq!(
        error_code(post(missing).await, 422).await,
        "validation_error"
    );
    let mut no_code = new_employee("EMP020");
    no_code.as_object_mut().unwrap().remove("employee_id");
    assert_eq!(
        error_code(post(no_code).await, 422).await,
        "validation_error"
    );
    let mut wrong_type = new_employee("EMP020");
    wrong_type["active"] = json!("yes");
    assert_eq!(
        error_code(post(wrong_type).await, 422).await,
        "validation_error"
    );
    assert_eq!(
        error_code(post(new_employee("EMP 020")).await, 422).await,
        "validation_error"
    );
    assert_eq!(
        error_code(post(new_employee("EMP001")).await, 409).await,
        "conflict"
    );
    let mut taken_device = new_employee("EMP021");
    taken_device["device_user_id"] = json!("1");
    assert_eq!(error_code(post(taken_device).await, 409).await, "conflict");
    let response = c
        .send_raw("hr", EMPLOYEES, "application/json", "{not json")
        .await;
    assert_eq!(error_code(response, 400).await, "bad_request");

    let put = |code: &str, body: Value| {
        c.send(
            Method::PUT,
            "hr",
            format!("/api/attendance/employees/{code}/"),
            Some(body),
        )
    };
    assert_eq!(
        error_code(put("EMP001", new_employee("EMP002")).await, 422).await,
        "validation_error"
    );
    assert_eq!(
        error_code(put("EMP404", new_employee("EMP404")).await, 404).await,
        "not_found"
    );
    let mut steal = new_employee("EMP001");
    steal["device_user_id"] = json!("2");
    assert_eq!(
        error_code(put("EMP001", steal).await, 409).await,
        "conflict"
    );
    // The worker's account refers to EMP001.
    assert_eq!(
        c.send_error(
            Method::DELETE,
            "hr",
            "/api/attendance/employees/EMP001/",
            None,
            409
        )
        .await,
        "conflict"
    );
    assert_eq!(
        c.send_error(
            Method::DELETE,
            "hr",
            "/api/attendance/employees/EMP404/",
            None,
            404
        )
        .await,
        "not_found"
    );
    let response = app.client.get(app.url(EMPLOYEES)).send().await.unwrap();
    assert_eq!(error_code(response, 401).await, "unauthorized");

    assert_eq!(employee_count(&app).await, 3);
    let emp001 = app
        .store
        .employee(&EmployeeCode::parse("EMP001").unwrap())
        .await
        .unwrap();
    assert_eq!(
        (emp001.department.as_str(), emp001.device_user_id.as_str()),
        ("Sewing", "1")
    );
}
