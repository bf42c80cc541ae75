//! What an adapter hands the platform: a batch of one machine's scans with the cursor that
//! follows them, and what storing it did. [`crate::store::ScanStore`] stores batches (and
//! exports these types too, as `store::ScanBatch`, …), and [`crate::service::AttendanceService`]
//! stores them and recomputes the days they touch.

use serde::{Deserialize, Serialize};

use crate::scan::{MachineId, ScanData};

/// An adapter's position in a machine's log (a record count, a serial number, a timestamp),
/// opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineCursor(pub String);

/// Scans from one machine, with the cursor that follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanBatch {
    /// The machine the scans came from.
    pub machine_id: MachineId,
    /// The scans (any machine id they carry must equal `machine_id`).
    pub scans: Vec<ScanData>,
    /// The cursor to store in the same transaction, if the adapter has one.
    pub cursor: Option<MachineCursor>,
}

/// What storing a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The scans that were new, in the batch's order; the others were already stored (same
    /// machine, device user and second).
    pub inserted: Vec<ScanData>,
    /// How many scans of the batch were already stored (or repeated within the batch).
    pub duplicates: usize,
}
