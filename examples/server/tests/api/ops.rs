//! The operator's endpoints over real HTTP: `/healthz`, `/readyz` (ready; not ready when the
//! engine stopped or the PostgreSQL database is gone), `/metrics` (Prometheus text that parses,
//! counters that move after pushes, WebSocket connections and requests, the metrics token),
//! `--log-format json` (the binary's log lines parse as JSON), and `backup FILE` while scans
//! are written through the running server.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Duration;

use attendance_core::employee::DeviceUserId;
use attendance_core::store::{EmployeeStore, ScanStore};
use attendance_server::AppState;
use attendance_store_postgres::testkit as pg_common;
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};

use crate::cli::{Running, binary, temp_dir};
use crate::helpers::{PASSWORD, seeded_store, serve, spawn_app, test_engine, test_keys};
use crate::machines::spawn_machine_app;
use crate::tools::{Target, login, ok, refused, serve_postgres, serve_sqlite_child, tool};

/// The tests that read gauges scrape one at a time: a gauge holds the value of the server
/// scraped last, and the tests run in parallel in one process.
static SCRAPES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One sample of the exposition: the metric name and its labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the Prometheus text exposition format (0.0.4) strictly: every line is a `# HELP`,
/// a `# TYPE` with a known type, or `name{label="value",…} value` with a valid name, labels
/// and number; a sample's family was typed before it. Panics at the first bad line.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_default();
            assert!(valid_name(name), "bad metric name in {line:?}");
            if kind == "TYPE" {
                let ty = parts.next().unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty),
                    "bad type in {line:?}"
                );
                types.insert(name.to_owned(), ty.to_owned());
            } else {
                assert_eq!(kind, "HELP", "unknown comment {line:?}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").unwrap();
                    assert!(valid_name(key), "bad label name in {line:?}");
                    // The value runs to the next unescaped quote.
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in after.char_indices() {
                        match c {
                            _ if escaped => escaped = false,
                            '\\' => escaped = true,
                            '"' => {
                                end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unclosed label value in {line:?}"));
                    labels.insert(key.to_owned(), after[..end].to_owned());
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "bad sample name in {line:?}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample {name} before its # TYPE"
        );
        samples.insert((name.to_owned(), labels), value);
    }
    samples
}

/// The sum of the samples of `name` whose labels include `labels`.
fn sum(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn scrape(base: &str) -> BTreeMap<Series, f64> {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse_exposition(&response.text().await.unwrap())
}

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_token_and_readyz_names_a_stopped_engine() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["not_ready"], json!([]));
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["engine"], "ok");
    assert_eq!(body["checks"]["machines"], "not used");

    // A server whose engine has stopped is alive but not ready.
    let store = seeded_store().await;
    let engine = Arc::new(test_engine(&store));
    let stopped = serve(AppState::new(store, engine.clone(), test_keys())).await;
    engine.shutdown().await;
    let response = stopped
        .client
        .get(stopped.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["not_ready"], json!(["engine"]));
    assert_eq!(body["checks"]["store"], "ok");
    let alive = stopped
        .client
        .get(stopped.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);

    // A server whose machine runtime has stopped is not ready either.
    let machines = spawn_machine_app().await;
    let url = machines.app.url("/readyz");
    assert_eq!(
        machines.app.client.get(&url).send().await.unwrap().status(),
        200
    );
    machines.runtime.shutdown().await;
    let response = machines.app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["not_ready"], json!(["machines"]), "{body}");
    assert_eq!(body["checks"]["machines"], "stopped");

    // Both are in the OpenAPI document, without a bearer token.
    let doc = app.openapi().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is not documented"
        );
    }
    assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
}

#[tokio::test]
async fn readyz_is_503_naming_the_store_once_the_postgres_database_is_gone() {
    let Some(pg) = pg_common::server().await else {
        return;
    };
    let url = pg.database().await;
    let data = temp_dir("readyz-pg");
    let (server, app) = serve_postgres(&url, &data).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["machines"], "ok", "{body}");

    // Drop the database under the running server (its connections are ended by FORCE).
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let admin = std::env::var("DATABASE_URL").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();

    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["not_ready"], json!(["store"]), "{body}");
    assert!(
        body["checks"]["store"]
            .as_str()
            .unwrap()
            .starts_with("failed"),
        "{body}"
    );
    assert_eq!(body["checks"]["engine"], "ok");
    // Alive all the same.
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    tokio::time::timeout(Duration::from_secs(120), server.stop())
        .await
        .expect("the server stops within 120 s");
    pg.cleanup().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn metrics_parse_as_prometheus_and_move_with_pushes_websockets_and_requests() {
    let _one = SCRAPES.lock().await;
    let m = spawn_machine_app().await;
    let app = &m.app;
    let before = scrape(&app.base).await;

    // Requests of a matched route, with the route pattern as the label, never the raw path.
    for _ in 0..3 {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let hr = app.token("hr").await;
    let r = app
        .client
        .get(app.url("/api/attendance/employees/EMP001/"))
        .bearer_auth(&hr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/no/such/path/4711"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A WebSocket client.
    let socket = crate::realtime::connect(app, "hr").await;

    // An ADMS machine and a push of 3 lines, one of them a duplicate of another, a line dated
    // 2000 (set aside: a reset device clock) and a line the parser refuses.
    let r = app
        .client
        .post(app.url("/api/attendance/machines/"))
        .bearer_auth(&hr)
        .json(&json!({"machine_id": "ADMS-OPS", "name": "Door", "machine_type": "zkteco_adms",
            "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka", "config": {"serial": "ADMSOPS1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let date =
        (Utc::now().with_timezone(&chrono_tz::Asia::Dhaka) - TimeDelta::days(1)).date_naive();
    let day = date.format("%Y-%m-%d");
    let body = format!(
        "1\t{day} 08:00:00\t0\t1\t0\t0\n1\t{day} 08:00:00\t0\t1\t0\t0\n2\t{day} 08:05:00\t0\t1\t0\t0\n3\t2000-01-01 08:00:00\t0\t1\t0\t0\nnot a line\n"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = app
            .client
            .post(app.url("/iclock/cdata?SN=ADMSOPS1&table=ATTLOG&Stamp=9"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        if status == 200 {
            assert!(text.starts_with("OK"), "{text}");
            break;
        }
        // The machine's serial is allowed once its task starts.
        assert!(tokio::time::Instant::now() < deadline, "{status} {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.store.count_scans().await.unwrap(), 2);

    // The recompute of the pushed scans' days runs after their commit: wait until EMP002's day
    // is stored (that pass is this server's) and its metrics are recorded.
    let recomputed_before = sum(&before, "attendance_recompute_duration_seconds_count", &[]);
    let days_before = sum(&before, "attendance_days_recomputed_total", &[]);
    let emp002 = attendance_core::employee::EmployeeCode::parse("EMP002").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let stored = app.store.record(&emp002, date).await.unwrap().is_some();
        let after = scrape(&app.base).await;
        if stored
            && sum(&after, "attendance_recompute_duration_seconds_count", &[]) > recomputed_before
            && sum(&after, "attendance_days_recomputed_total", &[]) >= days_before + 2.0
        {
            break after;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recompute within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sum(&after, name, labels) - sum(&before, name, labels)
    };

    let adms = [("source", "zkteco_adms")];
    assert!(moved("attendance_scans_ingested_total", &adms) >= 2.0);
    assert!(moved("attendance_scan_duplicates_total", &adms) >= 1.0);
    assert!(moved("attendance_adms_lines_rejected_total", &[]) >= 1.0);
    assert!(moved("attendance_scans_set_aside_total", &adms) >= 1.0);
    // EMP001's and EMP002's days (device users 1 and 2).
    assert!(moved("attendance_days_recomputed_total", &[]) >= 2.0);
    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "2xx")];
    assert!(moved("attendance_http_requests_total", &healthz) >= 3.0);
    assert!(moved("attendance_http_request_duration_seconds_count", &healthz) >= 3.0);
    // A histogram with buckets up to +Inf, whose +Inf bucket is its count.
    let mut inf = healthz.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        sum(
            &after,
            "attendance_http_request_duration_seconds_bucket",
            &inf
        ),
        sum(
            &after,
            "attendance_http_request_duration_seconds_count",
            &healthz
        )
    );
    let employee = [
        ("route", "/api/attendance/employees/{employee_id}/"),
        ("status", "2xx"),
    ];
    assert!(
        moved("attendance_http_requests_total", &employee) >= 1.0,
        "{:?}",
        after
            .keys()
            .filter(|(n, _)| n == "attendance_http_requests_total")
            .collect::<Vec<_>>()
    );
    assert!(
        moved(
            "attendance_http_requests_total",
            &[("route", "unmatched"), ("status", "4xx")]
        ) >= 1.0
    );
    // No raw path is ever a label.
    assert!(after.keys().all(|(_, l)| {
        l.values()
            .all(|v| !v.contains("4711") && !v.contains("EMP001"))
    }));
    assert!(moved("attendance_websocket_connections_total", &[]) >= 1.0);
    // Gauges are this server's.
    assert_eq!(sum(&after, "attendance_websocket_clients", &[]), 1.0);
    assert_eq!(sum(&after, "attendance_engine_queue_capacity", &[]), 1024.0);
    assert!(sum(&after, "attendance_engine_queue_depth", &[]) <= 1024.0);
    let machines: f64 = sum(&after, "attendance_machines", &[]);
    assert_eq!(machines, 1.0, "one machine, in one state");
    for state in [
        "connecting",
        "connected",
        "backing_off",
        "circuit_open",
        "stopped",
    ] {
        assert!(
            after.contains_key(&(
                "attendance_machines".to_owned(),
                BTreeMap::from([("state".to_owned(), state.to_owned())])
            )),
            "state {state} missing"
        );
    }
    assert_eq!(sum(&after, "attendance_build_info", &[]), 1.0);

    drop(socket);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while m.state.realtime.clients() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket did not close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = scrape(&app.base).await;
    assert_eq!(sum(&closed, "attendance_websocket_clients", &[]), 0.0);
}

#[tokio::test]
async fn a_metrics_token_is_required_once_configured_and_only_as_a_bearer_header() {
    let _one = SCRAPES.lock().await;
    const TOKEN: &str = "scraper token 0123456789";
    let store = seeded_store().await;
    let engine = Arc::new(test_engine(&store));
    let app =
        serve(AppState::new(store, engine, test_keys()).with_metrics_token(Some(TOKEN.into())))
            .await;
    let get = |auth: Option<&str>, query: &str| {
        let mut request = app.client.get(app.url(&format!("/metrics{query}")));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move { request.send().await.unwrap() }
    };
    for (auth, query) in [
        (None, ""),
        (Some("Bearer wrong token 0123456789"), ""),
        (Some("Bearer scraper token 012345678"), ""),
        (Some(TOKEN), ""),
        (None, "?token=scraper%20token%200123456789"),
    ] {
        let response = get(auth, query).await;
        assert_eq!(response.status(), 401, "{auth:?} {query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_authenticated", "{body}");
    }
    // A login token is not the metrics token either.
    let login = app.token("admin").await;
    let response = get(Some(&format!("Bearer {login}")), "").await;
    assert_eq!(response.status(), 401);

    let response = get(Some(&format!("Bearer {TOKEN}")), "").await;
    assert_eq!(response.status(), 200);
    let samples = parse_exposition(&response.text().await.unwrap());
    assert_eq!(sum(&samples, "attendance_build_info", &[]), 1.0);
    // The health probes stay open.
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[test]
fn the_exposition_parser_refuses_what_prometheus_would() {
    let good = "# HELP a_total A thing\n# TYPE a_total counter\na_total{k=\"v \\\" x\",j=\"2\"} 3\n\
                # TYPE h_seconds histogram\nh_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 0.5\nh_seconds_count 1\n";
    let samples = parse_exposition(good);
    assert_eq!(sum(&samples, "a_total", &[("j", "2")]), 3.0);
    assert_eq!(sum(&samples, "h_seconds_count", &[]), 1.0);
    for bad in [
        "untyped_sample 1\n",
        "# TYPE a counter\na 1 2 x\n",
        "# TYPE a counter\na{k=\"v} 1\n",
        "# TYPE 1a counter\n",
        "# TYPE a countr\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_exposition(bad)).is_err(),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_log_line() {
    let data = temp_dir("json-log");
    let mut child = Running(
        binary()
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(&data)
            .env("RUST_LOG", "info")
            .env("ATTENDANCE_ADMIN_USER", "admin")
            .env("ATTENDANCE_ADMIN_PASSWORD", PASSWORD)
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // The lines before the banner are the start-up logs.
    let (later, later_lines) = std::sync::mpsc::channel::<String>();
    let (lines, base) = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let mut base = String::new();
            let mut reader = BufReader::new(stdout).lines();
            for line in reader.by_ref() {
                let line = line.unwrap();
                if let Some(url) = line.strip_prefix("attendance-server listening on ") {
                    base = url.trim().to_owned();
                    break;
                }
                lines.push(line);
            }
            // Keep reading the rest (so the server never meets a full pipe), for the checks below.
            std::thread::spawn(move || {
                for line in reader.map_while(Result::ok) {
                    let _ = later.send(line);
                }
            });
            (lines, base)
        }),
    )
    .await
    .expect("the server starts within 60 s")
    .unwrap();
    assert!(!lines.is_empty(), "no log line before the banner");
    let mut messages = Vec::new();
    for line in &lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line: {line:?}: {e}"));
        assert!(entry["timestamp"].is_string(), "{entry}");
        assert!(
            ["INFO", "WARN", "ERROR", "DEBUG"].contains(&entry["level"].as_str().unwrap()),
            "{entry}"
        );
        messages.push(
            entry["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        messages
            .iter()
            .any(|m| m == "created the first super admin"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "machines started"),
        "{messages:?}"
    );

    // The binary installs the recorder at start: its own requests are counted.
    for _ in 0..2 {
        let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let samples = scrape(&base).await;
    let readyz = [("method", "GET"), ("route", "/readyz"), ("status", "2xx")];
    assert_eq!(
        sum(&samples, "attendance_http_requests_total", &readyz),
        2.0
    );
    assert_eq!(sum(&samples, "attendance_machines", &[]), 0.0);

    // Security events are logged: a failed login and a forbidden request, with the address.
    let client = reqwest::Client::new();
    let failed = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    // A worker's login asks for a page of HR's: 403.
    let admin = login(&base, "admin", PASSWORD).await.unwrap();
    let created = client
        .post(format!("{base}/api/attendance/employees/"))
        .bearer_auth(&admin)
        .json(
            &serde_json::json!({"employee_id": "EMP900", "employee_name": "Clerk",
            "department": "Finishing", "designation": "Clerk", "level_of_work": "Worker"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let account = client
        .post(format!("{base}/api/auth/users/"))
        .bearer_auth(&admin)
        .json(
            &serde_json::json!({"username": "clerk", "password": "clerk password 1",
            "role": "employee", "employee_id": "EMP900"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 201);
    let clerk = login(&base, "clerk", "clerk password 1").await.unwrap();
    let forbidden = client
        .get(format!("{base}/api/attendance/audit-log/?token=x"))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && !(seen.iter().any(|m: &String| m == "login failed")
            && seen.iter().any(|m| m == "request forbidden"))
    {
        let Ok(line) = later_lines.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        // The banner's other lines are plain text.
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if entry["target"] == "security" {
            assert_eq!(entry["fields"]["address"], "127.0.0.1", "{entry}");
            assert!(!line.contains("token=x"), "no query in the log: {line}");
            seen.push(entry["fields"]["message"].as_str().unwrap().to_owned());
        }
    }
    assert!(seen.iter().any(|m| m == "login failed"), "{seen:?}");
    assert!(seen.iter().any(|m| m == "request forbidden"), "{seen:?}");

    // A bad value is refused with the choices.
    let output = crate::cli::run_to_exit({
        let mut command = binary();
        command.args(["serve", "--log-format", "xml"]);
        command
    })
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("json") && stderr.contains("text"),
        "{stderr}"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_scans_are_written_is_consistent_and_holds_every_acknowledged_scan() {
    let data = temp_dir("backup");
    let (server, base) = serve_sqlite_child(&data).await;
    let token = login(&base, "admin", PASSWORD).await.unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/attendance/employees/"))
        .bearer_auth(&token)
        .json(
            &json!({"employee_id": "EMP100", "employee_name": "Backed Up", "department": "Sewing",
            "designation": "Operator", "level_of_work": "Worker", "device_user_id": "100"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Manual scans one minute apart, from a fixed day; the writer reports each acknowledged one.
    let first = chrono_tz::Asia::Dhaka
        .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let at = move |i: i64| first + TimeDelta::minutes(i);
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, base, token, stop) =
            (client.clone(), base.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            // Bounded: at most 3,000 scans, and stopped once the backup is done.
            while i < 3_000 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/api/attendance/scans/"))
                    .bearer_auth(&token)
                    .json(
                        &json!({"employee_id": "EMP100", "scan_time": at(i).to_rfc3339(),
                        "reason": "backup test"}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
                acked_tx.send(i).unwrap();
                i += 1;
            }
            i
        })
    };
    // Let some scans in before the backup starts.
    let mut acked_before = BTreeSet::new();
    while acked_before.len() < 20 {
        acked_before.insert(acked_rx.recv().await.unwrap());
    }
    while let Ok(i) = acked_rx.try_recv() {
        acked_before.insert(i);
    }
    let copy = data.join("backup.sqlite");
    let output = tool(
        &Target::DataDir(data.clone()),
        &["backup", copy.to_str().unwrap()],
        None,
    )
    .await;
    let said = ok(&output);
    assert!(
        said.contains("backed up") && said.contains("backup.sqlite"),
        "{said}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer stops")
        .unwrap();

    let backup = SqliteStore::open(copy.to_str().unwrap(), SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(backup.integrity_check().await.unwrap(), "ok");
    let user = DeviceUserId::parse("100").unwrap();
    let in_copy: BTreeSet<i64> = backup
        .scans_of_user(&user, at(0), at(3_001))
        .await
        .unwrap()
        .iter()
        .map(|s| (s.timestamp - first).num_minutes())
        .collect();
    eprintln!(
        "backup: {} scans acknowledged before it started, {} in the copy, {sent} written in all",
        acked_before.len(),
        in_copy.len()
    );
    // Everything acknowledged before the backup started is in it …
    assert!(
        acked_before.is_subset(&in_copy),
        "missing {:?}",
        acked_before.difference(&in_copy).collect::<Vec<_>>()
    );
    // … and the rest of it is a prefix of what was sent (scans were written one at a time).
    assert_eq!(in_copy, (0..in_copy.len() as i64).collect::<BTreeSet<_>>());
    assert!(in_copy.len() as i64 <= sent);
    // The employee is there too, and the copy is a store like any other.
    assert_eq!(
        backup
            .employee(&attendance_core::employee::EmployeeCode::parse("EMP100").unwrap())
            .await
            .unwrap()
            .employee_name,
        "Backed Up"
    );
    backup.close().await;

    // Never over an existing file; PostgreSQL and memory are told what to do instead.
    let again = tool(
        &Target::DataDir(data.clone()),
        &["backup", copy.to_str().unwrap()],
        None,
    )
    .await;
    refused(&again, "exists already");
    let pg = tool(
        &Target::Database("postgres://someone:secret@127.0.0.1:1/db".into()),
        &["backup", data.join("pg.sqlite").to_str().unwrap()],
        None,
    )
    .await;
    refused(&pg, "pg_dump");
    assert!(!crate::tools::stderr(&pg).contains("secret"));
    let memory = tool(
        &Target::Database("memory:".into()),
        &["backup", data.join("m.sqlite").to_str().unwrap()],
        None,
    )
    .await;
    refused(&memory, "in-memory");
    let nowhere = temp_dir("backup-empty");
    let missing = tool(
        &Target::DataDir(nowhere.clone()),
        &["backup", nowhere.join("c.sqlite").to_str().unwrap()],
        None,
    )
    .await;
    refused(&missing, "no database there");
    assert!(
        !nowhere.join("attendance.sqlite").exists(),
        "backup must not create a database"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&nowhere);
}
