//! Suprema BioStar 2 JSON: the event search reply (rows converted to scans; the reply
//! re-encoded reads back the same), datetimes, and the adapter's stored cursor.
#![no_main]

use attendance_adapters::biostar::codec::{
    Cursor, DEFAULT_PUNCH_FAMILIES, decode_search_response, encode_search_response, parse_datetime,
    row_to_scan,
};
use attendance_fuzz::machine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = decode_search_response(data) {
        for row in &response.collection.rows {
            let _ = (row.code(), row.time());
            let _ = row_to_scan(row, &DEFAULT_PUNCH_FAMILIES, &machine());
        }
        let encoded = encode_search_response(&response);
        assert_eq!(
            decode_search_response(&encoded).ok().as_ref(),
            Some(&response)
        );
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_datetime(&text);
    if let Some(cursor) = Cursor::parse(&text) {
        // What the adapter stores reads back as the same instant and ids: it writes
        // milliseconds, and ids without `,`.
        let millis = cursor.at.timestamp_subsec_nanos() % 1_000_000 == 0;
        let clean = cursor.ids.iter().all(|id| !id.contains(','));
        let again = Cursor::parse(&cursor.to_string());
        if millis && clean {
            assert_eq!(again, Some(cursor));
        }
    }
});
