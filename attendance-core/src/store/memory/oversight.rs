//! The oversight ports of [`MemoryStore`]: the audit trail, corrections, voids and overrides.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{MemoryStore, ScanKey, not_found, page};
use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::correction::{Correction, CorrectionId, CorrectionStatus};
use crate::employee::{DeviceUserId, EmployeeCode};
use crate::overrides::DayOverride;
use crate::store::{
    AuditStore, CorrectionQuery, CorrectionStore, DayOverrideStore, Page, ScanId, ScanVoid,
    ScanVoidStore, SetAsideScan, SetAsideStore, StoreError, StoreResult,
};

fn scan_key(id: &ScanId) -> ScanKey {
    (
        id.machine_id.clone(),
        id.device_user_id.clone(),
        id.unix_seconds,
    )
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<i64> {
        let mut inner = self.lock()?;
        let id = i64::try_from(inner.audit.len()).unwrap_or(i64::MAX) + 1;
        inner.audit.push(AuditEntry {
            id,
            entry: entry.clone(),
        });
        Ok(id)
    }

    async fn query_audit(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<AuditEntry>> {
        let inner = self.lock()?;
        let matching = inner
            .audit
            .iter()
            .rev()
            .filter(|e| query.admits(&e.entry))
            .collect();
        Ok(page(matching, offset, limit))
    }
}

#[async_trait]
impl CorrectionStore for MemoryStore {
    async fn create_correction(&self, correction: &Correction) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.corrections.contains_key(&correction.id) {
            return Err(StoreError::Conflict(format!(
                "correction {} exists",
                correction.id
            )));
        }
        if !inner.employees.contains_key(&correction.employee_id) {
            return Err(StoreError::Invalid(format!(
                "correction {} of unknown employee {}",
                correction.id, correction.employee_id
            )));
        }
        inner
            .corrections
            .insert(correction.id.clone(), correction.clone());
        Ok(())
    }

    async fn correction(&self, id: &CorrectionId) -> StoreResult<Correction> {
        let inner = self.lock()?;
        inner
            .corrections
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("correction", id))
    }

    async fn decide_correction(&self, correction: &Correction) -> StoreResult<()> {
        let mut inner = self.lock()?;
        let Some(stored) = inner.corrections.get_mut(&correction.id) else {
            return Err(not_found("correction", &correction.id));
        };
        if stored.status != CorrectionStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "correction {} is {} already",
                correction.id,
                stored.status.as_str()
            )));
        }
        *stored = correction.clone();
        Ok(())
    }

    async fn query_corrections(&self, query: &CorrectionQuery) -> StoreResult<Page<Correction>> {
        let inner = self.lock()?;
        let mut matching: Vec<&Correction> = inner
            .corrections
            .values()
            .filter(|c| {
                query
                    .employees
                    .as_ref()
                    .is_none_or(|e| e.contains(&c.employee_id))
                    && query.status.is_none_or(|s| c.status == s)
            })
            .collect();
        matching.sort_by(|a, b| (b.requested_at, &b.id).cmp(&(a.requested_at, &a.id)));
        Ok(page(matching, query.offset, query.limit))
    }
}

#[async_trait]
impl SetAsideStore for MemoryStore {
    async fn keep_set_aside(&self, scans: &[SetAsideScan]) -> StoreResult<usize> {
        let mut inner = self.lock()?;
        let mut kept = 0;
        for scan in scans {
            let key = (
                scan.machine_id.clone(),
                scan.device_user_id.clone(),
                scan.timestamp.timestamp(),
            );
            if let std::collections::btree_map::Entry::Vacant(slot) = inner.set_aside.entry(key) {
                slot.insert(scan.clone());
                kept += 1;
            }
        }
        Ok(kept)
    }

    async fn set_aside_scans(&self, offset: u64, limit: u64) -> StoreResult<Page<SetAsideScan>> {
        let inner = self.lock()?;
        let mut all: Vec<(&ScanKey, &SetAsideScan)> = inner.set_aside.iter().collect();
        // Newest arrival first, then by key (as the SQL stores order them).
        all.sort_by(|(ka, a), (kb, b)| (b.received_at, ka).cmp(&(a.received_at, kb)));
        Ok(page(
            all.into_iter().map(|(_, s)| s).collect(),
            offset,
            limit,
        ))
    }
}

#[async_trait]
impl ScanVoidStore for MemoryStore {
    async fn void_scan(&self, void: &ScanVoid) -> StoreResult<()> {
        let mut inner = self.lock()?;
        let key = scan_key(&void.scan);
        if !inner.scans.contains_key(&key) {
            return Err(not_found("scan", &void.scan));
        }
        if inner.voids.contains_key(&key) {
            return Err(StoreError::Conflict(format!(
                "scan {} is voided already",
                void.scan
            )));
        }
        inner.voids.insert(key, void.clone());
        Ok(())
    }

    async fn voids_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanVoid>> {
        let inner = self.lock()?;
        let (from, to) = (from.timestamp(), to.timestamp());
        let mut voids: Vec<ScanVoid> = inner
            .voids
            .values()
            .filter(|v| {
                users.contains(&v.scan.device_user_id) && (from..=to).contains(&v.scan.unix_seconds)
            })
            .cloned()
            .collect();
        voids.sort_by(|a, b| a.scan.cmp(&b.scan));
        Ok(voids)
    }
}

#[async_trait]
impl DayOverrideStore for MemoryStore {
    async fn put_override(&self, day: &DayOverride) -> StoreResult<Option<DayOverride>> {
        let mut inner = self.lock()?;
        if !inner.employees.contains_key(&day.employee_id) {
            return Err(StoreError::Invalid(format!(
                "override of unknown employee {}",
                day.employee_id
            )));
        }
        Ok(inner
            .overrides
            .insert((day.employee_id.clone(), day.date), day.clone()))
    }

    async fn remove_override(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<DayOverride> {
        let mut inner = self.lock()?;
        inner
            .overrides
            .remove(&(employee.clone(), date))
            .ok_or_else(|| not_found("day override", format!("{employee} {date}")))
    }

    async fn overrides(
        &self,
        employees: Option<&[EmployeeCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DayOverride>> {
        let inner = self.lock()?;
        Ok(inner
            .overrides
            .values()
            .filter(|o| {
                employees.is_none_or(|e| e.contains(&o.employee_id))
                    && o.date >= from
                    && o.date <= to
            })
            .cloned()
            .collect())
    }
}
