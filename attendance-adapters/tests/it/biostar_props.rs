//! Properties of the BioStar decoders: no panic on arbitrary input, and the decoder reads back
//! what the fake server's encoder writes; the cursor round-trips.

use attendance_adapters::biostar::codec::{
    ApiResponse, Cursor, DeviceRef, EventCollection, EventRow, EventType, SearchResponse, UserRef,
    decode_search_response, encode_search_response, parse_datetime, verify_mode,
};
use chrono::DateTime;
use proptest::prelude::*;

fn row() -> impl Strategy<Value = EventRow> {
    (
        (
            "[0-9]{1,8}",
            "[ -~]{0,30}",
            proptest::option::of("[ -~]{0,20}"),
        ),
        proptest::option::of("[0-9]{1,6}"),
        proptest::option::of(("[0-9A-Za-z]{1,10}", proptest::option::of("\\PC{0,12}"))),
        proptest::option::of("[0-9]{1,10}"),
        "[0-9]{1,5}",
        proptest::option::of("[0-9]{1,2}"),
    )
        .prop_map(
            |((id, datetime, server), index, user, device, code, tna)| EventRow {
                id,
                datetime,
                server_datetime: server,
                index,
                user_id: user.map(|(user_id, name)| UserRef { user_id, name }),
                device_id: device.map(|id| DeviceRef { id, name: None }),
                event_type_id: EventType { code },
                tna_key: tna,
            },
        )
}

proptest! {
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), text in "\\PC{0,40}") {
        let _ = decode_search_response(&bytes);
        let _ = Cursor::parse(&text);
        let _ = parse_datetime(&text);
        let _ = verify_mode(u32::from(bytes.first().copied().unwrap_or(0)) << 8);
    }

    #[test]
    fn json_shaped_noise_never_panics(rows in proptest::collection::vec("[{}\\[\\]\":, 0-9a-z_]{0,30}", 0..6)) {
        let body = format!("{{\"EventCollection\": {{\"rows\": [{}]}}}}", rows.join(","));
        let _ = decode_search_response(body.as_bytes());
    }

    #[test]
    fn search_responses_round_trip(rows in proptest::collection::vec(row(), 0..6), code in "[0-9]{1,3}") {
        let response = SearchResponse {
            collection: EventCollection { rows },
            response: Some(ApiResponse { code, message: "Success".into() }),
        };
        prop_assert_eq!(decode_search_response(&encode_search_response(&response)).unwrap(), response);
    }

    #[test]
    fn cursors_round_trip(ms in 946_684_800_000i64..4_102_444_799_000, ids in proptest::collection::vec("[0-9]{1,9}", 0..5)) {
        let cursor = Cursor { at: DateTime::from_timestamp_millis(ms).unwrap(), ids };
        prop_assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
    }
}
