//! Test support (feature `testkit`): one fresh database per test on the server `DATABASE_URL`
//! names, for this crate's tests and those of any application running on PostgreSQL.
//!
//! Without `DATABASE_URL` (and without `CI`), [`server`] prints `skipped: DATABASE_URL is not
//! set` and returns `None`, so the test returns early and passes. With `DATABASE_URL` set, or
//! with `CI` set, a server that cannot be reached fails the test loudly (a panic): CI must never
//! pass by skipping. It needs nothing beyond this crate's own dependencies.
//!
//! ```no_run
//! use attendance_store_postgres::testkit;
//!
//! # async fn a_test() {
//! let Some(server) = testkit::server().await else {
//!     return; // skipped: DATABASE_URL is not set
//! };
//! let store = server.store().await.expect("a store on a fresh database");
//! // … the test …
//! # drop(store);
//! server.cleanup().await;
//! # }
//! ```
#![allow(clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{PgOptions, PgStore};
use attendance_core::store::StoreResult;
use sqlx::{Connection, PgConnection};

/// A server to make test databases on; dropping it drops every database it made (best effort).
#[derive(Debug)]
pub struct TestServer {
    admin_url: String,
    made: Mutex<Vec<String>>,
}

/// The server of `DATABASE_URL`, or `None` (after printing why) when the tests should skip.
///
/// # Panics
///
/// When `CI` is set but `DATABASE_URL` is not, or `DATABASE_URL` is set and the server cannot
/// be reached.
pub async fn server() -> Option<Arc<TestServer>> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but DATABASE_URL is not: the PostgreSQL tests cannot run");
            }
            eprintln!("skipped: DATABASE_URL is not set");
            return None;
        }
    };
    match PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
        }
        Err(e) => panic!("DATABASE_URL is set but PostgreSQL at {url} is unreachable: {e}"),
    }
    Some(Arc::new(TestServer {
        admin_url: url,
        made: Mutex::new(Vec::new()),
    }))
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "att_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

impl TestServer {
    /// A new, empty database; its URL.
    ///
    /// # Panics
    ///
    /// When the server refuses the connection or the `CREATE DATABASE`.
    pub async fn database(&self) -> String {
        let name = unique_name();
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to the admin database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(name.clone());
        with_database(&self.admin_url, &name)
    }

    /// A store on a new, empty database.
    pub async fn store(&self) -> StoreResult<PgStore> {
        let url = self.database().await;
        PgStore::connect(&url, PgOptions::default()).await
    }

    /// Drops every database made so far (best effort: errors are printed, not raised).
    pub async fn cleanup(&self) {
        let names: Vec<String> = std::mem::take(
            &mut *self
                .made
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if names.is_empty() {
            return;
        }
        let Ok(mut admin) = PgConnection::connect(&self.admin_url).await else {
            eprintln!("could not connect to drop the test databases {names:?}");
            return;
        };
        for name in names {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
            {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
        let _ = admin.close().await;
    }
}
