//! Suprema BioStar 2 REST (`docs/protocols/suprema-biostar.md`): we talk to the BioStar server,
//! not to the terminals.
//!
//! - [`codec`]: login, the event search and its rows, event codes → verify modes, the cursor;
//! - [`client`]: our REST client (session header, one re-login on 401) and [`BioStarAdapter`];
//! - `fake` (feature `fakes`): a fake BioStar server with sessions, paging and faults.

pub mod client;
pub mod codec;
#[cfg(feature = "fakes")]
pub mod fake;

pub use client::{BioStarAdapter, BioStarClient, BioStarConfig};
