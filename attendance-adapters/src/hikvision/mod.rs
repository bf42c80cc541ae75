//! Hikvision ISAPI access-control events (`docs/protocols/hikvision-isapi.md`).
//!
//! - [`digest`]: HTTP Digest (MD5, `qop=auth`), client and server side, pure;
//! - [`codec`]: the `AcsEvent` search and reply, push envelopes, multipart, events → scans;
//! - [`client`]: our ISAPI client and [`HikvisionAdapter`] (pull, `serialNo` cursor);
//! - [`push`]: the HTTP-listening receiver as an axum router ([`push_router`]);
//! - `fake` (feature `fakes`): a fake terminal with digest auth, page cap and faults, and a pusher.

pub mod client;
pub mod codec;
pub mod digest;
#[cfg(feature = "fakes")]
pub mod fake;
pub mod push;

pub use client::{HikvisionAdapter, HikvisionClient, HikvisionConfig};
pub use push::{HikPushConfig, HikPushDevice, HikPushHub, push_router};
