//! An in-memory store (feature `testkit`): the reference implementation of the store contract,
//! for tests and for host applications that want to try the platform without a database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    DailyRecordStore, EmployeeStore, IngestOutcome, MachineCursor, MachineStore, Page, RecordOrder,
    RecordQuery, ScanBatch, ScanStore, SettingsStore, StoreError, StoreResult,
};
use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use crate::machine::Machine;
use crate::scan::{MachineId, ScanData};
use crate::settings::AttendanceSettings;

type ScanKey = (MachineId, DeviceUserId, i64);

#[derive(Debug, Default)]
struct Inner {
    scans: BTreeMap<ScanKey, ScanData>,
    /// (device user, instant, key) for range reads in time order.
    by_user: BTreeSet<(DeviceUserId, DateTime<Utc>, ScanKey)>,
    cursors: BTreeMap<MachineId, MachineCursor>,
    employees: BTreeMap<EmployeeCode, Employee>,
    machines: BTreeMap<MachineId, Machine>,
    records: BTreeMap<(EmployeeCode, NaiveDate), DailyRecord>,
    settings: Option<AttendanceSettings>,
}

/// Everything in one mutex: each call is one atomic step, as a transaction would be.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| StoreError::Backend {
            message: "the in-memory store's lock was poisoned by a panic".into(),
            source: None,
        })
    }
}

fn not_found(entity: &'static str, key: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        key: key.to_string(),
    }
}

#[async_trait]
impl ScanStore for MemoryStore {
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
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
        let mut inner = self.lock()?;
        let mut outcome = IngestOutcome::default();
        for scan in batch.scans {
            let key = (
                scan.machine_id.clone(),
                scan.device_user_id.clone(),
                scan.timestamp.timestamp(),
            );
            if inner.scans.contains_key(&key) {
                outcome.duplicates += 1;
                continue;
            }
            inner
                .by_user
                .insert((scan.device_user_id.clone(), scan.timestamp, key.clone()));
            inner.scans.insert(key, scan.clone());
            outcome.inserted.push(scan);
        }
        if let Some(cursor) = batch.cursor {
            inner.cursors.insert(batch.machine_id, cursor);
        }
        Ok(outcome)
    }

    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>> {
        Ok(self.lock()?.cursors.get(machine).cloned())
    }

    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        let inner = self.lock()?;
        Ok(inner
            .by_user
            .iter()
            .filter(|(u, at, _)| u == user && from <= *at && *at < to)
            .filter_map(|(_, _, key)| inner.scans.get(key).cloned())
            .collect())
    }

    async fn count_scans(&self) -> StoreResult<u64> {
        Ok(self.lock()?.scans.len() as u64)
    }
}

#[async_trait]
impl EmployeeStore for MemoryStore {
    async fn create_employee(&self, employee: &Employee) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.employees.contains_key(&employee.employee_id) {
            return Err(StoreError::Conflict(format!(
                "employee {} exists",
                employee.employee_id
            )));
        }
        if inner
            .employees
            .values()
            .any(|e| e.device_user_id == employee.device_user_id)
        {
            return Err(StoreError::Conflict(format!(
                "device user id {} is enrolled for another employee",
                employee.device_user_id
            )));
        }
        inner
            .employees
            .insert(employee.employee_id.clone(), employee.clone());
        Ok(())
    }

    async fn update_employee(&self, employee: &Employee) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.employees.values().any(|e| {
            e.device_user_id == employee.device_user_id && e.employee_id != employee.employee_id
        }) {
            return Err(StoreError::Conflict(format!(
                "device user id {} is enrolled for another employee",
                employee.device_user_id
            )));
        }
        match inner.employees.get_mut(&employee.employee_id) {
            Some(slot) => {
                *slot = employee.clone();
                Ok(())
            }
            None => Err(not_found("employee", &employee.employee_id)),
        }
    }

    async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
        self.lock()?
            .employees
            .get(code)
            .cloned()
            .ok_or_else(|| not_found("employee", code))
    }

    async fn employee_by_device_user(&self, user: &DeviceUserId) -> StoreResult<Option<Employee>> {
        Ok(self
            .lock()?
            .employees
            .values()
            .find(|e| &e.device_user_id == user)
            .cloned())
    }

    async fn list_employees(&self, department: Option<&Department>) -> StoreResult<Vec<Employee>> {
        Ok(self
            .lock()?
            .employees
            .values()
            .filter(|e| department.is_none_or(|d| &e.department == d))
            .cloned()
            .collect())
    }

    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()> {
        self.lock()?
            .employees
            .remove(code)
            .map(|_| ())
            .ok_or_else(|| not_found("employee", code))
    }
}

#[async_trait]
impl MachineStore for MemoryStore {
    async fn create_machine(&self, machine: &Machine) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.machines.contains_key(&machine.machine_id) {
            return Err(StoreError::Conflict(format!(
                "machine {} exists",
                machine.machine_id
            )));
        }
        inner
            .machines
            .insert(machine.machine_id.clone(), machine.clone());
        Ok(())
    }

    async fn update_machine(&self, machine: &Machine) -> StoreResult<()> {
        match self.lock()?.machines.get_mut(&machine.machine_id) {
            Some(slot) => {
                *slot = machine.clone();
                Ok(())
            }
            None => Err(not_found("machine", &machine.machine_id)),
        }
    }

    async fn machine(&self, id: &MachineId) -> StoreResult<Machine> {
        self.lock()?
            .machines
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("machine", id))
    }

    async fn list_machines(&self) -> StoreResult<Vec<Machine>> {
        Ok(self.lock()?.machines.values().cloned().collect())
    }

    async fn delete_machine(&self, id: &MachineId) -> StoreResult<()> {
        self.lock()?
            .machines
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| not_found("machine", id))
    }
}

#[async_trait]
impl DailyRecordStore for MemoryStore {
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
        let mut inner = self.lock()?;
        for record in records {
            inner
                .records
                .insert((record.employee_id.clone(), record.date), record.clone());
        }
        Ok(())
    }

    async fn record(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<Option<DailyRecord>> {
        Ok(self.lock()?.records.get(&(employee.clone(), date)).cloned())
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<Page<DailyRecord>> {
        let inner = self.lock()?;
        let mut matching: Vec<&DailyRecord> = inner
            .records
            .values()
            .filter(|r| query.from.is_none_or(|from| r.date >= from))
            .filter(|r| query.to.is_none_or(|to| r.date <= to))
            .filter(|r| query.employee.as_ref().is_none_or(|e| &r.employee_id == e))
            .filter(|r| query.status.as_ref().is_none_or(|s| &r.status == s))
            .filter(|r| {
                query.department.as_ref().is_none_or(|d| {
                    inner
                        .employees
                        .get(&r.employee_id)
                        .is_some_and(|e| &e.department == d)
                })
            })
            .collect();
        match query.order {
            RecordOrder::DateThenEmployee => {
                matching.sort_by(|a, b| (a.date, &a.employee_id).cmp(&(b.date, &b.employee_id)))
            }
            RecordOrder::DateDescThenEmployee => matching.sort_by(|a, b| {
                b.date
                    .cmp(&a.date)
                    .then_with(|| a.employee_id.cmp(&b.employee_id))
            }),
            RecordOrder::EmployeeThenDate => {
                matching.sort_by(|a, b| (&a.employee_id, a.date).cmp(&(&b.employee_id, b.date)))
            }
        }
        let count = matching.len() as u64;
        let results = matching
            .into_iter()
            .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Ok(Page { count, results })
    }

    async fn delete_record(&self, employee: &EmployeeCode, date: NaiveDate) -> StoreResult<()> {
        self.lock()?
            .records
            .remove(&(employee.clone(), date))
            .map(|_| ())
            .ok_or_else(|| not_found("daily record", format!("{employee} {date}")))
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn settings(&self) -> StoreResult<AttendanceSettings> {
        Ok(self.lock()?.settings.clone().unwrap_or_default())
    }

    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()> {
        self.lock()?.settings = Some(settings.clone());
        Ok(())
    }
}
