//! `/api/attendance/machines/` and `/api/attendance/system-status/`, over a server that really
//! runs its machines (`spawn_machine_app`).

use std::sync::Arc;
use std::time::Duration;

use attendance_adapters::manager::{Backoff, ManagerConfig};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice};
use attendance_core::scan::MachineId;
use attendance_server::AppState;
use attendance_server::runtime::{MachineRuntime, RuntimeConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, seeded_store, serve, test_engine, test_keys};

/// A server like `spawn_app` (same employees and users) whose state reads machines.
pub struct MachineApp {
    pub app: TestApp,
    pub state: AppState,
    pub runtime: Arc<MachineRuntime>,
}

pub async fn spawn_machine_app() -> MachineApp {
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
    MachineApp {
        app: serve(state.clone()).await,
        state,
        runtime,
    }
}

const MACHINES: &str = "/api/attendance/machines/";

fn simulated(id: &str) -> Value {
    json!({
        "machine_id": id,
        "name": "Sewing floor",
        "machine_type": "simulated",
        "location": "Floor 2",
        "department": "Sewing",
        "config": {"scans_per_minute": 1.0, "history_hours": 0, "employees": 3}
    })
}

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.call(Method::POST, path, token, Some(body.clone()))
        .await
}

async fn machine_count(app: &TestApp) -> usize {
    app.store.list_machines().await.unwrap().len()
}

#[tokio::test]
async fn machines_are_created_listed_updated_and_deleted_and_run_meanwhile() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let created = post(app, &hr, MACHINES, &simulated("SIM-T1")).await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    for field in [
        "machine_id",
        "name",
        "machine_type",
        "ip_address",
        "port",
        "location",
        "department",
        "status",
        "is_connected",
        "config",
        "last_sync",
    ] {
        assert!(body.get(field).is_some(), "{field} missing in {body}");
    }
    assert_eq!(body["machine_type"], "simulated");
    assert_eq!(body["department"], "Sewing");
    assert_eq!(body["time_zone"], "Asia/Dhaka");
    let id = MachineId::parse("SIM-T1").unwrap();
    assert!(app.store.machine(&id).await.is_ok());

    // Creating started it: it connects within a moment.
    let mut connected = false;
    for _ in 0..50 {
        if m.runtime.health_of(&id).is_some_and(|h| h.live) {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connected, "the new machine did not start");

    let list: Value = app
        .call(Method::GET, MACHINES, &hr, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["machine_id"], "SIM-T1");
    assert_eq!(list["results"][0]["status"], "connected");
    assert_eq!(list["results"][0]["is_connected"], true);

    let detail: Value = app
        .call(Method::GET, "/api/attendance/machines/SIM-T1", &hr, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["name"], "Sewing floor");
    assert_eq!(detail["health"]["machine_type"], "simulated");

    // Disabling it stops it.
    let mut update = simulated("SIM-T1");
    update["name"] = json!("Sewing floor (off)");
    update["enabled"] = json!(false);
    let updated = app
        .call_json(
            Method::PUT,
            "/api/attendance/machines/SIM-T1/",
            &hr,
            Some(update.clone()),
            200,
        )
        .await;
    assert_eq!(
        (
            updated["status"].as_str(),
            updated["is_connected"].as_bool()
        ),
        (Some("disabled"), Some(false))
    );
    assert!(m.runtime.health_of(&id).is_none());
    assert_eq!(
        app.store.machine(&id).await.unwrap().name,
        "Sewing floor (off)"
    );

    let deleted = app
        .call(
            Method::DELETE,
            "/api/attendance/machines/SIM-T1/",
            &hr,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(machine_count(app).await, 0);
    assert_eq!(
        app.get_error("/api/attendance/machines/SIM-T1/", &hr, 404)
            .await,
        "not_found"
    );
}

#[tokio::test]
async fn secrets_in_configs_are_redacted_and_kept_on_update() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let admin = app.token("admin").await;
    let body = json!({
        "machine_id": "HIK-1",
        "name": "Hikvision gate",
        "machine_type": "hikvision",
        "ip_address": "192.0.2.1",
        "enabled": false,
        "config": {"username": "admin", "password": "s3cret-pass"}
    });
    let created: Value = post(app, &admin, MACHINES, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["config"]["password"], "********");
    assert_eq!(created["config"]["username"], "admin");
    let mut again = created.clone();
    again["name"] = json!("Hikvision gate 2");
    let response = app
        .call(
            Method::PUT,
            "/api/attendance/machines/HIK-1/",
            &admin,
            Some(again.clone()),
        )
        .await;
    assert_eq!(response.status(), 200);
    let stored = app
        .store
        .machine(&MachineId::parse("HIK-1").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.config["password"], "s3cret-pass");
    assert_eq!(stored.name, "Hikvision gate 2");

    // A ZKTeco communication key (a number) is a secret of its schema too.
    let zk = json!({
        "machine_id": "ZK-KEY",
        "name": "ZKTeco gate",
        "machine_type": "zkteco",
        "ip_address": "192.0.2.2",
        "enabled": false,
        "config": {"comm_key": 918273, "timeout_ms": 5000}
    });
    let created: Value = post(app, &admin, MACHINES, &zk).await.json().await.unwrap();
    assert_eq!(created["config"]["comm_key"], "********", "{created}");
    assert_eq!(created["config"]["timeout_ms"], 5000);
    let listed = app.get_json(MACHINES, &admin).await.to_string();
    assert!(!listed.contains("918273"), "{listed}");
    let response = app
        .call(
            Method::PUT,
            "/api/attendance/machines/ZK-KEY/",
            &admin,
            Some(created),
        )
        .await;
    assert_eq!(response.status(), 200);
    let stored = app
        .store
        .machine(&MachineId::parse("ZK-KEY").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.config["comm_key"], 918273);
}

#[tokio::test]
async fn only_hr_and_admins_may_see_or_manage_machines() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let mut disabled = simulated("SIM-R1");
    disabled["enabled"] = json!(false);
    assert_eq!(post(app, &hr, MACHINES, &disabled).await.status(), 201);
    for user in ["worker", "head", "other"] {
        let token = app.token(user).await;
        assert_eq!(
            app.get_error(MACHINES, &token, 403).await,
            "forbidden",
            "{user}"
        );
        assert_eq!(
            app.get_error("/api/attendance/machines/SIM-R1/", &token, 403)
                .await,
            "forbidden"
        );
        let create = post(app, &token, MACHINES, &simulated("SIM-R2")).await;
        assert_eq!(error_code(create, 403).await, "forbidden");
        assert_eq!(
            app.call_error(
                Method::PUT,
                "/api/attendance/machines/SIM-R1/",
                &token,
                Some(simulated("SIM-R1").clone()),
                403
            )
            .await,
            "forbidden"
        );
        assert_eq!(
            app.call_error(
                Method::DELETE,
                "/api/attendance/machines/SIM-R1/",
                &token,
                None,
                403
            )
            .await,
            "forbidden"
        );
        let test = post(
            app,
            &token,
            "/api/attendance/machines/SIM-R1/test/",
            &json!({}),
        )
        .await;
        assert_eq!(error_code(test, 403).await, "forbidden");
        assert_eq!(
            app.get_error("/api/attendance/system-status/", &token, 403)
                .await,
            "forbidden"
        );
    }
    let stored = app
        .store
        .machine(&MachineId::parse("SIM-R1").unwrap())
        .await
        .unwrap();
    assert!(!stored.enabled);
    assert_eq!(machine_count(app).await, 1);
    let anonymous = app.client.get(app.url(MACHINES)).send().await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "unauthorized");
    let admin = app.token("admin").await;
    let list = app.call(Method::GET, MACHINES, &admin, None).await;
    assert_eq!(list.status(), 200);
}

#[tokio::test]
async fn bad_machines_are_refused_and_nothing_is_stored() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let cases = [
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "anviz"}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "zkteco", "ip_address": "127.0.0.1", "config": {"nope": 1}}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "simulated", "config": {"speed_up": -1}}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "simulated", "config": [1]}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "zkteco"}),
            422,
        ),
        (
            json!({"machine_id": "X1", "machine_type": "simulated"}),
            422,
        ),
        (json!({"name": "X", "machine_type": "simulated"}), 422),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "simulated", "port": "x"}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "simulated", "time_zone": "Mars/Base"}),
            422,
        ),
        (
            json!({"machine_id": "X1", "name": "X", "machine_type": "zkteco_adms", "config": {"serial": 5}}),
            422,
        ),
    ];
    for (body, status) in cases {
        let response = post(app, &hr, MACHINES, &body).await;
        assert_eq!(
            error_code(response, status).await,
            "validation_error",
            "{body}"
        );
    }
    let garbage = app
        .call_raw(
            Method::POST,
            MACHINES,
            &hr,
            Some("application/json"),
            "{nope",
        )
        .await;
    assert_eq!(error_code(garbage, 400).await, "bad_request");
    assert_eq!(machine_count(app).await, 0);

    let mut first = simulated("DUP-1");
    first["enabled"] = json!(false);
    assert_eq!(post(app, &hr, MACHINES, &first).await.status(), 201);
    let duplicate = post(app, &hr, MACHINES, &first).await;
    assert_eq!(error_code(duplicate, 409).await, "conflict");
    assert_eq!(
        app.call_error(
            Method::PUT,
            "/api/attendance/machines/NOPE/",
            &hr,
            Some(first.clone()),
            404
        )
        .await,
        "not_found"
    );
    assert_eq!(
        app.call_error(
            Method::PUT,
            "/api/attendance/machines/DUP-1/",
            &hr,
            Some(simulated("OTHER-ID").clone()),
            422
        )
        .await,
        "validation_error"
    );
    let mut bad_update = first.clone();
    bad_update["config"] = json!({"speed_up": "fast"});
    assert_eq!(
        app.call_error(
            Method::PUT,
            "/api/attendance/machines/DUP-1/",
            &hr,
            Some(bad_update.clone()),
            422
        )
        .await,
        "validation_error"
    );
    assert_eq!(
        app.call_error(
            Method::DELETE,
            "/api/attendance/machines/NOPE/",
            &hr,
            None,
            404
        )
        .await,
        "not_found"
    );
    let test_unknown = post(app, &hr, "/api/attendance/machines/NOPE/test/", &json!({})).await;
    assert_eq!(error_code(test_unknown, 404).await, "not_found");
    assert_eq!(machine_count(app).await, 1);
    let stored = app
        .store
        .machine(&MachineId::parse("DUP-1").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.config["scans_per_minute"], 1.0);
}

#[tokio::test]
async fn the_connection_test_reads_a_zk_fake_and_reports_an_unreachable_device() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let fake = FakeDevice::spawn_tcp(FakeConfig::default(), 0)
        .await
        .unwrap();
    let body = json!({
        "machine_id": "ZK-T1",
        "name": "Gate",
        "machine_type": "zkteco",
        "ip_address": "127.0.0.1",
        "port": fake.local_addr().port(),
        "enabled": false,
        "config": {"timeout_ms": 2000}
    });
    assert_eq!(post(app, &hr, MACHINES, &body).await.status(), 201);
    let report = post(app, &hr, "/api/attendance/machines/ZK-T1/test/", &json!({})).await;
    assert_eq!(report.status(), 200);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(report["reachable"], true);
    assert_eq!(report["authenticated"], true);
    assert_eq!(report["serial"], "FAKE0000000001");
    assert_eq!(report["record_count"], 100);
    assert!(report["error"].is_null());
    fake.shutdown().await;

    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut body = body.clone();
    body["machine_id"] = json!("ZK-T2");
    body["port"] = json!(closed);
    assert_eq!(post(app, &hr, MACHINES, &body).await.status(), 201);
    let report = post(app, &hr, "/api/attendance/machines/ZK-T2/test", &json!({})).await;
    assert_eq!(report.status(), 200);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["success"], false, "{report}");
    assert_eq!(report["reachable"], false);
    assert!(report["error"]["kind"].is_string(), "{report}");
}

#[tokio::test]
async fn adms_devices_may_push_only_while_registered() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    let handshake = || async {
        app.client
            .get(app.url("/iclock/cdata?SN=ADMS0001&options=all"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(handshake().await, 403);
    let body = json!({
        "machine_id": "ADMS-1",
        "name": "Canteen",
        "machine_type": "zkteco_adms",
        "config": {"serial": "ADMS0001"}
    });
    assert_eq!(post(app, &hr, MACHINES, &body).await.status(), 201);
    assert_eq!(handshake().await, 200);
    let deleted = app
        .call(
            Method::DELETE,
            "/api/attendance/machines/ADMS-1/",
            &hr,
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(handshake().await, 403);
}

#[tokio::test]
async fn the_system_status_has_the_engine_machines_and_counts() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let hr = app.token("hr").await;
    assert_eq!(
        post(app, &hr, MACHINES, &simulated("SIM-S1"))
            .await
            .status(),
        201
    );
    let status: Value = app
        .call(Method::GET, "/api/attendance/system-status/", &hr, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ["ok", "degraded"].contains(&status["status"].as_str().unwrap()),
        "{status}"
    );
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["uptime_seconds"].is_u64());
    assert!(status["server_time"].is_string());
    for key in [
        "queue_depth",
        "queue_capacity",
        "scans_stored",
        "duplicates",
        "records_recomputed",
        "store_errors",
    ] {
        assert!(status["engine"][key].is_u64(), "engine.{key} in {status}");
    }
    assert_eq!(status["machines"]["total"], 1);
    assert_eq!(status["machines"]["enabled"], 1);
    assert!(status["machines"]["connected"].is_u64());
    assert_eq!(status["machines"]["health"][0]["machine_id"], "SIM-S1");
    assert_eq!(status["counts"]["employees"], 3);
    assert_eq!(status["counts"]["active_employees"], 3);
    assert!(status["counts"]["scans"].is_u64());
    assert_eq!(status["websocket_clients"], 0);
    let no_slash = app
        .call(Method::GET, "/api/attendance/system-status", &hr, None)
        .await;
    assert_eq!(no_slash.status(), 200);
    let doc = app.openapi().await;
    for (path, method) in [
        ("/api/attendance/machines/", "get"),
        ("/api/attendance/machines/", "post"),
        ("/api/attendance/machines/{id}/", "put"),
        ("/api/attendance/machines/{id}/", "delete"),
        ("/api/attendance/machines/{id}/test/", "post"),
        ("/api/attendance/system-status/", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["MachineView"].is_object());
}
