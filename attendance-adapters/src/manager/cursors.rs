//! Where the manager reads the cursor a machine's task resumes from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use attendance_core::scan::MachineId;
use attendance_core::store::{MachineCursor, ScanStore, StoreError};

/// Where the manager reads a machine's stored cursor.
#[async_trait]
pub trait CursorSource: Send + Sync {
    /// The cursor last stored for `machine`, if any.
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError>;
}

#[async_trait]
impl<S: ScanStore + ?Sized> CursorSource for S {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        self.machine_cursor(machine).await
    }
}

/// A shared `dyn ScanStore` as a [`CursorSource`] (a concrete store is one already).
#[derive(Clone)]
pub struct StoreCursors(pub Arc<dyn ScanStore>);

impl std::fmt::Debug for StoreCursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCursors")
    }
}

#[async_trait]
impl CursorSource for StoreCursors {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        self.0.machine_cursor(machine).await
    }
}

/// Cursors kept in memory: for tests, demos and hosts that store cursors themselves.
#[derive(Debug, Default)]
pub struct MemoryCursors {
    cursors: Mutex<HashMap<MachineId, MachineCursor>>,
}

impl MemoryCursors {
    /// No cursors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `cursor` as stored for `machine` (what a consumer does after storing a batch).
    pub fn set(&self, machine: &MachineId, cursor: MachineCursor) {
        self.cursors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(machine.clone(), cursor);
    }

    /// The cursor stored for `machine`.
    pub fn get(&self, machine: &MachineId) -> Option<MachineCursor> {
        self.cursors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(machine)
            .cloned()
    }
}

#[async_trait]
impl CursorSource for MemoryCursors {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        Ok(self.get(machine))
    }
}
