//! The accounts API over a real socket: who may do what, the last super admin, the password
//! rule, and revocation (HTTP and WebSocket) within one request.

use std::time::Duration;

use attendance_core::access::Role;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Callers, PASSWORD, TestApp, create_accounts, error_code, json_of, spawn_app};
use crate::realtime::Socket;

const USERS: &str = "/api/auth/users/";

fn user_path(name: &str) -> String {
    format!("/api/auth/users/{name}/")
}

/// A WebSocket with `token`.
async fn socket_with(app: &TestApp, token: &str) -> Socket {
    let url = format!("{}/ws?token={token}", app.base.replace("http://", "ws://"));
    let (socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// The close frame's code and reason, if the socket closes within `limit`.
async fn closed_within(socket: &mut Socket, limit: Duration) -> Option<(u16, String)> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Whether `token` is still accepted (`GET /api/auth/me`): 200 or 401.
async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/api/auth/me", token, None)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_who_may_matrix_of_the_accounts_api() {
    let app = spawn_app().await;
    let callers = Callers::new(&app).await;
    // Targets of each caller's own, so one caller's deactivations do not touch another's.
    for caller in ["admin", "hr", "head", "worker"] {
        create_accounts(
            app.store.as_ref(),
            &[
                (&format!("{caller}-emp"), Role::Employee, Some("EMP001")),
                (&format!("{caller}-hr"), Role::HrStaff, None),
            ],
        )
        .await;
    }
    let new = |name: &str, role: &str| {
        let mut body = json!({"username": name, "password": PASSWORD, "role": role});
        if matches!(role, "employee" | "department_head") {
            body["employee_id"] = json!("EMP002");
        }
        body
    };
    // (caller, [list, create employee, create department_head, create hr_staff, create
    //  super_admin, get employee acct, get hr acct, put employee acct, promote employee acct to
    //  hr_staff, put hr acct, delete employee acct, delete hr acct])
    let expected: [(&str, [u16; 12]); 4] = [
        (
            "admin",
            [200, 201, 201, 201, 201, 200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "hr",
            [200, 201, 201, 403, 403, 200, 403, 200, 403, 403, 200, 403],
        ),
        ("head", [403; 12]),
        ("worker", [403; 12]),
    ];
    for (caller, statuses) in expected {
        let emp = format!("{caller}-emp");
        let hr = format!("{caller}-hr");
        let mut got = Vec::new();
        let mut status = |r: reqwest::Response| got.push(r.status().as_u16());
        status(callers.send(Method::GET, caller, USERS, None).await);
        for role in ["employee", "department_head", "hr_staff", "super_admin"] {
            let body = new(&format!("{caller}-new-{role}"), role);
            status(callers.send(Method::POST, caller, USERS, Some(body)).await);
        }
        status(
            callers
                .send(Method::GET, caller, user_path(&emp), None)
                .await,
        );
        status(
            callers
                .send(Method::GET, caller, user_path(&hr), None)
                .await,
        );
        let keep = json!({"active": true});
        status(
            callers
                .send(Method::PUT, caller, user_path(&emp), Some(keep.clone()))
                .await,
        );
        let promote = json!({"role": "hr_staff"});
        // A promotion the caller may not give leaves the account as it was; keep the target
        // an employee account for the delete below either way.
        let promoted = callers
            .send(Method::PUT, caller, user_path(&emp), Some(promote))
            .await;
        status(promoted);
        status(
            callers
                .send(Method::PUT, caller, user_path(&hr), Some(keep))
                .await,
        );
        status(
            callers
                .send(Method::DELETE, caller, user_path(&emp), None)
                .await,
        );
        status(
            callers
                .send(Method::DELETE, caller, user_path(&hr), None)
                .await,
        );
        assert_eq!(got, statuses, "{caller}");
    }
    // Every refusal is the envelope.
    let refused = callers.send(Method::GET, "worker", USERS, None).await;
    assert_eq!(error_code(refused, 403).await, "forbidden");
    // HR lists only the accounts it manages; the admin lists them all.
    let listed = |body: &Value| -> Vec<(String, String)> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["username"].as_str().unwrap().to_owned(),
                    a["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let hr_view = callers.get_ok("hr", "/api/auth/users/?page_size=500").await;
    assert!(
        listed(&hr_view)
            .iter()
            .all(|(_, role)| role == "employee" || role == "department_head"),
        "{hr_view}"
    );
    assert!(listed(&hr_view).iter().any(|(name, _)| name == "worker"));
    let all = callers
        .get_ok("admin", "/api/auth/users/?page_size=500")
        .await;
    assert!(listed(&all).iter().any(|(name, _)| name == "admin"));
    assert_eq!(all["count"].as_u64().unwrap() as usize, listed(&all).len());
    // Pagination and filters like the other lists.
    let page = callers
        .get_ok("admin", "/api/auth/users/?role=hr_staff&page_size=2")
        .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(page["next"].as_str().unwrap().contains("role=hr_staff"));
    assert!(listed(&page).iter().all(|(_, role)| role == "hr_staff"));
    let inactive = callers
        .get_ok("admin", "/api/auth/users/?active=false")
        .await;
    assert!(
        listed(&inactive)
            .iter()
            .any(|(name, _)| name == "admin-emp")
    );
    // A created account answers the fields the issue names.
    let created = callers
        .send_json(
            Method::GET,
            "admin",
            user_path("hr-new-department_head"),
            None,
            200,
        )
        .await;
    assert_eq!(created["role"], "department_head");
    assert_eq!(created["employee_id"], "EMP002");
    assert_eq!(created["active"], true);
    assert!(created["created_at"].is_string(), "{created}");
    assert!(created.get("password_hash").is_none());
    // An unknown account is 404 for managers; the role is checked first for everyone else.
    callers
        .send_error(Method::GET, "admin", user_path("ghost"), None, 404)
        .await;
    callers
        .send_error(Method::GET, "worker", user_path("ghost"), None, 403)
        .await;
}

#[tokio::test]
async fn nobody_removes_or_demotes_the_last_active_super_admin() {
    let app = spawn_app().await;
    let callers = Callers::new(&app).await;
    for change in [
        json!({"role": "hr_staff"}),
        json!({"active": false}),
        json!({"role": "employee", "employee_id": "EMP002"}),
    ] {
        let refused = callers
            .send(Method::PUT, "admin", user_path("admin"), Some(change))
            .await;
        let body = json_of(refused, 409).await;
        assert_eq!(
            body["error"]["details"]["rule"], "last_super_admin",
            "{body}"
        );
    }
    let refused = callers
        .send(Method::DELETE, "admin", user_path("admin"), None)
        .await;
    assert_eq!(error_code(refused, 409).await, "conflict");
    // The admin is untouched and still logged in.
    assert_eq!(me_status(&app, &app.token("admin").await).await, 200);
    // A password reset of the last admin is no removal.
    callers
        .send_json(
            Method::PUT,
            "admin",
            user_path("admin"),
            Some(json!({"password": "a brand new password"})),
            200,
        )
        .await;
    let admin = app.token_with("admin", "a brand new password").await;
    // With a second admin, the first may step down; then the second is the last.
    app.call_json(
        Method::POST,
        USERS,
        &admin,
        Some(json!({"username": "root2", "password": PASSWORD, "role": "super_admin"})),
        201,
    )
    .await;
    let root2 = app.token("root2").await;
    app.call_json(
        Method::PUT,
        &user_path("admin"),
        &admin,
        Some(json!({"role": "hr_staff"})),
        200,
    )
    .await;
    // The demotion revoked admin's own token.
    assert_eq!(me_status(&app, &admin).await, 401);
    let code = app
        .call_error(Method::DELETE, &user_path("root2"), &root2, None, 409)
        .await;
    assert_eq!(code, "conflict");
    // An inactive super admin does not count: deactivating one is fine, the last active stays.
    app.call_json(
        Method::PUT,
        &user_path("admin"),
        &root2,
        Some(json!({"role": "super_admin"})),
        200,
    )
    .await;
    app.call_json(Method::DELETE, &user_path("admin"), &root2, None, 200)
        .await;
    app.call_error(Method::DELETE, &user_path("root2"), &root2, None, 409)
        .await;
}

#[tokio::test]
async fn racing_demotions_of_two_super_admins_leave_one() {
    let app = spawn_app().await;
    create_accounts(app.store.as_ref(), &[("root2", Role::SuperAdmin, None)]).await;
    // Each demotes the other at the same time: the changes are serialised, so exactly one wins.
    for _ in 0..3 {
        let [admin, root2] = app.tokens(["admin", "root2"]).await;
        let (root2_path, admin_path) = (user_path("root2"), user_path("admin"));
        let off = json!({"active": false});
        let (a, b) = tokio::join!(
            app.call(Method::PUT, &root2_path, &admin, Some(off.clone())),
            app.call(Method::PUT, &admin_path, &root2, Some(off.clone())),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        // The loser is refused as the last admin, or its token was revoked by the winner.
        assert!(
            statuses == [200, 409] || statuses == [200, 401],
            "{statuses:?}"
        );
        let active_admins = app
            .store
            .list_accounts()
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.active && a.role == Role::SuperAdmin)
            .count();
        assert_eq!(active_admins, 1);
        // Back to two for the next round.
        for name in ["admin", "root2"] {
            let mut account = app.store.account(name).await.unwrap();
            account.active = true;
            app.store.update_account(&account).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_password_rule_and_every_bad_field_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let callers = Callers::new(&app).await;
    let before = callers.get_ok("admin", USERS).await["count"].clone();
    let cases = [
        (
            json!({"username": "ana", "password": "short", "role": "hr_staff"}),
            422,
            "password",
            "at least 10 characters",
        ),
        (
            json!({"username": "anabelle.k", "password": "Anabelle.K", "role": "hr_staff"}),
            422,
            "password",
            "must not be the username",
        ),
        (
            json!({"username": "ana", "password": PASSWORD, "role": "boss"}),
            422,
            "role",
            "role",
        ),
        (
            json!({"username": "ana", "password": PASSWORD, "role": "employee"}),
            422,
            "employee_id",
            "employee_id",
        ),
        (
            json!({"username": "ana", "password": PASSWORD, "role": "employee", "employee_id": "EMP404"}),
            422,
            "employee_id",
            "EMP404",
        ),
        (
            json!({"username": "a b", "password": PASSWORD, "role": "hr_staff"}),
            422,
            "username",
            "username",
        ),
        (
            json!({"username": "ana", "password": PASSWORD}),
            422,
            "role",
            "role is required",
        ),
        (
            json!({"username": "ana", "password": PASSWORD, "role": "hr_staff", "colour": "red"}),
            422,
            "colour",
            "unknown field colour",
        ),
        (
            json!({"username": "ana", "password": 12345678901_u64, "role": "hr_staff"}),
            422,
            "password",
            "password",
        ),
        (
            json!({"username": "worker", "password": PASSWORD, "role": "hr_staff"}),
            409,
            "username",
            "taken",
        ),
    ];
    for (body, status, field, message) in cases {
        let response = callers
            .send(Method::POST, "admin", USERS, Some(body.clone()))
            .await;
        let answer = json_of(response, status).await;
        assert_eq!(
            answer["error"]["details"]["field"], field,
            "{body}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{body}: {answer}"
        );
    }
    // Nothing was stored by any of them.
    assert_eq!(callers.get_ok("admin", USERS).await["count"], before);
    // A reset follows the rule too, and so does one's own change.
    let answer = callers
        .send_json(
            Method::PUT,
            "admin",
            user_path("worker"),
            Some(json!({"password": "worker"})),
            422,
        )
        .await;
    assert_eq!(answer["error"]["details"]["field"], "password");
    let answer = callers
        .send_json(
            Method::PUT,
            "admin",
            user_path("worker"),
            Some(json!({"employee_id": null})),
            422,
        )
        .await;
    assert_eq!(answer["error"]["details"]["field"], "employee_id");
    let own = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let answer = callers
        .send_json(
            Method::POST,
            "worker",
            "/api/auth/password/",
            Some(own(PASSWORD, "tiny")),
            422,
        )
        .await;
    assert_eq!(answer["error"]["details"]["field"], "new_password");
    let answer = callers
        .send_json(
            Method::POST,
            "worker",
            "/api/auth/password/",
            Some(own("not my password", "a fine new password")),
            422,
        )
        .await;
    assert_eq!(answer["error"]["details"]["field"], "current_password");
    // The refusals changed nothing: the worker's token and password still work.
    assert_eq!(callers.get_status("worker", "/api/auth/me").await, 200);
    app.token("worker").await;
}

#[tokio::test]
async fn revocation_ends_http_tokens_and_websockets_within_one_request() {
    let app = spawn_app().await;
    let [admin, hr] = app.tokens(["admin", "hr"]).await;
    create_accounts(
        app.store.as_ref(),
        &[
            ("w-disabled", Role::Employee, Some("EMP001")),
            ("w-reset", Role::Employee, Some("EMP001")),
            ("w-role", Role::Employee, Some("EMP001")),
            ("w-moved", Role::Employee, Some("EMP001")),
            ("w-own", Role::Employee, Some("EMP001")),
        ],
    )
    .await;
    // Each change, as made through the API by HR or the admin.
    let changes: [(&str, Method, Option<Value>, &String); 4] = [
        ("w-disabled", Method::DELETE, None, &hr),
        (
            "w-reset",
            Method::PUT,
            Some(json!({"password": "reset by hr 2026"})),
            &hr,
        ),
        (
            "w-role",
            Method::PUT,
            Some(json!({"role": "department_head"})),
            &admin,
        ),
        (
            "w-moved",
            Method::PUT,
            Some(json!({"employee_id": "EMP002"})),
            &hr,
        ),
    ];
    for (name, method, body, by) in changes {
        let token = app.token(name).await;
        let mut socket = socket_with(&app, &token).await;
        assert_eq!(me_status(&app, &token).await, 200, "{name}");
        app.call_json(method, &user_path(name), by, body, 200).await;
        // The very next request is refused.
        let refused = app.call(Method::GET, "/api/auth/me", &token, None).await;
        let body = json_of(refused, 401).await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("token revoked"),
            "{body}"
        );
        // The socket is closed by the in-process signal, well before the periodic check.
        let (code, reason) = closed_within(&mut socket, Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("{name}: the websocket was not closed"));
        assert_eq!(code, 1008, "{name}");
        assert!(reason.contains("revoked"), "{name}: {reason}");
        // A revoked token cannot open a new socket either.
        let url = format!("{}/ws?token={token}", app.base.replace("http://", "ws://"));
        assert!(tokio_tungstenite::connect_async(url).await.is_err());
    }
    // The deactivated account cannot log in; re-activated it can, with a new token only.
    let login = |name: &str, password: &str| {
        app.client
            .post(app.url("/api/auth/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
    };
    assert_eq!(login("w-disabled", PASSWORD).await.unwrap().status(), 401);
    app.call_json(
        Method::PUT,
        &user_path("w-disabled"),
        &hr,
        Some(json!({"active": true})),
        200,
    )
    .await;
    assert_eq!(me_status(&app, &app.token("w-disabled").await).await, 200);
    // The reset password is the one that works now.
    assert_eq!(login("w-reset", PASSWORD).await.unwrap().status(), 401);
    app.token_with("w-reset", "reset by hr 2026").await;
    // One's own password change revokes one's tokens (this request's too) and answers a new one.
    let old = app.token("w-own").await;
    let mut socket = socket_with(&app, &old).await;
    let changed = app
        .call_json(
            Method::POST,
            "/api/auth/password/",
            &old,
            Some(json!({"current_password": PASSWORD, "new_password": "my own new password"})),
            200,
        )
        .await;
    assert_eq!(me_status(&app, &old).await, 401);
    let (code, _) = closed_within(&mut socket, Duration::from_secs(2))
        .await
        .expect("the websocket of the old token closes");
    assert_eq!(code, 1008);
    let fresh = changed["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, fresh).await, 200);
    app.token_with("w-own", "my own new password").await;
    // Other accounts' tokens were never touched.
    assert_eq!(me_status(&app, &hr).await, 200);
    assert_eq!(me_status(&app, &admin).await, 200);
}

#[tokio::test]
async fn the_openapi_document_lists_the_account_and_import_routes() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    for (path, method) in [
        ("/api/auth/users/", "get"),
        ("/api/auth/users/", "post"),
        ("/api/auth/users/{username}/", "get"),
        ("/api/auth/users/{username}/", "put"),
        ("/api/auth/users/{username}/", "delete"),
        ("/api/auth/password/", "post"),
        ("/api/attendance/employees/import/", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    for schema in [
        "AccountView",
        "NewAccountInput",
        "AccountUpdateInput",
        "ImportOutcome",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
