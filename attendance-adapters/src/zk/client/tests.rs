//! Reply numbers, verify modes and the conversion of records to scans.

use attendance_core::scan::{MachineId, VerifyMode};
use bytes::BytesMut;

use super::*;
use crate::zk::codec::{AttendanceRecord, RecordLayout};

#[test]
fn reply_numbers_wrap_like_pyzk() {
    assert_eq!(next_reply(65_534), 0);
    assert_eq!(next_reply(0), 1);
    assert_eq!(next_reply(65_535), 0);
}

#[test]
fn verify_modes() {
    assert_eq!(verify_mode(1), VerifyMode::Fingerprint);
    assert_eq!(verify_mode(15), VerifyMode::Face);
    assert_eq!(verify_mode(4), VerifyMode::Other(4));
}

#[test]
fn bad_dates_spoil_only_their_record() {
    let good = AttendanceRecord {
        uid: 1,
        user_id: "1001".into(),
        verify_type: 1,
        punch_state: 0,
        time: 836_035_200,
        work_code: 0,
    };
    let feb31 = AttendanceRecord {
        time: (26 * 12 * 31 + 31 + 30) * 86_400,
        ..good.clone()
    };
    let mut raw = BytesMut::new();
    good.encode(RecordLayout::Text40, &mut raw).unwrap();
    feb31.encode(RecordLayout::Text40, &mut raw).unwrap();
    let dump = AttendanceDump {
        layout: Some(RecordLayout::Text40),
        records: vec![good, feb31],
        raw: raw.freeze(),
    };
    let machine = MachineId::parse("M1").unwrap();
    let (scans, bad) = records_to_scans(&dump, &[], &machine, chrono_tz::Asia::Dhaka);
    assert_eq!(scans.len(), 1);
    // 08:00 in Dhaka (UTC+6) is 02:00 UTC.
    assert_eq!(scans[0].timestamp.to_rfc3339(), "2026-01-05T02:00:00+00:00");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].index, 1);
    assert!(matches!(bad[0].reason, BadRecordReason::Time(_)));
}
