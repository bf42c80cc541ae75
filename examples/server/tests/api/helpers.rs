//! `spawn_app`: a real server on 127.0.0.1:0 over a fresh in-memory store, with one user per role.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use attendance_adapters::engine::{Engine, EngineConfig, EngineHandle};
use attendance_core::access::Role;
use attendance_core::employee::{Employee, EmployeeCode, NewEmployee};
use attendance_core::service::AttendanceService;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{Store, UserAccount};
use attendance_server::auth::{TokenKeys, hash_password};
use attendance_server::{AppState, app};
use reqwest::Method;
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

/// A fresh in-memory store with the test employees and one user per role:
/// `admin` (super admin), `hr` (HR staff), `head` (head of Sewing, EMP005),
/// `worker` (EMP001, Sewing), `other` (EMP002, Cutting).
pub async fn seeded_store() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    for (code, dept) in [
        ("EMP001", "Sewing"),
        ("EMP002", "Cutting"),
        ("EMP005", "Sewing"),
    ] {
        store.create_employee(&employee(code, dept)).await.unwrap();
    }
    create_accounts(
        store.as_ref(),
        &[
            ("admin", Role::SuperAdmin, None),
            ("hr", Role::HrStaff, None),
            ("head", Role::DepartmentHead, Some("EMP005")),
            ("worker", Role::Employee, Some("EMP001")),
            ("other", Role::Employee, Some("EMP002")),
        ],
    )
    .await;
    store
}

/// Creates one active login with [`PASSWORD`] per `(username, role, employee code)`.
pub async fn create_accounts(store: &dyn Store, accounts: &[(&str, Role, Option<&str>)]) {
    let hash = hash_password(PASSWORD.into()).await.unwrap();
    for (username, role, employee) in accounts {
        store
            .create_account(&UserAccount {
                username: (*username).into(),
                password_hash: hash.clone(),
                role: *role,
                employee: employee.map(|c| EmployeeCode::parse(c).unwrap()),
                active: true,
                token_version: 0,
                created_at: None,
            })
            .await
            .unwrap();
    }
}

/// The engine the test servers run: batches flushed after 20 ms, and no window-closing pass
/// (the tests count records exactly; the engine's own tests cover the pass).
pub fn test_engine(store: &Arc<dyn Store>) -> EngineHandle {
    Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig {
            max_batch_delay: Duration::from_millis(20),
            close_interval: None,
            ..EngineConfig::default()
        },
    )
}

/// The token keys of the test servers.
pub fn test_keys() -> TokenKeys {
    TokenKeys::new(
        b"test secret, thirty-two bytes long!",
        Duration::from_secs(600),
    )
}

/// Serves `state` on 127.0.0.1:0 and returns a client for it.
pub async fn serve(state: AppState) -> TestApp {
    let store = state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state);
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
    }
}

/// Users: see `seeded_store`.
pub async fn spawn_app() -> TestApp {
    let store = seeded_store().await;
    let engine = test_engine(&store);
    serve(AppState::new(store, Arc::new(engine), test_keys())).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The OpenAPI document (`GET /api/openapi.json`, no token).
    pub async fn openapi(&self) -> Value {
        self.client
            .get(self.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Logs in and returns the bearer token.
    pub async fn token(&self, username: &str) -> String {
        self.token_with(username, PASSWORD).await
    }

    /// Logs `username` in with `password` (asserting 200) and returns the access token.
    pub async fn token_with(&self, username: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Logs in each of `usernames`, in order, and returns their tokens.
    pub async fn tokens<const N: usize>(&self, usernames: [&str; N]) -> [String; N] {
        let mut tokens = [const { String::new() }; N];
        for (token, username) in tokens.iter_mut().zip(usernames) {
            *token = self.token(username).await;
        }
        tokens
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

impl TestApp {
    /// Sends `method` to `path` with the bearer `token`, a raw body and, if given, its content
    /// type.
    pub async fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }
}

/// Asserts the status and returns the JSON body, which must be JSON when the status is right.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

impl TestApp {
    /// `call`, then asserts `status` and returns the JSON body (see `json_of`).
    pub async fn call_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        json_of(self.call(method, path, token, body).await, status).await
    }

    /// `GET path` with the bearer `token`: asserts 200 and returns the JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.call_json(reqwest::Method::GET, path, token, None, 200)
            .await
    }

    /// `GET path` with the bearer `token`: asserts the error envelope with `status` and returns
    /// its code.
    pub async fn get_error(&self, path: &str, token: &str, status: u16) -> String {
        self.call_error(reqwest::Method::GET, path, token, None, status)
            .await
    }

    /// `call`, then asserts the error envelope with `status` and returns its code (see
    /// `error_code`).
    pub async fn call_error(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> String {
        error_code(self.call(method, path, token, body).await, status).await
    }
}

/// Tokens of the five test users, logged in once per test.
pub struct Callers<'a> {
    pub app: &'a TestApp,
    tokens: HashMap<&'static str, String>,
}

impl<'a> Callers<'a> {
    pub async fn new(app: &'a TestApp) -> Self {
        let mut tokens = HashMap::new();
        for user in ["admin", "hr", "head", "worker", "other"] {
            tokens.insert(user, app.token(user).await);
        }
        Self { app, tokens }
    }

    /// Sends `method path` as `user` with an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        user: &str,
        path: impl AsRef<str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.app
            .call(method, path.as_ref(), &self.tokens[user], body)
            .await
    }

    /// Sends a raw body with a content type.
    pub async fn send_raw(
        &self,
        user: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.app
            .call_raw(
                Method::POST,
                path,
                &self.tokens[user],
                Some(content_type),
                body,
            )
            .await
    }

    /// `GET path` as `user`: asserts 200 and returns the JSON.
    pub async fn get_ok(&self, user: &str, path: &str) -> Value {
        let response = self.send(Method::GET, user, path, None).await;
        assert_eq!(response.status(), 200, "GET {path} as {user}");
        response.json().await.unwrap()
    }

    /// `send`, then asserts `status` and returns the JSON body (see `json_of`).
    pub async fn send_json(
        &self,
        method: Method,
        user: &str,
        path: impl AsRef<str>,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        json_of(self.send(method, user, path, body).await, status).await
    }

    /// `send`, then asserts the error envelope with `status` and returns its code (see
    /// `error_code`).
    pub async fn send_error(
        &self,
        method: Method,
        user: &str,
        path: impl AsRef<str>,
        body: Option<Value>,
        status: u16,
    ) -> String {
        error_code(self.send(method, user, path, body).await, status).await
    }

    /// `GET path` as `user`: asserts the error envelope with `status` and returns its code.
    pub async fn get_error(&self, user: &str, path: &str, status: u16) -> String {
        self.send_error(Method::GET, user, path, None, status).await
    }

    /// `GET path` as `user`: the status.
    pub async fn get_status(&self, user: &str, path: &str) -> u16 {
        self.send(Method::GET, user, path, None)
            .await
            .status()
            .as_u16()
    }
}

/// The `employee_id`s of a list's `results`, or of a plain list.
pub fn codes(body: &Value) -> Vec<String> {
    let list = body.get("results").unwrap_or(body);
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["employee_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A sick-leave request filed through the service (as another module's endpoints would), with
/// what its approvals need.
pub struct SickLeave {
    /// The request.
    pub id: attendance_core::leave::LeaveRequestId,
    /// When it was filed and is decided: two days after its day (leave is filed within a year
    /// of its dates).
    pub now: chrono::DateTime<chrono::Utc>,
    admin: attendance_core::access::Actor,
}

impl SickLeave {
    /// Allocates 14 sick days of `day`'s year to `code` (of `department`) and files request
    /// `L1` for the one day `day` (`YYYY-MM-DD`) as a super admin; it waits for two approvals.
    pub async fn file(
        store: &dyn Store,
        service: &AttendanceService,
        code: &str,
        department: &str,
        day: &str,
    ) -> Self {
        use attendance_core::calendar::LeaveType;
        use attendance_core::employee::Department;
        use attendance_core::leave::{
            HalfDays, LeaveApplication, LeaveRequestId, LedgerEntry, LedgerEntryKind,
        };
        use attendance_core::store::LeaveChange;
        use chrono::Datelike;

        let code = EmployeeCode::parse(code).unwrap();
        let date: chrono::NaiveDate = day.parse().unwrap();
        let year = date.year();
        store
            .commit_leave(LeaveChange {
                employee: code.clone(),
                expected_version: 0,
                requests: Vec::new(),
                entries: vec![(
                    LeaveType::Sick,
                    LedgerEntry::new(
                        LedgerEntryKind::Allocation,
                        year,
                        chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap(),
                        HalfDays::from_days(14),
                        "allocation",
                    )
                    .unwrap(),
                )],
            })
            .await
            .unwrap();
        let leave = Self {
            id: LeaveRequestId::parse("L1").unwrap(),
            now: date.and_hms_opt(9, 0, 0).unwrap().and_utc() + chrono::TimeDelta::days(2),
            admin: attendance_core::access::Actor::new(Role::SuperAdmin, None, None),
        };
        service
            .submit_leave(
                &leave.admin,
                leave.id.clone(),
                &LeaveApplication {
                    employee: code,
                    department: Department::parse(department).unwrap(),
                    leave_type: LeaveType::Sick,
                    start: date,
                    end: date,
                    start_half: false,
                    end_half: false,
                    reason: "fever".into(),
                    medical_certificate: false,
                    priority: Default::default(),
                },
                leave.now,
            )
            .await
            .unwrap();
        leave
    }

    /// Approves it at both levels (the department head's, then HR's).
    pub async fn approve(&self, service: &AttendanceService) {
        for _ in 0..2 {
            service
                .decide_leave(
                    &self.admin,
                    "admin",
                    &self.id,
                    attendance_core::service::LeaveDecision::Approve,
                    None,
                    self.now,
                )
                .await
                .unwrap();
        }
    }
}
