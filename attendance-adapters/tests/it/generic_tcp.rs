//! Generic TCP devices: the line decoder never panics and round-trips what the fake's encoder
//! writes (proptest), and the adapter against the fake device over 127.0.0.1: buffered fetch,
//! bad lines skipped and counted, a connection dropped mid-line, a stalled device, live scans.

use attendance_adapters::generic_tcp::{Field, GenericLine, LineFormat};
use attendance_core::scan::{MachineId, PunchState};
use attendance_core::time::local_to_utc;
use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

fn formats() -> Vec<LineFormat> {
    vec![
        LineFormat::new(
            ",",
            vec![Field::User, Field::Timestamp, Field::Punch, Field::Verify],
            "%Y-%m-%d %H:%M:%S",
        )
        .unwrap(),
        LineFormat::new(
            " ",
            vec![
                Field::Ignore,
                Field::Timestamp,
                Field::User,
                Field::Verify,
                Field::Punch,
            ],
            "%d/%m/%Y %H:%M:%S",
        )
        .unwrap(),
        LineFormat::new("\t", vec![Field::Timestamp, Field::User], "unix").unwrap(),
        LineFormat::new(
            "||",
            vec![Field::User, Field::Punch, Field::Timestamp],
            "%Y%m%d%H%M%S",
        )
        .unwrap(),
    ]
}

fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    (
        2000i32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_opt(h, mi, s)
                .unwrap()
        })
}

proptest! {
    #[test]
    fn the_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..4) {
        let format = &formats()[which];
        let machine = MachineId::parse("G1").unwrap();
        let _ = format.decode(&bytes, &machine, chrono_tz::Asia::Dhaka);
    }

    #[test]
    fn text_like_lines_never_panic(line in "[0-9a-zA-Z ,:/|\\t-]{0,80}", which in 0usize..4) {
        let format = &formats()[which];
        let machine = MachineId::parse("G1").unwrap();
        let _ = format.decode(line.as_bytes(), &machine, chrono_tz::UTC);
    }

    #[test]
    fn encoded_lines_decode_to_the_same_scan(
        user in "[0-9A-Za-z]{1,24}",
        time in local_time(),
        punch in proptest::option::of(any::<u8>()),
        verify in proptest::option::of(any::<u8>()),
        which in 0usize..4,
    ) {
        let format = &formats()[which];
        let line = GenericLine { user: user.clone(), local_time: time, punch, verify };
        let text = format.encode(&line).unwrap();
        let machine = MachineId::parse("G1").unwrap();
        let scan = format.decode(format!("{text}\r\n").as_bytes(), &machine, chrono_tz::UTC).unwrap();
        prop_assert_eq!(scan.device_user_id.as_str(), user.as_str());
        prop_assert_eq!(scan.timestamp, local_to_utc(chrono_tz::UTC, time));
        if format.fields().contains(&Field::Punch) {
            prop_assert_eq!(scan.punch_state, punch.map_or(PunchState::Unknown, PunchState::from_code));
        }
        prop_assert_eq!(scan.machine_id, machine);
    }
}

#[cfg(feature = "fakes")]
mod over_tcp {
    use std::time::Duration;

    use attendance_adapters::generic_tcp::GenericTcpAdapter;
    use attendance_adapters::generic_tcp::fake::{GenericFakeHandle, LineFault};
    use attendance_adapters::{AdapterError, BaseMachineAdapter};
    use attendance_core::machine::{Machine, NewMachine};
    use futures::StreamExt;

    use super::*;

    fn format() -> LineFormat {
        LineFormat::new(
            ";",
            vec![Field::User, Field::Timestamp, Field::Punch],
            "%Y-%m-%dT%H:%M:%S",
        )
        .unwrap()
    }

    fn adapter(port: u16) -> GenericTcpAdapter {
        let machine = Machine::parse(
            &NewMachine {
                machine_id: "LINE-1".into(),
                name: "Line gate".into(),
                machine_type: "generic_tcp".into(),
                ip_address: "127.0.0.1".into(),
                port: Some(port),
                config: Some(serde_json::json!({
                    "delimiter": ";",
                    "fields": ["user", "timestamp", "punch"],
                    "time_format": "%Y-%m-%dT%H:%M:%S",
                    "partial_line_timeout_ms": 150,
                })),
                ..NewMachine::default()
            },
            chrono_tz::Asia::Dhaka,
        )
        .unwrap();
        GenericTcpAdapter::new(machine).unwrap()
    }

    fn line(user: u32) -> GenericLine {
        GenericLine {
            user: user.to_string(),
            local_time: NaiveDate::from_ymd_opt(2026, 1, 5)
                .unwrap()
                .and_hms_opt(8, 0, user % 60)
                .unwrap(),
            punch: Some(1),
            verify: None,
        }
    }

    /// Fetches until `n` scans came (the reader task fills the buffer asynchronously).
    async fn fetch_n(a: &mut GenericTcpAdapter, n: usize) -> (Vec<String>, usize) {
        let mut users = Vec::new();
        let mut skipped = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while users.len() < n {
            assert!(tokio::time::Instant::now() < deadline, "only {users:?}");
            let f = a.fetch_scans(None).await.unwrap();
            skipped += f.skipped;
            users.extend(f.scans.iter().map(|s| s.device_user_id.as_str().to_owned()));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (users, skipped)
    }

    async fn next_error(a: &mut GenericTcpAdapter) -> AdapterError {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no error");
            match a.fetch_scans(None).await {
                Err(e) => return e,
                Ok(f) => assert!(f.scans.is_empty()),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn fetch_skips_bad_lines_and_reports_drops_and_stalls() {
        let device = GenericFakeHandle::spawn(format(), 0).await.unwrap();
        let mut a = adapter(device.local_addr().port());
        assert!(matches!(
            a.fetch_scans(None).await,
            Err(AdapterError::NotConnected { .. })
        ));
        let report = a.test_connection(chrono::Utc::now()).await.unwrap();
        assert!(report.reachable && report.serial.is_none());

        device.push(&line(1)).unwrap();
        device.inject(LineFault::Garbage, &line(99)).unwrap();
        device.push(&line(2)).unwrap();
        let (users, skipped) = fetch_n(&mut a, 2).await;
        assert_eq!((users, skipped), (vec!["1".to_owned(), "2".to_owned()], 2));
        assert_eq!(a.skipped_lines(), 2);

        // Dropped mid-line: the lines before arrive, then a typed error; the cut line is skipped.
        device.push(&line(3)).unwrap();
        device.inject(LineFault::DropMidLine, &line(98)).unwrap();
        let (users, _) = fetch_n(&mut a, 1).await;
        assert_eq!(users, vec!["3".to_owned()]);
        let err = next_error(&mut a).await;
        assert!(matches!(err, AdapterError::Unreachable { .. }), "{err}");
        assert_eq!(a.skipped_lines(), 3);

        // Reconnect; a device that stops inside a line is a timeout.
        a.connect().await.unwrap();
        device.inject(LineFault::Stall, &line(97)).unwrap();
        let err = next_error(&mut a).await;
        assert!(matches!(err, AdapterError::Timeout { .. }), "{err}");

        // Reconnect again and read live.
        a.connect().await.unwrap();
        let mut stream = a.live_scans().await.unwrap();
        device.push(&line(4)).unwrap();
        let scan = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(scan.device_user_id.as_str(), "4");
        assert_eq!(scan.punch_state, PunchState::CheckOut);
        assert_eq!(scan.raw.as_deref(), Some("4;2026-01-05T08:00:04;1"));
        drop(stream);
        assert_eq!(device.connections(), 3);
        device.shutdown().await;
    }
}
