//! The Hikvision codec, digest parser and push router against the captured and documented
//! traffic in `tests/fixtures/hikvision` (byte-exact copies; its README says where each file
//! comes from).

use std::path::PathBuf;

use attendance_adapters::hikvision::codec::{
    AcsEventSearch, PERSON_MINORS, decode_acs_reply, decode_push, info_to_scan,
};
use attendance_adapters::hikvision::digest::parse_challenge;
use attendance_adapters::hikvision::{HikPushConfig, HikPushDevice, HikPushHub, push_router};
use attendance_core::scan::{MachineId, PunchState, VerifyMode};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use tower::ServiceExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hikvision")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn machine() -> MachineId {
    MachineId::parse("HIK-GATE-1").unwrap()
}

/// Splits a raw HTTP message into (its Content-Type, its body).
fn http(name: &str) -> (String, Vec<u8>) {
    let raw = fixture(name);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap()
        .to_owned();
    (content_type, raw[split + 4..].to_vec())
}

#[test]
fn the_real_terminal_reply_decodes_to_card_scans_in_utc() {
    let page = decode_acs_reply(&fixture("acsevent_response_real_gardengate.json")).unwrap();
    assert_eq!(
        (
            page.status.as_str(),
            page.num_of_matches,
            page.total_matches
        ),
        ("OK", 6, 6)
    );
    assert!(!page.has_more());
    let rows = page.info_list.unwrap();
    assert_eq!(rows.len(), 6);
    let scans: Vec<_> = rows
        .iter()
        .map(|r| info_to_scan(r, &PERSON_MINORS, &machine(), chrono_tz::UTC).unwrap())
        .collect();
    assert!(scans.iter().all(|s| s.device_user_id.as_str() == "100054"));
    assert!(scans.iter().all(|s| s.verify_mode == VerifyMode::Card));
    assert!(scans.iter().all(|s| s.punch_state == PunchState::Unknown));
    // 19:05:47+07:00 is 12:05:47 UTC, whatever zone the machine is configured with.
    assert_eq!(scans[0].timestamp, utc("2023-06-09T12:05:47Z"));
    assert_eq!(scans[1].timestamp, utc("2023-06-09T12:29:42Z"));
    let serials: Vec<_> = rows.iter().map(|r| r.serial_no.unwrap()).collect();
    assert_eq!(serials[..3], [42970, 42976, 42980]);

    let request: AcsEventSearch =
        serde_json::from_slice(&fixture("acsevent_request_real_gardengate.json")).unwrap();
    assert_eq!(request.cond.max_results, 2000);
    assert_eq!(request.cond.employee.as_deref(), Some("100054"));
}

#[test]
fn paged_and_empty_synthetic_replies_decode() {
    let page1 = decode_acs_reply(&fixture("synth_page1_response.json")).unwrap();
    assert!(page1.has_more());
    assert_eq!(page1.num_of_matches, 2);
    let rows = page1.info_list.unwrap();
    let scan = info_to_scan(&rows[0], &PERSON_MINORS, &machine(), chrono_tz::UTC).unwrap();
    assert_eq!(scan.verify_mode, VerifyMode::Fingerprint);
    assert_eq!(scan.punch_state, PunchState::CheckIn);
    assert_eq!(scan.timestamp, utc("2026-01-05T02:30:00Z"));
    let page2 = decode_acs_reply(&fixture("synth_page2_response.json")).unwrap();
    assert_eq!((page2.status.as_str(), page2.num_of_matches), ("OK", 1));
    let request: AcsEventSearch =
        serde_json::from_slice(&fixture("synth_page2_request.json")).unwrap();
    assert_eq!(request.cond.position, 2);
    let none = decode_acs_reply(&fixture("synth_no_match_response.json")).unwrap();
    assert_eq!(none.status, "NO MATCH");
    assert!(none.info_list.is_none());
}

#[test]
fn the_digest_challenge_fixture_parses() {
    let raw = String::from_utf8(fixture("digest_challenge_401.http")).unwrap();
    let header = raw
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .unwrap();
    let challenge = parse_challenge(header).unwrap();
    assert_eq!(challenge.realm, "DS-K1T341AM");
    assert_eq!(
        challenge.nonce,
        "4e6a4d354d6a4a6d4e444d364e544d344e7a45334f413d3d"
    );
    assert_eq!(challenge.qop.as_deref(), Some("auth"));
    assert_eq!(challenge.opaque.as_deref(), Some(""));
    assert!(!challenge.stale);
}

#[test]
fn pushed_bodies_decode_despite_the_boundary_case_quirk() {
    // Header `boundary=mime_boundary`, body `--MIME_boundary`: a heartbeat.
    let (content_type, body) = http("httphost_push_heartbeat_DS-K1T323.http");
    assert!(content_type.contains("boundary=mime_boundary"));
    let envelopes = decode_push(&content_type, &body).unwrap();
    assert_eq!(envelopes.len(), 1);
    assert!(envelopes[0].is_heartbeat());
    assert_eq!(envelopes[0].date_time, "2026-09-19T22:05:16+08:30");

    // The open-ended alertStream part: a fingerprint pass of person 1001.
    let (content_type, body) = http("alertstream_response_synth.http");
    let envelopes = decode_push(&content_type, &body).unwrap();
    assert_eq!(envelopes.len(), 1);
    let event = envelopes[0].event.as_ref().unwrap();
    assert_eq!(
        (event.major, event.minor, event.serial_no),
        (5, 38, Some(1001))
    );
    assert_eq!(event.employee_no_string.as_deref(), Some("1001"));
}

#[tokio::test]
async fn the_push_router_ignores_heartbeats_and_forwards_person_events() {
    let (tx, rx) = attendance_adapters::engine::ingest_channel(4);
    let mut rx = rx.acknowledging(4);
    let hub = HikPushHub::new(
        HikPushConfig {
            devices: vec![HikPushDevice {
                machine_id: machine(),
                time_zone: chrono_tz::Asia::Kolkata,
                allowed_sources: Default::default(),
            }],
            ..HikPushConfig::default()
        },
        tx,
    );
    let app: axum::Router = push_router(hub.clone());
    for name in [
        "httphost_push_heartbeat_DS-K1T323.http",
        "alertstream_response_synth.http",
    ] {
        let (content_type, body) = http(name);
        let req = Request::post("/hikvision/events/HIK-GATE-1")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let response = app.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    let batch = rx.try_recv().unwrap();
    assert!(rx.try_recv().is_err(), "the heartbeat made no batch");
    assert_eq!(batch.cursor.unwrap().0, "1001");
    assert_eq!(batch.scans.len(), 1);
    assert_eq!(batch.scans[0].timestamp, utc("2026-01-05T02:30:00Z"));
    assert_eq!(batch.scans[0].punch_state, PunchState::CheckIn);
    let status = hub.status("HIK-GATE-1").unwrap();
    assert_eq!((status.heartbeats, status.scans), (1, 1));

    let (content_type, body) = http("alertstream_response_synth.http");
    let req = Request::post("/hikvision/events/OTHER")
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let req = Request::post("/hikvision/events/HIK-GATE-1")
        .header("content-type", "application/json")
        .body(Body::from("not json"))
        .unwrap();
    assert_eq!(
        app.oneshot(req).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn older_firmware_rows_and_broken_rows_do_not_sink_the_page() {
    let body = br#"{"AcsEvent": {"searchID": "x", "responseStatusStrg": "OK", "numOfMatches": 3,
        "totalMatches": 3, "InfoList": [
        {"major": 5, "minor": 38, "time": "2026-01-05T08:00:00+06:00", "employeeNo": 42, "serialNo": 7},
        {"major": 5, "minor": 75, "employeeNoString": "43", "serialNo": 8},
        {"major": 5, "minor": 75, "time": "2026-01-05T08:00:00", "employeeNo": "0044", "serialNo": 9}]}}"#;
    let rows = decode_acs_reply(body).unwrap().info_list.unwrap();
    let scan = info_to_scan(&rows[0], &PERSON_MINORS, &machine(), chrono_tz::UTC).unwrap();
    assert_eq!(scan.device_user_id.as_str(), "42");
    assert_eq!(scan.timestamp, utc("2026-01-05T02:00:00Z"));
    let skip = info_to_scan(&rows[1], &PERSON_MINORS, &machine(), chrono_tz::UTC).unwrap_err();
    assert!(skip.is_malformed(), "{skip}");
    // No offset: the machine's zone applies.
    let scan = info_to_scan(&rows[2], &PERSON_MINORS, &machine(), chrono_tz::Asia::Dhaka).unwrap();
    assert_eq!(scan.device_user_id.as_str(), "0044");
    assert_eq!(scan.timestamp, utc("2026-01-05T02:00:00Z"));
}
