//! Our ZKTeco client against the fake device over real 127.0.0.1 sockets (port 0): every record
//! size on TCP and UDP, the comm key, live capture, and every injected fault as a typed error.

use std::time::Duration;

use attendance_adapters::zk::client::{AuthFailure, Transport, ZkClient, ZkConfig, ZkError};
use attendance_adapters::zk::codec::{
    ChecksumPolicy, CodecError, EventLayout, RecordLayout, UserLayout,
};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle, Fault};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::time::local_to_utc;
use chrono_tz::Tz;
use futures::StreamExt;

const TZ: Tz = chrono_tz::Asia::Dhaka;

async fn spawn(config: FakeConfig, transport: Transport) -> FakeHandle {
    match transport {
        Transport::Tcp => FakeDevice::spawn_tcp(config, 0).await.unwrap(),
        Transport::Udp => FakeDevice::spawn_udp(config, 0).await.unwrap(),
    }
}

fn client_config(handle: &FakeHandle, transport: Transport) -> ZkConfig {
    let config = match transport {
        Transport::Tcp => ZkConfig::tcp(handle.local_addr()),
        Transport::Udp => ZkConfig::udp(handle.local_addr()),
    };
    config.with_timeout(Duration::from_secs(5))
}

fn machine() -> MachineId {
    MachineId::parse("FAKE0000000001").unwrap()
}

/// The scans the fake's records must turn into.
fn expected_scans(config: &FakeConfig) -> Vec<(String, chrono::DateTime<chrono::Utc>, PunchState)> {
    let users = config.user_table();
    config
        .attendance()
        .iter()
        .map(|r| {
            let pin = if config.record_layout == RecordLayout::Compact8 {
                users
                    .iter()
                    .find(|u| u.uid == r.uid)
                    .unwrap()
                    .user_id
                    .clone()
            } else {
                r.user_id.clone()
            };
            (
                pin,
                local_to_utc(TZ, r.local_time().unwrap()),
                PunchState::from_code(r.punch_state),
            )
        })
        .collect()
}

fn summary(scans: &[ScanData]) -> Vec<(String, chrono::DateTime<chrono::Utc>, PunchState)> {
    scans
        .iter()
        .map(|s| {
            (
                s.device_user_id.as_str().to_owned(),
                s.timestamp,
                s.punch_state,
            )
        })
        .collect()
}

async fn pull_and_check(config: FakeConfig, transport: Transport) {
    let handle = spawn(config.clone(), transport).await;
    let mut client = ZkClient::connect(client_config(&handle, transport))
        .await
        .unwrap();
    assert_eq!(
        client.firmware_version().await.unwrap(),
        "Ver 6.60 Apr 28 2017"
    );
    assert_eq!(client.serial_number().await.unwrap(), config.serial);
    assert_eq!(client.device_time().await.unwrap(), config.clock);
    let sizes = client.free_sizes().await.unwrap();
    assert_eq!(
        (sizes.users, sizes.records),
        (config.users as i32, config.records as i32)
    );

    let pull = client.pull(&machine(), TZ).await.unwrap();
    assert!(pull.bad_records.is_empty());
    assert_eq!(pull.users, config.user_table());
    assert_eq!(
        pull.layout,
        (config.records > 0).then_some(config.record_layout)
    );
    assert_eq!(summary(&pull.scans), expected_scans(&config));
    if let Some(first) = pull.scans.first() {
        assert_eq!(first.verify_mode, VerifyMode::Fingerprint);
        assert_eq!(first.machine_id, machine());
        assert_eq!(
            first.raw.as_ref().unwrap().len(),
            config.record_layout.size() * 2
        );
    }
    if let Some(second) = pull.scans.get(1) {
        assert_eq!(second.verify_mode, VerifyMode::Face);
    }
    client.disconnect().await.unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn pulls_every_record_size_over_tcp_and_udp() {
    for transport in [Transport::Tcp, Transport::Udp] {
        for (record_layout, user_layout) in [
            (RecordLayout::Compact8, UserLayout::Text72),
            (RecordLayout::Numeric16, UserLayout::Numeric28),
            (RecordLayout::Text40, UserLayout::Text72),
        ] {
            // 1,500 records: buffered, several 16 KiB chunks on UDP for 16 and 40 bytes.
            let config = FakeConfig {
                records: 1500,
                users: 7,
                record_layout,
                user_layout,
                ..FakeConfig::default()
            };
            pull_and_check(config, transport).await;
        }
    }
}

#[tokio::test]
async fn pulls_many_records_in_k20_sized_data_packets() {
    // 30,000 × 40 bytes: 19 chunks of 0xFFC0 bytes, each in 1008-byte DATA packets.
    let config = FakeConfig {
        records: 30_000,
        users: 500,
        tcp_data_packet: 1008,
        ..FakeConfig::default()
    };
    pull_and_check(config, Transport::Tcp).await;
}

#[tokio::test]
async fn small_and_empty_tables() {
    for transport in [Transport::Tcp, Transport::Udp] {
        // Answered inline with one DATA packet (no FREE_DATA).
        let small = FakeConfig {
            records: 5,
            users: 3,
            ..FakeConfig::default()
        };
        pull_and_check(small, transport).await;
        let empty = FakeConfig {
            records: 0,
            users: 0,
            ..FakeConfig::default()
        };
        pull_and_check(empty, transport).await;
    }
}

#[tokio::test]
async fn strict_checksums_accept_the_fake() {
    let handle = spawn(FakeConfig::default(), Transport::Tcp).await;
    let mut config = client_config(&handle, Transport::Tcp);
    config.checksum_policy = ChecksumPolicy::Strict;
    let mut client = ZkClient::connect(config).await.unwrap();
    assert_eq!(client.pull(&machine(), TZ).await.unwrap().scans.len(), 100);
    client.disconnect().await.unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn comm_key_right_wrong_and_missing() {
    for transport in [Transport::Tcp, Transport::Udp] {
        let device = FakeConfig {
            comm_key: Some(123_456),
            ..FakeConfig::default()
        };
        let handle = spawn(device, transport).await;
        let config = client_config(&handle, transport);

        let mut client = ZkClient::connect(config.clone().with_comm_key(123_456))
            .await
            .unwrap();
        assert_eq!(client.pull(&machine(), TZ).await.unwrap().scans.len(), 100);
        client.disconnect().await.unwrap();

        let wrong = ZkClient::connect(config.clone().with_comm_key(654_321)).await;
        assert!(
            matches!(wrong, Err(ZkError::Auth(AuthFailure::KeyRejected))),
            "{wrong:?}"
        );
        let missing = ZkClient::connect(config).await;
        assert!(
            matches!(missing, Err(ZkError::Auth(AuthFailure::KeyRequired))),
            "{missing:?}"
        );
        handle.shutdown().await;
    }
}

/// Connects to a device with `fault` and pulls; returns the error.
async fn pull_with_fault(fault: Fault, transport: Transport, comm_key: Option<u32>) -> ZkError {
    let device = FakeConfig {
        fault: Some(fault),
        comm_key,
        ..FakeConfig::default()
    };
    let handle = spawn(device, transport).await;
    let mut config = client_config(&handle, transport).with_timeout(Duration::from_millis(300));
    config.comm_key = comm_key;
    let result = match ZkClient::connect(config).await {
        Ok(mut client) => client.pull(&machine(), TZ).await.map(drop),
        Err(e) => Err(e),
    };
    handle.shutdown().await;
    result.unwrap_err()
}

#[tokio::test]
async fn injected_faults_give_typed_errors() {
    use Transport::{Tcp, Udp};
    let e = pull_with_fault(Fault::DropMidTransfer, Tcp, None).await;
    assert!(matches!(e, ZkError::Disconnected { .. }), "{e:?}");
    // UDP has no connection to close: the missing datagrams end in a timeout.
    let e = pull_with_fault(Fault::DropMidTransfer, Udp, None).await;
    assert!(matches!(e, ZkError::Timeout { .. }), "{e:?}");

    for transport in [Tcp, Udp] {
        let e = pull_with_fault(Fault::Stall, transport, None).await;
        assert!(
            matches!(
                e,
                ZkError::Timeout {
                    during: "read users",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = pull_with_fault(Fault::RejectAuth, transport, Some(7)).await;
        assert!(
            matches!(e, ZkError::Auth(AuthFailure::KeyRejected)),
            "{e:?}"
        );
    }
    let e = pull_with_fault(Fault::Garbage, Tcp, None).await;
    assert!(
        matches!(
            e,
            ZkError::Codec {
                source: CodecError::BadMagic { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let e = pull_with_fault(Fault::Garbage, Udp, None).await;
    assert!(
        matches!(
            e,
            ZkError::Codec {
                source: CodecError::TooShort { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn unreachable_device() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = ZkClient::connect(ZkConfig::tcp(addr)).await.unwrap_err();
    assert!(matches!(e, ZkError::Unreachable { .. }), "{e:?}");
}

#[tokio::test]
async fn live_capture_every_event_size_over_tcp() {
    for layout in [
        EventLayout::Numeric12,
        EventLayout::Text32,
        EventLayout::Text36,
        EventLayout::Text52,
    ] {
        let device = FakeConfig {
            event_layout: layout,
            ..FakeConfig::default()
        };
        live_capture(device, Transport::Tcp).await;
    }
}

#[tokio::test]
async fn live_capture_over_udp() {
    live_capture(FakeConfig::default(), Transport::Udp).await;
}

async fn live_capture(device: FakeConfig, transport: Transport) {
    let handle = spawn(device.clone(), transport).await;
    let client = ZkClient::connect(client_config(&handle, transport))
        .await
        .unwrap();
    let mut live = client.live_capture().await.unwrap();
    for n in 0..3 {
        assert_eq!(handle.push_event(device.live_event(n)), 1);
    }
    for n in 0..3 {
        let scan = live.next_scan(&machine(), TZ).await.unwrap();
        let want = device.live_event(n);
        assert_eq!(scan.device_user_id.as_str(), want.user_id);
        assert_eq!(scan.timestamp, local_to_utc(TZ, want.local_time().unwrap()));
        assert_eq!(scan.punch_state, PunchState::CheckIn);
        assert_eq!(scan.verify_mode, VerifyMode::Fingerprint);
    }
    // The client still works after unregistering.
    let mut client = live.stop().await.unwrap();
    assert_eq!(client.device_time().await.unwrap(), device.clock);
    client.disconnect().await.unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn live_scans_as_a_stream() {
    let device = FakeConfig::default();
    let handle = spawn(device.clone(), Transport::Tcp).await;
    let client = ZkClient::connect(client_config(&handle, Transport::Tcp))
        .await
        .unwrap();
    let live = client.live_capture().await.unwrap();
    for n in 0..2 {
        handle.push_event(device.live_event(n));
    }
    let scans: Vec<ScanData> = live
        .into_scans(machine(), TZ)
        .take(2)
        .map(Result::unwrap)
        .collect()
        .await;
    let pins: Vec<&str> = scans.iter().map(|s| s.device_user_id.as_str()).collect();
    assert_eq!(pins, ["1001", "1002"]);
    // Stopping the fake ends the stream with an error instead of hanging.
    handle.shutdown().await;
}
