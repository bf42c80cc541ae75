//! The BioStar codec against the documented traffic in `tests/fixtures/biostar` (its README says
//! where each file comes from), and the event-code mapping against the G-SDK code table.

use std::path::PathBuf;

use attendance_adapters::biostar::codec::{
    DEFAULT_PUNCH_FAMILIES, LoginRequest, SESSION_HEADER, SearchRequest, decode_search_response,
    operator, row_to_scan, verify_mode,
};
use attendance_core::scan::{MachineId, VerifyMode};
use chrono::{DateTime, Utc};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/biostar")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn login_fixtures_decode() {
    let request: LoginRequest = serde_json::from_str(&fixture("login_request.json")).unwrap();
    assert_eq!(request.user.login_id, "admin");
    let response = fixture("login_response.http");
    let session = response
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{SESSION_HEADER}: ")))
        .unwrap();
    assert_eq!(session, "7f3c2a9e1d4b4c0e9a8f6b5d4c3b2a19");
}

#[test]
fn search_requests_decode_with_their_operators() {
    let first: SearchRequest =
        serde_json::from_str(&fixture("events_search_request.json")).unwrap();
    assert_eq!(first.query.limit, 100);
    assert_eq!(first.query.conditions[0].operator, operator::BETWEEN);
    assert_eq!(first.query.conditions[1].operator, operator::CONTAINS);
    assert_eq!(first.query.conditions[1].values[..2], ["4865", "4867"]);
    assert_eq!(first.query.orders[0].column, "datetime");
    let next: SearchRequest =
        serde_json::from_str(&fixture("events_search_next_page_request.json")).unwrap();
    assert_eq!(next.query.conditions[1].operator, operator::GREATER);
    assert_eq!(next.query.conditions[1].values, ["3"]);
}

#[test]
fn the_search_response_decodes_to_users_utc_times_and_modes() {
    let reply =
        decode_search_response(fixture("events_search_response_SYNTH.json").as_bytes()).unwrap();
    assert_eq!(reply.response.unwrap().code, "0");
    let machine = MachineId::parse("BIOSTAR-1").unwrap();
    let scans: Vec<_> = reply
        .collection
        .rows
        .iter()
        .map(|r| row_to_scan(r, &DEFAULT_PUNCH_FAMILIES, &machine).unwrap())
        .collect();
    let got: Vec<_> = scans
        .iter()
        .map(|s| (s.device_user_id.as_str(), s.timestamp, s.verify_mode))
        .collect();
    assert_eq!(
        got,
        [
            ("1001", utc("2026-01-05T02:30:00Z"), VerifyMode::Fingerprint),
            ("1002", utc("2026-01-05T02:31:30Z"), VerifyMode::Face),
            ("1001", utc("2026-01-05T12:00:00Z"), VerifyMode::Fingerprint),
        ]
    );
}

/// The mode a G-SDK sub-code name implies: the first biometric it names, else a card-like
/// credential, else a PIN; no sub code means unknown.
fn mode_from_name(sub_name: &str) -> VerifyMode {
    let tokens: Vec<&str> = sub_name.split('_').collect();
    if sub_name.is_empty() {
        return VerifyMode::Unknown;
    }
    if let Some(t) = tokens.iter().find(|t| **t == "FACE" || **t == "FINGER") {
        return if *t == "FACE" {
            VerifyMode::Face
        } else {
            VerifyMode::Fingerprint
        };
    }
    if tokens.iter().any(|t| {
        matches!(
            *t,
            "CARD" | "AOC" | "MOBLIE" | "MOBILE" | "QR" | "LOCKOVERRIDE"
        )
    }) {
        return VerifyMode::Card;
    }
    if tokens.contains(&"PIN") {
        return VerifyMode::Password;
    }
    VerifyMode::Unknown
}

#[test]
fn every_success_code_of_the_gsdk_table_maps_to_the_mode_its_name_says() {
    let table = fixture("gsdk_auth_event_codes.csv");
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let code: u32 = cols[0].parse().unwrap();
        let family: u32 = cols[2].parse().unwrap();
        let success = matches!(family, 0x1000 | 0x1200 | 0x1300 | 0x1500);
        let want = if success {
            mode_from_name(cols[5])
        } else {
            VerifyMode::Unknown
        };
        assert_eq!(verify_mode(code), want, "{line}");
        checked += 1;
    }
    assert!(checked > 100, "{checked} codes");
}

#[test]
fn rows_without_a_datetime_or_user_are_skipped_not_fatal() {
    let body = br#"{"EventCollection": {"rows": [
        {"id": 1, "event_type_id": {"code": 4865}, "user_id": {"user_id": "7"}},
        {"id": "2", "datetime": "2026-01-05T02:30:00.00Z", "event_type_id": {"code": "4867"}},
        {"id": "3", "datetime": "2026-01-05T02:30:00.00Z", "event_type_id": {"code": "6401"},
         "user_id": {"user_id": "7"}}]}}"#;
    let rows = decode_search_response(body).unwrap().collection.rows;
    let machine = MachineId::parse("BIOSTAR-1").unwrap();
    let skips: Vec<_> = rows
        .iter()
        .map(|r| row_to_scan(r, &DEFAULT_PUNCH_FAMILIES, &machine).unwrap_err())
        .collect();
    assert!(skips[0].is_malformed() && skips[1].is_malformed());
    assert!(!skips[2].is_malformed(), "access denied is not a punch");
    let rows = decode_search_response(br#"{"EventCollection": {"rows": null}}"#).unwrap();
    assert!(rows.collection.rows.is_empty());
}
