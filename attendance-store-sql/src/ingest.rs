//! The store-independent half of `record_scans`: checking and deduplicating a batch before it
//! goes to the database, and telling the new scans from the duplicates after.

use std::collections::HashSet;

use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};

use crate::codec::ScanRow;

/// A checked batch: one row per distinct key (the first of repeats stands).
#[derive(Debug)]
pub struct PreparedBatch {
    /// The rows to insert, sorted by key: every writer takes the index's row locks in the same
    /// order (two PostgreSQL transactions inserting overlapping batches cannot deadlock), and
    /// the inserts walk the B-tree in order.
    pub rows: Vec<ScanRow>,
    /// The distinct scans, in batch order.
    scans: Vec<ScanData>,
    /// How many scans the batch had.
    total: usize,
}

/// Checks and deduplicates `batch`: [`StoreError::Invalid`] when a scan names another machine
/// than the batch or has an instant out of the storable range.
pub fn prepare_batch(batch: &ScanBatch) -> StoreResult<PreparedBatch> {
    if let Some(stray) = batch
        .scans
        .iter()
        .find(|s| s.machine_id != batch.machine_id)
    {
        return Err(StoreError::Invalid(format!(
            "scan from machine {} in a batch of machine {}",
            stray.machine_id, batch.machine_id
        )));
    }
    // Repeats within the batch are dropped here, so every row sent to the database has its own
    // key and `RETURNING` tells exactly which were new.
    let mut seen = HashSet::with_capacity(batch.scans.len());
    let mut rows = Vec::with_capacity(batch.scans.len());
    let mut scans = Vec::with_capacity(batch.scans.len());
    for scan in &batch.scans {
        if seen.insert((scan.device_user_id.as_str(), scan.timestamp.timestamp())) {
            rows.push(ScanRow::from_scan(scan)?);
            scans.push(scan.clone());
        }
    }
    rows.sort_unstable_by(|a, b| {
        (a.device_user_id.as_str(), a.at_second).cmp(&(b.device_user_id.as_str(), b.at_second))
    });
    Ok(PreparedBatch {
        rows,
        scans,
        total: batch.scans.len(),
    })
}

impl PreparedBatch {
    /// The outcome when every row was new.
    pub fn all_new(self) -> IngestOutcome {
        IngestOutcome {
            duplicates: self.total - self.scans.len(),
            inserted: self.scans,
        }
    }

    /// The outcome, given the keys `(device user id, second)` the insert returned as new.
    pub fn outcome(self, new_keys: &HashSet<(String, i64)>) -> IngestOutcome {
        let inserted: Vec<ScanData> = self
            .scans
            .into_iter()
            .filter(|scan| {
                let key = (
                    scan.device_user_id.as_str().to_owned(),
                    scan.timestamp.timestamp(),
                );
                new_keys.contains(&key)
            })
            .collect();
        IngestOutcome {
            duplicates: self.total - inserted.len(),
            inserted,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use attendance_core::employee::DeviceUserId;
    use attendance_core::scan::{MachineId, PunchState, VerifyMode};
    use chrono::{DateTime, Utc};

    fn scan(machine: &str, user: &str, second: i64) -> ScanData {
        ScanData {
            machine_id: MachineId::parse(machine).unwrap(),
            device_user_id: DeviceUserId::parse(user).unwrap(),
            timestamp: DateTime::<Utc>::from_timestamp(second, 0).unwrap(),
            punch_state: PunchState::CheckIn,
            verify_mode: VerifyMode::Card,
            raw: None,
        }
    }

    #[test]
    fn rows_are_sorted_and_outcomes_keep_batch_order() {
        let scans = vec![
            scan("M1", "9", 5),
            scan("M1", "1", 7),
            scan("M1", "9", 5),
            scan("M1", "1", 3),
        ];
        let batch = ScanBatch {
            machine_id: MachineId::parse("M1").unwrap(),
            scans: scans.clone(),
            cursor: None,
        };
        let prepared = prepare_batch(&batch).unwrap();
        let keys: Vec<(&str, i64)> = prepared
            .rows
            .iter()
            .map(|r| (r.device_user_id.as_str(), r.at_second))
            .collect();
        assert_eq!(keys, [("1", 3), ("1", 7), ("9", 5)]);
        let new: HashSet<(String, i64)> = [("9".to_owned(), 5), ("1".to_owned(), 3)].into();
        let outcome = prepared.outcome(&new);
        assert_eq!(outcome.inserted, [scans[0].clone(), scans[3].clone()]);
        assert_eq!(outcome.duplicates, 2);
        let all = prepare_batch(&batch).unwrap().all_new();
        assert_eq!(
            all.inserted,
            [scans[0].clone(), scans[1].clone(), scans[3].clone()]
        );
        assert_eq!(all.duplicates, 1);
        let stray = ScanBatch {
            machine_id: MachineId::parse("M2").unwrap(),
            ..batch
        };
        assert!(matches!(prepare_batch(&stray), Err(StoreError::Invalid(_))));
    }
}
