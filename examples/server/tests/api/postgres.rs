//! End to end on PostgreSQL: the real server (`Server::start`, as the binary runs it) on a fresh
//! database, driven over HTTP and WebSocket, then the database reopened to check what it kept.
//!
//! Skipped (with a message) without `DATABASE_URL`; with it, or with `CI` set, a server that
//! cannot be reached fails the test (the store crate's `testkit`, a dev-dependency feature).

use std::sync::Arc;
use std::time::Duration;

use attendance_core::access::Role;
use attendance_core::employee::{DeviceUserId, EmployeeCode};
use attendance_core::leave::RequestStatus;
use attendance_core::scan::MachineId;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::Store;
use attendance_server::cli::{Cli, Server};
use attendance_store_postgres::{PgOptions, PgStore, testkit};
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Parser;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, create_accounts};
use crate::realtime::{connect, punch_now, spawn_zk_fake, wait_for, wait_live, zk_machine};

/// A Sunday, a working day with the default settings.
const WORKED: &str = "2026-11-22";
/// Monday and Tuesday after it: the leave.
const LEAVE_FROM: &str = "2026-11-23";
const LEAVE_TO: &str = "2026-11-24";

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// The summary row of `employee` on `date`.
async fn summary_of(app: &TestApp, token: &str, date: &str, employee: &str) -> Value {
    let summary = app
        .get_json(
            &format!("/api/attendance/daily-attendance/summary/?date={date}"),
            token,
        )
        .await;
    summary
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["employee_id"] == employee)
        .cloned()
        .unwrap_or_else(|| panic!("{employee} is not in the summary of {date}: {summary}"))
}

#[tokio::test]
async fn the_server_runs_end_to_end_on_postgres_and_keeps_its_data() {
    let Some(pg) = testkit::server().await else {
        return;
    };
    let url = pg.database().await;
    let data = std::env::temp_dir().join(format!("attendance-pg-e2e-{}", uuid::Uuid::new_v4()));
    let cli = Cli::try_parse_from([
        "attendance-server",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--data-dir",
        data.to_str().unwrap(),
        "--admin-user",
        "admin",
        "--admin-password",
        PASSWORD,
    ])
    .unwrap();
    let server = Server::start(&cli).await.unwrap();
    let app = TestApp {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        store: server.state.store.clone(),
    };

    // The admin created from the flags logs in and creates two employees of Sewing.
    let admin = app.token("admin").await;
    for (code, name) in [("EMP100", "Rahima Khatun"), ("EMP101", "Karim Uddin")] {
        app.call_json(
            Method::POST,
            "/api/attendance/employees/",
            &admin,
            Some(json!({
                "employee_id": code,
                "employee_name": name,
                "department": "Sewing",
                "designation": "Senior Tailor",
                "level_of_work": "Worker",
            })),
            201,
        )
        .await;
    }
    // Logins for HR, the head of Sewing (EMP101) and the worker (EMP100). The API has no user
    // routes yet, so they go through the server's own store.
    create_accounts(
        server.state.store.as_ref(),
        &[
            ("hr", Role::HrStaff, None),
            ("head", Role::DepartmentHead, Some("EMP101")),
            ("worker", Role::Employee, Some("EMP100")),
        ],
    )
    .await;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;

    // Manual scans 08:00–17:30: with the defaults, on time, 8.25 h and 0.5 h of overtime.
    for (time, kind) in [("08:00:00", "IN"), ("17:30:00", "OUT")] {
        app.call_json(
            Method::POST,
            "/api/attendance/scans/",
            &hr,
            Some(json!({
                "employee_id": "EMP100",
                "scan_time": format!("{WORKED}T{time}"),
                "scan_type": kind,
                "reason": "card left at home",
            })),
            201,
        )
        .await;
    }
    let row = summary_of(&app, &hr, WORKED, "EMP100").await;
    assert_eq!(row["status"], "Present-OnTime", "{row}");
    assert_eq!(row["check_in"], "08:00");
    assert_eq!(row["check_out"], "17:30");
    assert_eq!(row["working_hours"], 8.25);
    assert_eq!(row["overtime"], 0.5);
    assert_eq!(row["extra_overtime"], 0.0);
    // The worker sees their own row.
    assert_eq!(
        summary_of(&app, &worker, WORKED, "EMP100").await["status"],
        "Present-OnTime"
    );

    // Leave: HR allocates, the worker asks, the head then HR approve, the days show it.
    app.call_json(
        Method::POST,
        "/api/attendance/leave-balances/allocate/",
        &hr,
        Some(json!({"employee_id": "EMP100", "leave_type": "Casual", "year": 2026, "days": 10.0})),
        201,
    )
    .await;
    let request = app
        .call_json(
            Method::POST,
            "/api/attendance/leave-requests/",
            &worker,
            Some(json!({"leave_type": "Casual", "start_date": LEAVE_FROM,
                        "end_date": LEAVE_TO, "reason": "Family wedding"})),
            201,
        )
        .await;
    assert_eq!(request["days"], 2.0);
    assert_eq!(request["next_level"], "department_head");
    let id = request["id"].as_str().unwrap().to_owned();
    let approve = format!("/api/attendance/leave-requests/{id}/approve/");
    let first = app
        .call_json(Method::POST, &approve, &head, Some(json!({})), 200)
        .await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["next_level"], "hr");
    let done = app
        .call_json(Method::POST, &approve, &hr, Some(json!({})), 200)
        .await;
    assert_eq!(done["status"], "approved");
    for date in [LEAVE_FROM, LEAVE_TO] {
        assert_eq!(
            summary_of(&app, &head, date, "EMP100").await["status"],
            "Leave-Casual",
            "{date}"
        );
    }

    // A punch on a ZKTeco terminal (the fake, read through the real adapter) reaches HR's
    // WebSocket as `scan_received`.
    let fake = spawn_zk_fake().await;
    let mut socket = connect(&app, "hr").await;
    app.call_json(
        Method::POST,
        "/api/attendance/machines/",
        &hr,
        Some(zk_machine("ZK-PG", &fake)),
        201,
    )
    .await;
    wait_live(server.state.machines.as_ref().unwrap(), "ZK-PG").await;
    // EMP100 is enrolled as device user 100.
    punch_now(&fake, "100");
    let limit = Duration::from_secs(10);
    let scan = wait_for(&mut socket, "scan_received", Some("EMP100"), limit)
        .await
        .expect("hr: scan_received");
    assert_eq!(scan["data"]["machine_id"], "ZK-PG");
    assert_eq!(scan["data"]["device_user_id"], "100");
    let updated = wait_for(&mut socket, "attendance_updated", Some("EMP100"), limit)
        .await
        .expect("hr: attendance_updated");
    let live_date: NaiveDate = serde_json::from_value(updated["data"]["date"].clone()).unwrap();

    server.stop().await;
    fake.shutdown().await;

    // A new connection to the same database finds everything.
    let reopened: Arc<dyn Store> =
        Arc::new(PgStore::connect(&url, PgOptions::default()).await.unwrap());
    let emp100 = EmployeeCode::parse("EMP100").unwrap();
    assert_eq!(reopened.list_employees(None).await.unwrap().len(), 2);
    let mut users: Vec<String> = reopened
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.username)
        .collect();
    users.sort();
    assert_eq!(users, ["admin", "head", "hr", "worker"]);
    let worked = reopened
        .record(&emp100, day(WORKED))
        .await
        .unwrap()
        .expect("the worked day is stored");
    assert_eq!(worked.status, AttendanceStatus::PresentOnTime);
    assert_eq!(worked.working_seconds, 8 * 3600 + 15 * 60);
    assert_eq!(worked.overtime_seconds, 30 * 60);
    for date in [LEAVE_FROM, LEAVE_TO] {
        let record = reopened.record(&emp100, day(date)).await.unwrap().unwrap();
        assert_eq!(record.status.to_string(), "Leave-Casual", "{date}");
    }
    let account = reopened.leave_account(&emp100).await.unwrap();
    assert_eq!(account.requests.len(), 1);
    assert_eq!(account.requests[0].status, RequestStatus::Approved);
    assert_eq!(account.requests[0].history.len(), 2);
    // The two manual scans and the live punch, each once.
    let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let scans = reopened
        .scans_of_user(
            &DeviceUserId::parse("100").unwrap(),
            from,
            Utc::now() + chrono::Duration::days(2),
        )
        .await
        .unwrap();
    let machines: Vec<&str> = scans.iter().map(|s| s.machine_id.as_str()).collect();
    assert_eq!(machines, ["MANUAL", "MANUAL", "ZK-PG"], "{scans:?}");
    assert!(
        reopened
            .machine(&MachineId::parse("ZK-PG").unwrap())
            .await
            .is_ok()
    );
    let live = reopened.record(&emp100, live_date).await.unwrap().unwrap();
    assert!(live.check_in.is_some());
    drop(reopened);

    pg.cleanup().await;
    let _ = std::fs::remove_dir_all(&data);
}
