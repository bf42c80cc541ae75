//! [`PgCluster`]: core's [`ClusterStore`] on PostgreSQL, so several server instances on one
//! database act as one system (migration 8's tables).
//!
//! - instances: `att_cluster_instances`, one row per instance, its heartbeat set to the
//!   database's `now()`;
//! - leases: `att_cluster_leases`, one row per resource. A claim is one
//!   `INSERT … ON CONFLICT (resource) DO UPDATE … WHERE expires_at <= now() OR holder = me`:
//!   under READ COMMITTED the conflicting row is locked and the condition re-read on its latest
//!   version, so of two instances claiming the same expired lease one wins and the other's row
//!   is left alone; every expiry is compared with the database's clock;
//! - broadcasts: `NOTIFY` on [`CHANNEL`], listened to through sqlx's `PgListener`. A payload is
//!   sent inline (`i` + text) when it fits the notification's limit ([`INLINE_MAX`] bytes), else
//!   stored in `att_cluster_events` and referred to by its id (`r` + id); a listener reads it
//!   from there. Stored payloads are deleted after [`EVENT_KEEP_SECS`] by the heartbeats.

use std::time::Duration;

use async_trait::async_trait;
use attendance_core::store::StoreResult;
use attendance_core::store::cluster::{
    ClusterStore, ClusterSubscription, InstanceInfo, InstanceRecord, Lease,
};
use attendance_store_sql::error::db;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPool};

/// The notification channel of the broadcasts.
pub const CHANNEL: &str = "att_cluster";

/// The longest payload sent inline: PostgreSQL refuses notifications of 8,000 bytes or more.
pub const INLINE_MAX: usize = 7_900;

/// How long a payload stored in `att_cluster_events` is kept for the listeners (seconds).
pub const EVENT_KEEP_SECS: f64 = 300.0;

/// The cluster side of a [`PgStore`](crate::PgStore), on the same pool
/// ([`PgStore::cluster`](crate::PgStore::cluster)).
#[derive(Debug, Clone)]
pub struct PgCluster {
    pool: PgPool,
}

fn millis(lease: Duration) -> f64 {
    lease.as_secs_f64() * 1_000.0
}

impl PgCluster {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ClusterStore for PgCluster {
    async fn heartbeat(
        &self,
        instance: &InstanceInfo,
        lease: Duration,
    ) -> StoreResult<Vec<InstanceRecord>> {
        let what = "refresh the instance's heartbeat";
        sqlx::query(
            r#"INSERT INTO "att_cluster_instances" ("instance_id", "name", "started_at", "last_heartbeat")
               VALUES ($1, $2, now(), now())
               ON CONFLICT ("instance_id") DO UPDATE SET "last_heartbeat" = now(), "name" = EXCLUDED."name""#,
        )
        .bind(&instance.instance_id)
        .bind(&instance.name)
        .execute(&self.pool)
        .await
        .map_err(db(what))?;
        sqlx::query(
            r#"DELETE FROM "att_cluster_instances"
               WHERE "last_heartbeat" < now() - $1 * 10 * interval '1 millisecond'"#,
        )
        .bind(millis(lease))
        .execute(&self.pool)
        .await
        .map_err(db(what))?;
        sqlx::query(
            r#"DELETE FROM "att_cluster_events" WHERE "created_at" < now() - $1 * interval '1 second'"#,
        )
        .bind(EVENT_KEEP_SECS)
        .execute(&self.pool)
        .await
        .map_err(db(what))?;
        let rows = sqlx::query(
            r#"SELECT "instance_id", "name", "started_at", "last_heartbeat",
                      "last_heartbeat" >= now() - $1 * interval '1 millisecond' AS "live"
               FROM "att_cluster_instances" ORDER BY "instance_id""#,
        )
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(db(what))?;
        rows.iter()
            .map(|row| {
                Ok(InstanceRecord {
                    instance_id: row.try_get(0).map_err(db(what))?,
                    name: row.try_get(1).map_err(db(what))?,
                    started_at: row.try_get::<DateTime<Utc>, _>(2).map_err(db(what))?,
                    last_heartbeat: row.try_get::<DateTime<Utc>, _>(3).map_err(db(what))?,
                    live: row.try_get(4).map_err(db(what))?,
                })
            })
            .collect()
    }

    async fn renew_leases(&self, holder: &str, lease: Duration) -> StoreResult<Vec<String>> {
        let what = "renew the instance's leases";
        let rows = sqlx::query(
            r#"UPDATE "att_cluster_leases" SET "expires_at" = now() + $2 * interval '1 millisecond'
               WHERE "holder" = $1 RETURNING "resource""#,
        )
        .bind(holder)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(db(what))?;
        let mut held: Vec<String> = rows
            .iter()
            .map(|r| r.try_get(0).map_err(db(what)))
            .collect::<StoreResult<_>>()?;
        held.sort();
        Ok(held)
    }

    async fn claim_leases(
        &self,
        holder: &str,
        resources: &[String],
        lease: Duration,
    ) -> StoreResult<Vec<String>> {
        let what = "claim leases";
        // Sorted and distinct: one statement cannot touch a row twice, and two claimants lock
        // rows in the same order (no deadlock).
        let mut wanted: Vec<&str> = resources.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            r#"INSERT INTO "att_cluster_leases" ("resource", "holder", "expires_at")
               SELECT r, $1, now() + $3 * interval '1 millisecond' FROM unnest($2::text[]) AS r ORDER BY r
               ON CONFLICT ("resource") DO UPDATE
                 SET "holder" = EXCLUDED."holder", "expires_at" = EXCLUDED."expires_at"
                 WHERE "att_cluster_leases"."expires_at" <= now()
                    OR "att_cluster_leases"."holder" = EXCLUDED."holder"
               RETURNING "resource""#,
        )
        .bind(holder)
        .bind(&wanted)
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(db(what))?;
        let mut won: Vec<String> = rows
            .iter()
            .map(|r| r.try_get(0).map_err(db(what)))
            .collect::<StoreResult<_>>()?;
        won.sort();
        Ok(won)
    }

    async fn release_leases(&self, holder: &str, resources: &[String]) -> StoreResult<()> {
        if resources.is_empty() {
            return Ok(());
        }
        sqlx::query(
            r#"DELETE FROM "att_cluster_leases" WHERE "holder" = $1 AND "resource" = ANY($2::text[])"#,
        )
        .bind(holder)
        .bind(resources)
        .execute(&self.pool)
        .await
        .map_err(db("release leases"))?;
        Ok(())
    }

    async fn leases(&self) -> StoreResult<Vec<Lease>> {
        let what = "list the leases";
        let rows = sqlx::query(
            r#"SELECT "resource", "holder", "expires_at" FROM "att_cluster_leases"
               WHERE "expires_at" > now() ORDER BY "resource""#,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db(what))?;
        rows.iter()
            .map(|row| {
                Ok(Lease {
                    resource: row.try_get(0).map_err(db(what))?,
                    holder: row.try_get(1).map_err(db(what))?,
                    expires_at: row.try_get::<DateTime<Utc>, _>(2).map_err(db(what))?,
                })
            })
            .collect()
    }

    async fn leave(&self, instance_id: &str) -> StoreResult<()> {
        let what = "leave the cluster";
        sqlx::query(r#"DELETE FROM "att_cluster_leases" WHERE "holder" = $1"#)
            .bind(instance_id)
            .execute(&self.pool)
            .await
            .map_err(db(what))?;
        sqlx::query(r#"DELETE FROM "att_cluster_instances" WHERE "instance_id" = $1"#)
            .bind(instance_id)
            .execute(&self.pool)
            .await
            .map_err(db(what))?;
        Ok(())
    }

    async fn broadcast(&self, payload: &str) -> StoreResult<()> {
        let what = "broadcast to the instances";
        let message = if payload.len() <= INLINE_MAX {
            format!("i{payload}")
        } else {
            let id: i64 = sqlx::query_scalar(
                r#"INSERT INTO "att_cluster_events" ("payload") VALUES ($1) RETURNING "id""#,
            )
            .bind(payload)
            .fetch_one(&self.pool)
            .await
            .map_err(db(what))?;
            format!("r{id}")
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(db(what))?;
        Ok(())
    }

    /// Payloads that fit a notification go in one statement (one round trip, one transaction:
    /// delivered together, in their order); any longer one makes them go one by one.
    async fn broadcast_all(&self, payloads: &[String]) -> StoreResult<()> {
        if payloads.iter().any(|p| p.len() > INLINE_MAX) {
            for payload in payloads {
                self.broadcast(payload).await?;
            }
            return Ok(());
        }
        let messages: Vec<String> = payloads.iter().map(|p| format!("i{p}")).collect();
        // Without waiting for the commit's WAL flush (a notification's transaction has an id
        // and commits like a write): a broadcast is not kept anyway, and under load the flush
        // wait was most of its delay.
        sqlx::query(
            "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS t(m) \
             WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL",
        )
        .bind(CHANNEL)
        .bind(messages)
        .execute(&self.pool)
        .await
        .map_err(db("broadcast to the instances"))?;
        Ok(())
    }

    async fn subscribe(&self) -> StoreResult<Box<dyn ClusterSubscription>> {
        let what = "listen to the instances";
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(db(what))?;
        listener.listen(CHANNEL).await.map_err(db(what))?;
        Ok(Box::new(PgSubscription {
            listener,
            pool: self.pool.clone(),
        }))
    }
}

/// A `LISTEN` on [`CHANNEL`]; reconnects by itself after a lost connection.
struct PgSubscription {
    listener: PgListener,
    pool: PgPool,
}

#[async_trait]
impl ClusterSubscription for PgSubscription {
    async fn next(&mut self) -> StoreResult<String> {
        let what = "receive a broadcast";
        loop {
            let Some(notification) = self.listener.try_recv().await.map_err(db(what))? else {
                // The connection was lost (and is being re-established): payloads may be gone.
                return Err(attendance_core::store::StoreError::Backend {
                    message: "the broadcast listener lost its connection; broadcasts may have been missed".into(),
                    source: None,
                });
            };
            let text = notification.payload();
            if let Some(inline) = text.strip_prefix('i') {
                return Ok(inline.to_owned());
            }
            let Some(id) = text.strip_prefix('r').and_then(|id| id.parse::<i64>().ok()) else {
                tracing::warn!(
                    payload_bytes = text.len(),
                    "an unreadable cluster notification was skipped"
                );
                continue;
            };
            let stored: Option<String> =
                sqlx::query_scalar(r#"SELECT "payload" FROM "att_cluster_events" WHERE "id" = $1"#)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(what))?;
            match stored {
                Some(payload) => return Ok(payload),
                None => tracing::warn!(id, "a stored cluster broadcast was already cleaned up"),
            }
        }
    }
}
