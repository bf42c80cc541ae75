//! Attendance corrections over a real socket: who may file and decide, the answers' errors, the
//! list's scope and pages, the approved scan and its day; and the issue's scenario end to end
//! on a new `serve` installation (SQLite, and PostgreSQL with `DATABASE_URL`).

use std::time::Duration;

use attendance_core::access::Role;
use attendance_server::cli::{Cli, Server};
use attendance_store_postgres::testkit;
use chrono::{Datelike, Days, NaiveDate, Utc, Weekday};
use clap::Parser;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, PASSWORD, TestApp, create_accounts, spawn_app};
use crate::realtime::{connect, next_event};
use crate::scans::DAY;

const CORRECTIONS: &str = "/api/attendance/corrections/";

fn correction(code: &str, time: &str, kind: Option<&str>) -> Value {
    json!({"employee_id": code, "scan_time": format!("{DAY}T{time}"), "scan_type": kind,
        "reason": "forgot to punch"})
}

fn decision(id: &str, what: &str) -> String {
    format!("{CORRECTIONS}{id}/{what}/")
}

/// Files `body` as `user`, asserting 201, and returns the correction's id.
async fn file(c: &Callers<'_>, user: &str, body: Value) -> String {
    let filed = c
        .send_json(Method::POST, user, CORRECTIONS, Some(body), 201)
        .await;
    assert_eq!(filed["status"], "pending", "{filed}");
    assert_eq!(filed["requested_by"], user);
    filed["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn who_may_file_and_decide_corrections_and_what_they_get() {
    let app = spawn_app().await;
    create_accounts(
        app.store.as_ref(),
        &[("cutting-head", Role::DepartmentHead, Some("EMP002"))],
    )
    .await;
    let c = Callers::new(&app).await;
    let cutting_head = app.token("cutting-head").await;

    // Filing: the employee for themselves, a head for their department, HR for anyone.
    let own = file(&c, "worker", correction("EMP001", "08:00", Some("IN"))).await;
    for (user, code, status) in [
        ("worker", "EMP002", 403),
        ("head", "EMP002", 403),
        ("hr", "EMP404", 404),
    ] {
        let response = c
            .send(
                Method::POST,
                user,
                CORRECTIONS,
                Some(correction(code, "09:00", None)),
            )
            .await;
        assert_eq!(response.status(), status, "{user} for {code}");
    }
    let by_head = file(&c, "head", correction("EMP001", "17:30", Some("OUT"))).await;
    let heads_own = file(&c, "head", correction("EMP005", "08:05", Some("in"))).await;
    let for_cutting = file(&c, "hr", correction("EMP002", "08:00", None)).await;
    let filed = c.get_ok("worker", &format!("{CORRECTIONS}{own}/")).await;
    assert_eq!(filed["employee_id"], "EMP001");
    assert_eq!(filed["scan_type"], "check_in");
    assert_eq!(filed["local_time"], format!("{DAY}T08:00:00"));
    assert_eq!(
        filed["scan_time"],
        format!("{DAY}T02:00:00Z"),
        "Dhaka is UTC+6"
    );

    // Bad fields are 422, the field named.
    for (body, field) in [
        (correction("EMP001", "8 o'clock", None), "scan_time"),
        (correction("EMP001", "08:00", Some("LUNCH")), "scan_type"),
        (
            json!({"employee_id": "EMP001", "scan_time": "2999-01-01T08:00:00", "reason": "x"}),
            "scan_time",
        ),
        (
            json!({"employee_id": "EMP001", "scan_time": format!("{DAY}T08:00"), "reason": " "}),
            "reason",
        ),
        (
            json!({"employee_id": "not a code!", "scan_time": format!("{DAY}T08:00"), "reason": "x"}),
            "employee_id",
        ),
    ] {
        let response = c
            .send(Method::POST, "worker", CORRECTIONS, Some(body.clone()))
            .await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "validation_error");
        let named = error["error"]["details"]["field"] == field
            || error["error"]["message"].as_str().unwrap().contains(field);
        assert!(named, "{field}: {error}");
    }

    // Deciding: never one's own, never outside one's department, never by an employee.
    for (user, id) in [("worker", &own), ("other", &own), ("head", &heads_own)] {
        assert_eq!(
            c.send_error(Method::POST, user, decision(id, "approve"), None, 403)
                .await,
            "forbidden",
            "{user}"
        );
    }
    let response = app
        .call(
            Method::POST,
            &decision(&own, "approve"),
            &cutting_head,
            None,
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        c.send_error(Method::POST, "hr", decision("nope", "approve"), None, 404)
            .await,
        "not_found"
    );
    let long_note = json!({"note": "n".repeat(501)});
    assert_eq!(
        c.send_error(
            Method::POST,
            "head",
            decision(&own, "approve"),
            Some(long_note),
            422
        )
        .await,
        "validation_error"
    );

    // The head approves: the scan is stored as a manual scan and the day recomputed.
    let approved = c
        .send_json(
            Method::POST,
            "head",
            decision(&own, "approve"),
            Some(json!({"note": "seen on the camera"})),
            200,
        )
        .await;
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["decided_by"], "head");
    assert_eq!(approved["decision_note"], "seen on the camera");
    assert_eq!(approved["scan"]["machine_id"], "MANUAL");
    assert_eq!(approved["scan"]["local_time"], format!("{DAY}T08:00:00"));
    assert_eq!(approved["duplicate"], false);
    assert_eq!(approved["summary"]["date"], DAY);
    assert_eq!(approved["summary"]["check_in"], "08:00");
    let scans = c
        .get_ok(
            "hr",
            &format!("/api/attendance/scans/?employee_id=EMP001&from={DAY}&to={DAY}"),
        )
        .await;
    assert_eq!(scans["count"], 1, "{scans}");
    assert_eq!(scans["results"][0]["id"], approved["scan"]["id"]);
    // A second decision is 409, whoever takes it.
    for (user, what) in [("hr", "reject"), ("head", "approve")] {
        assert_eq!(
            c.send_error(Method::POST, user, decision(&own, what), None, 409)
                .await,
            "conflict"
        );
    }
    // The OUT, approved by HR (no body): the day now has hours.
    let out = c
        .send_json(Method::POST, "hr", decision(&by_head, "approve"), None, 200)
        .await;
    assert_eq!(out["summary"]["check_out"], "17:30", "{out}");
    assert_eq!(out["summary"]["status"], "Present-OnTime");
    assert_eq!(out["summary"]["working_hours"], 8.25);
    // A correction whose scan is stored already is approved all the same.
    let again = file(&c, "worker", correction("EMP001", "08:00", Some("IN"))).await;
    let dup = c
        .send_json(
            Method::POST,
            "admin",
            decision(&again, "approve"),
            None,
            200,
        )
        .await;
    assert_eq!(
        (dup["status"].clone(), dup["duplicate"].clone()),
        (json!("approved"), json!(true))
    );
    assert_eq!(
        c.get_ok(
            "hr",
            &format!("/api/attendance/scans/?employee_id=EMP001&from={DAY}&to={DAY}")
        )
        .await["count"],
        2
    );
    // HR rejects the head's own: nothing is stored, the answer has no scan.
    let rejected = c
        .send_json(
            Method::POST,
            "hr",
            decision(&heads_own, "reject"),
            Some(json!({"note": "the register shows 08:40"})),
            200,
        )
        .await;
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected.get("scan").is_none(), "{rejected}");

    // The list: each in their scope, newest first, filtered and paged.
    let all = c.get_ok("hr", CORRECTIONS).await;
    assert_eq!(all["count"], 5);
    assert_eq!(ids(&all)[0], again, "newest first");
    let mine = c.get_ok("worker", CORRECTIONS).await;
    assert_eq!(mine["count"], 3, "{mine}");
    let sewing = c.get_ok("head", CORRECTIONS).await;
    assert_eq!(sewing["count"], 4);
    assert!(!ids(&sewing).contains(&for_cutting));
    assert_eq!(
        ids(&c.get_ok("other", CORRECTIONS).await),
        [for_cutting.as_str()]
    );
    assert_eq!(
        ids(&c
            .get_ok("hr", &format!("{CORRECTIONS}?status=pending"))
            .await),
        [for_cutting.as_str()]
    );
    assert_eq!(
        c.get_ok("hr", &format!("{CORRECTIONS}?employee_id=EMP005"))
            .await["count"],
        1
    );
    assert_eq!(
        c.get_ok("worker", &format!("{CORRECTIONS}?employee_id=EMP002"))
            .await["count"],
        0,
        "outside the scope: an empty page"
    );
    let page = c
        .get_ok("hr", &format!("{CORRECTIONS}?status=approved&page_size=2"))
        .await;
    assert_eq!((page["count"].clone(), ids(&page).len()), (json!(3), 2));
    let next = page["next"].as_str().unwrap().to_owned();
    assert_eq!(ids(&c.get_ok("hr", &next).await).len(), 1);
    assert_eq!(
        c.get_error("hr", &format!("{CORRECTIONS}?status=done"), 422)
            .await,
        "validation_error"
    );
    // One correction: in scope only.
    assert_eq!(
        c.get_status("worker", &format!("{CORRECTIONS}{for_cutting}/"))
            .await,
        403
    );
    assert_eq!(
        c.get_status("head", &format!("{CORRECTIONS}{own}/")).await,
        200
    );
    assert_eq!(
        c.get_status("hr", &format!("{CORRECTIONS}0000/")).await,
        404
    );

    // The audit trail has each filing and decision.
    let log = c
        .get_ok(
            "hr",
            &format!("/api/attendance/audit-log/?target=correction:{own}"),
        )
        .await;
    let actions: Vec<(&str, &str)> = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("correction_approved", "head"),
            ("correction_requested", "worker")
        ]
    );
    assert_eq!(
        log["results"][0]["after"]["scan_id"],
        approved["scan"]["id"]
    );

    // The document lists the routes.
    let doc = app.openapi().await;
    for path in [
        "/api/attendance/corrections/",
        "/api/attendance/corrections/{id}/",
        "/api/attendance/corrections/{id}/approve/",
        "/api/attendance/corrections/{id}/reject/",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

/// A recent past day that is not a Friday (the default weekly off day), on the site's clock.
fn past_working_day() -> NaiveDate {
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Dhaka)
        .date_naive();
    let mut date = today - Days::new(3);
    if date.weekday() == Weekday::Fri {
        date = date - Days::new(1);
    }
    date
}

/// The issue's scenario on a new installation started as `serve` with `args` (the store's):
/// the super admin creates HR, HR the employees and their logins, the worker's absent day is
/// corrected through two corrections the head approves, the worker's WebSocket hears of it and
/// the audit trail shows who did what.
async fn the_issue_scenario(args: &[&str]) {
    let mut argv = vec![
        "attendance-server",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--admin-user",
        "root",
        "--admin-password",
        PASSWORD,
    ];
    argv.extend_from_slice(args);
    let server = Server::start(&Cli::try_parse_from(argv).unwrap())
        .await
        .unwrap();
    let app = TestApp {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        store: server.state.store.clone(),
    };
    let users = "/api/auth/users/";

    // The super admin creates HR; HR creates a head and a worker of Sewing and their logins.
    let root = app.token("root").await;
    app.call_json(
        Method::POST,
        users,
        &root,
        Some(json!({"username": "hr.ana", "password": PASSWORD, "role": "hr_staff"})),
        201,
    )
    .await;
    let hr = app.token("hr.ana").await;
    for (code, name, user, role) in [
        ("EMP100", "Karim Uddin", "karim", "department_head"),
        ("EMP101", "Rahima Khatun", "rahima", "employee"),
    ] {
        app.call_json(
            Method::POST,
            "/api/attendance/employees/",
            &hr,
            Some(
                json!({"employee_id": code, "employee_name": name, "department": "Sewing",
                "designation": "Operator", "level_of_work": "Worker"}),
            ),
            201,
        )
        .await;
        app.call_json(
            Method::POST,
            users,
            &hr,
            Some(json!({"username": user, "password": PASSWORD, "role": role,
                "employee_id": code})),
            201,
        )
        .await;
    }
    let [head, worker] = app.tokens(["karim", "rahima"]).await;

    // The worker did not punch on a past working day: absent.
    let day = past_working_day();
    let summary = app
        .get_json(
            &format!("/api/attendance/daily-attendance/summary/?date={day}"),
            &head,
        )
        .await;
    let row = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["employee_id"] == "EMP101")
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "Absent", "{row}");

    // The worker listens, and files an IN and an OUT.
    let mut socket = connect(&app, "rahima").await;
    let mut filed = Vec::new();
    for (time, kind) in [("08:00", "IN"), ("17:30", "OUT")] {
        let c = app
            .call_json(
                Method::POST,
                CORRECTIONS,
                &worker,
                Some(
                    json!({"employee_id": "EMP101", "scan_time": format!("{day}T{time}"),
                    "scan_type": kind, "reason": "the gate reader was down"}),
                ),
                201,
            )
            .await;
        filed.push(c["id"].as_str().unwrap().to_owned());
    }
    let pending = app
        .get_json(&format!("{CORRECTIONS}?status=pending"), &head)
        .await;
    assert_eq!(pending["count"], 2);

    // The head approves both: the day is present, with hours.
    let mut last = Value::Null;
    for id in &filed {
        last = app
            .call_json(Method::POST, &decision(id, "approve"), &head, None, 200)
            .await;
        assert_eq!(last["status"], "approved");
    }
    assert_eq!(last["summary"]["status"], "Present-OnTime", "{last}");
    assert_eq!(last["summary"]["working_hours"], 8.25);
    let one = app
        .get_json(
            &format!("/api/attendance/daily-attendance/EMP101/{day}/"),
            &worker,
        )
        .await;
    assert_eq!(one["status"], "Present-OnTime");
    assert_eq!(
        (one["check_in"].clone(), one["check_out"].clone()),
        (json!("08:00"), json!("17:30"))
    );

    // The worker's WebSocket hears of the day, present with its hours.
    let mut heard = None;
    while let Some(event) = next_event(&mut socket, Duration::from_secs(10)).await {
        if event["type"] == "attendance_updated"
            && event["data"]["employee_id"] == "EMP101"
            && event["data"]["date"] == day.to_string()
            && event["data"]["working_hours"] == 8.25
        {
            heard = Some(event);
            break;
        }
    }
    let heard = heard.expect("the worker hears attendance_updated for the corrected day");
    assert_eq!(heard["data"]["status"], "Present-OnTime");

    // HR reads who asked and who approved, on which corrections.
    for (action, actor) in [
        ("correction_requested", "rahima"),
        ("correction_approved", "karim"),
    ] {
        let log = app
            .get_json(&format!("/api/attendance/audit-log/?action={action}"), &hr)
            .await;
        assert_eq!(log["count"], 2, "{log}");
        let mut targets = Vec::new();
        for entry in log["results"].as_array().unwrap() {
            assert_eq!(entry["actor"], actor, "{entry}");
            assert_eq!(entry["after"]["employee_id"], "EMP101");
            targets.push(entry["target"].as_str().unwrap().to_owned());
        }
        targets.sort();
        let mut want: Vec<String> = filed.iter().map(|id| format!("correction:{id}")).collect();
        want.sort();
        assert_eq!(targets, want);
        if action == "correction_approved" {
            assert!(log["results"][0]["after"]["scan_id"].is_string());
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_issue_scenario_on_a_new_sqlite_installation() {
    let data = crate::cli::temp_dir("corrections-e2e");
    the_issue_scenario(&["--data-dir", data.to_str().unwrap()]).await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_issue_scenario_on_a_new_postgres_installation() {
    let Some(pg) = testkit::server().await else {
        return;
    };
    let url = pg.database().await;
    let data = crate::cli::temp_dir("corrections-e2e-pg");
    the_issue_scenario(&["--database-url", &url, "--data-dir", data.to_str().unwrap()]).await;
    pg.cleanup().await;
    let _ = std::fs::remove_dir_all(&data);
}
