use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, error_code, spawn_app};

#[tokio::test]
async fn every_role_logs_in_and_sees_itself() {
    let app = spawn_app().await;
    for (username, role) in [
        ("admin", "super_admin"),
        ("hr", "hr_staff"),
        ("head", "department_head"),
        ("worker", "employee"),
    ] {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["user"]["role"], role);
        let token = body["access_token"].as_str().unwrap();
        let me: Value = app
            .call(Method::GET, "/api/auth/me", token, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["username"], username);
    }
    let me: Value = app
        .call(
            Method::GET,
            "/api/auth/me",
            &app.token("worker").await,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["employee_id"].as_str(), me["department"].as_str()),
        (Some("EMP001"), Some("Sewing"))
    );
}

#[tokio::test]
async fn bad_logins_and_tokens_are_refused_in_the_envelope() {
    let app = spawn_app().await;
    let login = |body: Value| {
        app.client
            .post(app.url("/api/auth/login"))
            .json(&body)
            .send()
    };
    let wrong = login(json!({"username": "admin", "password": "nope"}))
        .await
        .unwrap();
    assert_eq!(error_code(wrong, 401).await, "unauthorized");
    let nobody = login(json!({"username": "ghost", "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(error_code(nobody, 401).await, "unauthorized");
    let missing = login(json!({"username": "admin"})).await.unwrap();
    assert_eq!(error_code(missing, 422).await, "validation_error");
    let garbage = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(garbage, 400).await, "bad_request");
    let no_token = app
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(no_token, 401).await, "unauthorized");
    assert_eq!(
        app.call_error(
            Method::GET,
            "/api/auth/me",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.forged",
            None,
            401
        )
        .await,
        "unauthorized"
    );
    let unknown = app
        .client
        .get(app.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unknown, 404).await, "not_found");
}

#[tokio::test]
async fn logins_are_rate_limited_per_user() {
    let app = spawn_app().await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({"username": "hr", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
}

#[tokio::test]
async fn the_openapi_document_lists_the_endpoints() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object(), "{doc}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
