//! `attendance-adapters`: the device adapters of the attendance platform.
//!
//! - [`adapter`]: the [`BaseMachineAdapter`] contract every device meets, with typed errors;
//! - [`zk`]: the ZKTeco binary protocol, layered as a pure [`zk::codec`] (one file per concept:
//!   packets and framing, comm key, times, records, users, bulk-read messages, realtime events),
//!   a transport over TCP or UDP, an async [`zk::client`] (session, buffered downloads, scans,
//!   live capture) and [`zk::adapter::ZkAdapter`], with a fake device behind the `fakes` feature
//!   (a pure session state machine and its socket loops);
//! - [`generic_tcp`]: devices that write one text line per scan: the line codec, the adapter with
//!   its socket reader, and a fake device behind `fakes`;
//! - [`adms`]: ZKTeco ADMS push ("iclock"): a parser, an axum router a host mounts, an adapter
//!   and a fake device that posts;
//! - [`hikvision`]: Hikvision ISAPI access-control events (digest auth, paged `AcsEvent` search,
//!   the HTTP push receiver), with a fake terminal;
//! - [`biostar`]: Suprema BioStar 2 REST (session login, event search with a datetime cursor),
//!   with a fake server;
//! - [`simulator`]: a seeded, deterministic generator of factory days served as a machine;
//! - [`registry`]: [`adapter_for`] picks the adapter by machine type;
//! - [`manager`]: the [`MachineManager`], one task per machine (its worker loop) with cursors,
//!   backoff and a circuit breaker, health, connection events and a bounded output of scan
//!   batches;
//! - [`engine`]: the real-time engine: a bounded queue of scan batches
//!   ([`engine::IngestSender`]), an ingest stage that stores them as group commits with their
//!   cursors, sets aside scans outside the storable window and answers each submitter after its
//!   commit, a recompute stage that recomputes only the affected days set-wise (and background
//!   recomputes of a range), and an event bus;
//! - [`telemetry`]: the names of the metrics the engine and the push receivers emit through the
//!   `metrics` facade (no-ops until a host installs a recorder);
//! - [`runtime`]: what an application embeds: [`runtime::Runtime::start`] takes a store and
//!   gives the engine, the machines and the push routers, wired together.
//!
//! The protocol facts the adapters rely on, with their sources, are in `docs/protocols/` at the
//! root of the repository, one file per protocol (`zkteco-binary.md`, `zkteco-adms.md`,
//! `hikvision-isapi.md`, `suprema-biostar.md`, `generic-tcp.md`); doc comments cite them by
//! section.
//!
//! The codec is pure, so a frame can be built and read back without a socket (here the worked
//! example of `docs/protocols/zkteco-binary.md` §1, a request for option `~OS`):
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
pub mod cluster;
pub mod engine;
pub mod generic_tcp;
pub mod hikvision;
pub mod manager;
pub mod registry;
pub mod runtime;
pub mod simulator;
pub mod sources;
pub mod telemetry;
pub mod zk;

pub use adapter::{AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream};
pub use manager::{
    CursorSource, MachineEvent, MachineEventKind, MachineHealth, MachineManager, ManagerConfig,
};
pub use registry::{adapter_for, test_machine};
