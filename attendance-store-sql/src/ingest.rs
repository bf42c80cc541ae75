//! The store-independent half of `record_scans`: checking and deduplicating a batch before it
//! goes to the database, and telling the new scans from the duplicates after.

use std::collections::HashSet;

use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};

use crate::codec::ScanRow;

/// A checked batch: one row per distinct key (the first of repeats stands), in batch order.
#[derive(Debug)]
pub struct PreparedBatch {
    /// The rows to insert.
    pub rows: Vec<ScanRow>,
    /// The scans they came from, index for index.
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
            .rows
            .iter()
            .zip(self.scans)
            .filter(|(row, _)| new_keys.contains(&(row.device_user_id.clone(), row.at_second)))
            .map(|(_, scan)| scan)
            .collect();
        IngestOutcome {
            duplicates: self.total - inserted.len(),
            inserted,
        }
    }
}
