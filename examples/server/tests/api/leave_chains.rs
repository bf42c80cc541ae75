//! Approval chains per leave policy, over a real socket: `hr_only`, `head_only` (a head's own
//! request goes to an admin), a department without an active head (HR acts for the head, at
//! decision time), and the policy routes that take and show `approval`.
//!
//! The test users (see `helpers`): `head` heads Sewing (EMP005); `worker` is EMP001 in Sewing;
//! `other` is EMP002 in Cutting, which has no head.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, spawn_app};

const REQUESTS: &str = "/api/attendance/leave-requests/";
const POLICIES: &str = "/api/attendance/leave-policies/";

/// Gives each of `employees` 10 days of casual leave in 2026.
async fn allocate(c: &Callers<'_>, employees: &[&str]) {
    for employee in employees {
        c.send_json(
            Method::POST,
            "hr",
            "/api/attendance/leave-balances/allocate/",
            Some(
                json!({"employee_id": employee, "leave_type": "Casual", "year": 2026, "days": 10}),
            ),
            201,
        )
        .await;
    }
}

/// Stores the casual policy with `approval` (as HR) and returns the answer.
async fn casual_policy(c: &Callers<'_>, approval: &str) -> Value {
    let response = c
        .send(
            Method::PUT,
            "hr",
            format!("{POLICIES}Casual/"),
            Some(json!({"max_per_year": 10, "approval": approval})),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// `user` applies for casual leave on `date` (a working day of March 2026), for themselves.
async fn apply(c: &Callers<'_>, user: &str, date: &str) -> Value {
    c.send_json(
        Method::POST,
        user,
        REQUESTS,
        Some(json!({"leave_type": "Casual", "start_date": date, "end_date": date})),
        201,
    )
    .await
}

/// `user` approves `request`; the status of the answer.
async fn approve(c: &Callers<'_>, user: &str, request: &Value) -> (u16, Value) {
    let id = request["id"].as_str().unwrap();
    let response = c
        .send(Method::POST, user, format!("{REQUESTS}{id}/approve/"), None)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn under_hr_only_hr_approves_alone() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    allocate(&c, &["EMP001"]).await;
    assert_eq!(casual_policy(&c, "hr_only").await["approval"], "hr_only");
    let request = apply(&c, "worker", "2026-03-02").await;
    assert_eq!(request["levels"], json!(["hr"]));
    assert_eq!(request["next_level"], "hr");
    assert_eq!(approve(&c, "head", &request).await.0, 403);
    let (status, done) = approve(&c, "hr", &request).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "approved");
    assert_eq!(done["history"][0]["level"], "hr");
}

#[tokio::test]
async fn under_head_only_the_head_approves_alone_and_an_admin_decides_a_heads_own() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    allocate(&c, &["EMP001", "EMP005"]).await;
    casual_policy(&c, "head_only").await;
    let request = apply(&c, "worker", "2026-03-02").await;
    assert_eq!(request["levels"], json!(["department_head"]));
    assert_eq!(
        approve(&c, "hr", &request).await.0,
        403,
        "Sewing has a head"
    );
    let (status, done) = approve(&c, "head", &request).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "approved");

    // The head's own request skips the head level: an admin decides it, HR may not.
    let own = apply(&c, "head", "2026-03-03").await;
    assert_eq!(own["levels"], json!(["admin"]));
    assert_eq!(own["next_level"], "admin");
    assert_eq!(approve(&c, "head", &own).await.0, 403);
    assert_eq!(approve(&c, "hr", &own).await.0, 403);
    let (status, done) = approve(&c, "admin", &own).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "approved");
    assert_eq!(done["history"][0]["level"], "admin");

    // In Cutting, which has no head, a head_only request goes to HR.
    allocate(&c, &["EMP002"]).await;
    let cutting = apply(&c, "other", "2026-03-04").await;
    assert_eq!(cutting["levels"], json!(["hr"]));
    assert_eq!(approve(&c, "hr", &cutting).await.1["status"], "approved");
}

#[tokio::test]
async fn in_a_department_without_a_head_hr_approves_the_first_level_then_the_second() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    allocate(&c, &["EMP002"]).await;
    let request = apply(&c, "other", "2026-03-02").await;
    assert_eq!(request["levels"], json!(["department_head", "hr"]));
    assert_eq!(request["next_level"], "department_head");
    let (status, first) = approve(&c, "hr", &request).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["next_level"], "hr");
    assert_eq!(first["history"][0]["level"], "department_head");
    assert_eq!(first["history"][0]["role"], "hr_staff");
    let (status, second) = approve(&c, "hr", &request).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "approved");
    // The head of another department still may not.
    let again = apply(&c, "other", "2026-03-03").await;
    assert_eq!(approve(&c, "head", &again).await.0, 403);
}

#[tokio::test]
async fn a_head_deactivated_after_the_submission_leaves_the_request_to_hr() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    allocate(&c, &["EMP001"]).await;
    casual_policy(&c, "head_only").await;
    let request = apply(&c, "worker", "2026-03-02").await;
    assert_eq!(request["levels"], json!(["department_head"]));
    assert_eq!(
        approve(&c, "hr", &request).await.0,
        403,
        "the head is active"
    );
    c.send_json(Method::DELETE, "admin", "/api/auth/users/head/", None, 200)
        .await;
    let (status, done) = approve(&c, "hr", &request).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "approved");
    assert_eq!(done["history"][0]["level"], "department_head");
    assert_eq!(done["history"][0]["role"], "hr_staff");
    // The same under the default chain: HR takes the head level, then its own.
    casual_policy(&c, "head_then_hr").await;
    let next = apply(&c, "worker", "2026-03-03").await;
    assert_eq!(next["levels"], json!(["department_head", "hr"]));
    assert_eq!(approve(&c, "hr", &next).await.1["next_level"], "hr");
    assert_eq!(approve(&c, "hr", &next).await.1["status"], "approved");
}

#[tokio::test]
async fn the_policy_routes_take_and_show_the_approval_chain() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let list = c.get_ok("worker", POLICIES).await;
    for policy in list["results"].as_array().unwrap() {
        assert_eq!(policy["approval"], "head_then_hr", "{policy}");
    }
    // Left out, it defaults; POST and PUT take it.
    let stored = c
        .send_json(
            Method::POST,
            "hr",
            format!("{POLICIES}Sick/"),
            Some(json!({"max_per_year": 14})),
            201,
        )
        .await;
    assert_eq!(stored["approval"], "head_then_hr");
    let stored = c
        .send_json(
            Method::POST,
            "hr",
            format!("{POLICIES}Sick/"),
            Some(json!({"max_per_year": 14, "approval": "head_only"})),
            200,
        )
        .await;
    assert_eq!(stored["approval"], "head_only");
    assert_eq!(
        c.get_ok("worker", &format!("{POLICIES}Sick/")).await["approval"],
        "head_only"
    );
    // Anything else is 422 naming the field, and nothing is stored.
    for bad in [json!("sideways"), json!(3), json!("HR_ONLY")] {
        let response = c
            .send(
                Method::PUT,
                "hr",
                format!("{POLICIES}Sick/"),
                Some(json!({"max_per_year": 14, "approval": bad})),
            )
            .await;
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["details"]["field"], "approval", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("approval"),
            "{body}"
        );
    }
    assert_eq!(
        c.get_ok("hr", &format!("{POLICIES}Sick/")).await["approval"],
        "head_only"
    );
}
