//! Which network addresses a push device may send from: [`AllowedSources`], the
//! `allowed_sources` key of the ADMS and Hikvision machine configs, and [`RefusalLog`], which
//! keeps the log of refused pushes to one line per device and minute.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Deserialize;

/// An allow-list of source addresses: CIDR blocks (`10.1.2.0/24`, `fd00::/8`) and single
/// addresses (`192.168.1.7`, `::1`). Empty (the default) allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct AllowedSources {
    nets: Vec<IpNet>,
    // Allows no address at all (a config that could not be read).
    nobody: bool,
}

/// The most entries a list may hold.
pub const MAX_ALLOWED_SOURCES: usize = 256;

/// Why a source list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    /// An entry is neither an address nor a CIDR block.
    #[error(
        "allowed_sources: `{0}` is not an IP address or CIDR block (e.g. \"10.1.2.0/24\", \"192.168.1.7\", \"fd00::/8\")"
    )]
    Invalid(String),
    /// Too many entries.
    #[error("allowed_sources: at most {MAX_ALLOWED_SOURCES} entries")]
    TooMany,
}

impl AllowedSources {
    /// Parses each entry: an IPv4 or IPv6 address, or a CIDR block (its host bits are ignored:
    /// `10.1.2.3/24` is `10.1.2.0/24`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, SourcesError> {
        if entries.len() > MAX_ALLOWED_SOURCES {
            return Err(SourcesError::TooMany);
        }
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| SourcesError::Invalid(entry.chars().take(64).collect()))?,
            };
            nets.push(net);
        }
        Ok(Self {
            nets,
            nobody: false,
        })
    }

    /// A list no address is on (for a device whose config cannot be read).
    pub fn nobody() -> Self {
        Self {
            nets: Vec::new(),
            nobody: true,
        }
    }

    /// Whether every address is allowed (an empty list).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && !self.nobody
    }

    /// Whether a push from `client` is allowed: always with an empty list; otherwise only from
    /// a known address inside one of the entries (an IPv4-mapped IPv6 address counts as its IPv4
    /// address).
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(client) = client else {
            return false;
        };
        let client = client.to_canonical();
        self.nets.iter().any(|net| net.contains(&client))
    }
}

impl TryFrom<Vec<String>> for AllowedSources {
    type Error = SourcesError;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse(&entries)
    }
}

/// How often a device's refused pushes are logged at most.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Counts one device's refused pushes and says when to log them: the first refusal, then at
/// most once per [`REFUSAL_LOG_EVERY`] with the count since the last line.
#[derive(Debug, Clone, Default)]
pub struct RefusalLog {
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl RefusalLog {
    /// Counts a refusal at `now`; `Some(count)` (refusals since the last line, this one
    /// included) when a line is due.
    pub fn refused(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|last| now.duration_since(last) >= REFUSAL_LOG_EVERY);
        if !due {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn addresses_and_blocks_of_both_families() {
        let list =
            AllowedSources::parse(&["10.1.2.0/24", "192.168.1.7", "fd00::/8", "::1"]).unwrap();
        assert!(list.allows(ip("10.1.2.200")));
        assert!(!list.allows(ip("10.1.3.1")));
        assert!(list.allows(ip("192.168.1.7")));
        assert!(!list.allows(ip("192.168.1.8")));
        assert!(list.allows(ip("fd12::5")));
        assert!(list.allows(ip("::1")));
        assert!(!list.allows(ip("fe80::1")));
        // An IPv4 client seen on a dual-stack socket.
        assert!(list.allows(ip("::ffff:10.1.2.9")));
        // Without a known address, a list refuses.
        assert!(!list.allows(None));
        // Host bits are ignored.
        assert!(
            AllowedSources::parse(&["10.1.2.3/24"])
                .unwrap()
                .allows(ip("10.1.2.99"))
        );
    }

    #[test]
    fn an_empty_list_allows_everyone() {
        let list = AllowedSources::default();
        assert!(list.allows(ip("203.0.113.5")));
        assert!(list.allows(None));
        assert!(!AllowedSources::nobody().allows(ip("127.0.0.1")));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.1.2.0/33", "10.1.2", "host.example", "", "::1/129"] {
            let e = AllowedSources::parse(&[bad]).unwrap_err();
            assert!(e.to_string().contains("allowed_sources"), "{bad}: {e}");
        }
        let many: Vec<String> = (0..=MAX_ALLOWED_SOURCES)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        assert_eq!(
            AllowedSources::parse(&many).unwrap_err(),
            SourcesError::TooMany
        );
        let err = serde_json::from_value::<AllowedSources>(serde_json::json!(["10.0.0.0/40"]))
            .unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
    }

    #[test]
    fn refusals_are_logged_once_a_minute_with_their_count() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.refused(start), Some(1));
        for i in 1..100 {
            assert_eq!(log.refused(start + Duration::from_millis(i)), None);
        }
        assert_eq!(log.refused(start + REFUSAL_LOG_EVERY), Some(100));
    }
}
