//! [`RecomputeJobStore`] over a [`SqlBackend`]: each method one write transaction that reads
//! the job, changes it with core's own rules ([`RecomputeJobRecord`]'s methods) and writes it
//! back with its flags.
//!
//! [`RecomputeJobStore`]: attendance_core::store::RecomputeJobStore

use attendance_core::store::{JobProgress, RecomputeJobRecord, StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use sea_query::SelectStatement;

use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// How many times an enqueue that lost a race for the one queued job is tried again.
const ENQUEUE_ATTEMPTS: usize = 5;

fn job_of(row: &impl SqlRow, what: &'static str) -> StoreResult<RecomputeJobRecord> {
    let mut job: RecomputeJobRecord = from_json("recompute job", &row.text(1, what)?)?;
    job.id = row.int(0, what)?;
    Ok(job)
}

fn unfinished(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "unfinished recompute job",
        key: id.to_string(),
    }
}

/// Writes `job` back with the flags its state gives, in `tx`.
async fn write_back<B: SqlBackend>(
    store: &B,
    tx: &mut B::Tx,
    job: &RecomputeJobRecord,
    what: &'static str,
) -> StoreResult<()> {
    let statement = stmt::update_job(job.id, !job.is_started(), !job.is_finished(), to_json(job)?);
    store.execute(On::Tx(tx), &statement, what).await?;
    Ok(())
}

/// [`RecomputeJobStore::enqueue_recompute`](attendance_core::store::RecomputeJobStore::enqueue_recompute):
/// merged into the queued row, else inserted; two instances racing to insert meet on the
/// unique `queued` flag and the loser merges on its next attempt.
pub async fn enqueue_recompute<B: SqlBackend>(
    store: &B,
    from: NaiveDate,
    to: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<RecomputeJobRecord> {
    let mut attempt = 1;
    loop {
        match enqueue_once(store, from, to, reason, now).await {
            Err(StoreError::Conflict(why)) if attempt < ENQUEUE_ATTEMPTS => {
                tracing::debug!(%why, attempt, "a recompute job was queued meanwhile: merging");
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn enqueue_once<B: SqlBackend>(
    store: &B,
    from: NaiveDate,
    to: NaiveDate,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<RecomputeJobRecord> {
    let what = "queue a recompute job";
    let mut tx = store.begin_write().await?;
    let queued = store
        .fetch_optional(On::Tx(&mut tx), &stmt::select_queued_job(), what)
        .await?;
    let job = match queued {
        Some(row) => {
            let mut job = job_of(&row, what)?;
            job.merge(from, to, reason);
            write_back(store, &mut tx, &job, what).await?;
            job
        }
        None => {
            let mut job = RecomputeJobRecord::queued(from, to, reason, now);
            let rows = store
                .fetch_all(
                    On::Tx(&mut tx),
                    &stmt::insert_queued_job(to_json(&job)?),
                    what,
                )
                .await?;
            let row = rows.first().ok_or_else(|| StoreError::Backend {
                message: "the new recompute job's id was not returned".into(),
                source: None,
            })?;
            job.id = row.int(0, what)?;
            job
        }
    };
    B::commit(tx, what).await?;
    Ok(job)
}

/// Reads the one job `select` finds in a write transaction, changes it with `change` and
/// writes it back; `None` (nothing written) when there is none.
async fn change_job<B: SqlBackend>(
    store: &B,
    select: SelectStatement,
    what: &'static str,
    change: impl FnOnce(&mut RecomputeJobRecord) + Send,
) -> StoreResult<Option<RecomputeJobRecord>> {
    let mut tx = store.begin_write().await?;
    let Some(row) = store.fetch_optional(On::Tx(&mut tx), &select, what).await? else {
        B::commit(tx, what).await?;
        return Ok(None);
    };
    let mut job = job_of(&row, what)?;
    change(&mut job);
    write_back(store, &mut tx, &job, what).await?;
    B::commit(tx, what).await?;
    Ok(Some(job))
}

/// [`RecomputeJobStore::take_recompute`](attendance_core::store::RecomputeJobStore::take_recompute).
pub async fn take_recompute<B: SqlBackend>(
    store: &B,
    now: DateTime<Utc>,
) -> StoreResult<Option<RecomputeJobRecord>> {
    change_job(
        store,
        stmt::select_next_open_job(),
        "take a recompute job",
        |job| job.start(now),
    )
    .await
}

/// [`RecomputeJobStore::save_recompute_progress`](attendance_core::store::RecomputeJobStore::save_recompute_progress).
pub async fn save_recompute_progress<B: SqlBackend>(
    store: &B,
    id: i64,
    progress: &JobProgress,
) -> StoreResult<()> {
    change_job(
        store,
        stmt::select_open_job(id),
        "save a recompute job's progress",
        |job| job.advance(progress),
    )
    .await?
    .map(|_| ())
    .ok_or_else(|| unfinished(id))
}

/// [`RecomputeJobStore::finish_recompute`](attendance_core::store::RecomputeJobStore::finish_recompute).
pub async fn finish_recompute<B: SqlBackend>(
    store: &B,
    id: i64,
    now: DateTime<Utc>,
    outcome: Result<u64, String>,
) -> StoreResult<RecomputeJobRecord> {
    change_job(
        store,
        stmt::select_open_job(id),
        "finish a recompute job",
        |job| job.finish(now, outcome),
    )
    .await?
    .ok_or_else(|| unfinished(id))
}

/// [`RecomputeJobStore::current_recompute`](attendance_core::store::RecomputeJobStore::current_recompute):
/// the running job, else the newest.
pub async fn current_recompute<B: SqlBackend>(
    store: &B,
) -> StoreResult<Option<RecomputeJobRecord>> {
    let what = "read the current recompute job";
    for select in [stmt::select_running_job(), stmt::select_newest_job()] {
        if let Some(row) = store.fetch_optional(On::Read, &select, what).await? {
            return job_of(&row, what).map(Some);
        }
    }
    Ok(None)
}
