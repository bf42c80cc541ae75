//! The background recompute jobs' port for [`SqliteStore`], each method handing the store to
//! [`attendance_store_sql::contract::jobs`].

use async_trait::async_trait;
use attendance_core::store::{JobProgress, RecomputeJobRecord, RecomputeJobStore, StoreResult};
use attendance_store_sql::contract::jobs;
use chrono::{DateTime, NaiveDate, Utc};

use crate::SqliteStore;

#[async_trait]
impl RecomputeJobStore for SqliteStore {
    async fn enqueue_recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RecomputeJobRecord> {
        jobs::enqueue_recompute(self, from, to, reason, now).await
    }

    async fn take_recompute(&self, now: DateTime<Utc>) -> StoreResult<Option<RecomputeJobRecord>> {
        jobs::take_recompute(self, now).await
    }

    async fn save_recompute_progress(&self, id: i64, progress: &JobProgress) -> StoreResult<()> {
        jobs::save_recompute_progress(self, id, progress).await
    }

    async fn finish_recompute(
        &self,
        id: i64,
        now: DateTime<Utc>,
        outcome: Result<u64, String>,
    ) -> StoreResult<RecomputeJobRecord> {
        jobs::finish_recompute(self, id, now, outcome).await
    }

    async fn current_recompute(&self) -> StoreResult<Option<RecomputeJobRecord>> {
        jobs::current_recompute(self).await
    }
}
