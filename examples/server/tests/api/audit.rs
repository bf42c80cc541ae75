//! The audit trail from every write, over a real socket: each write family is performed, then
//! read back from `GET /api/attendance/audit-log/?action=…` (actor, target, before, after,
//! reason); secrets and passwords never appear in any entry, and no route edits or deletes one.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Callers, PASSWORD, error_code, spawn_app};

const LOG: &str = "/api/attendance/audit-log/";

/// The entries of `action` (and the extra `query`, if any), oldest first, read as `hr`.
async fn entries(c: &Callers<'_>, action: &str, query: &str) -> Vec<Value> {
    let page = c
        .get_ok("hr", &format!("{LOG}?action={action}&page_size=100{query}"))
        .await;
    let mut results = page["results"].as_array().unwrap().clone();
    assert_eq!(page["count"], results.len(), "{page}");
    results.reverse();
    results
}

/// The one entry of `action` on `target`.
async fn only(c: &Callers<'_>, action: &str, target: &str) -> Value {
    let found = entries(c, action, &format!("&target={target}")).await;
    assert_eq!(found.len(), 1, "{action} on {target}: {found:?}");
    found.into_iter().next().unwrap()
}

/// Every entry of the trail as text, read as `admin`.
async fn whole_trail(c: &Callers<'_>) -> String {
    let page = c.get_ok("admin", &format!("{LOG}?page_size=100")).await;
    assert!(page["count"].as_u64().unwrap() <= 100, "{page}");
    page["results"].to_string()
}

#[tokio::test]
async fn manual_scans_and_scan_imports_are_audited() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let scan = json!({"employee_id": "EMP001", "scan_time": "2026-11-24T08:00:00",
                      "scan_type": "IN", "reason": "the machine was down"});
    c.send_json(
        Method::POST,
        "hr",
        "/api/attendance/scans/",
        Some(scan.clone()),
        201,
    )
    .await;
    c.send_json(
        Method::POST,
        "admin",
        "/api/attendance/scans/",
        Some(scan),
        200,
    )
    .await;
    let scans = entries(&c, "manual_scan", "").await;
    assert_eq!(scans.len(), 2, "{scans:?}");
    let (new, again) = (&scans[0], &scans[1]);
    assert_eq!(new["actor"], "hr");
    assert_eq!(new["target"], "employee:EMP001");
    assert_eq!(new["reason"], "the machine was down");
    assert_eq!(new["before"], Value::Null);
    assert_eq!(new["after"]["created"], true);
    assert_eq!(new["after"]["duplicate"], false);
    assert_eq!(new["after"]["scan"]["employee_id"], "EMP001");
    assert_eq!(new["after"]["scan"]["local_time"], "2026-11-24T08:00:00");
    assert_eq!(again["actor"], "admin");
    assert_eq!(again["after"]["created"], false);
    assert_eq!(again["after"]["duplicate"], true);

    let import = json!([
        {"employee_id": "EMP001", "scan_time": "2026-11-24T17:00:00", "reason": "register"},
        {"employee_id": "EMP001", "scan_time": "2026-11-24T08:00:00", "reason": "register"},
        {"employee_id": "EMP404", "scan_time": "2026-11-24T08:00:00", "reason": "register"},
    ]);
    c.send_json(
        Method::POST,
        "hr",
        "/api/attendance/scans/import/",
        Some(import),
        200,
    )
    .await;
    let imported = only(&c, "scan_import", "scans").await;
    assert_eq!(imported["actor"], "hr");
    assert_eq!(
        imported["after"],
        json!({"new": 1, "duplicate": 1, "rejected": 1})
    );
    // An import that stores nothing is not a change.
    let none =
        json!([{"employee_id": "EMP404", "scan_time": "2026-11-24T08:00:00", "reason": "x"}]);
    c.send_json(
        Method::POST,
        "hr",
        "/api/attendance/scans/import/",
        Some(none),
        200,
    )
    .await;
    assert_eq!(entries(&c, "scan_import", "").await.len(), 1);
}

#[tokio::test]
async fn leave_allocations_and_decisions_are_audited_per_level_with_the_note() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    c.send_json(
        Method::POST,
        "hr",
        "/api/attendance/leave-balances/allocate/",
        Some(json!({"employee_id": "EMP001", "leave_type": "Casual", "year": 2026, "days": 10})),
        201,
    )
    .await;
    let allocated = only(&c, "leave_allocated", "employee:EMP001").await;
    assert_eq!(allocated["actor"], "hr");
    assert_eq!(
        allocated["after"],
        json!({"leave_type": "Casual", "year": 2026, "days": 10.0, "reference": "allocation 2026"})
    );
    let submit = |start: &str, end: &str| json!({"leave_type": "Casual", "start_date": start, "end_date": end, "reason": "family"});
    let requests = "/api/attendance/leave-requests/";
    let first = c
        .send_json(
            Method::POST,
            "worker",
            requests,
            Some(submit("2026-03-02", "2026-03-03")),
            201,
        )
        .await;
    let id = first["id"].as_str().unwrap();
    let decide = |user: &'static str, id: String, what: &'static str, note: &'static str| {
        let c = &c;
        async move {
            c.send_json(
                Method::POST,
                user,
                format!("{requests}{id}/{what}/"),
                Some(json!({"note": note})),
                200,
            )
            .await
        }
    };
    decide("head", id.to_owned(), "approve", "fine by me").await;
    decide("hr", id.to_owned(), "approve", "enjoy").await;
    decide("hr", id.to_owned(), "cancel", "came to work").await;
    let target = format!("leave_request:{id}");
    let approvals = entries(&c, "leave_approved", &format!("&target={target}")).await;
    assert_eq!(approvals.len(), 2, "{approvals:?}");
    let (head, hr) = (&approvals[0], &approvals[1]);
    assert_eq!(head["actor"], "head");
    assert_eq!(head["reason"], "fine by me");
    assert_eq!(head["before"]["status"], "pending");
    assert_eq!(head["before"]["next_level"], "department_head");
    assert_eq!(head["after"]["level"], "department_head");
    assert_eq!(head["after"]["status"], "pending");
    assert_eq!(head["after"]["next_level"], "hr");
    assert_eq!(head["after"]["employee_id"], "EMP001");
    assert_eq!(hr["actor"], "hr");
    assert_eq!(hr["reason"], "enjoy");
    assert_eq!(hr["after"]["level"], "hr");
    assert_eq!(hr["after"]["status"], "approved");
    assert_eq!(hr["after"]["next_level"], Value::Null);
    let cancelled = only(&c, "leave_cancelled", &target).await;
    assert_eq!(cancelled["actor"], "hr");
    assert_eq!(cancelled["reason"], "came to work");
    assert_eq!(cancelled["before"]["status"], "approved");
    assert_eq!(cancelled["after"]["status"], "cancelled");

    let second = c
        .send_json(
            Method::POST,
            "worker",
            requests,
            Some(submit("2026-03-09", "2026-03-09")),
            201,
        )
        .await;
    let id = second["id"].as_str().unwrap();
    decide("head", id.to_owned(), "reject", "busy week").await;
    let rejected = only(&c, "leave_rejected", &format!("leave_request:{id}")).await;
    assert_eq!(rejected["actor"], "head");
    assert_eq!(rejected["reason"], "busy week");
    assert_eq!(rejected["before"]["status"], "pending");
    assert_eq!(rejected["after"]["status"], "rejected");
    assert_eq!(rejected["after"]["level"], "department_head");
    // A refused decision is not audited.
    let refused = c
        .send(
            Method::POST,
            "worker",
            format!("{requests}{id}/approve/"),
            None,
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(entries(&c, "leave_approved", "").await.len(), 2);
}

#[tokio::test]
async fn holiday_changes_are_audited_with_before_and_after() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let created = c
        .send_json(
            Method::POST,
            "hr",
            "/api/attendance/holidays/",
            Some(json!({"name": "Founders Day", "start": "2026-11-19"})),
            201,
        )
        .await;
    let id = created["holiday"]["id"].as_i64().unwrap();
    let path = format!("/api/attendance/holidays/{id}/");
    c.send_json(
        Method::PUT,
        "admin",
        &path,
        Some(json!({"name": "Founders Day", "start": "2026-11-23"})),
        200,
    )
    .await;
    let deleted = c.send(Method::DELETE, "hr", &path, None).await;
    assert_eq!(deleted.status(), 204);
    let target = format!("holiday:{id}");
    let made = only(&c, "holiday_created", &target).await;
    assert_eq!(made["actor"], "hr");
    assert_eq!(made["before"], Value::Null);
    assert_eq!(made["after"]["name"], "Founders Day");
    let moved = only(&c, "holiday_updated", &target).await;
    assert_eq!(moved["actor"], "admin");
    assert_ne!(moved["before"], moved["after"]);
    assert!(
        moved["before"].to_string().contains("2026-11-19"),
        "{moved}"
    );
    assert!(moved["after"].to_string().contains("2026-11-23"), "{moved}");
    let gone = only(&c, "holiday_deleted", &target).await;
    assert_eq!(gone["actor"], "hr");
    assert!(gone["before"].to_string().contains("2026-11-23"), "{gone}");
    assert_eq!(gone["after"], Value::Null);
}

#[tokio::test]
async fn a_settings_change_is_audited_with_the_fields_it_changed() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let path = "/api/attendance/settings/";
    let mut settings = c.get_ok("hr", path).await;
    let was = settings["late_margin_minutes"].clone();
    settings["late_margin_minutes"] = json!(45);
    c.send_json(Method::PUT, "hr", path, Some(settings), 200)
        .await;
    let entry = only(&c, "settings_changed", "settings").await;
    assert_eq!(entry["actor"], "hr");
    assert_eq!(entry["before"], json!({"late_margin_minutes": was}));
    assert_eq!(entry["after"], json!({"late_margin_minutes": 45}));
}

#[tokio::test]
async fn machine_changes_and_commands_are_audited_without_their_secrets() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let machines = "/api/attendance/machines/";
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let zk = json!({
        "machine_id": "ZK-A1", "name": "Gate", "machine_type": "zkteco",
        "ip_address": "127.0.0.1", "port": closed, "enabled": false,
        "config": {"comm_key": 918273, "timeout_ms": 500}
    });
    let hik = json!({
        "machine_id": "HIK-A1", "name": "Door", "machine_type": "hikvision",
        "ip_address": "127.0.0.1", "port": closed, "enabled": false,
        "config": {"username": "admin", "password": "hik-s3cret-pass"}
    });
    for body in [&zk, &hik] {
        c.send_json(Method::POST, "hr", machines, Some(body.clone()), 201)
            .await;
    }
    let mut renamed = zk.clone();
    renamed["name"] = json!("Main gate");
    renamed["config"]["comm_key"] = json!(564738);
    c.send_json(
        Method::PUT,
        "hr",
        format!("{machines}ZK-A1/"),
        Some(renamed),
        200,
    )
    .await;
    let report = c
        .send_json(
            Method::POST,
            "hr",
            format!("{machines}ZK-A1/test/"),
            None,
            200,
        )
        .await;
    assert_eq!(report["success"], false, "{report}");
    let removed = c
        .send(Method::DELETE, "admin", format!("{machines}HIK-A1/"), None)
        .await;
    assert_eq!(removed.status(), 204);

    let made = only(&c, "machine_created", "machine:ZK-A1").await;
    assert_eq!(made["actor"], "hr");
    assert_eq!(made["after"]["name"], "Gate");
    assert_eq!(made["after"]["config"]["comm_key"], "********");
    assert_eq!(made["after"]["config"]["timeout_ms"], 500);
    let changed = only(&c, "machine_updated", "machine:ZK-A1").await;
    assert_eq!(changed["before"]["name"], "Gate");
    assert_eq!(changed["after"]["name"], "Main gate");
    assert_eq!(changed["after"]["config"]["comm_key"], "********");
    let command = only(&c, "machine_command", "machine:ZK-A1").await;
    assert_eq!(command["actor"], "hr");
    assert_eq!(command["after"]["command"], "test");
    assert!(
        command["after"]["outcome"]["error"].is_string(),
        "{command}"
    );
    let hik_made = only(&c, "machine_created", "machine:HIK-A1").await;
    assert_eq!(hik_made["after"]["config"]["username"], "admin");
    assert_eq!(hik_made["after"]["config"]["password"], "********");
    let gone = only(&c, "machine_deleted", "machine:HIK-A1").await;
    assert_eq!(gone["actor"], "admin");
    assert_eq!(gone["before"]["name"], "Door");
    assert_eq!(gone["after"], Value::Null);
    let trail = whole_trail(&c).await;
    for secret in ["918273", "564738", "hik-s3cret-pass"] {
        assert!(!trail.contains(secret), "{secret} in the trail: {trail}");
    }
}

#[tokio::test]
async fn employee_changes_and_imports_are_audited() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let employees = "/api/attendance/employees/";
    let body = json!({"employee_id": "EMP300", "employee_name": "Nasrin", "department": "Sewing",
                      "designation": "Operator", "level_of_work": "Worker"});
    c.send_json(Method::POST, "hr", employees, Some(body.clone()), 201)
        .await;
    let mut changed = body.clone();
    changed["designation"] = json!("Supervisor");
    c.send_json(
        Method::PUT,
        "admin",
        format!("{employees}EMP300/"),
        Some(changed),
        200,
    )
    .await;
    let deleted = c
        .send(Method::DELETE, "hr", format!("{employees}EMP300/"), None)
        .await;
    assert_eq!(deleted.status(), 204);
    let made = only(&c, "employee_created", "employee:EMP300").await;
    assert_eq!(made["actor"], "hr");
    assert_eq!(made["after"]["employee_name"], "Nasrin");
    let updated = only(&c, "employee_updated", "employee:EMP300").await;
    assert_eq!(updated["actor"], "admin");
    assert_eq!(updated["before"]["designation"], "Operator");
    assert_eq!(updated["after"]["designation"], "Supervisor");
    let gone = only(&c, "employee_deleted", "employee:EMP300").await;
    assert_eq!(gone["before"]["designation"], "Supervisor");
    assert_eq!(gone["after"], Value::Null);

    let rows = json!([
        {"employee_id": "EMP301", "employee_name": "A", "department": "Sewing",
         "designation": "Operator", "level_of_work": "Worker"},
        {"employee_id": "EMP302", "employee_name": "B", "department": "Cutting",
         "designation": "Operator", "level_of_work": "Worker"},
    ]);
    c.send_json(
        Method::POST,
        "hr",
        format!("{employees}import/"),
        Some(rows),
        201,
    )
    .await;
    let imported = only(&c, "employee_import", "employees").await;
    assert_eq!(imported["actor"], "hr");
    assert_eq!(
        imported["after"],
        json!({"count": 2, "codes": ["EMP301", "EMP302"]})
    );
    // A refused import stores nothing and is not audited.
    let bad = json!([{"employee_id": "EMP303"}]);
    c.send_json(
        Method::POST,
        "hr",
        format!("{employees}import/"),
        Some(bad),
        422,
    )
    .await;
    assert_eq!(entries(&c, "employee_import", "").await.len(), 1);
}

#[tokio::test]
async fn leave_policy_changes_are_audited() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let path = "/api/attendance/leave-policies/Casual/";
    c.send_json(
        Method::PUT,
        "hr",
        path,
        Some(json!({"max_per_year": 12, "approval": "hr_only"})),
        201,
    )
    .await;
    c.send_json(
        Method::PUT,
        "admin",
        path,
        Some(json!({"max_per_year": 14})),
        200,
    )
    .await;
    let changes = entries(&c, "leave_policy_changed", "&target=leave_policy:Casual").await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let (first, second) = (&changes[0], &changes[1]);
    assert_eq!(first["actor"], "hr");
    assert_eq!(first["before"], Value::Null, "no policy was stored before");
    assert_eq!(first["after"]["max_per_year"], 12.0);
    assert_eq!(first["after"]["approval"], "hr_only");
    assert_eq!(second["actor"], "admin");
    assert_eq!(second["before"]["approval"], "hr_only");
    assert_eq!(second["after"]["max_per_year"], 14.0);
    assert_eq!(second["after"]["approval"], "head_then_hr");
}

#[tokio::test]
async fn account_changes_and_passwords_are_audited_without_the_passwords() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let users = "/api/auth/users/";
    c.send_json(
        Method::POST,
        "admin",
        users,
        Some(
            json!({"username": "clerk", "password": "first clerk password", "role": "employee",
                    "employee_id": "EMP002"}),
        ),
        201,
    )
    .await;
    c.send_json(
        Method::PUT,
        "hr",
        format!("{users}clerk/"),
        Some(json!({"role": "department_head"})),
        200,
    )
    .await;
    c.send_json(
        Method::PUT,
        "hr",
        format!("{users}clerk/"),
        Some(json!({"password": "second clerk password"})),
        200,
    )
    .await;
    let token = app.token_with("clerk", "second clerk password").await;
    let changed = app
        .call(
            Method::POST,
            "/api/auth/password/",
            &token,
            Some(json!({"current_password": "second clerk password",
                        "new_password": "third clerk password"})),
        )
        .await;
    assert_eq!(changed.status(), 200);
    c.send_json(Method::DELETE, "admin", format!("{users}clerk/"), None, 200)
        .await;

    let target = "account:clerk";
    let made = only(&c, "account_created", target).await;
    assert_eq!(made["actor"], "admin");
    assert_eq!(
        made["after"],
        json!({"role": "employee", "employee_id": "EMP002", "active": true})
    );
    let updated = only(&c, "account_updated", target).await;
    assert_eq!(updated["actor"], "hr");
    assert_eq!(updated["before"]["role"], "employee");
    assert_eq!(updated["after"]["role"], "department_head");
    let reset = only(&c, "password_reset", target).await;
    assert_eq!(reset["actor"], "hr");
    let own = only(&c, "password_changed", target).await;
    assert_eq!(own["actor"], "clerk");
    let off = only(&c, "account_deactivated", target).await;
    assert_eq!(off["actor"], "admin");
    assert_eq!(off["before"]["active"], true);
    assert_eq!(off["after"]["active"], false);
    let trail = whole_trail(&c).await;
    for secret in [
        "first clerk password",
        "second clerk password",
        "third clerk password",
        PASSWORD,
        "argon2",
        "password_hash",
    ] {
        assert!(!trail.contains(secret), "{secret} in the trail: {trail}");
    }
}

#[tokio::test]
async fn no_route_edits_or_deletes_an_entry() {
    let app = spawn_app().await;
    let c = Callers::new(&app).await;
    let created = c
        .send_json(
            Method::POST,
            "hr",
            "/api/attendance/holidays/",
            Some(json!({"name": "Founders Day", "start": "2026-11-19"})),
            201,
        )
        .await;
    let target = format!("holiday:{}", created["holiday"]["id"]);
    let entry = only(&c, "holiday_created", &target).await;
    let id = entry["id"].as_i64().unwrap();
    for user in ["hr", "admin"] {
        for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            let response = c
                .send(method.clone(), user, LOG, Some(json!({"reason": "tidy"})))
                .await;
            assert_eq!(response.status(), 405, "{method} {LOG} as {user}");
            for path in [format!("{LOG}{id}/"), format!("{LOG}{id}")] {
                let response = c
                    .send(method.clone(), user, &path, Some(json!({"reason": "tidy"})))
                    .await;
                let status = response.status().as_u16();
                assert!(
                    status == 404 || status == 405,
                    "{method} {path} as {user}: {status}"
                );
                if status == 404 {
                    error_code(response, 404).await;
                }
            }
        }
    }
    let again = only(&c, "holiday_created", &target).await;
    assert_eq!(again, entry, "the entry is as it was");
}
