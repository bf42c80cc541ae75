//! The issue's four scenarios, each in a fresh server and a fresh browser.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_adapters::manager::{Backoff, ManagerConfig};
use attendance_server::AppState;
use attendance_server::runtime::{MachineRuntime, RuntimeConfig};
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{Browser, with_browser};
use crate::helpers::{PASSWORD, TestApp, seeded_store, serve, spawn_app, test_engine, test_keys};

const DHAKA: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

/// Today on the site's clock (the test store's zone, Asia/Dhaka).
fn site_today() -> NaiveDate {
    Utc::now().with_timezone(&DHAKA).date_naive()
}

/// The working day (not a Friday, the weekly off day) `n` or more days before today.
fn past_working_day(n: u64) -> NaiveDate {
    let mut day = site_today() - Days::new(n);
    while day.weekday() == Weekday::Fri {
        day = day - Days::new(1);
    }
    day
}

/// A server like `spawn_app` whose state runs machines (so ADMS pushes are received).
async fn spawn_machine_app() -> (TestApp, Arc<MachineRuntime>) {
    let store = seeded_store().await;
    let engine = Arc::new(test_engine(&store));
    let runtime = MachineRuntime::start(
        store.clone(),
        engine.clone(),
        RuntimeConfig {
            manager: ManagerConfig {
                backoff: Backoff {
                    initial: Duration::from_millis(100),
                    max: Duration::from_millis(500),
                    ..Backoff::default()
                },
                ..ManagerConfig::default()
            },
            status_refresh: Duration::from_millis(200),
            ..RuntimeConfig::default()
        },
    );
    let state = AppState::new(store, engine, test_keys()).with_machines(runtime.clone());
    (serve(state).await, runtime)
}

/// Pushes one ATTLOG line for `device_user` now (Dhaka time) as the ADMS device `serial`, and
/// returns when it was acknowledged (stored).
async fn adms_push(app: &TestApp, serial: &str, device_user: &str, stamp: u32) -> Instant {
    let now = Utc::now().with_timezone(&DHAKA).naive_local();
    let line = format!(
        "{device_user}\t{}\t0\t1\t0\t0\n",
        now.format("%Y-%m-%d %H:%M:%S")
    );
    let pushed = Instant::now();
    let reply = app
        .client
        .post(app.url(&format!(
            "/iclock/cdata?SN={serial}&table=ATTLOG&Stamp={stamp}"
        )))
        .body(line)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "OK: 1");
    pushed
}

/// The status text of `employee`'s row dated `date` in the page's table `table`.
const ROW_STATUS: &str = "const row = document.querySelector(`${arguments[0]} tr[data-employee='${arguments[1]}'][data-date='${arguments[2]}']`);
     return row ? row.querySelector('.status .badge').dataset.status : null;";

#[tokio::test]
async fn hr_sees_a_device_scan_live_on_the_dashboard_and_in_daily_attendance() {
    let (app, runtime) = spawn_machine_app().await;
    let hr = app.token("hr").await;
    let created = app
        .call(
            Method::POST,
            "/api/attendance/machines/",
            &hr,
            Some(
                json!({"machine_id": "ADMS-WEB", "name": "Door", "machine_type": "zkteco_adms",
                        "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka",
                        "config": {"serial": "WEBADMS1"}}),
            ),
        )
        .await;
    assert_eq!(created.status(), 201);
    let today = site_today().to_string();

    let base = app.base.clone();
    let ran = with_browser(&base, 1280, 1000, |b: Browser| async move {
        b.sign_in("hr", PASSWORD).await;
        let paint = b.paint_timings().await;
        println!("first paint of the app (loopback, debug build): {paint:?}");
        assert!(paint.iter().any(|(name, _)| name == "first-contentful-paint"), "{paint:?}");
        // HR's pages, and the machines card on the dashboard.
        let nav = b.nav().await;
        assert_eq!(nav, ["dashboard", "daily", "timesheet", "leave", "holidays", "policies", "machines", "users"]);
        b.wait_for("the machine on the dashboard",
            "return document.querySelector(\"#dashboard-machines tr[data-machine='ADMS-WEB']\")", vec![]).await;
        b.wait_for("the WebSocket", "return document.body.dataset.live === '1'", vec![]).await;

        // EMP001 (device user 1) scans at the door.
        let pushed = adms_push(&app, "WEBADMS1", "1", 1).await;
        let line = b.wait_for("the scan in the live feed",
            "return [...document.querySelectorAll(\"#feed li[data-employee='EMP001']\")].map(li => li.textContent).find(t => t.includes('Scan:'));",
            vec![]).await;
        let feed_latency = pushed.elapsed();
        assert!(line.as_str().unwrap().contains("ADMS-WEB"), "{line}");
        // The work date the scan counts for: today, or yesterday for a scan after midnight that
        // closes yesterday's shift.
        let yesterday = (site_today() - Days::new(1)).to_string();
        let days = app
            .get_json(&format!("/api/attendance/daily-attendance/?employee_id=EMP001&from={yesterday}&to={today}"), &hr)
            .await;
        let work_date = days["results"].as_array().unwrap().iter()
            .find(|d| !d["check_in"].is_null())
            .map(|d| d["date"].as_str().unwrap().to_owned())
            .expect("the scan's day");
        // The counts follow the recomputed day: its status is counted (on a working day a scan
        // now is on time, considered or late; on the Friday off the day stays a weekend).
        let counted = b.wait_for("the counts to include EMP001's day",
            "const line = [...document.querySelectorAll(\"#feed li[data-employee='EMP001']\")].map(li => li.textContent)
               .find(t => t.includes('Day recomputed') && t.includes(arguments[0]));
             if (!line) return null;
             const status = line.split('→ ')[1].trim();
             const key = {'Present-OnTime': 'ontime', 'Present-Considered': 'considered', 'Present-Late': 'late'}[status];
             return !key || !arguments[1] || Number(document.querySelector('#count-' + key + ' .n').textContent) >= 1 ? status : null;",
            vec![json!(work_date), json!(work_date == today)]).await;
        println!("ADMS push → dashboard feed: {feed_latency:?} (EMP001's day: {counted})");
        b.screenshot("hr-dashboard-live").await;

        // Daily Attendance for that day: EMP002 has not scanned; their row changes without a reload.
        b.go("daily").await;
        if work_date != today {
            b.set_value("#daily-date", &work_date).await;
        }
        b.wait_for("EMP002's row", ROW_STATUS, vec![json!("#daily-table"), json!("EMP002"), json!(work_date)]).await;
        let no_check_in = b.js("return document.querySelector(\"#daily-table tr[data-employee='EMP002'] td:nth-child(4)\").textContent", vec![]).await;
        assert_eq!(no_check_in, json!("—"), "EMP002 has not scanned yet");
        b.js("window.__sameDocument = true; return true", vec![]).await;
        let pushed = adms_push(&app, "WEBADMS1", "2", 2).await;
        let after = b.wait_for("EMP002's row to show the scan",
            "const row = document.querySelector(`#daily-table tr[data-employee='EMP002'][data-date='${arguments[0]}']`);
             return row && row.querySelector('td:nth-child(4)').textContent.includes(':') ? row.querySelector('.status .badge').dataset.status : null;",
            vec![json!(work_date)]).await;
        let daily_latency = pushed.elapsed();
        assert_eq!(b.js("return window.__sameDocument === true", vec![]).await, json!(true), "no reload");
        let check_in = b.js("return document.querySelector(\"#daily-table tr[data-employee='EMP002'] td:nth-child(4)\").textContent", vec![]).await;
        assert!(check_in.as_str().unwrap().contains(':'), "a check-in time: {check_in}");
        println!("ADMS push → Daily Attendance row ({after}): {daily_latency:?}");
        b.screenshot("hr-daily-live").await;
        b
    })
    .await;
    if !ran {
        return;
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_worker_on_a_phone_sees_only_their_own_days_and_pages() {
    let app = spawn_app().await;
    let month = site_today().format("%Y-%m").to_string();
    let ran = with_browser(&app.base, 390, 844, |b: Browser| async move {
        b.sign_in("worker", PASSWORD).await;
        assert_eq!(b.nav().await, ["dashboard", "daily", "timesheet", "leave", "holidays", "policies"]);
        let own_day = b.js("return document.querySelector('#own-day .badge').dataset.status", vec![]).await;
        assert!(own_day.is_string(), "the worker's own day on the dashboard: {own_day}");
        // A page outside the role is not offered even by address.
        b.js("location.hash = '#/machines'; return true", vec![]).await;
        b.wait_page("dashboard").await;
        // Their API calls outside their role answer 403; lists are narrowed to themselves.
        for path in ["/api/attendance/machines/", "/api/auth/users/", "/api/attendance/audit-log/",
                     "/api/attendance/scans/set-aside/"] {
            assert_eq!(b.fetch_status(path).await, 403, "{path}");
        }

        b.go("daily").await;
        let employees = b.js("return [...document.querySelectorAll('#daily-table tbody tr')].map(r => r.dataset.employee)", vec![]).await;
        assert_eq!(employees, json!(["EMP001"]));

        b.go("timesheet").await;
        let shown = b.wait_for("the worker's month",
            "const rows = [...document.querySelectorAll('#timesheet tbody tr')]; return rows.length ? rows.map(r => r.dataset.employee) : null;",
            vec![]).await;
        let shown: Vec<String> = serde_json::from_value(shown).unwrap();
        assert!(shown.len() >= 28 && shown.iter().all(|e| e == "EMP001"), "{shown:?}");
        let month_shown = b.js("return document.querySelector('#timesheet-month').value", vec![]).await;
        assert_eq!(month_shown, json!(month));
        // The page fits the phone's width (wide tables scroll inside their own box).
        let fits = b.js("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await;
        assert_eq!(fits, json!(true), "no horizontal scrolling of the page");
        let width = b.js("return window.innerWidth", vec![]).await;
        assert_eq!(width, json!(390), "a phone-sized viewport");
        b.scroll_to("#timesheet").await;
        b.screenshot("worker-phone-timesheet").await;
        b
    })
    .await;
    if !ran {
        return;
    }
}

#[tokio::test]
async fn leave_applied_by_a_worker_and_approved_by_the_head_then_hr_shows_on_their_days() {
    let app = spawn_app().await;
    let day = past_working_day(7);
    let hr = app.token("hr").await;
    let allocated = app
        .call(Method::POST, "/api/attendance/leave-balances/allocate/", &hr,
            Some(json!({"employee_id": "EMP001", "leave_type": "Casual", "year": day.year(), "days": 10.0})))
        .await;
    assert!(
        allocated.status().is_success(),
        "{}",
        allocated.text().await.unwrap()
    );
    let document = std::env::temp_dir().join(format!("leave-note-{}.pdf", std::process::id()));
    std::fs::write(
        &document,
        b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
    )
    .unwrap();
    let day_text = day.to_string();
    let document_path = document.clone();

    let base = app.base.clone();
    let ran = with_browser(&base, 1280, 1000, |b: Browser| async move {
        // The worker applies, with a document.
        b.sign_in("worker", PASSWORD).await;
        b.go("leave").await;
        b.set_value("#leave-type", "Casual").await;
        b.set_value("#leave-start", &day_text).await;
        b.set_value("#leave-end", &day_text).await;
        b.type_into("#leave-reason", "family wedding").await;
        b.client
            .find(fantoccini::Locator::Css("#leave-document"))
            .await
            .unwrap()
            .send_keys(document.to_str().unwrap())
            .await
            .unwrap();
        b.click("#leave-submit").await;
        b.wait_message("Leave requested").await;
        let id = b.wait_for("the request in my requests",
            "const row = document.querySelector('#leave-mine tr[data-employee=\"EMP001\"]'); return row && row.querySelector('.status').textContent === 'pending' ? row.dataset.id : null;",
            vec![]).await;
        let id = id.as_str().unwrap().to_owned();

        // A second request, for the day before, is cancelled from the list.
        let mut before = day - Days::new(1);
        while before.weekday() == Weekday::Fri {
            before = before - Days::new(1);
        }
        let before = before.to_string();
        b.set_value("#leave-start", &before).await;
        b.set_value("#leave-end", &before).await;
        b.click("#leave-submit").await;
        b.wait_for("the second request",
            "return [...document.querySelectorAll('#leave-mine tr')].find(r => r.dataset.id && r.dataset.id !== arguments[0] && r.querySelector('.status').textContent === 'pending')?.dataset.id",
            vec![json!(id)]).await;
        b.click(&format!("#leave-mine tr:not([data-id='{id}']) button.cancel")).await;
        b.wait_message(": cancelled").await;
        b.sign_out().await;

        // The head of Sewing approves with a comment.
        b.sign_in("head", PASSWORD).await;
        b.go("leave").await;
        let row = format!("#leave-queue tr[data-id='{id}']");
        b.type_into(&format!("{row} .note"), "enjoy").await;
        b.click(&format!("{row} .approve")).await;
        b.wait_message("next: hr").await;
        b.sign_out().await;

        // HR approves.
        b.sign_in("hr", PASSWORD).await;
        b.go("leave").await;
        b.type_into(&format!("{row} .note"), "approved by HR").await;
        b.click(&format!("{row} .approve")).await;
        b.wait_message(": approved").await;
        b.sign_out().await;

        // The worker's day shows the leave.
        b.sign_in("worker", PASSWORD).await;
        b.go("timesheet").await;
        b.set_value("#timesheet-month", &day_text[..7]).await;
        let status = b.wait_for("the leave day in the worker's timesheet",
            "const row = document.querySelector(`#timesheet tr[data-date='${arguments[0]}']`);
             return row ? row.querySelector('.status .badge').dataset.status : null;",
            vec![json!(day_text)]).await;
        assert_eq!(status, json!("Leave-Casual"));
        let text = b.js("return document.querySelector(`#timesheet tr[data-date='${arguments[0]}'] .status`).innerText", vec![json!(day_text)]).await;
        assert_eq!(text, json!("Leave-Casual"), "the status is written, not only coloured");
        b.scroll_to(&format!("#timesheet tr[data-date='{day_text}']")).await;
        b.screenshot("worker-leave-approved").await;
        b
    })
    .await;
    std::fs::remove_file(&document_path).ok();
    if !ran {
        return;
    }

    // The request went through both levels with the comments, and its document was stored.
    let requests = app
        .get_json("/api/attendance/leave-requests/?employee_id=EMP001", &hr)
        .await;
    let requests = requests["results"].as_array().unwrap();
    let cancelled = requests
        .iter()
        .filter(|r| r["status"] == "cancelled")
        .count();
    assert_eq!((requests.len(), cancelled), (2, 1), "{requests:?}");
    let request = requests
        .iter()
        .find(|r| r["status"] != "cancelled")
        .unwrap();
    assert_eq!(request["status"], "approved", "{request}");
    let id = request["id"].as_str().unwrap();
    let documents = app
        .get_json(
            &format!("/api/attendance/leave-requests/{id}/documents/"),
            &hr,
        )
        .await;
    let documents = documents
        .get("results")
        .unwrap_or(&documents)
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(documents.len(), 1, "{documents:?}");
}

#[tokio::test]
async fn a_holiday_added_by_hr_shows_on_the_day() {
    let app = spawn_app().await;
    let day = past_working_day(3).to_string();
    let base = app.base.clone();
    let day_in = day.clone();
    let ran = with_browser(&base, 1280, 1000, |b: Browser| async move {
        let day = day_in;
        b.sign_in("hr", PASSWORD).await;
        b.go("holidays").await;
        b.type_into("#holiday-name", "Factory anniversary").await;
        b.set_value("#holiday-start", &day).await;
        b.click("#holiday-submit").await;
        b.wait_message("Added Factory anniversary").await;
        let listed = b.js("return [...document.querySelectorAll('#holidays-list td')].map(td => td.textContent)", vec![]).await;
        let listed: Vec<String> = serde_json::from_value(listed).unwrap();
        assert!(listed.contains(&"Factory anniversary".to_owned()) && listed.contains(&day), "{listed:?}");
        // Edited: renamed, and no longer repeated or off by mistake.
        b.click("#holidays-list tbody tr button.secondary").await;
        let editing = b.js("return document.querySelector('#holiday-name').value", vec![]).await;
        assert_eq!(editing, json!("Factory anniversary"));
        b.type_into("#holiday-name", "Factory day").await;
        b.click("#holiday-submit").await;
        b.wait_message("Saved Factory day").await;
        let names = b.js("return [...document.querySelectorAll('#holidays-list tbody tr td:first-child')].map(td => td.textContent)", vec![]).await;
        assert_eq!(names, json!(["Factory day"]));

        b.go("daily").await;
        b.set_value("#daily-date", &day).await;
        for employee in ["EMP001", "EMP002", "EMP005"] {
            let status = b.wait_for(&format!("{employee}'s holiday"),
                "const row = document.querySelector(`#daily-table tr[data-employee='${arguments[0]}'][data-date='${arguments[1]}']`);
                 return row ? row.querySelector('.status .badge').dataset.status : null;",
                vec![json!(employee), json!(day)]).await;
            assert_eq!(status, json!("Holiday"), "{employee}");
        }
        b.screenshot("hr-holiday-daily").await;
        b
    })
    .await;
    if !ran {
        return;
    }
    // The store agrees.
    let hr = app.token("hr").await;
    let one: Value = app
        .get_json(
            &format!("/api/attendance/daily-attendance/EMP001/{day}/"),
            &hr,
        )
        .await;
    assert_eq!(one["status"], "Holiday", "{one}");
}

#[tokio::test]
async fn hr_manages_machines_users_and_policies_and_downloads_exports_in_the_ui() {
    let (app, runtime) = spawn_machine_app().await;
    let base = app.base.clone();
    let month = site_today().format("%Y-%m").to_string();
    let ran = with_browser(&base, 1280, 1000, |b: Browser| async move {
        b.sign_in("hr", PASSWORD).await;

        // Machines: add a simulated floor, then test its connection.
        b.go("machines").await;
        b.type_into("#machine-id", "SIM-WEB").await;
        b.type_into("#machine-name", "Sewing floor").await;
        b.set_value("#machine-type", "simulated").await;
        b.type_into("#machine-location", "Floor 2").await;
        b.type_into("#machine-department", "Sewing").await;
        b.type_into("#machine-config", r#"{"scans_per_minute": 1.0, "history_hours": 0, "employees": 3}"#).await;
        b.click("#machine-submit").await;
        b.wait_message("Saved machine SIM-WEB").await;
        b.wait_for("the machine's row", "return document.querySelector(\"#machines-table tr[data-machine='SIM-WEB']\")", vec![]).await;
        b.click("#machines-table tr[data-machine='SIM-WEB'] button.test").await;
        let report = b.wait_for("the connection test's report",
            "const t = document.querySelector('#machine-test').textContent; return t.includes('connection') ? t : null;", vec![]).await;
        assert!(report.as_str().unwrap().contains("SIM-WEB: connection works"), "{report}");
        b.screenshot("hr-machines").await;

        // Users: add a worker's login, reset its password, disable it.
        b.go("users").await;
        b.type_into("#user-name", "newworker").await;
        b.type_into("#user-password", "a long enough password").await;
        b.set_value("#user-role", "employee").await;
        b.type_into("#user-employee", "EMP002").await;
        b.click("#user-submit").await;
        b.wait_message("Added newworker").await;
        let row = "#users-list tr[data-user='newworker']";
        b.type_into(&format!("{row} input[type=password]"), "another long password").await;
        b.click(&format!("{row} button.secondary")).await;
        b.wait_message("Reset the password of newworker").await;
        b.click(&format!("{row} button.danger")).await;
        b.wait_message("Disabled newworker").await;
        let active = b.js(&format!("return document.querySelector(\"{row} td:nth-child(4)\").textContent"), vec![]).await;
        assert_eq!(active, json!("no"));
        b.screenshot("hr-users").await;

        // Leave policies: Casual gets 12 days a year.
        b.go("policies").await;
        b.click("#policies-list tr[data-type='Casual'] button").await;
        b.set_value("#policy-max", "12").await;
        b.click("#policy-submit").await;
        b.wait_message("Saved the Casual policy").await;
        b.wait_for("Casual's new allowance",
            "return document.querySelector(\"#policies-list tr[data-type='Casual'] td:nth-child(2)\").textContent === '12'", vec![]).await;

        // Exports: the monthly report of a department downloads with the token, as a file.
        b.go("timesheet").await;
        b.set_value("#timesheet-scope", "department:Sewing").await;
        b.wait_for("Sewing's grid", "return document.querySelectorAll('#timesheet table.grid tbody tr').length === 2", vec![]).await;
        // The anchor's click (the browser's save) is recorded instead, with the file's Blob.
        b.js("window.__downloads = [];
              const blobUrl = URL.createObjectURL.bind(URL);
              URL.createObjectURL = (blob) => { window.__blob = blob; return blobUrl(blob); };
              HTMLAnchorElement.prototype.click = function () { window.__downloads.push(this.download); };
              return true", vec![]).await;
        b.click("#export-report-csv").await;
        let download = b.wait_for("the CSV download", "return window.__downloads[0] || null", vec![]).await;
        assert_eq!(download, json!(format!("attendance-{month}-Sewing.csv")));
        let csv = b.client.execute_async(
            "const done = arguments[arguments.length - 1];
             window.__blob.text().then(done, e => done(String(e)));",
            vec![]).await.unwrap();
        let csv = csv.as_str().unwrap();
        assert!(csv.starts_with("employee_id,employee_name,department"), "{csv}");
        assert_eq!(csv.lines().count(), 3, "a header and Sewing's two employees: {csv}");
        b.screenshot("hr-timesheet-department").await;
        b
    })
    .await;
    if !ran {
        return;
    }
    // The API agrees with what the pages showed.
    let hr = app.token("hr").await;
    let account = app.get_json("/api/auth/users/newworker/", &hr).await;
    assert_eq!(account["active"], false, "{account}");
    let casual = app
        .get_json("/api/attendance/leave-policies/Casual/", &hr)
        .await;
    assert_eq!(casual["max_per_year"], 12.0, "{casual}");
    runtime.shutdown().await;
}
