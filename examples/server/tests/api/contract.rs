//! The OpenAPI document against the server's answers (what `scripts/api-fuzz.sh` checks at
//! length with schemathesis): every operation behind a login names its roles (`x-roles`) and
//! answers 401 without a token, no role gets a 2xx from an operation that does not list it, and
//! the answers whose schemas the fuzzer found wrong match the document now.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const ROLES: [&str; 4] = ["employee", "department_head", "hr_staff", "super_admin"];

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            out.push((method, path.clone(), operation.clone()));
        }
    }
    out
}

fn behind_login(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()))
}

/// `path` with its parameters replaced by values that exist in the seeded store.
fn concrete(path: &str) -> String {
    path.replace("{employee_id}", "EMP001")
        .replace("{date}", "2026-12-01")
        .replace("{username}", "worker")
        .replace("{leave_type}", "Casual")
        .replace("{doc_id}", "1")
        .replace("{id}", "1")
}

async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> u16 {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == Method::POST || method == Method::PUT {
        request = request.json(&json!({}));
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_operation_behind_a_login_names_its_roles_and_answers_401_without_a_token() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        if !behind_login(&operation) {
            assert!(
                operation.get("x-roles").is_none(),
                "{method} {path} is open but lists roles"
            );
            continue;
        }
        let roles = operation["x-roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no x-roles"));
        assert!(!roles.is_empty(), "{method} {path}");
        for role in roles {
            assert!(
                ROLES.contains(&role.as_str().unwrap()),
                "{method} {path}: {role}"
            );
        }
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path} does not document 401"
        );
        let status = send(&app, method.clone(), &concrete(&path), None).await;
        assert_eq!(status, 401, "{method} {path} without a token");
        checked += 1;
    }
    println!("{checked} operations behind a login, each 401 without a token");
    assert!(checked >= 60, "only {checked} operations behind a login");
}

#[tokio::test]
async fn no_role_gets_a_2xx_from_an_operation_its_roles_do_not_list() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let logins = [
        ("worker", "employee"),
        ("head", "department_head"),
        ("hr", "hr_staff"),
    ];
    let mut refused = 0;
    for (username, role) in logins {
        let token = app.token(username).await;
        for (method, path, operation) in operations(&doc) {
            let Some(roles) = operation["x-roles"].as_array() else {
                continue;
            };
            if roles.iter().any(|r| r == role) {
                continue;
            }
            let status = send(&app, method.clone(), &concrete(&path), Some(&token)).await;
            assert!(
                !(200..300).contains(&status),
                "{role} got {status} from {method} {path}, which lists only {roles:?}"
            );
            assert!(
                operation["responses"][status.to_string()].is_object(),
                "{method} {path} answered {role} an undocumented {status}"
            );
            refused += 1;
        }
    }
    println!("{refused} calls outside their role, none answered 2xx");
    assert!(refused >= 40, "only {refused} calls outside a role");
}

/// Found by schemathesis: `GET /leave-balances/` answered a page where the document promised
/// one sheet, and a scan's `punch_state` and `verify_mode` are strings where it said objects.
#[tokio::test]
async fn balances_and_scans_answer_what_the_document_says() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let hr = app.token("hr").await;
    let schemas = &doc["components"]["schemas"];

    let answer = &schemas["BalancesAnswer"]["oneOf"];
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(
        doc["paths"]["/api/attendance/leave-balances/"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/BalancesAnswer"
    );
    let page = app.get_json("/api/attendance/leave-balances/", &hr).await;
    assert!(
        page["results"].is_array() && page["count"].is_u64(),
        "{page}"
    );
    let one = app
        .get_json("/api/attendance/leave-balances/?employee_id=EMP001", &hr)
        .await;
    assert_eq!(one["employee_id"], "EMP001", "{one}");

    app.call_json(
        Method::POST,
        "/api/attendance/scans/",
        &hr,
        Some(
            json!({"employee_id": "EMP001", "scan_time": "2026-12-01T02:00:00Z",
            "scan_type": "IN", "reason": "gate"}),
        ),
        201,
    )
    .await;
    let scans = app
        .get_json("/api/attendance/scans/?from=2026-12-01&to=2026-12-01", &hr)
        .await;
    let scan = &scans["results"][0];
    let view = &schemas["ScanView"]["properties"];
    for (field, value) in [
        ("punch_state", &scan["punch_state"]),
        ("verify_mode", &scan["verify_mode"]),
    ] {
        let names = &view[field]["oneOf"][0]["enum"];
        let name = value.as_str().unwrap_or_else(|| panic!("{field}: {value}"));
        assert!(
            names.as_array().unwrap().iter().any(|n| n == name),
            "{field} {name} is not in the document's {names}"
        );
    }
}
