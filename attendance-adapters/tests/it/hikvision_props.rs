//! Properties of the Hikvision decoders: no panic on arbitrary input, and each decoder reads back
//! what its encoder (used by the fake terminal) writes.

use attendance_adapters::hikvision::codec::{
    AcsEventInfo, AcsEventPage, Part, decode_acs_reply, decode_push, encode_acs_reply,
    encode_multipart, parse_multipart,
};
use attendance_adapters::hikvision::digest::{
    Challenge, authorization, encode_challenge, parse_challenge, verify,
};
use proptest::prelude::*;

fn info() -> impl Strategy<Value = AcsEventInfo> {
    (
        (any::<u32>(), any::<u32>(), "[ -~]{0,30}"),
        proptest::option::of("[0-9]{1,10}"),
        proptest::option::of("[0-9]{1,12}"),
        proptest::option::of("\\PC{0,10}"),
        proptest::option::of(any::<u64>()),
        proptest::option::of("[a-zA-Z]{0,10}"),
    )
        .prop_map(
            |((major, minor, time), person, number, name, serial, status)| AcsEventInfo {
                major,
                minor,
                time,
                employee_no_string: person,
                employee_no: number,
                card_no: None,
                name,
                serial_no: serial,
                attendance_status: status,
                current_verify_mode: None,
            },
        )
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), boundary in "[ -~]{0,12}") {
        let _ = decode_acs_reply(&bytes);
        let _ = parse_multipart(&bytes, &boundary);
        let _ = decode_push(&format!("multipart/form-data; boundary={boundary}"), &bytes);
        let _ = decode_push("application/json", &bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_challenge(&text);
        let _ = verify(&text, "r", "n", "u", "p", "GET", "/");
    }

    #[test]
    fn multipart_shaped_noise_never_panics(
        lines in proptest::collection::vec("(--[bB]{0,2})?[ -~]{0,20}(\r)?", 0..20)
    ) {
        let body = lines.join("\n");
        let _ = parse_multipart(body.as_bytes(), "b");
        let _ = decode_push("multipart/mixed; boundary=\"b\"", body.as_bytes());
    }

    #[test]
    fn acs_replies_round_trip(
        rows in proptest::collection::vec(info(), 0..6),
        status in "MORE|OK|NO MATCH",
        total in any::<u32>(),
    ) {
        let page = AcsEventPage {
            search_id: "s".into(),
            status,
            num_of_matches: rows.len() as u32,
            total_matches: total,
            info_list: (!rows.is_empty()).then_some(rows),
        };
        prop_assert_eq!(decode_acs_reply(&encode_acs_reply(&page)).unwrap(), page);
    }

    #[test]
    fn multipart_round_trips_whatever_the_boundary_case(
        parts in proptest::collection::vec(
            (
                proptest::option::of("[A-Za-z_]{1,12}"),
                proptest::option::of("[a-z]{1,8}/[a-z+.]{1,10}"),
                proptest::collection::vec(any::<u8>().prop_filter("no dash", |b| *b != b'-'), 0..80),
            ),
            0..5,
        ),
        boundary in "[A-Za-z0-9_]{1,20}",
    ) {
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|(name, content_type, body)| Part { name, content_type, body })
            .collect();
        let body = encode_multipart(&parts, &boundary.to_uppercase());
        prop_assert_eq!(parse_multipart(&body, &boundary.to_lowercase()), parts);
    }

    #[test]
    fn digest_answers_verify_and_challenges_round_trip(
        user in "[ -~]{0,16}",
        password in "[ -~]{0,16}",
        uri in "/[!-~]{0,30}",
        realm in "[A-Za-z0-9 _-]{1,16}",
        nonce in "[a-f0-9]{1,40}",
        nc in any::<u32>(),
        cnonce in "[a-f0-9]{8,16}",
        qop in any::<bool>(),
    ) {
        let challenge = Challenge {
            realm: realm.clone(),
            nonce: nonce.clone(),
            qop: qop.then(|| "auth".to_owned()),
            opaque: Some(String::new()),
            algorithm: None,
            stale: false,
        };
        prop_assert_eq!(parse_challenge(&encode_challenge(&challenge)).unwrap(), challenge.clone());
        let header = authorization(&challenge, &user, &password, "POST", &uri, nc, &cnonce);
        prop_assert!(verify(&header, &realm, &nonce, &user, &password, "POST", &uri).is_ok());
        let wrong = format!("{password}x");
        prop_assert!(verify(&header, &realm, &nonce, &user, &wrong, "POST", &uri).is_err());
    }
}
