//! Hikvision ISAPI JSON: the `AcsEvent` search reply (rows converted to scans; the page
//! re-encoded reads back the same), event times, and the digest challenge of a 401
//! (`WWW-Authenticate`).
#![no_main]

use attendance_adapters::hikvision::codec::{
    PERSON_MINORS, decode_acs_reply, encode_acs_reply, info_to_scan, parse_time,
};
use attendance_adapters::hikvision::digest::{encode_challenge, parse_challenge, parse_params};
use attendance_fuzz::{machine, zone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = decode_acs_reply(data) {
        let _ = page.has_more();
        for info in page.info_list.iter().flatten() {
            let _ = info_to_scan(info, &PERSON_MINORS, &machine(), zone());
        }
        let encoded = encode_acs_reply(&page);
        assert_eq!(decode_acs_reply(&encoded).ok().as_ref(), Some(&page));
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_time(&text, zone());
    let _ = parse_params(&text);
    if let Some(challenge) = parse_challenge(&text) {
        let again = parse_challenge(&encode_challenge(&challenge));
        let plain = |s: &str| !s.contains(['"', '\\']);
        // The encoder (the fake terminal's) quotes values without escaping them.
        let all_plain = [&challenge.qop, &challenge.opaque, &challenge.algorithm]
            .iter()
            .all(|v| v.as_deref().is_none_or(plain));
        if plain(&challenge.realm) && plain(&challenge.nonce) && all_plain {
            let again = again.map(|c| (c.realm, c.nonce));
            assert_eq!(again, Some((challenge.realm, challenge.nonce)));
        }
    }
});
