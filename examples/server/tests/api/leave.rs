use attendance_core::employee::EmployeeCode;
use chrono::NaiveDate;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, json_of, spawn_app};

const REQUESTS: &str = "/api/attendance/leave-requests/";
const BALANCES: &str = "/api/attendance/leave-balances/";
const POLICIES: &str = "/api/attendance/leave-policies/";

fn date(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

async fn allocate(app: &TestApp, hr: &str, employee: &str, days: f64) -> Value {
    app.call_json(
        Method::POST,
        "/api/attendance/leave-balances/allocate/",
        hr,
        Some(json!({"employee_id": employee, "leave_type": "Casual", "year": 2026, "days": days})),
        201,
    )
    .await
}

async fn casual(app: &TestApp, token: &str, employee: &str) -> Value {
    let sheet = app
        .get_json(
            &format!("{BALANCES}?employee_id={employee}&year=2026"),
            token,
        )
        .await;
    sheet["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["leave_type"] == "Casual")
        .cloned()
        .unwrap()
}

async fn submit(app: &TestApp, token: &str, body: Value) -> Value {
    app.call_json(Method::POST, REQUESTS, token, Some(body), 201)
        .await
}

async fn decide(app: &TestApp, token: &str, id: &str, what: &str) -> reqwest::Response {
    app.call(
        Method::POST,
        &format!("{REQUESTS}{id}/{what}/"),
        token,
        Some(json!({"note": format!("{what} by test")})),
    )
    .await
}

async fn status_on(app: &TestApp, code: &str, day: NaiveDate) -> Option<String> {
    app.store
        .record(&EmployeeCode::parse(code).unwrap(), day)
        .await
        .unwrap()
        .map(|r| r.status.to_string())
}

async fn stored_requests(app: &TestApp, code: &str) -> usize {
    app.store
        .leave_account(&EmployeeCode::parse(code).unwrap())
        .await
        .unwrap()
        .requests
        .len()
}

#[tokio::test]
async fn casual_leave_goes_through_head_then_hr_and_the_balance_and_days_follow() {
    let app = spawn_app().await;
    let [hr, head, worker, other] = app.tokens(["hr", "head", "worker", "other"]).await;
    let sheet = allocate(&app, &hr, "EMP001", 10.0).await;
    assert_eq!(sheet["employee_id"], "EMP001");
    assert_eq!(sheet["department"], "Sewing");
    assert_eq!(sheet["year"], 2026);

    // Monday 2 and Tuesday 3 March 2026: two working days.
    let request = submit(
        &app,
        &worker,
        json!({"leave_type": "Casual", "start_date": "2026-03-02", "end_date": "2026-03-03",
               "reason": "Family wedding"}),
    )
    .await;
    assert_eq!(request["employee_id"], "EMP001");
    assert_eq!(request["department"], "Sewing");
    assert_eq!(request["leave_type"], "Casual");
    assert_eq!(request["start_date"], "2026-03-02");
    assert_eq!(request["end_date"], "2026-03-03");
    assert_eq!(request["start_half"], false);
    assert_eq!(request["end_half"], false);
    assert_eq!(request["reason"], "Family wedding");
    assert_eq!(request["medical_certificate"], false);
    assert_eq!(request["days"], 2.0);
    assert_eq!(request["status"], "pending");
    assert_eq!(request["next_level"], "department_head");
    assert_eq!(request["levels"], json!(["department_head", "hr"]));
    assert!(request["submitted_on"].is_string());
    assert_eq!(request["history"], json!([]));
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);

    let balance = casual(&app, &worker, "EMP001").await;
    assert_eq!(balance["allocated"], 10.0);
    assert_eq!(balance["pending"], 2.0);
    assert_eq!(balance["available"], 10.0);
    assert_eq!(balance["available_after_pending"], 8.0);

    // `other` neither sees nor decides it.
    assert_eq!(
        app.get_error(&format!("{REQUESTS}{id}/"), &other, 403)
            .await,
        "forbidden"
    );
    let listed = app.get_json(REQUESTS, &other).await;
    assert_eq!(listed["count"], 0);
    assert_eq!(
        error_code(decide(&app, &other, &id, "approve").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        app.get_error(&format!("{BALANCES}?employee_id=EMP001"), &other, 403)
            .await,
        "forbidden"
    );
    // The employee cannot approve their own request, and HR is not the first level.
    assert_eq!(
        error_code(decide(&app, &worker, &id, "approve").await, 403).await,
        "forbidden"
    );
    assert_eq!(
        error_code(decide(&app, &hr, &id, "approve").await, 403).await,
        "forbidden"
    );

    let first = json_of(decide(&app, &head, &id, "approve").await, 200).await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["next_level"], "hr");
    assert_eq!(first["history"][0]["decision"], "approved");
    assert_eq!(first["history"][0]["level"], "department_head");
    assert_eq!(first["history"][0]["note"], "approve by test");
    // The head cannot approve at HR's level.
    assert_eq!(
        error_code(decide(&app, &head, &id, "approve").await, 403).await,
        "forbidden"
    );

    let done = json_of(decide(&app, &hr, &id, "approve").await, 200).await;
    assert_eq!(done["status"], "approved");
    assert_eq!(done["next_level"], Value::Null);
    assert_eq!(
        error_code(decide(&app, &hr, &id, "approve").await, 409).await,
        "conflict"
    );
    assert_eq!(
        error_code(decide(&app, &hr, &id, "reject").await, 409).await,
        "conflict"
    );

    let balance = casual(&app, &hr, "EMP001").await;
    assert_eq!(balance["taken"], 2.0);
    assert_eq!(balance["pending"], 0.0);
    assert_eq!(balance["available"], 8.0);
    for day in [date(3, 2), date(3, 3)] {
        assert_eq!(
            status_on(&app, "EMP001", day).await.as_deref(),
            Some("Leave-Casual")
        );
    }
    let seen = app.get_json(&format!("{REQUESTS}{id}"), &worker).await;
    assert_eq!(seen["status"], "approved");

    // HR cancels the approved (past) leave: the days come back and the records lose the leave.
    let cancelled = json_of(decide(&app, &hr, &id, "cancel").await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    let balance = casual(&app, &hr, "EMP001").await;
    assert_eq!(balance["reversed"], 2.0);
    assert_eq!(balance["available"], 10.0);
    assert_ne!(
        status_on(&app, "EMP001", date(3, 2)).await.as_deref(),
        Some("Leave-Casual")
    );
}

#[tokio::test]
async fn a_rejection_or_a_cancellation_leaves_the_balance_whole() {
    let app = spawn_app().await;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;
    allocate(&app, &hr, "EMP001", 10.0).await;
    let body = |start: &str, end: &str| json!({"leave_type": "casual", "start_date": start, "end_date": end});
    let rejected = submit(&app, &worker, body("2026-04-06", "2026-04-07")).await;
    let id = rejected["id"].as_str().unwrap();
    let after = json_of(decide(&app, &head, id, "reject").await, 200).await;
    assert_eq!(after["status"], "rejected");
    assert_eq!(after["history"][0]["decision"], "rejected");
    assert_eq!(
        error_code(decide(&app, &hr, id, "approve").await, 409).await,
        "conflict"
    );
    assert_eq!(
        error_code(decide(&app, &worker, id, "cancel").await, 409).await,
        "conflict"
    );

    let cancelled = submit(&app, &worker, body("2026-05-04", "2026-05-05")).await;
    let id = cancelled["id"].as_str().unwrap();
    // The note is optional: an empty body will do.
    let response = app
        .call(
            Method::POST,
            &format!("{REQUESTS}{id}/cancel"),
            &worker,
            None,
        )
        .await;
    assert_eq!(json_of(response, 200).await["status"], "cancelled");

    let balance = casual(&app, &worker, "EMP001").await;
    assert_eq!(balance["allocated"], 10.0);
    assert_eq!(balance["taken"], 0.0);
    assert_eq!(balance["pending"], 0.0);
    assert_eq!(balance["available"], 10.0);

    let rejected_only = app
        .get_json(&format!("{REQUESTS}?status=rejected"), &worker)
        .await;
    assert_eq!(rejected_only["count"], 1);
    assert_eq!(rejected_only["results"][0]["status"], "rejected");
}

#[tokio::test]
async fn lists_are_scoped_by_role_and_filtered() {
    let app = spawn_app().await;
    let [hr, head, worker, other] = app.tokens(["hr", "head", "worker", "other"]).await;
    for code in ["EMP001", "EMP002", "EMP005"] {
        allocate(&app, &hr, code, 10.0).await;
    }
    let body =
        |start: &str| json!({"leave_type": "Casual", "start_date": start, "end_date": start});
    submit(&app, &worker, body("2026-06-01")).await;
    submit(&app, &worker, body("2026-07-01")).await;
    submit(&app, &other, body("2026-06-02")).await;
    // A head's own leave goes to HR only.
    let own = submit(&app, &head, body("2026-06-03")).await;
    assert_eq!(own["levels"], json!(["hr"]));
    // HR submits for an employee.
    let for_worker = submit(
        &app,
        &hr,
        json!({"employee_id": "EMP001", "leave_type": "Casual", "start_date": "2026-08-03",
               "end_date": "2026-08-03"}),
    )
    .await;
    assert_eq!(for_worker["employee_id"], "EMP001");

    let employees_in = |page: &Value| -> Vec<String> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["employee_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get_json(REQUESTS, &hr).await;
    assert_eq!(all["count"], 5);
    let starts: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["start_date"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-08-03",
            "2026-07-01",
            "2026-06-03",
            "2026-06-02",
            "2026-06-01"
        ]
    );
    let sewing = app.get_json(REQUESTS, &head).await;
    assert_eq!(sewing["count"], 4);
    assert!(employees_in(&sewing).iter().all(|e| e != "EMP002"));
    let mine = app.get_json(REQUESTS, &worker).await;
    assert_eq!(mine["count"], 3);
    assert!(employees_in(&mine).iter().all(|e| e == "EMP001"));
    // Filters outside the caller's scope match nothing.
    for (token, query) in [
        (&head, "department=Cutting"),
        (&worker, "employee_id=EMP002"),
        (&other, "employee_id=EMP001"),
    ] {
        let page = app.get_json(&format!("{REQUESTS}?{query}"), token).await;
        assert_eq!(page["count"], 0, "{query}");
    }
    let filtered = app
        .get_json(
            &format!("{REQUESTS}?department=Sewing&from=2026-06-02&to=2026-07-01&status=pending"),
            &hr,
        )
        .await;
    assert_eq!(filtered["count"], 2);
    let paged = app
        .get_json(&format!("{REQUESTS}?page=2&page_size=2"), &hr)
        .await;
    assert_eq!(paged["count"], 5);
    assert_eq!(paged["results"].as_array().unwrap().len(), 2);
    assert!(paged["next"].as_str().unwrap().contains("page=3"));

    for query in [
        "status=bogus",
        "from=2026-07-01&to=2026-06-01",
        "employee_id=bad%20code",
    ] {
        assert_eq!(
            app.get_error(&format!("{REQUESTS}?{query}"), &hr, 422)
                .await,
            "validation_error",
            "{query}"
        );
    }
    assert_eq!(
        app.get_error(&format!("{REQUESTS}?from=yesterday"), &hr, 400)
            .await,
        "bad_request"
    );
}

#[tokio::test]
async fn bad_leave_requests_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (hr, worker) = (app.token("hr").await, app.token("worker").await);
    allocate(&app, &hr, "EMP001", 3.0).await;
    let base =
        json!({"leave_type": "Casual", "start_date": "2026-03-02", "end_date": "2026-03-03"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    for body in [
        with("end_date", json!("2026-03-01")),
        with("leave_type", json!("no such type!")),
        with("start_date", json!("March")),
        with("start_half", json!("yes")),
        with("end_date", json!("2026-03-20")),
        with("reason", json!("x".repeat(1001))),
        with("surprise", json!(1)),
        with("start_date", json!("2026-03-06")).clone(),
        without("leave_type"),
        without("start_date"),
    ] {
        // 2026-03-06 is a Friday: with end 2026-03-03 the dates are reversed too.
        assert_eq!(
            app.call_error(Method::POST, REQUESTS, &worker, Some(body.clone()), 422)
                .await,
            "validation_error",
            "{body}"
        );
    }
    // A Friday alone counts no working day; someone else's leave, an unknown employee, a caller
    // who is no employee.
    let friday =
        json!({"leave_type": "Casual", "start_date": "2026-03-06", "end_date": "2026-03-06"});
    for (token, body, status, code) in [
        (&worker, friday, 422, "validation_error"),
        (
            &worker,
            with("employee_id", json!("EMP002")),
            403,
            "forbidden",
        ),
        (&hr, with("employee_id", json!("EMP999")), 404, "not_found"),
        (&hr, base.clone(), 422, "validation_error"),
    ] {
        assert_eq!(
            app.call_error(Method::POST, REQUESTS, token, Some(body.clone()), status)
                .await,
            code,
            "{body}"
        );
    }
    let not_json = app
        .call_raw(
            Method::POST,
            REQUESTS,
            &worker,
            Some("application/json"),
            "{\"leave_type\":",
        )
        .await;
    assert_eq!(error_code(not_json, 400).await, "bad_request");
    assert_eq!(stored_requests(&app, "EMP001").await, 0);

    // An overlap with a pending request.
    submit(&app, &worker, base.clone()).await;
    assert_eq!(
        app.call_error(Method::POST, REQUESTS, &worker, Some(base.clone()), 422)
            .await,
        "validation_error"
    );
    assert_eq!(stored_requests(&app, "EMP001").await, 1);

    // Unknown ids.
    for path in [
        format!("{REQUESTS}nope/"),
        format!("{REQUESTS}nope/approve/"),
        format!("{REQUESTS}bad%20id/"),
    ] {
        let method = if path.ends_with("approve/") {
            Method::POST
        } else {
            Method::GET
        };
        assert_eq!(
            app.call_error(method, &path, &hr, None, 404).await,
            "not_found",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_request_beyond_the_balance_is_refused_with_422() {
    let app = spawn_app().await;
    let (hr, worker) = (app.token("hr").await, app.token("worker").await);
    allocate(&app, &hr, "EMP001", 1.0).await;
    assert_eq!(app.call_error(Method::POST, REQUESTS, &worker, Some(json!({"leave_type": "Casual", "start_date": "2026-03-02", "end_date": "2026-03-03"})), 422).await, "validation_error");
    assert_eq!(stored_requests(&app, "EMP001").await, 0);
}

#[tokio::test]
async fn balances_and_allocations_by_role() {
    let app = spawn_app().await;
    let [hr, head, worker, admin] = app.tokens(["hr", "head", "worker", "admin"]).await;
    let sheet = allocate(&app, &admin, "EMP001", 2.5).await;
    let casual_row = sheet["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["leave_type"] == "Casual")
        .unwrap()
        .clone();
    for field in [
        "allocated",
        "carried_forward",
        "carried_out",
        "taken",
        "reversed",
        "used",
        "expired",
        "pending",
        "available",
        "available_after_pending",
    ] {
        assert!(casual_row[field].is_number(), "{field}");
    }
    assert_eq!(casual_row["allocated"], 2.5);
    let types: Vec<&str> = sheet["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["leave_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Casual",
            "Sick",
            "Annual",
            "Maternity",
            "Unpaid",
            "Compensatory"
        ]
    );
    allocate(&app, &hr, "EMP001", 1.0).await;

    // The worker's own, by default; the head sees their department; others are refused.
    let own = app
        .get_json(&format!("{BALANCES}?year=2026"), &worker)
        .await;
    assert_eq!(own["employee_id"], "EMP001");
    let this_year = app.get_json(BALANCES, &worker).await;
    assert!(this_year["year"].as_i64().unwrap() >= 2026);
    assert_eq!(this_year["employee_id"], "EMP001");
    assert_eq!(casual(&app, &head, "EMP001").await["allocated"], 3.5);
    assert_eq!(
        app.get_error(&format!("{BALANCES}?employee_id=EMP002"), &head, 403)
            .await,
        "forbidden"
    );
    // HR, who is no employee, gets the list of everyone's sheets.
    assert_eq!(app.get_json(BALANCES, &hr).await["count"], 3);
    assert_eq!(
        app.get_error(&format!("{BALANCES}?employee_id=EMP999"), &hr, 404)
            .await,
        "not_found"
    );
    assert_eq!(
        app.get_error(&format!("{BALANCES}?employee_id=EMP001&year=0"), &hr, 422)
            .await,
        "validation_error"
    );

    let path = "/api/attendance/leave-balances/allocate/";
    let good = json!({"employee_id": "EMP001", "leave_type": "Casual", "year": 2026, "days": 1});
    for token in [&head, &worker] {
        assert_eq!(
            app.call_error(Method::POST, path, token, Some(good.clone()), 403)
                .await,
            "forbidden"
        );
    }
    let account = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .leave_account(&EmployeeCode::parse("EMP001").unwrap())
                .await
                .unwrap()
                .version
        }
    };
    let version = account(&app).await;
    for (field, value, status) in [
        ("days", json!(-1), 422),
        ("days", json!(0), 422),
        ("days", json!(1.3), 422),
        ("days", json!("two"), 422),
        ("leave_type", json!("!!"), 422),
        ("year", json!(0), 422),
        ("employee_id", json!("EMP999"), 404),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let response = app.call(Method::POST, path, &hr, Some(body.clone())).await;
        error_code(response, status).await;
    }
    assert_eq!(
        app.call_error(
            Method::POST,
            path,
            &hr,
            Some(json!({"employee_id": "EMP001"})),
            422
        )
        .await,
        "validation_error"
    );
    assert_eq!(account(&app).await, version, "nothing was written");
}

#[tokio::test]
async fn policies_default_to_the_statute_and_hr_changes_them() {
    let app = spawn_app().await;
    let (hr, worker) = (app.token("hr").await, app.token("worker").await);
    let list = app.get_json(POLICIES, &worker).await;
    assert_eq!(list["count"], 6);
    let casual = &list["results"][0];
    assert_eq!(casual["leave_type"], "Casual");
    assert_eq!(casual["max_per_year"], 10.0);
    assert_eq!(casual["max_carry_forward"], 0.0);
    assert_eq!(casual["requires_approval"], true);
    assert_eq!(casual["certificate_required_above"], Value::Null);
    assert_eq!(casual["max_consecutive"], Value::Null);
    assert_eq!(casual["off_days"], "excluded");
    assert_eq!(casual["half_days_allowed"], true);
    assert_eq!(casual["is_default"], true);
    assert_eq!(
        list["results"][4]["max_per_year"],
        Value::Null,
        "unpaid has no limit"
    );

    let body = json!({"max_per_year": 12, "max_carry_forward": 2.5, "off_days": "sandwiched"});
    assert_eq!(
        app.call_error(
            Method::PUT,
            &format!("{POLICIES}Casual/"),
            &worker,
            Some(body.clone()),
            403
        )
        .await,
        "forbidden"
    );
    let stored = app
        .call_json(
            Method::PUT,
            &format!("{POLICIES}casual/"),
            &hr,
            Some(body.clone()),
            201,
        )
        .await;
    assert_eq!(stored["leave_type"], "Casual");
    assert_eq!(stored["max_per_year"], 12.0);
    assert_eq!(stored["max_carry_forward"], 2.5);
    assert_eq!(stored["off_days"], "sandwiched");
    assert_eq!(stored["is_default"], false);
    // Stored again: replaced.
    app.call_json(
        Method::PUT,
        &format!("{POLICIES}Casual"),
        &hr,
        Some(body),
        200,
    )
    .await;
    let one = app.get_json(&format!("{POLICIES}Casual"), &worker).await;
    assert_eq!(one["max_per_year"], 12.0);
    let list = app.get_json(POLICIES, &hr).await;
    assert_eq!(list["count"], 6);
    assert_eq!(list["results"][0]["is_default"], false);

    // A site's own type, created with POST.
    let study = app
        .call_json(
            Method::POST,
            &format!("{POLICIES}Study/"),
            &hr,
            Some(json!({"leave_type": "Study", "max_per_year": 5})),
            201,
        )
        .await;
    assert_eq!(study["leave_type"], "Study");
    let list = app.get_json(POLICIES, &hr).await;
    assert_eq!(list["count"], 7);
    assert_eq!(
        app.get_error(&format!("{POLICIES}Sabbatical/"), &hr, 404)
            .await,
        "not_found"
    );
    let sick = app.get_json(&format!("{POLICIES}Sick/"), &hr).await;
    assert_eq!(sick["certificate_required_above"], 2.0);

    let before = app.store.leave_policies().await.unwrap();
    for (path, body) in [
        ("Casual/", json!({"max_consecutive": 0})),
        ("Casual/", json!({"max_per_year": 1.3})),
        ("Casual/", json!({"max_per_year": -1})),
        ("Casual/", json!({"off_days": "sometimes"})),
        ("Casual/", json!({"leave_type": "Sick"})),
        ("Casual/", json!({"requires_approval": "no"})),
        ("Casual/", json!({"unknown_field": 1})),
        ("Bad%21Type/", json!({})),
    ] {
        assert_eq!(
            app.call_error(
                Method::PUT,
                &format!("{POLICIES}{path}"),
                &hr,
                Some(body.clone()),
                422
            )
            .await,
            "validation_error",
            "{body}"
        );
    }
    assert_eq!(app.store.leave_policies().await.unwrap(), before);
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

async fn upload(
    app: &TestApp,
    token: &str,
    id: &str,
    query: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.call_raw(
        Method::POST,
        &format!("{REQUESTS}{id}/documents/{query}"),
        token,
        content_type,
        bytes,
    )
    .await
}

async fn download(app: &TestApp, token: &str, id: &str, doc_id: &str) -> reqwest::Response {
    let path = format!("{REQUESTS}{id}/documents/{doc_id}");
    app.call(Method::GET, &path, token, None).await
}

#[tokio::test]
async fn documents_attach_to_a_request_with_its_access() {
    let app = spawn_app().await;
    let [hr, head, worker, other] = app.tokens(["hr", "head", "worker", "other"]).await;
    allocate(&app, &hr, "EMP001", 10.0).await;
    let request = submit(
        &app,
        &worker,
        json!({"leave_type": "Casual", "start_date": "2026-09-01", "end_date": "2026-09-01",
               "medical_certificate": true}),
    )
    .await;
    assert_eq!(request["medical_certificate"], true);
    let id = request["id"].as_str().unwrap();

    let doc = json_of(
        upload(
            &app,
            &worker,
            id,
            "?filename=certificate.pdf",
            Some("application/pdf"),
            PDF.to_vec(),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(doc["leave_request_id"], id);
    assert_eq!(doc["filename"], "certificate.pdf");
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["size"], PDF.len());
    assert_eq!(doc["uploaded_by"], "worker");
    assert!(doc["uploaded_at"].is_string());
    let doc_id = doc["id"].as_str().unwrap();
    // No Content-Type: judged by the bytes.
    let png = json_of(upload(&app, &head, id, "", None, PNG.to_vec()).await, 201).await;
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["filename"], "document");

    for token in [&worker, &head, &hr] {
        let list = app
            .get_json(&format!("{REQUESTS}{id}/documents/"), token)
            .await;
        assert_eq!(list["count"], 2);
        assert_eq!(list["results"][0]["id"], doc_id);
    }
    let download = download(&app, &hr, id, doc_id).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"certificate.pdf\""
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), PDF);

    // `other` has no access to any of it.
    assert_eq!(
        app.get_error(&format!("{REQUESTS}{id}/documents/"), &other, 403)
            .await,
        "forbidden"
    );
    assert_eq!(
        app.get_error(&format!("{REQUESTS}{id}/documents/{doc_id}"), &other, 403)
            .await,
        "forbidden"
    );
    let denied = upload(&app, &other, id, "", None, PDF.to_vec()).await;
    assert_eq!(error_code(denied, 403).await, "forbidden");

    // Bad files.
    let text = upload(&app, &worker, id, "", Some("text/plain"), b"hello".to_vec()).await;
    assert_eq!(error_code(text, 415).await, "unsupported_media_type");
    let disguised = upload(
        &app,
        &worker,
        id,
        "",
        Some("application/pdf"),
        b"MZ\x90\x00".to_vec(),
    )
    .await;
    assert_eq!(error_code(disguised, 415).await, "unsupported_media_type");
    let mismatch = upload(&app, &worker, id, "", Some("image/jpeg"), PDF.to_vec()).await;
    assert_eq!(error_code(mismatch, 422).await, "validation_error");
    let empty = upload(&app, &worker, id, "", None, Vec::new()).await;
    assert_eq!(error_code(empty, 422).await, "validation_error");
    let bad_name = upload(
        &app,
        &worker,
        id,
        "?filename=..%2Fetc%2Fpasswd",
        None,
        PDF.to_vec(),
    )
    .await;
    assert_eq!(error_code(bad_name, 422).await, "validation_error");
    let mut huge = PDF.to_vec();
    huge.resize(5 * 1024 * 1024 + 1, b' ');
    let too_big = upload(&app, &worker, id, "", Some("application/pdf"), huge).await;
    assert_eq!(error_code(too_big, 413).await, "payload_too_large");
    let unknown = upload(&app, &worker, "no-such-request", "", None, PDF.to_vec()).await;
    assert_eq!(error_code(unknown, 404).await, "not_found");
    assert_eq!(
        app.get_error(&format!("{REQUESTS}{id}/documents/nope"), &worker, 404)
            .await,
        "not_found"
    );

    let list = app
        .get_json(&format!("{REQUESTS}{id}/documents"), &worker)
        .await;
    assert_eq!(list["count"], 2, "nothing was added by the refused uploads");

    // A request holds at most ten documents.
    for _ in 2..10 {
        json_of(upload(&app, &worker, id, "", None, PDF.to_vec()).await, 201).await;
    }
    let eleventh = upload(&app, &worker, id, "", None, PDF.to_vec()).await;
    assert_eq!(error_code(eleventh, 409).await, "conflict");
    let list = app
        .get_json(&format!("{REQUESTS}{id}/documents/?page_size=50"), &worker)
        .await;
    assert_eq!(list["count"], 10);

    // A cancelled request takes no documents (cancel and upload cannot fill the database).
    let other_request = submit(
        &app,
        &worker,
        json!({"leave_type": "Casual", "start_date": "2026-09-02", "end_date": "2026-09-02"}),
    )
    .await;
    let other_id = other_request["id"].as_str().unwrap();
    json_of(decide(&app, &worker, other_id, "cancel").await, 200).await;
    let late = upload(&app, &worker, other_id, "", None, PDF.to_vec()).await;
    assert_eq!(error_code(late, 409).await, "conflict");
    // Leave in the year 9000 is refused.
    let far = app
        .call(
            Method::POST,
            REQUESTS,
            &worker,
            Some(json!({"leave_type": "Casual", "start_date": "9000-01-02", "end_date": "9000-01-02"})),
        )
        .await;
    assert_eq!(error_code(far, 422).await, "validation_error");
}

/// A client of a server started the way the binary starts it.
fn client_of(server: &attendance_server::cli::Server) -> TestApp {
    TestApp {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        store: server.state.store.clone(),
    }
}

#[tokio::test]
async fn a_document_outlives_a_restart_on_the_same_sqlite_file() {
    use attendance_server::cli::{Cli, Server};
    use clap::Parser;

    let data = std::env::temp_dir().join(format!("attendance-documents-{}", uuid::Uuid::new_v4()));
    let cli = Cli::try_parse_from([
        "attendance-server",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--jwt-secret",
        "a test secret of at least thirty-two chars",
        "--admin-user",
        "root",
        "--admin-password",
        PASSWORD,
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(
        cli.database_url, None,
        "the default store: SQLite in the data directory"
    );
    // A PDF header, then every byte value: the bytes must come back exactly.
    let mut file = PDF.to_vec();
    file.extend((0..=255u8).cycle().take(300_000));

    let server = Server::start(&cli).await.unwrap();
    let app = client_of(&server);
    let root = app.token("root").await;
    app.call_json(
        Method::POST,
        "/api/attendance/employees/",
        &root,
        Some(
            json!({"employee_id": "EMP001", "employee_name": "Rahima Khatun",
                    "department": "Sewing", "designation": "Operator", "level_of_work": "Worker"}),
        ),
        201,
    )
    .await;
    allocate(&app, &root, "EMP001", 10.0).await;
    let request = submit(
        &app,
        &root,
        json!({"employee_id": "EMP001", "leave_type": "Casual", "start_date": "2026-09-01",
               "end_date": "2026-09-01", "medical_certificate": true}),
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    let uploaded = json_of(
        upload(
            &app,
            &root,
            &id,
            "?filename=certificate.pdf",
            Some("application/pdf"),
            file.clone(),
        )
        .await,
        201,
    )
    .await;
    server.stop().await;
    assert!(
        data.join("attendance.sqlite").exists(),
        "the SQLite file is in the data directory"
    );

    let server = Server::start(&cli).await.unwrap();
    let app = client_of(&server);
    let root = app.token("root").await;
    let list = app
        .get_json(&format!("{REQUESTS}{id}/documents/"), &root)
        .await;
    assert_eq!(list["count"], 1);
    assert_eq!(
        list["results"][0], uploaded,
        "the same document, listed as uploaded"
    );
    let doc_id = uploaded["id"].as_str().unwrap();
    let download = download(&app, &root, &id, doc_id).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    let bytes = download.bytes().await.unwrap();
    assert!(
        bytes.as_ref() == file.as_slice(),
        "the same {} bytes",
        file.len()
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_openapi_document_lists_the_leave_holiday_and_settings_paths() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    for path in [
        "/api/attendance/leave-policies/",
        "/api/attendance/leave-balances/allocate/",
        "/api/attendance/leave-requests/{id}/approve/",
        "/api/attendance/leave-requests/{id}/documents/{doc_id}",
        "/api/attendance/holidays/{id}/",
        "/api/attendance/settings/",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}

#[tokio::test]
async fn who_may_decide_at_which_level() {
    let app = spawn_app().await;
    let [hr, head, worker, admin] = app.tokens(["hr", "head", "worker", "admin"]).await;
    for code in ["EMP001", "EMP005"] {
        allocate(&app, &hr, code, 10.0).await;
    }
    let one_day = |day: &str| json!({"leave_type": "Casual", "start_date": day, "end_date": day});

    // A super admin may act at both levels.
    let request = submit(&app, &worker, one_day("2026-03-09")).await;
    let id = request["id"].as_str().unwrap();
    let first = json_of(decide(&app, &admin, id, "approve").await, 200).await;
    assert_eq!(first["next_level"], "hr");
    let done = json_of(decide(&app, &admin, id, "approve").await, 200).await;
    assert_eq!(done["status"], "approved");
    assert_eq!(done["history"][1]["role"], "super_admin");
    // Approved and already started (in the past): only HR may cancel it.
    let response = decide(&app, &worker, id, "cancel").await;
    assert_eq!(error_code(response, 422).await, "validation_error");
    assert_eq!(casual(&app, &hr, "EMP001").await["taken"], 1.0);

    // The head's own leave needs HR only, and the head cannot approve it.
    let own = submit(&app, &head, one_day("2026-03-10")).await;
    let own_id = own["id"].as_str().unwrap();
    assert_eq!(own["next_level"], "hr");
    let response = decide(&app, &head, own_id, "approve").await;
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = decide(&app, &worker, own_id, "approve").await;
    assert_eq!(error_code(response, 403).await, "forbidden");
    let approved = json_of(decide(&app, &hr, own_id, "approve").await, 200).await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(casual(&app, &hr, "EMP005").await["available"], 9.0);
    assert_eq!(
        status_on(&app, "EMP005", date(3, 10)).await.as_deref(),
        Some("Leave-Casual")
    );

    // A note longer than the rules allow, and a body that is not JSON.
    let pending = submit(&app, &worker, one_day("2026-03-11")).await;
    let pending_id = pending["id"].as_str().unwrap();
    assert_eq!(
        app.call_error(
            Method::POST,
            &format!("{REQUESTS}{pending_id}/reject/"),
            &head,
            Some(json!({"note": "x".repeat(1001)})),
            422
        )
        .await,
        "validation_error"
    );
    let garbage = app
        .client
        .post(app.url(&format!("{REQUESTS}{pending_id}/reject/")))
        .bearer_auth(&head)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(garbage, 400).await, "bad_request");
    let still = app
        .get_json(&format!("{REQUESTS}{pending_id}/"), &head)
        .await;
    assert_eq!(still["status"], "pending");
    assert_eq!(still["history"], json!([]));
}

/// Moves `code` to `department` through the API, as HR would.
async fn transfer(app: &TestApp, hr: &str, code: &str, department: &str) {
    let path = format!("/api/attendance/employees/{code}/");
    let mut employee = app.get_json(&path, hr).await;
    employee["department"] = json!(department);
    app.call_json(Method::PUT, &path, hr, Some(employee), 200)
        .await;
}

#[tokio::test]
async fn access_to_leave_follows_the_employees_current_department() {
    let app = spawn_app().await;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;
    allocate(&app, &hr, "EMP001", 10.0).await;
    let request = submit(
        &app,
        &worker,
        json!({"leave_type": "Casual", "start_date": "2026-09-01", "end_date": "2026-09-01"}),
    )
    .await;
    let id = request["id"].as_str().unwrap();
    let path = format!("{REQUESTS}{id}/");
    app.get_json(&path, &head).await;
    // The worker moves from Sewing to Cutting: the Sewing head no longer reads or decides it.
    transfer(&app, &hr, "EMP001", "Cutting").await;
    assert_eq!(app.get_error(&path, &head, 403).await, "forbidden");
    assert_eq!(
        error_code(decide(&app, &head, id, "approve").await, 403).await,
        "forbidden"
    );
    let moved = app.get_json(&path, &hr).await;
    assert_eq!(moved["department"], "Cutting", "{moved}");
    // The head moves to Cutting too: their token (from before) follows them at once.
    transfer(&app, &hr, "EMP005", "Cutting").await;
    app.get_json(&path, &head).await;
    let approved = json_of(decide(&app, &head, id, "approve").await, 200).await;
    assert_eq!(
        approved["status"], "pending",
        "HR's level is next: {approved}"
    );
}
