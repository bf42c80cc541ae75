//! `attendance-adapters`: the device adapters of the attendance platform.
//!
//! So far: the ZKTeco binary protocol ([`zk`]), layered as a pure codec, a transport over TCP or
//! UDP and an async client, with a fake device behind the `fakes` feature. The other vendors, the
//! `BaseMachineAdapter` trait and the `MachineManager` follow (issue 4).
//!
//! The codec is pure, so a frame can be built and read back without a socket (here the worked
//! example of the protocol reference, a request for option `~OS`):
//!
//! ```
//! use attendance_adapters::zk::codec::{ChecksumPolicy, Packet, cmd, decode_tcp_frame};
//! use bytes::BytesMut;
//!
//! let mut wire = BytesMut::new();
//! Packet::new(cmd::OPTIONS_RRQ, 0xc0c5, 5, &b"~OS\0"[..]).encode_tcp(&mut wire);
//! assert_eq!(&wire[..], b"\x50\x50\x82\x7d\x0c\x00\x00\x00\x0b\x00\x58\xef\xc5\xc0\x05\x00~OS\0");
//!
//! let packet = decode_tcp_frame(&mut wire, ChecksumPolicy::Strict)?.expect("a whole frame");
//! assert_eq!((packet.command, packet.session, &packet.data[..]), (cmd::OPTIONS_RRQ, 0xc0c5, &b"~OS\0"[..]));
//! # Ok::<(), attendance_adapters::zk::codec::CodecError>(())
//! ```

pub mod adapter;
pub mod adms;
pub mod biostar;
pub mod hikvision;
pub mod zk;

pub use adapter::{AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream};
