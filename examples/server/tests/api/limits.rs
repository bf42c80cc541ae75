//! The HTTP listeners' limits over real sockets (issue 15): a silent connection, a trickled
//! request head, a slow body and an idle keep-alive connection are cut; the connection cap holds
//! (the extra client waits in the backlog) and frees up; a WebSocket outlives the idle timeout;
//! `--iclock-bind` serves the device pushes on their own port only.

use std::time::{Duration, Instant};

use crate::cors::{ADMIN_PASSWORD, start};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "root";

async fn admin_token(base: &str) -> String {
    let login: Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// Reads until the server closes the connection (EOF or reset); what was read. Fails after
/// `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; read so far: {}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
}

#[tokio::test]
async fn silent_trickling_and_idle_connections_are_cut() {
    let server = start(&[
        "--header-timeout",
        "1",
        "--idle-timeout",
        "2",
        "--body-timeout",
        "2",
    ])
    .await;
    let addr = server.addr;

    // A client that connects and sends nothing.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let read = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(read.is_empty());
    println!("silent connection closed after {:?}", started.elapsed());

    // A client that trickles its request head, a byte every 100 ms (5 s for the whole head).
    let started = Instant::now();
    let mut trickling = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-client\r\n\r\n";
    let mut cut = false;
    for byte in head {
        if trickling.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !cut {
        // Every byte was written (the kernel took them): the server must have closed by now
        // without answering.
        let read = read_until_closed(&mut trickling, Duration::from_secs(10)).await;
        assert!(
            !String::from_utf8_lossy(&read).contains("200 OK"),
            "the trickled request was answered"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    println!("trickling head cut after {:?}", started.elapsed());

    // A body slower than the limit: 100 bytes announced, a byte every 100 ms (10 s).
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..99 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the slow body was not cut within 10 s");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    trickle.abort();
    println!(
        "slow body answered 408 and closed after {:?}",
        started.elapsed()
    );

    // A keep-alive connection: one request answered, then silence.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let read = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    let read = String::from_utf8_lossy(&read);
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed before the idle timeout: {:?}",
        started.elapsed()
    );
    println!(
        "idle keep-alive connection closed after {:?}",
        started.elapsed()
    );

    // The server still answers.
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops within 20 s");
}

#[tokio::test]
async fn the_connection_cap_holds_and_frees_up() {
    let server = start(&["--max-connections", "2", "--header-timeout", "60"]).await;
    let addr = server.addr;
    // Two connections take both slots (they send nothing; the head timeout is long).
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    // Let the server accept them.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A third client waits in the backlog: no answer while both are open.
    let client = reqwest::Client::builder().build().unwrap();
    let waiting = client
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_millis(1500))
        .send()
        .await;
    assert!(
        waiting.as_ref().is_err_and(reqwest::Error::is_timeout),
        "a third connection was served: {waiting:?}"
    );

    // One closes: the next client is served.
    let pending = tokio::spawn({
        let client = client.clone();
        async move {
            let started = Instant::now();
            let r = client
                .get(format!("http://{addr}/healthz"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(first);
    let (status, waited) = pending.await.unwrap();
    assert_eq!(status, 200);
    println!(
        "the waiting client was served {waited:?} after it connected (a slot freed at ~500 ms)"
    );
    drop(_second);
    drop(client);
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops within 20 s");
}

#[tokio::test]
async fn websockets_outlive_the_idle_timeout() {
    let server = start(&[
        "--header-timeout",
        "1",
        "--idle-timeout",
        "1",
        "--ws-port",
        "0",
    ])
    .await;
    let token = admin_token(&format!("http://{}", server.addr)).await;
    let urls = [
        format!("ws://{}/ws?token={token}", server.addr),
        format!("ws://{}/?token={token}", server.ws_addr.unwrap()),
    ];
    let mut sockets = Vec::new();
    for url in &urls {
        let (socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(response.status(), 101);
        sockets.push(socket);
    }
    // Silent for three idle timeouts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for socket in &mut sockets {
        socket
            .send(Message::Text(json!({"type": "ping"}).to_string().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
        .unwrap();
        let pong: Value = serde_json::from_str(&pong.expect("the WebSocket was closed")).unwrap();
        assert_eq!(pong["type"], "pong");
    }
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops within 20 s");
}

#[tokio::test]
async fn iclock_bind_serves_the_pushes_on_their_own_port_only() {
    let server = start(&["--iclock-bind", "127.0.0.1:0"]).await;
    let devices = server.iclock_addr.expect("a device address");
    assert_ne!(devices, server.addr);
    let banner = server.banner();
    assert!(
        banner.contains(&format!("http://{devices}/iclock/")),
        "{banner}"
    );
    let base = format!("http://{}", server.addr);
    let token = admin_token(&base).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/attendance/employees/"))
        .bearer_auth(&token)
        .json(
            &json!({"employee_id": "EMP100", "employee_name": "Pusher", "department": "Sewing",
            "designation": "Operator", "level_of_work": "Worker", "device_user_id": "100"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = client
        .post(format!("{base}/api/attendance/machines/"))
        .bearer_auth(&token)
        .json(&json!({"machine_id": "ADMS-BIND", "name": "Gate", "machine_type": "zkteco_adms",
            "ip_address": "127.0.0.1", "time_zone": "Asia/Dhaka", "config": {"serial": "BIND0001"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let day = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Dhaka)
        - chrono::TimeDelta::days(1))
    .date_naive()
    .format("%Y-%m-%d");
    let body = format!("100\t{day} 08:00:00\t0\t1\t0\t0\n");
    let path = "/iclock/cdata?SN=BIND0001&table=ATTLOG&Stamp=5";
    // Not on the API's port.
    let r = client
        .post(format!("{base}{path}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("{base}/iclock/cdata?SN=BIND0001&options=all"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // On the device port (the serial is allowed once the machine's task runs).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = client
            .post(format!("http://{devices}{path}"))
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
        assert!(tokio::time::Instant::now() < deadline, "{status} {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while server.state.store.count_scans().await.unwrap() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pushed scan was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The API is not on the device port.
    let r = client
        .get(format!("http://{devices}/api/attendance/employees/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops within 20 s");
}
