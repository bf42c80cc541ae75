//! The store, read directly (the SQLite file read-only, or the PostgreSQL database): what the
//! run counts to know when every record is final.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::run::Backend;

pub(crate) enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    pub(crate) async fn open(backend: &Backend, data_dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join("attendance.sqlite"))
                    .read_only(true);
                Db::Sqlite(SqliteConnection::connect_with(&options).await.unwrap())
            }
            Backend::Postgres { url, .. } => {
                Db::Postgres(PgConnection::connect(url).await.unwrap())
            }
        }
    }

    async fn count(&mut self, sql: &'static str) -> u64 {
        let n: i64 = match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        };
        u64::try_from(n).unwrap_or(0)
    }

    pub(crate) async fn scans(&mut self) -> u64 {
        self.count("SELECT count(*) FROM att_scans").await
    }

    pub(crate) async fn records(&mut self) -> u64 {
        self.count("SELECT count(*) FROM att_daily_records").await
    }

    /// The scans the daily records hold, all together.
    pub(crate) async fn scans_in_records(&mut self) -> u64 {
        match self {
            Db::Sqlite(_) => {
                self.count(
                    "SELECT coalesce(sum(json_array_length(data, '$.scans')), 0) FROM att_daily_records",
                )
                .await
            }
            Db::Postgres(_) => {
                self.count(
                    "SELECT coalesce(sum(json_array_length((data::json) -> 'scans')), 0)::bigint FROM att_daily_records",
                )
                .await
            }
        }
    }

    pub(crate) async fn close(self) {
        match self {
            Db::Sqlite(c) => {
                let _ = c.close().await;
            }
            Db::Postgres(c) => {
                let _ = c.close().await;
            }
        }
    }
}
