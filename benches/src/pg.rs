//! Fresh PostgreSQL databases for a bench, on the server `DATABASE_URL` names: each run gets its
//! own database, created from the admin connection and dropped after.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, PgConnection};

/// The server of `DATABASE_URL` (the admin connection), where the benches make their databases.
#[derive(Debug, Clone)]
pub struct PgServer {
    admin: String,
}

impl PgServer {
    /// The server of `DATABASE_URL`; `None` when it is unset or empty, after telling stderr
    /// that `bench`'s PostgreSQL `part` (its group, its backend) is skipped.
    pub fn from_env(bench: &str, part: &str) -> Option<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Some(Self::new(url)),
            _ => {
                eprintln!("{bench}: DATABASE_URL is not set, the PostgreSQL {part} is skipped");
                None
            }
        }
    }

    /// The server of the admin connection URL `admin`.
    pub fn new(admin: impl Into<String>) -> Self {
        Self {
            admin: admin.into(),
        }
    }

    /// The URL of database `name` on this server: the admin URL with its database replaced,
    /// its query (`?sslmode=…`) kept.
    pub fn url_of(&self, name: &str) -> String {
        let (base, query) = match self.admin.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.admin.as_str(), String::new()),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[scheme_end..].find('/') {
            Some(slash) => &base[..scheme_end + slash],
            None => base,
        };
        format!("{base}/{name}{query}")
    }

    /// Creates a new database, named `<prefix>_<process id>_<n>`: its name and URL.
    pub async fn create(&self, prefix: &str) -> Result<(String, String), sqlx::Error> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.execute(format!("CREATE DATABASE {name}")).await?;
        let url = self.url_of(&name);
        Ok((name, url))
    }

    /// Drops database `name` (if it exists), closing its connections.
    pub async fn drop_database(&self, name: &str) -> Result<(), sqlx::Error> {
        self.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
    }

    async fn execute(&self, sql: String) -> Result<(), sqlx::Error> {
        let mut admin = PgConnection::connect(&self.admin).await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
        done.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::PgServer;

    #[test]
    fn a_database_url_keeps_the_server_and_the_query() {
        let server = PgServer::new("postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(
            server.url_of("att_x"),
            "postgres://postgres@127.0.0.1:5432/att_x"
        );
        let server = PgServer::new("postgres://u:p@db/postgres?sslmode=disable");
        assert_eq!(
            server.url_of("att_x"),
            "postgres://u:p@db/att_x?sslmode=disable"
        );
        let server = PgServer::new("postgres://u@db");
        assert_eq!(server.url_of("att_x"), "postgres://u@db/att_x");
    }
}
