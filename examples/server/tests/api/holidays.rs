use attendance_core::employee::EmployeeCode;
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app};

const PATH: &str = "/api/attendance/holidays/";

/// A recent past date that is not a Friday (the default weekly off day).
fn recent_working_day() -> NaiveDate {
    let mut date = Utc::now().date_naive() - Days::new(10);
    if date.weekday() == Weekday::Fri {
        date = date - Days::new(1);
    }
    date
}

async fn status_of(app: &TestApp, code: &str, date: NaiveDate) -> Option<String> {
    app.store
        .record(&EmployeeCode::parse(code).unwrap(), date)
        .await
        .unwrap()
        .map(|r| r.status.to_string())
}

#[tokio::test]
async fn hr_manages_holidays_and_the_days_follow() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    let day = recent_working_day();

    let created = app
        .call_json(
            Method::POST,
            PATH,
            &hr,
            Some(json!({"name": "Founders Day", "start": day})),
            201,
        )
        .await;
    let holiday = &created["holiday"];
    assert_eq!(holiday["name"], "Founders Day");
    assert_eq!(holiday["start"], day.to_string());
    assert_eq!(holiday["end"], day.to_string());
    assert_eq!(holiday["recurring_yearly"], false);
    assert_eq!(holiday["observed"], true);
    assert_eq!(holiday["length_days"], 1);
    assert_eq!(
        created["recomputed"], 3,
        "one day for each of the three employees"
    );
    assert_eq!(
        status_of(&app, "EMP001", day).await.as_deref(),
        Some("Holiday")
    );
    let id = holiday["id"].as_i64().unwrap();

    let one = app.get_json(&format!("{PATH}{id}/"), &hr).await;
    assert_eq!(one["id"], id);
    let one = app
        .get_json(&format!("/api/attendance/holidays/{id}"), &hr)
        .await;
    assert_eq!(one["name"], "Founders Day");

    // Made unobserved: the day is worked again.
    let replaced = app
        .call_json(
            Method::PUT,
            &format!("{PATH}{id}/"),
            &hr,
            Some(json!({"name": "Founders Day", "start": day, "observed": false})),
            200,
        )
        .await;
    assert_eq!(replaced["holiday"]["observed"], false);
    assert_ne!(
        status_of(&app, "EMP001", day).await.as_deref(),
        Some("Holiday")
    );

    let deleted = app
        .call(Method::DELETE, &format!("{PATH}{id}/"), &hr, None)
        .await;
    assert_eq!(deleted.status(), 204);
    assert!(app.store.list_holidays().await.unwrap().is_empty());
    assert_eq!(
        app.get_error(&format!("{PATH}{id}/"), &hr, 404).await,
        "not_found"
    );
}

#[tokio::test]
async fn everyone_lists_holidays_by_year_and_only_hr_and_admins_change_them() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    let admin = app.token("admin").await;
    for body in [
        json!({"name": "Victory Day", "start": "2030-12-16"}),
        json!({"name": "Eid", "start": "2030-04-01", "end": "2030-04-03"}),
        json!({"name": "New Year", "start": "2029-01-01", "recurring_yearly": true}),
        json!({"name": "Old Day", "start": "2028-05-05"}),
    ] {
        app.call_json(Method::POST, PATH, &admin, Some(body), 201)
            .await;
    }
    for user in ["admin", "hr", "head", "worker", "other"] {
        let token = app.token(user).await;
        let all = app.get_json(PATH, &token).await;
        assert_eq!(all["count"], 4, "{user}");
    }
    let year = app.get_json(&format!("{PATH}?year=2030"), &hr).await;
    let names: Vec<&str> = year["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["New Year", "Eid", "Victory Day"]);
    assert_eq!(year["results"][1]["length_days"], 3);
    let paged = app
        .get_json(&format!("{PATH}?page=2&page_size=3"), &hr)
        .await;
    assert_eq!(paged["count"], 4);
    assert_eq!(paged["results"].as_array().unwrap().len(), 1);
    assert!(paged["previous"].is_string());
    assert!(paged["next"].is_null());

    let id = year["results"][0]["id"].as_i64().unwrap();
    let body = json!({"name": "Nope", "start": "2030-06-01"});
    for user in ["head", "worker"] {
        let token = app.token(user).await;
        assert_eq!(
            app.call_error(Method::POST, PATH, &token, Some(body.clone()), 403)
                .await,
            "forbidden"
        );
        assert_eq!(
            app.call_error(
                Method::PUT,
                &format!("{PATH}{id}/"),
                &token,
                Some(body.clone()),
                403
            )
            .await,
            "forbidden"
        );
        assert_eq!(
            app.call_error(Method::DELETE, &format!("{PATH}{id}/"), &token, None, 403)
                .await,
            "forbidden"
        );
    }
    assert_eq!(app.store.list_holidays().await.unwrap().len(), 4);
}

#[tokio::test]
async fn bad_holidays_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    let bad: [Value; 6] = [
        json!({"name": "Backwards", "start": "2030-04-03", "end": "2030-04-01"}),
        json!({"start": "2030-04-03"}),
        json!({"name": "No date"}),
        json!({"name": "Bad date", "start": "2030-02-30"}),
        json!({"name": "", "start": "2030-04-03"}),
        json!({"name": "Typo", "start": "2030-04-03", "observd": false}),
    ];
    for body in bad {
        assert_eq!(
            app.call_error(Method::POST, PATH, &hr, Some(body.clone()), 422)
                .await,
            "validation_error",
            "{body}"
        );
    }
    assert_eq!(
        app.call_error(
            Method::POST,
            PATH,
            &hr,
            Some(json!({"name": "Long", "start": "2030-01-01", "end": "2031-06-01"})),
            422
        )
        .await,
        "validation_error"
    );
    let not_json = app
        .call_raw(Method::POST, PATH, &hr, Some("application/json"), "[")
        .await;
    assert_eq!(error_code(not_json, 400).await, "bad_request");
    assert!(app.store.list_holidays().await.unwrap().is_empty());

    assert_eq!(
        app.call_error(
            Method::PUT,
            &format!("{PATH}999/"),
            &hr,
            Some(json!({"name": "Ghost", "start": "2030-01-01"})),
            404
        )
        .await,
        "not_found"
    );
    assert_eq!(
        app.call_error(Method::DELETE, &format!("{PATH}999/"), &hr, None, 404)
            .await,
        "not_found"
    );
    assert_eq!(
        app.get_error(&format!("{PATH}abc/"), &hr, 400).await,
        "bad_request"
    );
    assert_eq!(
        app.get_error(&format!("{PATH}?year=0"), &hr, 422).await,
        "validation_error"
    );
    assert_eq!(
        app.get_error(&format!("{PATH}?year=soon"), &hr, 400).await,
        "bad_request"
    );
    assert!(app.store.list_holidays().await.unwrap().is_empty());
}
