//! The fake terminal's state machine without sockets.

use bytes::Bytes;

use super::*;
use crate::zk::codec::{
    BufferReady, BufferRequest, ChunkRequest, Packet, cmd, make_commkey, user_layout,
};

fn session(config: FakeConfig, link: Link) -> DeviceSession {
    FakeDevice::new(config).unwrap().session(link)
}

fn sent(actions: &[Action]) -> Vec<&Packet> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn comm_key_flow() {
    let mut s = session(
        FakeConfig {
            comm_key: Some(12),
            ..FakeConfig::default()
        },
        Link::Tcp,
    );
    let a = s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
    assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
    let id = s.session_id();
    assert_ne!(id, 0);
    let a = s.handle(&Packet::new(cmd::GET_TIME, id, 1, Bytes::new()));
    assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
    let a = s.handle(&Packet::new(
        cmd::AUTH,
        id,
        2,
        make_commkey(13, id, 50).to_vec(),
    ));
    assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
    let a = s.handle(&Packet::new(
        cmd::AUTH,
        id,
        3,
        make_commkey(12, id, 50).to_vec(),
    ));
    assert_eq!((sent(&a)[0].command, sent(&a)[0].reply), (cmd::ACK_OK, 3));
    // Event ACKs are never answered.
    assert_eq!(
        s.handle(&Packet::new(cmd::ACK_OK, id, 0, Bytes::new())),
        vec![Action::EventAcked]
    );
}

#[test]
fn buffered_read_on_udp_uses_small_datagrams() {
    let config = FakeConfig {
        records: 500,
        ..FakeConfig::default()
    };
    let mut s = session(config, Link::Udp);
    s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
    let a = s.handle(&Packet::new(
        cmd::DATA_WRRQ,
        1,
        1,
        BufferRequest::ATTENDANCE.encode(),
    ));
    let ready = BufferReady::decode(&sent(&a)[0].data).unwrap();
    assert_eq!(ready.size, 4 + 500 * 40);
    let a = s.handle(&Packet::new(
        cmd::DATA_RDY,
        1,
        2,
        ChunkRequest {
            start: 0,
            length: 16 * 1024,
        }
        .encode(),
    ));
    let packets = sent(&a);
    assert_eq!(packets[0].command, cmd::PREPARE_DATA);
    assert_eq!(packets[0].data.len(), 8);
    assert_eq!(packets.len(), 1 + 16 + 1);
    assert!(packets.iter().all(|p| p.reply == 2 && p.data.len() <= 1024));
    assert_eq!(packets.last().unwrap().command, cmd::ACK_OK);
}

#[test]
fn users_are_answered_inline_and_match_the_counts() {
    let mut s = session(FakeConfig::default(), Link::Tcp);
    s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
    let a = s.handle(&Packet::new(
        cmd::DATA_WRRQ,
        1,
        1,
        BufferRequest::USERS.encode(),
    ));
    let p = sent(&a)[0];
    assert_eq!(p.command, cmd::DATA);
    let body = crate::zk::codec::dataset_body(&p.data).unwrap();
    assert_eq!(
        user_layout(body.len(), 10).unwrap(),
        Some(UserLayout::Text72)
    );
}

#[test]
fn records_are_deterministic_and_valid() {
    let config = FakeConfig {
        records: 2000,
        ..FakeConfig::default()
    };
    assert_eq!(config.attendance(), config.attendance());
    assert!(config.attendance().iter().all(|r| r.local_time().is_ok()));
}

#[test]
fn a_punch_is_kept_in_the_log_and_read_by_the_next_table_request() {
    let device = FakeDevice::new(FakeConfig {
        records: 2,
        ..FakeConfig::default()
    })
    .unwrap();
    let at = NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(7, 58, 31))
        .unwrap();
    // Nobody listens: the event reaches no connection, the log keeps the punch.
    assert_eq!(device.punch("1234", at).unwrap(), 0);
    assert_eq!(device.data.record_count(), 3);
    let mut s = device.session(Link::Tcp);
    s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
    let a = s.handle(&Packet::new(cmd::GET_FREE_SIZES, 1, 1, Bytes::new()));
    let sizes = crate::zk::codec::FreeSizes::decode(&sent(&a)[0].data).unwrap();
    assert_eq!(sizes.records, 3);
    let a = s.handle(&Packet::new(
        cmd::DATA_WRRQ,
        1,
        2,
        BufferRequest::ATTENDANCE.encode(),
    ));
    let p = sent(&a)[0];
    assert_eq!(p.command, cmd::DATA);
    let body = crate::zk::codec::dataset_body(&p.data).unwrap();
    let records = crate::zk::codec::decode_attendance_records(RecordLayout::Text40, body).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].user_id, "1234");
    assert_eq!(records[2].time, encode_zk_time(at).unwrap());
}
