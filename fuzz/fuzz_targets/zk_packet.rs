//! ZKTeco binary packets: TCP framing (a byte stream cut into frames, both checksum policies),
//! bare UDP packets, the bulk-read messages and the free-sizes counters carried in their data,
//! with round trips through the encoders.
#![no_main]

use attendance_adapters::zk::codec::{
    BufferReady, BufferRequest, ChecksumPolicy, ChunkRequest, FreeSizes, Packet, PrepareData,
    check_tcp_eof, decode_tcp_frame, reply_text,
};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fn data_messages(data: &[u8]) {
    let _ = reply_text(data, true);
    let _ = reply_text(data, false);
    if let Ok(sizes) = FreeSizes::decode(data) {
        assert_eq!(FreeSizes::decode(&sizes.encode()), Ok(sizes));
    }
    if let Ok(request) = BufferRequest::decode(data) {
        assert_eq!(BufferRequest::decode(&request.encode()), Ok(request));
    }
    if let Ok(chunk) = ChunkRequest::decode(data) {
        assert_eq!(ChunkRequest::decode(&chunk.encode()), Ok(chunk));
    }
    if let Ok(prepare) = PrepareData::decode(data) {
        assert_eq!(PrepareData::decode(&prepare.encode()), Ok(prepare));
    }
    if let Ok(ready) = BufferReady::decode(data) {
        assert_eq!(BufferReady::decode(&ready.encode()), Ok(ready));
    }
}

fuzz_target!(|data: &[u8]| {
    // A TCP stream: frames off the front until one is incomplete or the stream is bad.
    for policy in [ChecksumPolicy::Strict, ChecksumPolicy::Lenient] {
        let mut buf = BytesMut::from(data);
        let mut frames = 0usize;
        loop {
            let before = buf.len();
            match decode_tcp_frame(&mut buf, policy) {
                Ok(Some(packet)) => {
                    assert!(buf.len() < before, "a decoded frame consumes its bytes");
                    // Encoding gives a frame that decodes strictly to the same packet.
                    let mut wire = BytesMut::from(&packet.to_tcp_bytes()[..]);
                    let again = decode_tcp_frame(&mut wire, ChecksumPolicy::Strict);
                    assert_eq!(again, Ok(Some(packet.clone())));
                    assert!(wire.is_empty());
                    data_messages(&packet.data);
                    frames += 1;
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete frame consumes nothing");
                    let _ = check_tcp_eof(&buf);
                    break;
                }
                Err(_) => break,
            }
            if frames > 10_000 {
                break;
            }
        }
    }
    // A UDP datagram.
    for policy in [ChecksumPolicy::Strict, ChecksumPolicy::Lenient] {
        if let Ok(packet) = Packet::decode(data, policy) {
            let bytes = packet.to_udp_bytes();
            assert!(Packet::checksum_ok(&bytes));
            assert_eq!(Packet::decode(&bytes, ChecksumPolicy::Strict), Ok(packet));
        }
    }
    data_messages(data);
});
