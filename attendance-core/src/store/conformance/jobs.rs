//! Background recompute jobs: queued and merged while not started, taken in order (a started
//! job again until it is finished), their progress saved and read back, finished once.

use super::fixtures::{at, date, id};
use super::{CheckResult, fail};
use crate::employee::EmployeeCode;
use crate::store::{JobProgress, Store, StoreError};

pub(super) async fn recompute_jobs_merge_while_queued_and_run_in_order<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    ensure!(
        store.current_recompute().await.map_err(fail)?.is_none(),
        "no job at first"
    );
    ensure!(
        store.take_recompute(at(0)).await.map_err(fail)?.is_none(),
        "nothing to take at first"
    );
    let first = store
        .enqueue_recompute(date(10, 5), date(10, 9), "settings changed", at(1))
        .await
        .map_err(fail)?;
    ensure!(
        first.id > 0 && !first.is_started() && !first.is_finished(),
        "a queued job: {first:?}"
    );
    ensure!(
        (first.from, first.to, first.created_at) == (date(10, 5), date(10, 9), at(1)),
        "queued as asked: {first:?}"
    );
    // Merged while nobody took it: the range widens, each reason listed once.
    let merged = store
        .enqueue_recompute(date(10, 1), date(10, 6), "holidays imported", at(2))
        .await
        .map_err(fail)?;
    let again = store
        .enqueue_recompute(date(10, 7), date(10, 12), "settings changed", at(3))
        .await
        .map_err(fail)?;
    ensure!(
        merged.id == first.id && again.id == first.id,
        "merged into the queued job: {merged:?} {again:?}"
    );
    let shown = store.current_recompute().await.map_err(fail)?;
    ensure!(
        shown.as_ref().is_some_and(|j| j.id == first.id
            && (j.from, j.to) == (date(10, 1), date(10, 12))
            && j.reason == "settings changed; holidays imported"
            && j.created_at == at(1)),
        "the queued job shown, merged: {shown:?}"
    );
    let taken = store.take_recompute(at(4)).await.map_err(fail)?;
    ensure!(
        taken
            .as_ref()
            .is_some_and(|j| j.id == first.id && j.started_at == Some(at(4))),
        "the queued job taken and started: {taken:?}"
    );
    // Started: a new range is a new job, after it.
    let second = store
        .enqueue_recompute(date(11, 1), date(11, 2), "settings changed", at(5))
        .await
        .map_err(fail)?;
    ensure!(
        second.id > first.id && !second.is_started(),
        "a new job once the first started: {second:?}"
    );
    let again = store.take_recompute(at(6)).await.map_err(fail)?;
    ensure!(
        again
            .as_ref()
            .is_some_and(|j| j.id == first.id && j.started_at == Some(at(4))),
        "the started job is taken again until it is finished (its start kept): {again:?}"
    );
    let progress = JobProgress {
        resume_after: id(EmployeeCode::parse("EMP0042"))?,
        done: 42,
        total: 100,
        records: 504,
    };
    store
        .save_recompute_progress(first.id, &progress)
        .await
        .map_err(fail)?;
    let shown = store.current_recompute().await.map_err(fail)?;
    ensure!(
        shown.as_ref().is_some_and(|j| j.id == first.id
            && j.resume_after.as_ref().map(EmployeeCode::as_str) == Some("EMP0042")
            && (j.done, j.total, j.records) == (42, 100, 504)),
        "the running job shown with its progress: {shown:?}"
    );
    let resumed = store.take_recompute(at(7)).await.map_err(fail)?;
    ensure!(
        resumed.as_ref().is_some_and(|j| j.resume_after
            == shown.as_ref().and_then(|s| s.resume_after.clone())
            && j.done == 42),
        "taken again with its resume point: {resumed:?}"
    );
    let done = store
        .finish_recompute(first.id, at(8), Ok(1_200))
        .await
        .map_err(fail)?;
    ensure!(
        done.finished_at == Some(at(8)) && done.records == 1_200 && done.error.is_none(),
        "finished with its records: {done:?}"
    );
    for (what, outcome) in [
        (
            "progress",
            store.save_recompute_progress(first.id, &progress).await,
        ),
        (
            "finish",
            store
                .finish_recompute(first.id, at(9), Ok(1))
                .await
                .map(|_| ()),
        ),
    ] {
        ensure!(
            matches!(outcome, Err(StoreError::NotFound { .. })),
            "{what} of a finished job: NotFound, got {outcome:?}"
        );
    }
    let missing = store.save_recompute_progress(9_999, &progress).await;
    ensure!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "progress of no job: NotFound, got {missing:?}"
    );
    let next = store.take_recompute(at(10)).await.map_err(fail)?;
    ensure!(
        next.as_ref()
            .is_some_and(|j| j.id == second.id && j.started_at == Some(at(10))),
        "the next job taken: {next:?}"
    );
    let failed = store
        .finish_recompute(second.id, at(11), Err("the store failed".into()))
        .await
        .map_err(fail)?;
    ensure!(
        failed.error.as_deref() == Some("the store failed") && failed.is_finished(),
        "failed with its error: {failed:?}"
    );
    ensure!(
        store.take_recompute(at(12)).await.map_err(fail)?.is_none(),
        "nothing left to take"
    );
    let shown = store.current_recompute().await.map_err(fail)?;
    ensure!(
        shown.as_ref() == Some(&failed),
        "the newest job shown once none runs: {shown:?}"
    );
    Ok(())
}
