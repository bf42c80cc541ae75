use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app};

const PATH: &str = "/api/attendance/settings/";

#[tokio::test]
async fn everyone_reads_the_settings_and_only_hr_and_admins_replace_them() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    for user in ["admin", "hr", "head", "worker"] {
        let token = app.token(user).await;
        let body = app.get_json(PATH, &token).await;
        assert_eq!(body["time_zone"], "Asia/Dhaka", "{body}");
        assert!(body["weekly_off_days"].is_array());
        assert!(body["late_margin_minutes"].is_number());
    }
    // Without the slash too.
    app.get_json("/api/attendance/settings", &hr).await;

    let mut settings = app.get_json(PATH, &hr).await;
    settings["late_margin_minutes"] = json!(45);
    for user in ["head", "worker"] {
        let token = app.token(user).await;
        assert_eq!(
            app.call_error(Method::PUT, PATH, &token, Some(settings.clone()), 403)
                .await,
            "forbidden"
        );
    }
    assert_ne!(app.store.settings().await.unwrap().late_margin_minutes, 45);
    let stored = app
        .call_json(Method::PUT, PATH, &hr, Some(settings.clone()), 200)
        .await;
    assert_eq!(stored["late_margin_minutes"], 45);
    assert_eq!(app.store.settings().await.unwrap().late_margin_minutes, 45);
    settings["late_margin_minutes"] = json!(50);
    let admin = app.token("admin").await;
    app.call_json(Method::PUT, PATH, &admin, Some(settings), 200)
        .await;
    assert_eq!(app.store.settings().await.unwrap().late_margin_minutes, 50);
}

#[tokio::test]
async fn invalid_settings_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    let before = app.store.settings().await.unwrap();
    for body in [
        json!({"late_margin_minutes": 100000}),
        json!({"time_zone": "Mars/Olympus"}),
        json!({"late_margin_minutes": "ten"}),
        json!({"considered_minutes": 1, "on_time_grace_minutes": 30}),
        json!([1, 2]),
    ] {
        assert_eq!(
            app.call_error(Method::PUT, PATH, &hr, Some(body.clone()), 422)
                .await,
            "validation_error",
            "{body}"
        );
    }
    let garbage = app
        .call_raw(Method::PUT, PATH, &hr, Some("application/json"), "{nope")
        .await;
    assert_eq!(error_code(garbage, 400).await, "bad_request");
    let anonymous = app.client.get(app.url(PATH)).send().await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "unauthorized");
    assert_eq!(app.store.settings().await.unwrap(), before);
}
