//! What several test modules share: a scan store that fails on demand.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::service::{AttendanceService, StoreParts};
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{
    IngestOutcome, MachineCursor, ScanBatch, ScanStore, StoreError, StoreResult,
};
use chrono::{DateTime, Utc};

/// Scans stored in a memory store, failing the next `failures` writes (`u32::MAX`: until
/// [`Flaky::heal`]).
pub(crate) struct Flaky {
    inner: Arc<MemoryStore>,
    failures: AtomicU32,
}

impl Flaky {
    /// Every write succeeds from now on.
    pub(crate) fn heal(&self) {
        self.failures.store(0, Ordering::SeqCst);
    }

    /// Whether the store still fails.
    pub(crate) fn failing(&self) -> bool {
        self.failures.load(Ordering::SeqCst) > 0
    }
}

#[async_trait]
impl ScanStore for Flaky {
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            if left != u32::MAX {
                self.failures.store(left - 1, Ordering::SeqCst);
            }
            return Err(StoreError::Backend {
                message: "database is restarting".into(),
                source: None,
            });
        }
        self.inner.record_scans(batch).await
    }
    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>> {
        self.inner.machine_cursor(machine).await
    }
    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        self.inner.scans_of_user(user, from, to).await
    }
    async fn count_scans(&self) -> StoreResult<u64> {
        self.inner.count_scans().await
    }
}

/// The use cases over `store`, its scans behind a [`Flaky`] that fails `failures` writes.
pub(crate) fn flaky_service(
    store: &Arc<MemoryStore>,
    failures: u32,
) -> (AttendanceService, Arc<Flaky>) {
    let flaky = Arc::new(Flaky {
        inner: store.clone(),
        failures: AtomicU32::new(failures),
    });
    let service = AttendanceService::from_parts(StoreParts {
        scans: flaky.clone(),
        employees: store.clone(),
        records: store.clone(),
        settings: store.clone(),
        holidays: store.clone(),
        leave: store.clone(),
    });
    (service, flaky)
}
