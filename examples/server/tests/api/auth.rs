use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, spawn_app};

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

/// A client whose connections come from `ip` (any 127.0.0.0/8 address reaches the server).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

async fn login_status(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> u16 {
    client
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_stranger_cannot_lock_a_user_out_and_successes_never_count() {
    let app = spawn_app().await;
    let stranger = client_from([127, 0, 0, 2]);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(login_status(&app, &stranger, "hr", "wrong").await);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // The user, from their own address, still logs in, as often as they like.
    let user = client_from([127, 0, 0, 3]);
    for _ in 0..15 {
        assert_eq!(login_status(&app, &user, "hr", PASSWORD).await, 200);
    }
    // One address trying many usernames is limited on all of them, even a right password.
    let sprayer = client_from([127, 0, 0, 4]);
    for n in 0..30 {
        assert_eq!(
            login_status(&app, &sprayer, &format!("guess{n}"), "x").await,
            401
        );
    }
    assert_eq!(login_status(&app, &sprayer, "admin", PASSWORD).await, 429);
    assert_eq!(login_status(&app, &user, "admin", PASSWORD).await, 200);
}

#[tokio::test]
async fn login_input_is_bounded() {
    let app = spawn_app().await;
    // A body over 16 KiB is refused before it is read whole.
    let huge = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "u".repeat(8 << 20), "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // A username or password over its limit is refused by name, before any lookup.
    let long_user = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "u".repeat(65), "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(long_user.status(), 422);
    let body: Value = long_user.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "username");
    let long_password = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "hr", "password": "p".repeat(1_025)}))
        .send()
        .await
        .unwrap();
    assert_eq!(long_password.status(), 422);
}

#[tokio::test]
async fn tokens_are_taken_from_the_header_only_and_errors_say_no_internals() {
    let app = spawn_app().await;
    let token = app.token("hr").await;
    // A token in the query of a REST route is not taken.
    let in_query = app
        .client
        .get(app.url(&format!("/api/auth/me?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 401);
    // A forged token hears only that it is not valid, not why the parser refused it.
    let forged = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "invalid or expired token: log in again"
    );
    // Pagination links never carry a token.
    let page = app
        .get_json(
            "/api/attendance/employees/?page_size=1&token=leaked",
            &token,
        )
        .await;
    assert!(
        !page["next"].as_str().unwrap_or_default().contains("token"),
        "{page}"
    );
}
