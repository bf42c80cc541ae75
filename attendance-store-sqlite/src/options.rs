//! How to open a [`SqliteStore`](crate::SqliteStore).

use std::time::Duration;

/// How hard SQLite makes each commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// No syncing: fast, and a power loss may corrupt the file.
    Off,
    /// In WAL mode, a commit survives a crash of the process but maybe not a power loss.
    Normal,
    /// Every commit is synced: it survives a power loss (the default).
    #[default]
    Full,
    /// Like `Full`, and the directory is synced too.
    Extra,
}

/// How to open a [`SqliteStore`](crate::SqliteStore).
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of commits; `Full` by default.
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock another process holds before failing; 5 s.
    pub busy_timeout: Duration,
    /// Connections in the read pool; 4.
    pub read_connections: u32,
    /// How long a call waits for the writer (or a reader) before failing; 60 s.
    pub acquire_timeout: Duration,
    /// Whether to create the file when it does not exist; `true`.
    pub create_if_missing: bool,
    /// The writer's page cache, in KiB (`PRAGMA cache_size`); 64 MiB, so the writer keeps the
    /// hot part of the scan index in memory across batches.
    pub cache_size_kib: u32,
    /// The page cache of each read connection, in KiB; 8 MiB. Readers serve a day's or a
    /// chunk's rows at a time; four of them at the writer's size would cache the same pages
    /// four times over (a server's resident memory grows by that much).
    pub read_cache_size_kib: u32,
    /// WAL pages after which a commit checkpoints (`PRAGMA wal_autocheckpoint`); 10,000 pages
    /// (40 MB), so pages that many batches touch are copied back to the database once, not once
    /// per 1,000 pages.
    pub wal_autocheckpoint_pages: u32,
    /// The page size of a new database file, in bytes (a power of two from 512 to 65,536;
    /// ignored for an existing file); 4,096.
    pub page_size: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            acquire_timeout: Duration::from_secs(60),
            create_if_missing: true,
            cache_size_kib: 64 * 1024,
            read_cache_size_kib: 8 * 1024,
            wal_autocheckpoint_pages: 10_000,
            page_size: 4096,
        }
    }
}
