//! ZKTeco realtime (live) attendance events: event data of any length, converted to a scan, and
//! re-encoded in its layout; events built from arbitrary fields round-trip in every layout.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use attendance_adapters::zk::client::event_to_scan;
use attendance_adapters::zk::codec::{
    ChecksumPolicy, EventLayout, Packet, RealtimeAttendance, decode_timehex, encode_timehex,
};
use attendance_fuzz::{machine, zone};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Fields {
    user_id: String,
    verify_type: u8,
    punch_state: u8,
    time: [u8; 6],
    layout: u8,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = RealtimeAttendance::decode(data) {
        let _ = event_to_scan(&event, data, &machine(), zone());
        if let Ok(local) = event.local_time() {
            // A valid timehex encodes back to the same bytes when the year fits the encoding.
            if let Ok(bytes) = encode_timehex(local) {
                assert_eq!(decode_timehex(bytes), Ok(local));
            }
        }
        if let Some(layout) = EventLayout::from_size(data.len()) {
            if let Ok(bytes) = event.encode(layout) {
                assert_eq!(bytes.len(), layout.size());
                assert_eq!(RealtimeAttendance::decode(&bytes).as_ref(), Ok(&event));
            }
        }
    }
    let mut u = Unstructured::new(data);
    if let Ok(f) = Fields::arbitrary(&mut u) {
        let layout = [
            EventLayout::Numeric12,
            EventLayout::Text32,
            EventLayout::Text36,
            EventLayout::Text52,
        ][usize::from(f.layout % 4)];
        let event = RealtimeAttendance {
            user_id: f.user_id,
            verify_type: f.verify_type,
            punch_state: f.punch_state,
            time: f.time,
        };
        if let Ok(packet) = event.to_packet(layout) {
            let wire = packet.to_tcp_bytes();
            let back = Packet::decode(&wire[8..], ChecksumPolicy::Strict);
            let back = back.map(|p| RealtimeAttendance::decode(&p.data));
            assert_eq!(back, Ok(Ok(event)));
        }
    }
});
