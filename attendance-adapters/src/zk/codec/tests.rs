//! The codec against the vectors and examples of `docs/protocols/zkteco-binary.md`.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{Datelike, NaiveDate};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn checksum_vectors_from_the_protocol_doc() {
    let mut p = hex("0b00 5a17 f38d 0300");
    p.extend_from_slice(b"ZKFaceVersion\0");
    assert_eq!(checksum(&p), 0x175a);
    assert_eq!(checksum(&hex("d007 296a f38d 0a00 09")), 0x6a29);
    assert_eq!(checksum(&hex("e803 17fc 0000 0000")), 0xfc17);
    assert_eq!(checksum(&hex("0b00 58ef c5c0 0500 7e4f5300")), 0xef58);
}

#[test]
fn commkey_vectors() {
    assert_eq!(make_commkey(12, 0x45cf, 50), [0x61, 0x4d, 0x32, 0x3c]);
    assert_eq!(make_commkey(45, 0x45cf, 50), [0x61, 0xc9, 0x32, 0x3c]);
    assert!(verify_commkey(12, 0x45cf, &[0x61, 0x4d, 0x32, 0x3c]));
    assert!(!verify_commkey(13, 0x45cf, &[0x61, 0x4d, 0x32, 0x3c]));
    assert!(!verify_commkey(12, 0x45cf, &[0x61, 0x4d, 0x32]));
    // pyzk overflows here; we wrap.
    let _ = make_commkey(131_071, 0xffff, 50);
    let auth = Packet::new(cmd::AUTH, 0x45cf, 1, make_commkey(12, 0x45cf, 50).to_vec());
    assert_eq!(
        auth.to_tcp_bytes().to_vec(),
        hex("5050827d0c000000 4e04 4e2c cf45 0100 614d323c")
    );
}

#[test]
fn time_examples() {
    let t = decode_zk_time(0x2368_b36b).unwrap();
    assert_eq!(t.to_string(), "2018-06-25 17:50:35");
    let t = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    assert_eq!(encode_zk_time(t).unwrap(), 836_035_200);
    assert_eq!(
        decode_timehex([0x12, 0x06, 0x19, 0x11, 0x29, 0x05])
            .unwrap()
            .to_string(),
        "2018-06-25 17:41:05"
    );
    // Day 31 of February.
    let feb31 = (18 * 12 * 31 + 31 + 30) * 86_400;
    assert!(matches!(decode_zk_time(feb31), Err(CodecError::BadTime(_))));
    assert_eq!(decode_zk_time(u32::MAX).unwrap().year(), 2133);
}

#[test]
fn documented_40_byte_record() {
    let b = hex(
        "0d00 393939313131333333 000000000000000000000000000000 01 6bb36823 00 00000000ff000000",
    );
    let r = AttendanceRecord::decode(RecordLayout::Text40, &b).unwrap();
    assert_eq!(
        (r.uid, r.user_id.as_str(), r.verify_type, r.punch_state),
        (13, "999111333", 1, 0)
    );
    assert_eq!(r.local_time().unwrap().to_string(), "2018-06-25 17:50:35");
    let mut out = BytesMut::new();
    r.encode(RecordLayout::Text40, &mut out).unwrap();
    assert_eq!(out.to_vec(), b);
}

#[test]
fn tcp_frames_reassemble_byte_by_byte() {
    let a = Packet::new(cmd::DATA, 7, 9, vec![1u8, 2, 3]);
    let b = Packet::new(cmd::ACK_OK, 7, 9, Bytes::new());
    let mut wire = BytesMut::new();
    a.encode_tcp(&mut wire);
    b.encode_tcp(&mut wire);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in wire {
        buf.put_u8(byte);
        while let Some(p) = decode_tcp_frame(&mut buf, ChecksumPolicy::Strict).unwrap() {
            got.push(p);
        }
    }
    assert_eq!(got, vec![a, b]);
    assert!(check_tcp_eof(&buf).is_ok());
}

#[test]
fn tcp_frame_errors() {
    let mut buf = BytesMut::from(&b"PX"[..]);
    assert!(matches!(
        decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
        Err(CodecError::BadMagic { .. })
    ));
    let mut buf = BytesMut::from(&hex("5050827d ffff0100")[..]);
    assert!(matches!(
        decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
        Err(CodecError::BadLength { .. })
    ));
    let mut buf = BytesMut::from(&hex("5050827d 04000000")[..]);
    assert!(matches!(
        decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
        Err(CodecError::BadLength { .. })
    ));
    let mut buf = BytesMut::from(&hex("5050827d 08000000 d007 0000 0100 0200")[..]);
    assert!(matches!(
        decode_tcp_frame(&mut buf, ChecksumPolicy::Strict),
        Err(CodecError::BadChecksum { .. })
    ));
    let mut buf = BytesMut::from(&hex("5050827d 08000000 d007 0000 0100 0200")[..]);
    let p = decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient)
        .unwrap()
        .unwrap();
    assert_eq!((p.command, p.session, p.reply), (cmd::ACK_OK, 1, 2));
    let mut buf = BytesMut::from(&hex("5050827d 08000000 d007")[..]);
    assert_eq!(
        decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
        Ok(None)
    );
    assert!(matches!(
        check_tcp_eof(&buf),
        Err(CodecError::Truncated { buffered: 10 })
    ));
}
