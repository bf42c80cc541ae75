//! Properties of the ZKTeco codec: no decoder panics on arbitrary bytes, and every decoder reads
//! back exactly what its encoder wrote.

use attendance_adapters::zk::codec::{
    AttendanceRecord, BufferReady, BufferRequest, ChecksumPolicy, ChunkRequest, EventLayout,
    FreeSizes, Packet, PrepareData, RealtimeAttendance, RecordLayout, UserLayout, UserRecord,
    attendance_layout, check_tcp_eof, checksum, dataset_body, decode_attendance_records,
    decode_tcp_frame, decode_timehex, decode_user_records, decode_zk_time, encode_timehex,
    encode_zk_time, make_commkey, reply_text, user_layout, verify_commkey,
};
use bytes::BytesMut;
use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

fn any_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn device_time() -> impl Strategy<Value = NaiveDateTime> {
    (
        2000i32..=2099,
        1u32..=12,
        1u32..=31,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_filter_map("real date", |(y, mo, d, h, mi, s)| {
            NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, s))
        })
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9 ]{{0,{max}}}")).unwrap()
}

fn numeric_pin() -> impl Strategy<Value = String> {
    any::<u32>().prop_map(|n| n.to_string())
}

fn text_pin() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9]{1,24}").unwrap()
}

fn record_layout() -> impl Strategy<Value = RecordLayout> {
    prop_oneof![
        Just(RecordLayout::Compact8),
        Just(RecordLayout::Numeric16),
        Just(RecordLayout::Text40)
    ]
}

fn event_layout() -> impl Strategy<Value = EventLayout> {
    prop_oneof![
        Just(EventLayout::Numeric12),
        Just(EventLayout::Text32),
        Just(EventLayout::Text36),
        Just(EventLayout::Text52)
    ]
}

/// A record holding only what `layout` carries.
fn record(layout: RecordLayout) -> impl Strategy<Value = AttendanceRecord> {
    let pin = match layout {
        RecordLayout::Compact8 => Just(String::new()).boxed(),
        RecordLayout::Numeric16 => numeric_pin().boxed(),
        RecordLayout::Text40 => text_pin().boxed(),
    };
    (
        any::<u16>(),
        pin,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            move |(uid, user_id, verify_type, punch_state, time, work_code)| AttendanceRecord {
                uid: if layout == RecordLayout::Numeric16 {
                    0
                } else {
                    uid
                },
                user_id,
                verify_type,
                punch_state,
                time,
                work_code: if layout == RecordLayout::Numeric16 {
                    work_code
                } else {
                    0
                },
            },
        )
}

fn user(layout: UserLayout) -> impl Strategy<Value = UserRecord> {
    let (pin, pw, name) = match layout {
        UserLayout::Numeric28 => (numeric_pin().boxed(), 5, 8),
        UserLayout::Text72 => (text_pin().boxed(), 8, 24),
    };
    (
        any::<u16>(),
        any::<u8>(),
        text(pw),
        text(name),
        any::<u32>(),
        any::<u8>(),
        pin,
    )
        .prop_map(
            move |(uid, privilege, password, name, card, group, user_id)| UserRecord {
                uid,
                privilege,
                password,
                name,
                card,
                group: if layout == UserLayout::Numeric28 {
                    group
                } else {
                    0
                },
                user_id,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in any_bytes(200), count in 0usize..50) {
        for policy in [ChecksumPolicy::Lenient, ChecksumPolicy::Strict] {
            let _ = Packet::decode(&bytes, policy);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode_tcp_frame(&mut buf, policy) {}
            let _ = check_tcp_eof(&buf);
        }
        let _ = Packet::checksum_ok(&bytes);
        let _ = checksum(&bytes);
        for layout in RecordLayout::ALL {
            let _ = AttendanceRecord::decode(layout, &bytes);
            let _ = decode_attendance_records(layout, &bytes);
        }
        for layout in [UserLayout::Numeric28, UserLayout::Text72] {
            let _ = UserRecord::decode(layout, &bytes);
            let _ = decode_user_records(layout, &bytes);
        }
        let _ = RealtimeAttendance::decode(&bytes);
        let _ = FreeSizes::decode(&bytes);
        let _ = BufferRequest::decode(&bytes);
        let _ = ChunkRequest::decode(&bytes);
        let _ = PrepareData::decode(&bytes);
        let _ = BufferReady::decode(&bytes);
        let _ = dataset_body(&bytes);
        let _ = attendance_layout(bytes.len(), count);
        let _ = user_layout(bytes.len(), count);
        let _ = reply_text(&bytes, true);
        let _ = verify_commkey(1, 2, &bytes);
    }

    #[test]
    fn frame_decoder_survives_a_valid_prefix_with_arbitrary_length(len in any::<u32>(), tail in any_bytes(64)) {
        let mut buf = BytesMut::from(&[0x50, 0x50, 0x82, 0x7d][..]);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&tail);
        let _ = decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient);
    }

    #[test]
    fn times_never_panic(t in any::<u32>(), hex in any::<[u8; 6]>()) {
        if let Ok(time) = decode_zk_time(t) {
            // Every valid decode below 2100 encodes back to the same number.
            if let Ok(again) = encode_zk_time(time) {
                prop_assert_eq!(again, t);
            }
        }
        if let Ok(time) = decode_timehex(hex) {
            prop_assert_eq!(encode_timehex(time).unwrap(), hex);
        }
    }

    #[test]
    fn time_round_trips(time in device_time()) {
        prop_assert_eq!(decode_zk_time(encode_zk_time(time).unwrap()).unwrap(), time);
        prop_assert_eq!(decode_timehex(encode_timehex(time).unwrap()).unwrap(), time);
    }

    #[test]
    fn packets_round_trip_over_tcp_and_udp(
        command in any::<u16>(), session in any::<u16>(), reply in any::<u16>(), data in any_bytes(300),
        split in any::<usize>(),
    ) {
        let p = Packet::new(command, session, reply, data);
        let udp = p.to_udp_bytes();
        prop_assert!(Packet::checksum_ok(&udp));
        prop_assert_eq!(&Packet::decode(&udp, ChecksumPolicy::Strict).unwrap(), &p);
        // Two frames cut at an arbitrary point still come out whole and in order.
        let mut wire = BytesMut::new();
        p.encode_tcp(&mut wire);
        p.encode_tcp(&mut wire);
        let cut = split % (wire.len() + 1);
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = Vec::new();
        while let Some(q) = decode_tcp_frame(&mut buf, ChecksumPolicy::Strict).unwrap() {
            got.push(q);
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(q) = decode_tcp_frame(&mut buf, ChecksumPolicy::Strict).unwrap() {
            got.push(q);
        }
        prop_assert_eq!(got, vec![p.clone(), p]);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_flipped_byte_fails_the_strict_checksum(data in any_bytes(64), at in any::<usize>(), flip in 1u8..) {
        let mut bytes = Packet::new(1, 2, 3, data).to_udp_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] ^= flip;
        // A one-byte change always changes a ones'-complement sum... except 0x0000 <-> 0xffff
        // in the same word, which RFC 1071 cannot tell apart.
        let checksum_field = at == 2 || at == 3;
        if !checksum_field {
            let ok = Packet::decode(&bytes, ChecksumPolicy::Strict).is_ok();
            let word = if at.is_multiple_of(2) { [bytes[at], bytes.get(at + 1).copied().unwrap_or(0)] } else { [bytes[at - 1], bytes[at]] };
            let ambiguous = word == [0xff, 0xff] || word == [0, 0];
            prop_assert!(!ok || ambiguous);
        }
    }

    #[test]
    fn attendance_records_round_trip(
        (layout, records) in record_layout().prop_flat_map(|l| (Just(l), proptest::collection::vec(record(l), 0..20)))
    ) {
        let mut body = BytesMut::new();
        for r in &records {
            r.encode(layout, &mut body).unwrap();
        }
        prop_assert_eq!(body.len(), records.len() * layout.size());
        prop_assert_eq!(decode_attendance_records(layout, &body).unwrap(), records.clone());
        let expected = if records.is_empty() { None } else { Some(layout) };
        prop_assert_eq!(attendance_layout(body.len(), records.len()).unwrap(), expected);
    }

    #[test]
    fn users_round_trip(
        (layout, users) in prop_oneof![Just(UserLayout::Numeric28), Just(UserLayout::Text72)]
            .prop_flat_map(|l| (Just(l), proptest::collection::vec(user(l), 0..10)))
    ) {
        let mut body = BytesMut::new();
        for u in &users {
            u.encode(layout, &mut body).unwrap();
        }
        prop_assert_eq!(decode_user_records(layout, &body).unwrap(), users.clone());
        let expected = if users.is_empty() { None } else { Some(layout) };
        prop_assert_eq!(user_layout(body.len(), users.len()).unwrap(), expected);
    }

    #[test]
    fn events_round_trip(
        layout in event_layout(), numeric in numeric_pin(), textual in text_pin(),
        verify_type in any::<u8>(), punch_state in any::<u8>(), time in device_time(),
    ) {
        let user_id = if layout == EventLayout::Numeric12 { numeric } else { textual };
        let event = RealtimeAttendance { user_id, verify_type, punch_state, time: encode_timehex(time).unwrap() };
        let packet = event.to_packet(layout).unwrap();
        prop_assert_eq!(packet.data.len(), layout.size());
        let decoded = Packet::decode(&packet.to_udp_bytes(), ChecksumPolicy::Strict).unwrap();
        prop_assert_eq!((decoded.command, decoded.session, decoded.reply), (500, 1, 0));
        prop_assert_eq!(RealtimeAttendance::decode(&decoded.data).unwrap(), event);
    }

    #[test]
    fn small_messages_round_trip(a in any::<i32>(), b in any::<i32>(), c in any::<u32>(), d in any::<u32>(), t in any::<u16>()) {
        let req = BufferRequest { table: t, function: c, extra: d };
        prop_assert_eq!(BufferRequest::decode(&req.encode()).unwrap(), req);
        let chunk = ChunkRequest { start: a, length: b };
        prop_assert_eq!(ChunkRequest::decode(&chunk.encode()).unwrap(), chunk);
        let prep = PrepareData { length: c, x: d };
        prop_assert_eq!(PrepareData::decode(&prep.encode()).unwrap(), prep);
        let ready = BufferReady { size: c, check: d };
        prop_assert_eq!(BufferReady::decode(&ready.encode()).unwrap(), ready);
        let sizes = FreeSizes { users: a, records: b, faces: Some((a, b)), ..FreeSizes::default() };
        prop_assert_eq!(FreeSizes::decode(&sizes.encode()).unwrap(), sizes);
        let old = FreeSizes { faces: None, ..sizes };
        prop_assert_eq!(FreeSizes::decode(&old.encode()).unwrap(), old);
    }

    #[test]
    fn commkey_proofs_verify_with_the_same_key_only(key in any::<u32>(), other in any::<u32>(), session in any::<u16>(), ticks in any::<u8>()) {
        let proof = make_commkey(key, session, ticks);
        prop_assert!(verify_commkey(key, session, &proof));
        if make_commkey(other, session, ticks) != proof {
            prop_assert!(!verify_commkey(other, session, &proof));
        }
    }
}
