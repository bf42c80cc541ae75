//! `spawn_app`: a real server on 127.0.0.1:0 over a fresh in-memory store, with one user per role.

use std::sync::Arc;
use std::time::Duration;

use attendance_adapters::engine::{Engine, EngineConfig};
use attendance_core::access::Role;
use attendance_core::employee::{Employee, EmployeeCode, NewEmployee};
use attendance_core::service::AttendanceService;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{Store, UserAccount};
use attendance_server::auth::{TokenKeys, hash_password};
use attendance_server::{AppState, app};
use serde_json::Value;

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
}

pub const PASSWORD: &str = "correct horse battery";

pub fn employee(code: &str, department: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: department.into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        ..NewEmployee::default()
    })
    .unwrap()
}

/// Users: `admin` (super admin), `hr` (HR staff), `head` (head of Sewing, EMP005),
/// `worker` (EMP001, Sewing), `other` (EMP002, Cutting).
pub async fn spawn_app() -> TestApp {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    for (code, dept) in [
        ("EMP001", "Sewing"),
        ("EMP002", "Cutting"),
        ("EMP005", "Sewing"),
    ] {
        store.create_employee(&employee(code, dept)).await.unwrap();
    }
    let hash = hash_password(PASSWORD.into()).await.unwrap();
    for (username, role, employee) in [
        ("admin", Role::SuperAdmin, None),
        ("hr", Role::HrStaff, None),
        ("head", Role::DepartmentHead, Some("EMP005")),
        ("worker", Role::Employee, Some("EMP001")),
        ("other", Role::Employee, Some("EMP002")),
    ] {
        store
            .create_account(&UserAccount {
                username: username.into(),
                password_hash: hash.clone(),
                role,
                employee: employee.map(|c| EmployeeCode::parse(c).unwrap()),
                active: true,
            })
            .await
            .unwrap();
    }
    let engine = Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig {
            max_batch_delay: Duration::from_millis(20),
            ..EngineConfig::default()
        },
    );
    let state = AppState::new(
        store.clone(),
        Arc::new(engine),
        TokenKeys::new(
            b"test secret, thirty-two bytes long!",
            Duration::from_secs(600),
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in and returns the bearer token.
    pub async fn token(&self, username: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// Asserts the error envelope and returns its code.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error.get("details").is_some(), "{body}");
    error["code"].as_str().unwrap().to_owned()
}

impl TestApp {
    /// Sends `method` to `path` with the bearer `token` and an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

/// Asserts the status and returns the JSON body.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}
