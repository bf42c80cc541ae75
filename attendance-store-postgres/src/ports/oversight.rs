//! The oversight ports for [`PgStore`]: the audit trail, corrections, scan voids, day overrides
//! and set-aside scans, each method handing the store to
//! [`attendance_store_sql::contract::oversight`].

use async_trait::async_trait;
use attendance_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use attendance_core::correction::{Correction, CorrectionId};
use attendance_core::employee::{DeviceUserId, EmployeeCode};
use attendance_core::overrides::DayOverride;
use attendance_core::store::{
    AuditStore, CorrectionQuery, CorrectionStore, DayOverrideStore, Page, ScanVoid, ScanVoidStore,
    SetAsideScan, SetAsideStore, StoreResult,
};
use attendance_store_sql::contract::oversight;
use chrono::{DateTime, NaiveDate, Utc};

use crate::PgStore;

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<i64> {
        oversight::append_audit(self, entry).await
    }

    async fn query_audit(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<AuditEntry>> {
        oversight::query_audit(self, query, offset, limit).await
    }
}

#[async_trait]
impl CorrectionStore for PgStore {
    async fn create_correction(&self, correction: &Correction) -> StoreResult<()> {
        oversight::create_correction(self, correction).await
    }

    async fn correction(&self, id: &CorrectionId) -> StoreResult<Correction> {
        oversight::correction(self, id).await
    }

    async fn decide_correction(&self, correction: &Correction) -> StoreResult<()> {
        oversight::decide_correction(self, correction).await
    }

    async fn query_corrections(&self, query: &CorrectionQuery) -> StoreResult<Page<Correction>> {
        oversight::query_corrections(self, query).await
    }
}

#[async_trait]
impl ScanVoidStore for PgStore {
    async fn void_scan(&self, void: &ScanVoid) -> StoreResult<()> {
        oversight::void_scan(self, void).await
    }

    async fn voids_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanVoid>> {
        oversight::voids_of_users(self, users, from, to).await
    }
}

#[async_trait]
impl DayOverrideStore for PgStore {
    async fn put_override(&self, day: &DayOverride) -> StoreResult<Option<DayOverride>> {
        oversight::put_override(self, day).await
    }

    async fn remove_override(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<DayOverride> {
        oversight::remove_override(self, employee, date).await
    }

    async fn overrides(
        &self,
        employees: Option<&[EmployeeCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DayOverride>> {
        oversight::overrides(self, employees, from, to).await
    }
}

#[async_trait]
impl SetAsideStore for PgStore {
    async fn keep_set_aside(&self, scans: &[SetAsideScan]) -> StoreResult<usize> {
        oversight::keep_set_aside(self, scans).await
    }

    async fn set_aside_scans(&self, offset: u64, limit: u64) -> StoreResult<Page<SetAsideScan>> {
        oversight::set_aside_scans(self, offset, limit).await
    }
}
