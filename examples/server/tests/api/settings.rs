//! The settings routes, and the background recompute a settings change queues (on SQLite, a
//! server killed mid-job finishes it after its restart; the cluster's takeover is in
//! `cluster.rs`).

use std::time::Duration;

use attendance_core::service::employee_change_start;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{RecomputeJobStore, RecordQuery, Store};
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::{Datelike, NaiveDate, Utc};
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio::time::Instant;

use crate::cli::{Running, binary, listening_url, temp_dir};
use crate::helpers::{employee, error_code, spawn_app};

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

/// Employees of the background recompute tests: enough that the recompute of a settings
/// change (this month and the last) takes several seconds in a debug build.
pub(crate) const STAFF: usize = 1_500;

/// The weekly off days the background recompute tests change the settings to.
pub(crate) const NEW_OFF_DAYS: [chrono::Weekday; 2] = [chrono::Weekday::Fri, chrono::Weekday::Sun];

/// Stores `n` active employees (`STAFF00001`…), 16 at a time.
pub(crate) async fn seed_staff(store: &dyn Store, n: usize) {
    futures::stream::iter(1..=n)
        .for_each_concurrent(16, |i| async move {
            store
                .create_employee(&employee(&format!("STAFF{i:05}"), "Sewing"))
                .await
                .unwrap();
        })
        .await;
}

/// The settings of `base` with [`NEW_OFF_DAYS`] as the weekly off days, replaced through
/// `base` (as HR would); returns the range the server recomputes in the background.
pub(crate) async fn change_off_days(base: &str, token: &str) -> (NaiveDate, NaiveDate) {
    let client = crate::cluster::client();
    let url = format!("{base}{PATH}");
    let mut settings: serde_json::Value = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    settings["weekly_off_days"] = json!(["Fri", "Sun"]);
    let response = client
        .put(&url)
        .bearer_auth(token)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Dhaka)
        .date_naive();
    (employee_change_start(today), today)
}

/// Every active employee's days of `[from, to]` are stored and follow [`NEW_OFF_DAYS`]: the
/// off days (before yesterday, whose windows have closed) are `Weekend`, no other day is.
pub(crate) async fn assert_days_follow_new_off_days(
    store: &dyn Store,
    (from, to): (NaiveDate, NaiveDate),
    staff: usize,
) {
    let records = store
        .query_records(&RecordQuery {
            from: Some(from),
            to: Some(to),
            limit: u64::MAX,
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    let days = (to - from).num_days() as usize + 1;
    let ours: Vec<_> = records
        .results
        .iter()
        .filter(|r| r.employee_id.as_str().starts_with("STAFF"))
        .collect();
    assert_eq!(
        ours.len(),
        staff * days,
        "every employee's every day stored"
    );
    let closed = to - chrono::TimeDelta::days(1);
    let wrong: Vec<String> = ours
        .iter()
        .filter(|r| r.date < closed)
        .filter(|r| {
            NEW_OFF_DAYS.contains(&r.date.weekday()) != (r.status == AttendanceStatus::Weekend)
        })
        .map(|r| format!("{} {} {}", r.employee_id, r.date, r.status))
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "days not following the new settings: {wrong:?}"
    );
}

/// The `recompute_job` of `base`'s `system-status`.
pub(crate) async fn recompute_job(base: &str, token: &str) -> serde_json::Value {
    crate::cluster::status(base, token).await["engine"]["recompute_job"].clone()
}

/// A SQLite server on `data` (the cluster tests' admin); its process and base URL.
async fn serve_sqlite(data: &std::path::Path) -> (Running, String) {
    let mut process = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(["--admin-user", "admin", "--admin-password"])
            .arg(crate::cluster::PASSWORD)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut process).await;
    (process, base)
}

/// A settings change's background recompute on SQLite, the server killed (SIGKILL) mid-job:
/// started again on the same data directory, the server resumes the stored job from its resume
/// point and finishes it.
#[tokio::test]
async fn a_settings_recompute_cut_by_a_sigkill_is_finished_after_the_restart() {
    let data = temp_dir("settings-restart");
    let path = data.join("attendance.sqlite");
    let path = path.to_str().unwrap();
    {
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
        seed_staff(&store, STAFF).await;
    }
    let (mut server, base) = serve_sqlite(&data).await;
    let token = crate::cluster::login(&base).await;
    let began = Instant::now();
    let range = change_off_days(&base, &token).await;
    // Killed once a few chunks are done.
    crate::cluster::eventually(Duration::from_secs(60), "the job progressing", || {
        let (base, token) = (base.clone(), token.clone());
        async move {
            let job = recompute_job(&base, &token).await;
            job["state"] == "running" && job["done"].as_u64().unwrap_or(0) >= 150
        }
    })
    .await;
    let _ = server.0.kill();
    let _ = server.0.wait();
    let killed_after = began.elapsed();
    let stopped = {
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
        store.current_recompute().await.unwrap().unwrap()
    };
    println!(
        "killed {killed_after:?} after the settings change: the job stored at {}/{} employees, resume after {:?}",
        stopped.done, stopped.total, stopped.resume_after
    );
    assert!(
        !stopped.is_finished() && stopped.done > 0 && stopped.resume_after.is_some(),
        "killed mid-job with a resume point (raise STAFF if the job ended first): {stopped:?}"
    );

    let (_server, base) = serve_sqlite(&data).await;
    let restarted = Instant::now();
    let token = crate::cluster::login(&base).await;
    let mut least_done = u64::MAX;
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job = recompute_job(&base, &token).await;
        if job["state"] == "running" {
            least_done = least_done.min(job["done"].as_u64().unwrap_or(0));
        }
        if job["state"] == "done" || job["state"] == "failed" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "not finished 120 s after the restart: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "finished {:?} after the restart; least progress seen running: {least_done}",
        restarted.elapsed()
    );
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["id"], json!(stopped.id));
    assert!(
        least_done >= stopped.done,
        "resumed from its resume point: {least_done} < {}",
        stopped.done
    );
    let days = (range.1 - range.0).num_days() as usize + 1;
    assert_eq!(job["total"], json!(STAFF), "{job}");
    assert_eq!(
        job["records"],
        json!(STAFF * days),
        "each record counted once: {job}"
    );
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .unwrap();
    assert_days_follow_new_off_days(&store, range, STAFF).await;
}
