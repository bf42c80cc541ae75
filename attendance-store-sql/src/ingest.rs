//! The store-independent half of `record_scans`: checking and deduplicating a batch before it
//! goes to the database, and telling the new scans from the duplicates after.

use std::collections::{HashMap, HashSet};

use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, StoreResult, check_batch_machine};

use crate::codec::ScanRow;

/// A checked batch: one row per distinct key (the first of repeats stands).
#[derive(Debug)]
pub struct PreparedBatch {
    /// The rows to insert, in batch order; each store sorts them by its table's key before it
    /// inserts (see [`ScanRow::pg_key`], [`ScanRow::day_key`]).
    pub rows: Vec<ScanRow>,
    /// The distinct scans, in batch order.
    scans: Vec<ScanData>,
    /// How many scans the batch had.
    total: usize,
}

/// Checks and deduplicates `batch`: [`StoreError::Invalid`](attendance_core::store::StoreError::Invalid) when a scan names another machine
/// than the batch or has an instant out of the storable range.
pub fn prepare_batch(batch: &ScanBatch) -> StoreResult<PreparedBatch> {
    check_batch_machine(batch)?;
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
    Ok(PreparedBatch {
        rows,
        scans,
        total: batch.scans.len(),
    })
}

/// The keys an insert reported as new, by machine id: `(device user id, second)`.
pub type NewKeys = HashMap<String, HashSet<(String, i64)>>;

/// Checks and deduplicates a group of batches: each as [`prepare_batch`], and a scan that an
/// earlier batch of the group has (same machine, device user and second) is dropped from the
/// later one, where it counts as a duplicate, as if the batches were stored one after the other.
/// [`StoreError::Invalid`](attendance_core::store::StoreError::Invalid) if any batch is invalid,
/// before anything is written.
pub fn prepare_group(batches: &[ScanBatch]) -> StoreResult<Vec<PreparedBatch>> {
    let mut prepared = batches
        .iter()
        .map(prepare_batch)
        .collect::<StoreResult<Vec<_>>>()?;
    let machines: HashSet<&str> = batches.iter().map(|b| b.machine_id.as_str()).collect();
    if machines.len() < batches.len() {
        let mut seen: HashSet<(String, String, i64)> = HashSet::new();
        for batch in &mut prepared {
            batch.rows.retain(|r| {
                seen.insert((r.machine_id.clone(), r.device_user_id.clone(), r.at_second))
            });
            let kept: HashSet<(&str, i64)> = batch
                .rows
                .iter()
                .map(|r| (r.device_user_id.as_str(), r.at_second))
                .collect();
            batch
                .scans
                .retain(|s| kept.contains(&(s.device_user_id.as_str(), s.timestamp.timestamp())));
        }
    }
    Ok(prepared)
}

/// The outcome of every batch of a group, in order, given the keys the inserts reported as new
/// (`None`: every row was new).
pub fn group_outcomes(
    prepared: Vec<PreparedBatch>,
    new_keys: Option<&NewKeys>,
) -> Vec<IngestOutcome> {
    let none = HashSet::new();
    prepared
        .into_iter()
        .map(|batch| match new_keys {
            None => batch.all_new(),
            Some(keys) => {
                let machine = batch.rows.first().map(|r| r.machine_id.as_str());
                let keys = machine.and_then(|m| keys.get(m)).unwrap_or(&none);
                batch.outcome(keys)
            }
        })
        .collect()
}

/// The outcome of a group of one batch; [`StoreError::Backend`](attendance_core::store::StoreError::Backend)
/// if there is none.
pub fn only_outcome(mut outcomes: Vec<IngestOutcome>) -> StoreResult<IngestOutcome> {
    match (outcomes.pop(), outcomes.is_empty()) {
        (Some(outcome), true) => Ok(outcome),
        _ => Err(attendance_core::store::StoreError::Backend {
            message: "storing one batch did not give one outcome".into(),
            source: None,
        }),
    }
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
    use attendance_core::store::StoreError;
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
    fn outcomes_keep_batch_order() {
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
        assert_eq!(
            keys,
            [("9", 5), ("1", 7), ("1", 3)],
            "repeats dropped, batch order"
        );
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

    #[test]
    fn a_group_drops_what_an_earlier_batch_of_the_same_machine_has() {
        let batch = |machine: &str, scans: Vec<ScanData>| ScanBatch {
            machine_id: MachineId::parse(machine).unwrap(),
            scans,
            cursor: None,
        };
        let group = [
            batch("M1", vec![scan("M1", "1", 1), scan("M1", "1", 2)]),
            batch("M2", vec![scan("M2", "1", 1)]),
            batch("M1", vec![scan("M1", "1", 2), scan("M1", "1", 3)]),
        ];
        let prepared = prepare_group(&group).unwrap();
        let rows: Vec<usize> = prepared.iter().map(|p| p.rows.len()).collect();
        assert_eq!(rows, [2, 1, 1]);
        // The database reports M1's second 3 and M2's second 1 as new: M1's 1 and 2 were stored.
        let new: NewKeys = [
            ("M1".to_owned(), HashSet::from([("1".to_owned(), 3)])),
            ("M2".to_owned(), HashSet::from([("1".to_owned(), 1)])),
        ]
        .into();
        let outcomes = group_outcomes(prepared, Some(&new));
        let counts: Vec<(usize, usize)> = outcomes
            .iter()
            .map(|o| (o.inserted.len(), o.duplicates))
            .collect();
        assert_eq!(counts, [(0, 2), (1, 0), (1, 1)]);
        assert_eq!(outcomes[2].inserted, [scan("M1", "1", 3)]);
        let all_new = group_outcomes(prepare_group(&group).unwrap(), None);
        let counts: Vec<(usize, usize)> = all_new
            .iter()
            .map(|o| (o.inserted.len(), o.duplicates))
            .collect();
        assert_eq!(counts, [(2, 0), (1, 0), (1, 1)]);
    }
}
