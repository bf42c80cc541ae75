//! 500 WebSocket clients of mixed roles while ADMS pushes stream in (issue 15): every client
//! gets every `scan_received` its role allows (an employee their own, a department head their
//! department's, HR everyone's) and nothing else about anyone outside its scope. The server is
//! served by the product's own accept loop ([`attendance_server::serve`]). Prints the connect
//! time and the push → event latency (p50, p99).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attendance_adapters::manager::{Backoff, ManagerConfig};
use attendance_core::access::Role;
use attendance_server::AppState;
use attendance_server::runtime::{MachineRuntime, RuntimeConfig};
use attendance_server::serve::{HttpLimits, serve};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, create_accounts, employee, test_engine, test_keys};

const CLIENTS: usize = 500;
const BATCHES: i64 = 20;
const SERIAL: &str = "SCALE001";
const DHAKA: chrono_tz::Tz = chrono_tz::Asia::Dhaka;
const DEPARTMENTS: [(&str, [&str; 4]); 3] = [
    ("Sewing", ["EMP101", "EMP102", "EMP103", "EMP104"]),
    ("Cutting", ["EMP201", "EMP202", "EMP203", "EMP204"]),
    ("Finishing", ["EMP301", "EMP302", "EMP303", "EMP304"]),
];

/// Who a client is: its username and the employees whose events it may see (`None`: all).
#[derive(Clone)]
struct Client {
    user: String,
    scope: Option<Vec<String>>,
}

/// What one client received.
#[derive(Default)]
struct Received {
    scans: HashMap<String, u64>,
    outside_scope: Vec<Value>,
    lagged: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_websocket_clients_get_exactly_what_their_role_allows() {
    let test_started = Instant::now();
    // The store: 3 departments of 4 employees; a head per department (its first employee), an
    // account per other employee, HR.
    let store: Arc<dyn attendance_core::store::Store> =
        Arc::new(attendance_core::store::memory::MemoryStore::new());
    let mut accounts: Vec<(String, Role, Option<String>)> =
        vec![("hr".into(), Role::HrStaff, None)];
    let mut clients_of_role: Vec<Vec<Client>> = vec![Vec::new(), Vec::new(), Vec::new()];
    clients_of_role[0].push(Client {
        user: "hr".into(),
        scope: None,
    });
    for (department, codes) in DEPARTMENTS {
        for (i, code) in codes.iter().enumerate() {
            store
                .create_employee(&employee(code, department))
                .await
                .unwrap();
            if i == 0 {
                let user = format!("head-{}", department.to_lowercase());
                accounts.push((user.clone(), Role::DepartmentHead, Some((*code).into())));
                clients_of_role[1].push(Client {
                    user,
                    scope: Some(codes.iter().map(|c| (*c).to_owned()).collect()),
                });
            } else {
                let user = code.to_lowercase();
                accounts.push((user.clone(), Role::Employee, Some((*code).into())));
                clients_of_role[2].push(Client {
                    user,
                    scope: Some(vec![(*code).to_owned()]),
                });
            }
        }
    }
    let refs: Vec<(&str, Role, Option<&str>)> = accounts
        .iter()
        .map(|(u, r, e)| (u.as_str(), *r, e.as_deref()))
        .collect();
    create_accounts(store.as_ref(), &refs).await;

    // The server, with its machines and the product's accept loop (default limits).
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
            ..RuntimeConfig::default()
        },
    );
    let state = AppState::new(store.clone(), engine, test_keys()).with_machines(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_server, stopped) = watch::channel(false);
    let serving = tokio::spawn(serve(
        listener,
        attendance_server::app(state.clone()),
        HttpLimits::default(),
        async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    let app = TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store: store.clone(),
    };

    // One login per account; 10 % of the clients are HR, 30 % heads, 60 % employees.
    let mut tokens = HashMap::new();
    for (user, _, _) in &accounts {
        tokens.insert(user.clone(), app.token(user).await);
    }
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            let role = match i % 10 {
                0 => 0,
                1..=3 => 1,
                _ => 2,
            };
            let of_role = &clients_of_role[role];
            of_role[(i / 10) % of_role.len()].clone()
        })
        .collect();

    // The ADMS machine.
    let r = app
        .client
        .post(app.url("/api/attendance/machines/"))
        .bearer_auth(&tokens["hr"])
        .json(
            &json!({"machine_id": "ADMS-SCALE", "name": "Gate", "machine_type": "zkteco_adms",
            "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka", "config": {"serial": SERIAL}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !runtime.hub().is_allowed(SERIAL) {
        assert!(Instant::now() < deadline, "the ADMS machine never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Connect every client (all at once), each counting what it receives until told to stop.
    let connect_started = Instant::now();
    let (stop_clients, clients_stop) = watch::channel(false);
    // Push instants, by batch; each event's latency is measured from its batch's push.
    let pushed_at: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    // scan_received events received by all the clients together.
    let received_total = Arc::new(AtomicU64::new(0));
    let base: DateTime<Utc> = {
        let day: NaiveDate = (Utc::now().with_timezone(&DHAKA) - TimeDelta::days(1)).date_naive();
        attendance_core::time::local_to_utc(DHAKA, day.and_hms_opt(7, 0, 0).unwrap())
    };
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel::<()>(CLIENTS);
    let mut tasks = Vec::with_capacity(CLIENTS);
    for client in &clients {
        let url = format!("ws://{addr}/ws?token={}", tokens[&client.user]);
        let scope = client.scope.clone();
        let mut stop = clients_stop.clone();
        let connected = connected_tx.clone();
        let pushed_at = pushed_at.clone();
        let latencies = latencies.clone();
        let received_total = received_total.clone();
        tasks.push(tokio::spawn(async move {
            let (mut socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
            assert_eq!(response.status(), 101);
            connected.send(()).await.unwrap();
            let mut received = Received::default();
            let mut mine = Vec::new();
            loop {
                let frame = tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    frame = socket.next() => frame,
                };
                let Some(Ok(frame)) = frame else { break };
                let Message::Text(text) = frame else { continue };
                let event: Value = serde_json::from_str(text.as_str()).unwrap();
                if event["data"]["kind"] == "lagged" {
                    received.lagged = true;
                }
                let Some(who) = event["data"]["employee_id"].as_str() else {
                    // Site-wide events (machines, system status) only reach HR.
                    if scope.is_some() && event["type"] != "error_occurred" {
                        received.outside_scope.push(event);
                    }
                    continue;
                };
                if scope.as_ref().is_some_and(|s| !s.iter().any(|c| c == who)) {
                    received.outside_scope.push(event.clone());
                }
                if event["type"] == "scan_received" {
                    *received.scans.entry(who.to_owned()).or_default() += 1;
                    received_total.fetch_add(1, Ordering::Relaxed);
                    let at: DateTime<Utc> =
                        serde_json::from_value(event["data"]["timestamp"].clone()).unwrap();
                    mine.push(((at - base).num_minutes(), Instant::now()));
                }
            }
            let pushed = pushed_at.lock().unwrap().clone();
            latencies.lock().unwrap().extend(
                mine.into_iter()
                    .filter_map(|(batch, at)| Some(at.duration_since(*pushed.get(&batch)?))),
            );
            received
        }));
    }
    drop(connected_tx);
    for _ in 0..CLIENTS {
        tokio::time::timeout(Duration::from_secs(60), connected_rx.recv())
            .await
            .expect("every client connects within 60 s")
            .expect("a client task failed before connecting");
    }
    let connect_time = connect_started.elapsed();
    println!("{CLIENTS} WebSocket clients connected in {connect_time:?}");

    // Stream the scans: BATCHES uploads of one line per employee, each a minute apart.
    let push_started = Instant::now();
    for batch in 0..BATCHES {
        let mut body = String::new();
        for (_, codes) in DEPARTMENTS {
            for code in codes {
                let at = (base + TimeDelta::minutes(batch))
                    .with_timezone(&DHAKA)
                    .format("%Y-%m-%d %H:%M:%S");
                body.push_str(&format!("{}\t{at}\t0\t1\t0\t0\n", &code[3..]));
            }
        }
        pushed_at.lock().unwrap().insert(batch, Instant::now());
        let url = app.url(&format!(
            "/iclock/cdata?SN={SERIAL}&table=ATTLOG&Stamp={}",
            batch + 1
        ));
        // A device re-sends an upload whose answer it did not get (the store deduplicates);
        // so does this one, at most twice, saying so.
        let mut attempt = 0;
        let r = loop {
            match app.client.post(&url).body(body.clone()).send().await {
                Ok(r) => break r,
                Err(e) if attempt < 2 => {
                    attempt += 1;
                    println!("upload {batch} re-sent after a transport error: {e:?}");
                }
                Err(e) => panic!("upload {batch}: {e:?}"),
            }
        };
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "OK: 12");
    }
    println!(
        "{} scans pushed in {BATCHES} uploads in {:?}",
        BATCHES * 12,
        push_started.elapsed()
    );
    assert_eq!(store.count_scans().await.unwrap(), BATCHES as u64 * 12);

    // Every client should have everything it may see within 60 s; a further second shows
    // anything extra. Then count.
    let expected_total: u64 = clients
        .iter()
        .map(|c| c.scope.as_ref().map_or(12, Vec::len) as u64 * BATCHES as u64)
        .sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received_total.load(Ordering::Relaxed) < expected_total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "all {} expected events in {:?} after the first push",
        received_total.load(Ordering::Relaxed),
        push_started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_clients.send(true);
    let mut delivered = 0u64;
    for (client, task) in clients.iter().zip(tasks) {
        let received = task.await.unwrap();
        assert!(!received.lagged, "{} lagged", client.user);
        assert!(
            received.outside_scope.is_empty(),
            "{} received events outside its scope: {:?}",
            client.user,
            &received.outside_scope[..received.outside_scope.len().min(3)]
        );
        let expected: Vec<String> = match &client.scope {
            Some(scope) => scope.clone(),
            None => DEPARTMENTS
                .iter()
                .flat_map(|(_, codes)| codes.iter().map(|c| (*c).to_owned()))
                .collect(),
        };
        for code in &expected {
            assert_eq!(
                received.scans.get(code).copied().unwrap_or(0),
                BATCHES as u64,
                "{} received {:?} scan_received events of {code}",
                client.user,
                received.scans.get(code)
            );
        }
        assert_eq!(received.scans.len(), expected.len(), "{}", client.user);
        delivered += received.scans.values().sum::<u64>();
    }
    assert_eq!(delivered, expected_total);
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    println!(
        "{delivered} scan_received events delivered to {CLIENTS} clients (HR {}, heads {}, employees {}); push → event latency p50 {:?}, p99 {:?}, max {:?}; whole test {:?}",
        clients.iter().filter(|c| c.scope.is_none()).count(),
        clients
            .iter()
            .filter(|c| c.scope.as_ref().is_some_and(|s| s.len() == 4))
            .count(),
        clients
            .iter()
            .filter(|c| c.scope.as_ref().is_some_and(|s| s.len() == 1))
            .count(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        test_started.elapsed()
    );
    state.realtime.shutdown();
    let _ = stop_server.send(true);
    tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("the server stops within 20 s")
        .unwrap();
    runtime.shutdown().await;
}
