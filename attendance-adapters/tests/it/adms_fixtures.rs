//! The ADMS codec and router against the captured and documented traffic in
//! `tests/fixtures/adms` (byte-exact copies; its README says where each file comes from).

use std::path::PathBuf;

use attendance_adapters::adms::codec::{
    parse_attlog, parse_commands, parse_devicecmd, parse_handshake, parse_operlog,
};
use attendance_adapters::adms::{AdmsConfig, AdmsDevice, AdmsHub, router};
use attendance_core::scan::{MachineId, PunchState, VerifyMode};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use tower::ServiceExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/adms")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// One ATTLOG fixture: (PIN, local time, state, verify mode) per line.
fn check(name: &str, want: &[(&str, &str, PunchState, VerifyMode)]) {
    let parsed = parse_attlog(&text(name));
    assert!(parsed.rejected.is_empty(), "{name}: {:?}", parsed.rejected);
    let got: Vec<_> = parsed
        .records
        .iter()
        .map(|(r, _)| {
            (
                r.pin.clone(),
                r.time.to_string(),
                r.punch_state(),
                r.verify_mode(),
            )
        })
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|(p, t, s, v)| (p.to_string(), t.to_string(), *s, *v))
        .collect();
    assert_eq!(got, want, "{name}");
}

#[test]
fn attlog_fixtures_decode_to_users_times_states_and_modes() {
    use PunchState::*;
    check(
        "10_attlog_5fields_legacy.txt",
        &[(
            "123",
            "2024-01-01 08:00:00",
            CheckIn,
            VerifyMode::Fingerprint,
        )],
    );
    check(
        "11_attlog_7fields_BOCK200961014.txt",
        &[
            ("1", "2024-07-28 01:25:24", CheckIn, VerifyMode::Fingerprint),
            ("4", "2024-07-28 10:41:31", CheckIn, VerifyMode::Fingerprint),
        ],
    );
    check(
        "12_attlog_10fields_essl_face.txt",
        &[("9001", "2026-07-28 22:40:21", CheckOut, VerifyMode::Face)],
    );
    check(
        "13_attlog_10fields_workcode43.txt",
        &[("2", "2022-07-12 16:00:20", CheckOut, VerifyMode::Face)],
    );
    // Column 10 is kept raw for a per-device profile; the empty work code is no work code.
    let parsed = parse_attlog(&text("13_attlog_10fields_workcode43.txt"));
    let record = &parsed.records[0].0;
    assert_eq!(record.extra.len(), 6);
    assert_eq!(record.extra[5], "43");
    assert_eq!(record.work_code(), None);
    // The 7-column capture has CRLF between lines and no final newline: the raw lines keep no CR.
    let parsed = parse_attlog(&text("11_attlog_7fields_BOCK200961014.txt"));
    assert_eq!(parsed.records[0].1, "1\t2024-07-28 01:25:24\t0\t1\t\t0\t0");
    assert_eq!(parsed.records[1].1, "4\t2024-07-28 10:41:31\t0\t1\t\t0\t0");
}

#[test]
fn operlog_and_biodata_are_counted_not_parsed_as_punches() {
    let counts = parse_operlog(&text("20_operlog_mixed.txt"));
    assert_eq!(
        (
            counts.oplog,
            counts.users,
            counts.fingerprints,
            counts.other
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(counts.handled(), 3);
    assert_eq!(parse_operlog(&text("21_biodata.txt")).biodata, 1);
    // Fed to the ATTLOG parser by mistake, they are rejected lines, not punches.
    assert!(
        parse_attlog(&text("20_operlog_mixed.txt"))
            .records
            .is_empty()
    );
}

#[test]
fn handshake_commands_and_results_fixtures_decode() {
    let response = text("02_handshake_response.http");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let reply = parse_handshake(body).unwrap();
    assert_eq!(reply.serial, "0316144680030");
    assert_eq!(reply.get("ATTLOGStamp"), Some("None"));
    assert_eq!(reply.number("Delay"), Some(10));
    assert_eq!(reply.number("ErrorDelay"), Some(30));
    assert_eq!(reply.number("TimeZone"), Some(8));
    assert_eq!(reply.number("Realtime"), Some(1));
    assert!(reply.get("TransFlag").unwrap().contains("AttLog\tOpLog"));

    let commands = parse_commands(&text("30_getrequest_commands_response.txt"));
    let ids: Vec<_> = commands.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["101", "102", "103", "104", "105"]);
    assert!(
        commands[1]
            .command
            .starts_with("DATA UPDATE USERINFO PIN=2001\tName=Dave")
    );

    let results = parse_devicecmd(&text("31_devicecmd_info_reply.txt"));
    assert_eq!(results.len(), 1);
    assert_eq!(
        (
            results[0].id.as_str(),
            results[0].return_code,
            results[0].cmd.as_str()
        ),
        ("101", Some(0), "INFO")
    );
    assert_eq!(results[0].info.len(), 7);
    assert_eq!(
        results[0].info[0],
        ("~DeviceName".into(), "SpeedFace-V5L".into())
    );

    let request = text("06_devicecmd_request.http");
    let body = request.split_once("\r\n\r\n").unwrap().1;
    let results = parse_devicecmd(body);
    assert_eq!(results.len(), 5);
    assert_eq!(results[4].id, "fp7464");
}

/// Turns a raw `.http` request fixture into an axum request.
fn request(name: &str) -> Request<Body> {
    let raw = fixture(name);
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap().split(' ');
    let (method, uri) = (first.next().unwrap(), first.next().unwrap());
    let mut builder = Request::builder().method(method).uri(uri);
    for line in lines {
        let (k, v) = line.split_once(": ").unwrap();
        builder = builder.header(k, v);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

async fn reply(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[test]
fn time_zone_options_are_hours_or_minutes() {
    use attendance_adapters::adms::device_time_zone;
    let now = utc("2026-01-05T00:00:00Z");
    assert_eq!(device_time_zone(chrono_tz::Asia::Dhaka, now), 6);
    assert_eq!(device_time_zone(chrono_tz::Asia::Kolkata, now), 330);
    assert_eq!(device_time_zone(chrono_tz::Asia::Kathmandu, now), 345);
    assert_eq!(device_time_zone(chrono_tz::America::New_York, now), -5);
    assert_eq!(device_time_zone(chrono_tz::UTC, now), 0);
}

#[tokio::test]
async fn router_answers_the_documented_requests() {
    let (tx, rx) = attendance_adapters::engine::ingest_channel(8);
    let mut rx = rx.acknowledging(8);
    let device = AdmsDevice {
        serial: "0316144680030".into(),
        machine_id: MachineId::parse("0316144680030").unwrap(),
        time_zone: chrono_tz::Asia::Shanghai,
        allowed_sources: Default::default(),
    };
    let hub = AdmsHub::new(
        AdmsConfig {
            devices: vec![device],
            ..AdmsConfig::default()
        },
        tx,
    );
    let app: axum::Router = router(hub.clone());

    let (status, body) = reply(&app, request("01_handshake_request.http")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("GET OPTION FROM: 0316144680030\n"),
        "{body}"
    );
    assert_eq!(
        hub.status("0316144680030").unwrap().push_version.as_deref(),
        Some("2.2.14")
    );

    let (status, body) = reply(&app, request("03_options_push_request.http")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));

    let id = hub.queue_command("0316144680030", "INFO").unwrap();
    let (status, body) = reply(&app, request("04_getrequest_info_request.http")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("C:{id}:INFO\n"));
    let status = hub.status("0316144680030").unwrap();
    assert_eq!(status.firmware(), Some("Ver 2.0.12-20150625"));
    assert_eq!(status.record_count(), Some(0));

    let (status, body) = reply(&app, request("06_devicecmd_request.http")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(
        hub.command_result("0316144680030", "info8487")
            .unwrap()
            .return_code,
        Some(0)
    );

    // The ping fixture comes from another device: not on the allow-list.
    let (status, _) = reply(&app, request("05_ping_request.http")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The eSSL capture posted to `.aspx`, with a 10-column line; the 7-column CRLF capture.
    for (path, name, n) in [
        ("/iclock/cdata.aspx", "12_attlog_10fields_essl_face.txt", 1),
        ("/iclock/cdata", "11_attlog_7fields_BOCK200961014.txt", 2),
    ] {
        let req = Request::post(format!("{path}?SN=0316144680030&table=attlog&Stamp=9"))
            .body(Body::from(fixture(name)))
            .unwrap();
        let (status, body) = reply(&app, req).await;
        assert_eq!((status, body), (StatusCode::OK, format!("OK: {n}")));
    }
    let batch = rx.recv().await.unwrap();
    assert_eq!(batch.cursor.unwrap().0, "9");
    assert_eq!(batch.scans[0].device_user_id.as_str(), "9001");
    // 22:40:21 in Shanghai (UTC+8) is 14:40:21 UTC.
    assert_eq!(batch.scans[0].timestamp, utc("2026-07-28T14:40:21Z"));
    assert_eq!(batch.scans[0].verify_mode, VerifyMode::Face);
    let batch = rx.recv().await.unwrap();
    assert_eq!(batch.scans.len(), 2);
    assert_eq!(batch.scans[1].timestamp, utc("2024-07-28T02:41:31Z"));

    // OPERLOG is acknowledged with its line count and sends no batch.
    let req = Request::post("/iclock/cdata?SN=0316144680030&table=OPERLOG&Stamp=3")
        .body(Body::from(fixture("20_operlog_mixed.txt")))
        .unwrap();
    assert_eq!(reply(&app, req).await, (StatusCode::OK, "OK: 3".into()));
    assert!(rx.try_recv().is_err());

    // No SN at all.
    let req = Request::get("/iclock/cdata?options=all")
        .body(Body::empty())
        .unwrap();
    assert_eq!(reply(&app, req).await.0, StatusCode::BAD_REQUEST);
}
