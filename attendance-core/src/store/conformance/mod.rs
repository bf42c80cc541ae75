//! The store conformance suite (feature `testkit`): the contract every store must meet, as
//! checks that any implementation runs from its own tests.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     let report = run_store_conformance(|| async { MyStore::connect_fresh().await.map(Arc::new) }).await;
//!     assert!(report.failures.is_empty(), "{report}");
//! }
//! ```
//!
//! Each check gets a fresh, empty store from `make_store`, so checks never see each other's data.
//!
//! The checks are grouped by what they cover, one module each: scans, employees, machines,
//! daily records, settings, holidays, leave, leave documents, user accounts, the bulk reads, oversight (audit, corrections, voids,
//! overrides, set-aside scans) and background recompute jobs;
//! the data they build is in `fixtures`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use super::block_on;
use super::{LeaveChange, Store, StoreError, StoreResult};
use crate::leave::{LeaveDocumentFile, LeaveRequestId};

/// What the suite found.
#[derive(Debug, Default)]
pub struct ConformanceReport {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed: name and what went wrong.
    pub failures: Vec<(&'static str, String)>,
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failures.len())?;
        for (name, why) in &self.failures {
            write!(f, "\n  {name}: {why}")?;
        }
        Ok(())
    }
}

/// What a check gives: `Err` says what the store did wrong.
type CheckResult = Result<(), String>;

/// Returns `Err` with the message when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

// Declared after `ensure!`, which the checks use.
mod accounts;
mod bulk;
mod documents;
mod employees;
mod fixtures;
mod holidays;
mod jobs;
mod leave;
mod machines;
mod oversight;
mod records;
mod scans;
mod settings;

use accounts::accounts_round_trip_and_clash_typed;
use bulk::bulk_reads_return_exactly_the_keys_asked_in_order;
use documents::leave_documents_keep_their_bytes_order_and_limit;
use employees::{employees_in_use_cannot_be_deleted, employees_round_trip_and_clash_typed};
use fixtures::{add_employees, date, leave_document, leave_request};
use holidays::holidays_round_trip_with_ids;
use jobs::recompute_jobs_merge_while_queued_and_run_in_order;
use leave::{
    leave_changes_commit_whole_or_not_at_all, leave_policies_round_trip,
    leave_requests_filter_and_page, racing_leave_changes_exactly_one_wins,
};
use machines::{machine_statuses_round_trip, machines_round_trip_and_clash_typed};
use oversight::{
    audit_entries_append_with_increasing_ids_and_filter, corrections_filter_page_and_decide_once,
    overrides_put_replace_remove, racing_correction_decisions_exactly_one_wins,
    set_aside_scans_are_kept_once_newest_first, voids_need_a_stored_scan_and_count_once,
};
use records::{
    a_large_upsert_replaces_by_key_whole_or_not_at_all, daily_records_upsert_filter_sort_and_page,
    record_counts_by_status_and_unknown_employees, record_tallies_are_their_records_fields,
};
use scans::{
    a_group_of_batches_is_stored_batch_by_batch,
    a_rejected_batch_stores_nothing_and_keeps_the_cursor, duplicates_within_a_batch_count_once,
    scans_are_stored_once_across_resends, scans_of_a_user_come_in_time_order_from_every_machine,
    the_dedupe_key_is_truncated_to_the_second,
};
use settings::settings_default_then_round_trip;

fn fail(e: StoreError) -> String {
    format!("unexpected store error: {e}")
}

/// Runs every check, each on a fresh store from `make_store`, and reports the outcome. It never
/// panics on a failing store: failures (including a store that could not be made) are listed.
pub async fn run_store_conformance<S, F, Fut>(make_store: F) -> ConformanceReport
where
    S: Store + ?Sized,
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<Arc<S>>>,
{
    let mut report = ConformanceReport::default();
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {$(
            let outcome = match make_store().await {
                Ok(store) => $check(&*store).await,
                Err(e) => Err(format!("could not make a store: {e}")),
            };
            match outcome {
                Ok(()) => report.passed += 1,
                Err(why) => report.failures.push((stringify!($check), why)),
            }
        )+};
    }
    run!(
        scans_are_stored_once_across_resends,
        duplicates_within_a_batch_count_once,
        the_dedupe_key_is_truncated_to_the_second,
        a_rejected_batch_stores_nothing_and_keeps_the_cursor,
        scans_of_a_user_come_in_time_order_from_every_machine,
        employees_round_trip_and_clash_typed,
        machines_round_trip_and_clash_typed,
        daily_records_upsert_filter_sort_and_page,
        settings_default_then_round_trip,
        machine_statuses_round_trip,
        record_counts_by_status_and_unknown_employees,
        holidays_round_trip_with_ids,
        leave_policies_round_trip,
        leave_changes_commit_whole_or_not_at_all,
        racing_leave_changes_exactly_one_wins,
        leave_requests_filter_and_page,
        accounts_round_trip_and_clash_typed,
        employees_in_use_cannot_be_deleted,
        a_group_of_batches_is_stored_batch_by_batch,
        leave_documents_keep_their_bytes_order_and_limit,
        bulk_reads_return_exactly_the_keys_asked_in_order,
        a_large_upsert_replaces_by_key_whole_or_not_at_all,
        audit_entries_append_with_increasing_ids_and_filter,
        corrections_filter_page_and_decide_once,
        racing_correction_decisions_exactly_one_wins,
        voids_need_a_stored_scan_and_count_once,
        overrides_put_replace_remove,
        set_aside_scans_are_kept_once_newest_first,
        record_tallies_are_their_records_fields,
        recompute_jobs_merge_while_queued_and_run_in_order,
    );
    report
}

/// For a store's own tests: stores employee `code` (of Sewing) and their pending one-day
/// casual request `request_id`; returns the request's id. `Err` says what failed.
pub async fn seed_leave_request<S: Store + ?Sized>(
    store: &S,
    code: &str,
    request_id: &str,
) -> Result<LeaveRequestId, String> {
    add_employees(store, &[(code, "Sewing")]).await?;
    let request = leave_request(request_id, code, "Sewing", date(9, 1), date(9, 1), false)?;
    let employee = request.employee.clone();
    let account = store.leave_account(&employee).await.map_err(fail)?;
    store
        .commit_leave(LeaveChange {
            employee,
            expected_version: account.version,
            requests: vec![request.clone()],
            entries: Vec::new(),
        })
        .await
        .map_err(fail)?;
    Ok(request.id)
}

/// For a store's own tests: a PDF document `doc` of request `request` holding `bytes`. `Err`
/// names an id that does not validate.
pub fn sample_leave_document(
    request: &str,
    doc: &str,
    bytes: Vec<u8>,
) -> Result<LeaveDocumentFile, String> {
    leave_document(request, doc, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn the_memory_store_conforms() {
        let report = block_on(run_store_conformance(|| async {
            Ok(Arc::new(MemoryStore::new()))
        }));
        assert!(report.failures.is_empty(), "{report}");
        assert_eq!(report.passed, 30);
    }

    #[test]
    fn a_broken_store_is_reported_not_panicked() {
        let report = block_on(run_store_conformance::<MemoryStore, _, _>(|| async {
            Err(StoreError::Backend {
                message: "no database".into(),
                source: None,
            })
        }));
        assert_eq!(report.passed, 0);
        assert_eq!(report.failures.len(), 30);
        assert!(
            report
                .to_string()
                .contains("could not make a store: storage backend failed: no database")
        );
    }
}
