//! Hikvision HTTP-listening pushes: the multipart event stream and plain JSON bodies, decoded
//! directly with the request's `Content-Type` and sent as a raw HTTP request to the real push
//! router (`hikvision::push`), whose hub allows the fuzz machine and acknowledges every batch.
//! Parts built from arbitrary values come back from the multipart writer and reader unchanged.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use attendance_adapters::hikvision::codec::{
    Part, boundary_of, decode_push, encode_multipart, parse_multipart,
};
use attendance_fuzz::{RawRequest, hik_push_call, runtime};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Parts {
    boundary: String,
    parts: Vec<(Option<String>, Option<String>, Vec<u8>)>,
}

fuzz_target!(|data: &[u8]| {
    let raw = RawRequest::parse(data);
    let content_type = raw.header("content-type").unwrap_or("application/json");
    let _ = decode_push(content_type, &raw.body);
    if let Some(boundary) = boundary_of(content_type) {
        let _ = parse_multipart(&raw.body, &boundary);
    }
    if let Some(request) = raw.to_request(Some("/hikvision/events/FUZZ1")) {
        let status = runtime().block_on(hik_push_call(request));
        assert!(
            !status.is_server_error() || status.as_u16() == 503,
            "{status}"
        );
    }

    // Writer then reader: names and types without quotes, `;` or line breaks, a boundary of
    // token characters that no body contains as a delimiter line.
    let mut u = Unstructured::new(data);
    let Ok(input) = Parts::arbitrary(&mut u) else {
        return;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 70
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"'()+_-./?".contains(&b))
    };
    let plain = |s: &Option<String>| {
        s.as_ref().is_none_or(|s| {
            !s.contains(['"', ';', '\r', '\n', '\\']) && s.trim() == s && !s.is_empty()
        })
    };
    if !token(&input.boundary) {
        return;
    }
    let delimiter = format!("--{}", input.boundary).to_ascii_lowercase();
    let parts: Vec<Part> = input
        .parts
        .into_iter()
        .filter(|(name, ct, body)| {
            plain(name)
                && plain(ct)
                && !String::from_utf8_lossy(body)
                    .to_ascii_lowercase()
                    .contains(&delimiter)
        })
        .map(|(name, content_type, body)| Part {
            name,
            content_type,
            body,
        })
        .collect();
    let wire = encode_multipart(&parts, &input.boundary);
    assert_eq!(parse_multipart(&wire, &input.boundary), parts);
});
