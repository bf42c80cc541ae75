//! ZKTeco bulk-read datasets (`u32 total_bytes` + entries) as attendance records and user
//! records, every layout the sizes allow, converted to scans; records re-encoded decode the same.
//! The second half checks the encoders on records built from arbitrary fields.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use attendance_adapters::zk::client::{AttendanceDump, records_to_scans};
use attendance_adapters::zk::codec::{
    AttendanceRecord, RecordLayout, UserLayout, UserRecord, attendance_layout, dataset_body,
    decode_attendance_records, decode_user_records, decode_zk_time, encode_zk_time, user_layout,
};
use attendance_fuzz::{machine, zone};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fn record_round_trip(layout: RecordLayout, record: &AttendanceRecord) {
    let mut wire = BytesMut::new();
    if record.encode(layout, &mut wire).is_ok() {
        assert_eq!(wire.len(), layout.size());
        assert_eq!(AttendanceRecord::decode(layout, &wire).as_ref(), Ok(record));
    } else {
        assert!(wire.is_empty(), "a failed encode writes nothing");
    }
}

fn user_round_trip(layout: UserLayout, user: &UserRecord) {
    let mut wire = BytesMut::new();
    if user.encode(layout, &mut wire).is_ok() {
        assert_eq!(wire.len(), layout.size());
        assert_eq!(UserRecord::decode(layout, &wire).as_ref(), Ok(user));
    } else {
        assert!(wire.is_empty(), "a failed encode writes nothing");
    }
}

#[derive(Debug, Arbitrary)]
struct Fields {
    uid: u16,
    user_id: String,
    verify_type: u8,
    punch_state: u8,
    time: u32,
    work_code: u32,
    privilege: u8,
    password: String,
    name: String,
    card: u32,
    group: u8,
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = dataset_body(data) else {
        return;
    };
    let mut users = Vec::new();
    for layout in [UserLayout::Numeric28, UserLayout::Text72] {
        let count = body.len() / layout.size();
        if let Ok(Some(found)) = user_layout(body.len(), count) {
            let decoded = decode_user_records(found, body).unwrap_or_default();
            for user in &decoded {
                user_round_trip(found, user);
            }
            users = decoded;
        }
    }
    for layout in RecordLayout::ALL {
        let count = body.len() / layout.size();
        let Ok(Some(found)) = attendance_layout(body.len(), count) else {
            continue;
        };
        let Ok(records) = decode_attendance_records(found, body) else {
            continue;
        };
        assert_eq!(records.len(), count);
        for record in &records {
            if let Ok(local) = record.local_time() {
                // A device time that reads as a date encodes back to that date.
                if let Ok(t) = encode_zk_time(local) {
                    assert_eq!(decode_zk_time(t), Ok(local));
                }
            }
            record_round_trip(found, record);
        }
        let dump = AttendanceDump {
            layout: Some(found),
            records,
            raw: Bytes::copy_from_slice(body),
        };
        let (scans, bad) = records_to_scans(&dump, &users, &machine(), zone());
        assert_eq!(scans.len() + bad.len(), count);
    }

    // Encoders on arbitrary values: whatever encodes decodes back unchanged (fields a layout
    // does not carry excepted, so they are taken from the decoded value).
    let mut u = Unstructured::new(data);
    if let Ok(f) = Fields::arbitrary(&mut u) {
        for layout in RecordLayout::ALL {
            let mut record = AttendanceRecord {
                uid: f.uid,
                user_id: f.user_id.clone(),
                verify_type: f.verify_type,
                punch_state: f.punch_state,
                time: f.time,
                work_code: f.work_code,
            };
            match layout {
                RecordLayout::Compact8 => {
                    record.user_id.clear();
                    record.work_code = 0;
                }
                RecordLayout::Numeric16 => record.uid = 0,
                RecordLayout::Text40 => record.work_code = 0,
            }
            record_round_trip(layout, &record);
        }
        for layout in [UserLayout::Numeric28, UserLayout::Text72] {
            let user = UserRecord {
                uid: f.uid,
                privilege: f.privilege,
                password: f.password.clone(),
                name: f.name.clone(),
                card: f.card,
                group: if layout == UserLayout::Text72 {
                    0
                } else {
                    f.group
                },
                user_id: f.user_id.clone(),
            };
            user_round_trip(layout, &user);
        }
    }
});
