//! An in-memory store (feature `testkit`): the reference implementation of the store contract,
//! for tests and for host applications that want to try the platform without a database.
//!
//! The bulk reads (`scans_of_users`, `employees_by_device_users`, `employees_by_codes`,
//! `leave_requests_of`) are the store traits' own default implementations, one read per key, so
//! the conformance suite run on this store checks those defaults too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    DailyRecordStore, EmployeeStore, HolidayStore, LeaveAccount, LeaveChange, LeaveDocumentStore,
    LeaveRequestQuery, LeaveStore, MachineStatus, MachineStore, Page, RecordOrder, RecordQuery,
    ScanStore, SettingsStore, StoreError, StoreResult, StoredHoliday, UserAccount,
    UserAccountStore, check_batch_machine,
};
use crate::calendar::LeaveType;
use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use crate::holiday::Holiday;
use crate::ingest::{IngestOutcome, MachineCursor, ScanBatch};
use crate::leave::{
    LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeaveLedger, LeavePolicy, LeaveRequest,
    LeaveRequestId, LedgerEntry,
};
use crate::machine::Machine;
use crate::scan::{MachineId, ScanData};
use crate::settings::AttendanceSettings;
use crate::status::AttendanceStatus;

mod oversight;

type ScanKey = (MachineId, DeviceUserId, i64);

#[derive(Debug, Default)]
struct Inner {
    scans: BTreeMap<ScanKey, ScanData>,
    /// Each device user's scans by instant (then key: machine id), for range reads in time
    /// order.
    by_user: BTreeMap<DeviceUserId, BTreeMap<DateTime<Utc>, BTreeSet<ScanKey>>>,
    cursors: BTreeMap<MachineId, MachineCursor>,
    employees: BTreeMap<EmployeeCode, Employee>,
    machines: BTreeMap<MachineId, Machine>,
    records: BTreeMap<(EmployeeCode, NaiveDate), DailyRecord>,
    settings: Option<AttendanceSettings>,
    statuses: BTreeMap<MachineId, MachineStatus>,
    holidays: BTreeMap<i64, Holiday>,
    next_holiday: i64,
    policies: BTreeMap<LeaveType, LeavePolicy>,
    leave_versions: BTreeMap<EmployeeCode, u64>,
    requests: BTreeMap<LeaveRequestId, LeaveRequest>,
    ledger: BTreeMap<(EmployeeCode, LeaveType), Vec<LedgerEntry>>,
    accounts: BTreeMap<String, UserAccount>,
    /// Each request's documents in the order they were attached.
    documents: BTreeMap<LeaveRequestId, Vec<LeaveDocumentFile>>,
    /// Every document id in use, for uniqueness across requests.
    document_ids: BTreeSet<LeaveDocumentId>,
    /// The audit trail, in the order appended (an entry's id is its index + 1).
    audit: Vec<crate::audit::AuditEntry>,
    corrections: BTreeMap<crate::correction::CorrectionId, crate::correction::Correction>,
    voids: BTreeMap<ScanKey, super::ScanVoid>,
    /// Scans set aside at ingest, by key.
    set_aside: BTreeMap<ScanKey, super::SetAsideScan>,
    overrides: BTreeMap<(EmployeeCode, NaiveDate), crate::overrides::DayOverride>,
}

impl Inner {
    fn record_matches(&self, r: &DailyRecord, query: &RecordQuery) -> bool {
        query.from.is_none_or(|from| r.date >= from)
            && query.to.is_none_or(|to| r.date <= to)
            && query.employee.as_ref().is_none_or(|e| &r.employee_id == e)
            && query.status.as_ref().is_none_or(|s| &r.status == s)
            && query.department.as_ref().is_none_or(|d| {
                self.employees
                    .get(&r.employee_id)
                    .is_some_and(|e| &e.department == d)
            })
    }
}

/// Everything in one mutex: each call is one atomic step, as a transaction would be.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// The background recompute jobs (their own lock: no call holds both).
    jobs: super::MemoryJobs,
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

/// The page `offset..offset + limit` of `matching`, with the total count.
fn page<T: Clone>(matching: Vec<&T>, offset: u64, limit: u64) -> Page<T> {
    Page {
        count: matching.len() as u64,
        results: matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect(),
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
        check_batch_machine(&batch)?;
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
                .entry(scan.device_user_id.clone())
                .or_default()
                .entry(scan.timestamp)
                .or_default()
                .insert(key.clone());
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
        let Some(of_user) = inner.by_user.get(user).filter(|_| from < to) else {
            return Ok(Vec::new());
        };
        Ok(of_user
            .range(from..to)
            .flat_map(|(_, keys)| keys)
            .filter_map(|key| inner.scans.get(key).cloned())
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

    async fn list_employees(&self, department: Option<Department>) -> StoreResult<Vec<Employee>> {
        Ok(self
            .lock()?
            .employees
            .values()
            .filter(|e| department.as_ref().is_none_or(|d| &e.department == d))
            .cloned()
            .collect())
    }

    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if !inner.employees.contains_key(code) {
            return Err(not_found("employee", code));
        }
        if inner
            .accounts
            .values()
            .any(|a| a.employee.as_ref() == Some(code))
            || inner.requests.values().any(|r| &r.employee == code)
            || inner.corrections.values().any(|c| &c.employee_id == code)
        {
            return Err(StoreError::Conflict(format!(
                "employee {code} still has a user account, leave requests or corrections"
            )));
        }
        inner.employees.remove(code);
        inner.records.retain(|(e, _), _| e != code);
        inner.overrides.retain(|(e, _), _| e != code);
        Ok(())
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
        let mut inner = self.lock()?;
        inner.statuses.remove(id);
        inner
            .machines
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| not_found("machine", id))
    }

    async fn put_machine_status(&self, status: &MachineStatus) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if !inner.machines.contains_key(&status.machine_id) {
            return Err(not_found("machine", &status.machine_id));
        }
        inner
            .statuses
            .insert(status.machine_id.clone(), status.clone());
        Ok(())
    }

    async fn machine_statuses(&self) -> StoreResult<Vec<MachineStatus>> {
        Ok(self.lock()?.statuses.values().cloned().collect())
    }
}

#[async_trait]
impl DailyRecordStore for MemoryStore {
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if let Some(stray) = records
            .iter()
            .find(|r| !inner.employees.contains_key(&r.employee_id))
        {
            return Err(StoreError::Invalid(format!(
                "daily record of unknown employee {}",
                stray.employee_id
            )));
        }
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
            .filter(|r| inner.record_matches(r, query))
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
        Ok(page(matching, query.offset, query.limit))
    }

    async fn delete_record(&self, employee: &EmployeeCode, date: NaiveDate) -> StoreResult<()> {
        self.lock()?
            .records
            .remove(&(employee.clone(), date))
            .map(|_| ())
            .ok_or_else(|| not_found("daily record", format!("{employee} {date}")))
    }

    async fn count_records_by_status(
        &self,
        query: &RecordQuery,
    ) -> StoreResult<Vec<(AttendanceStatus, u64)>> {
        let inner = self.lock()?;
        let mut counts: BTreeMap<String, (AttendanceStatus, u64)> = BTreeMap::new();
        for record in inner.records.values() {
            if inner.record_matches(record, query) {
                counts
                    .entry(record.status.to_string())
                    .or_insert((record.status.clone(), 0))
                    .1 += 1;
            }
        }
        Ok(counts.into_values().collect())
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

#[async_trait]
impl HolidayStore for MemoryStore {
    async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday> {
        let mut inner = self.lock()?;
        inner.next_holiday += 1;
        let id = inner.next_holiday;
        inner.holidays.insert(id, holiday.clone());
        Ok(StoredHoliday {
            id,
            holiday: holiday.clone(),
        })
    }

    async fn update_holiday(&self, id: i64, holiday: &Holiday) -> StoreResult<Holiday> {
        match self.lock()?.holidays.get_mut(&id) {
            Some(slot) => Ok(std::mem::replace(slot, holiday.clone())),
            None => Err(not_found("holiday", id)),
        }
    }

    async fn delete_holiday(&self, id: i64) -> StoreResult<Holiday> {
        self.lock()?
            .holidays
            .remove(&id)
            .ok_or_else(|| not_found("holiday", id))
    }

    async fn holiday(&self, id: i64) -> StoreResult<StoredHoliday> {
        self.lock()?
            .holidays
            .get(&id)
            .map(|h| StoredHoliday {
                id,
                holiday: h.clone(),
            })
            .ok_or_else(|| not_found("holiday", id))
    }

    async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
        let mut all: Vec<StoredHoliday> = self
            .lock()?
            .holidays
            .iter()
            .map(|(id, h)| StoredHoliday {
                id: *id,
                holiday: h.clone(),
            })
            .collect();
        all.sort_by_key(|h| (h.holiday.start(), h.id));
        Ok(all)
    }
}

#[async_trait]
impl LeaveStore for MemoryStore {
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
        self.lock()?
            .policies
            .insert(policy.leave_type.clone(), policy.clone());
        Ok(())
    }

    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
        self.lock()?
            .policies
            .get(leave_type)
            .cloned()
            .ok_or_else(|| not_found("leave policy", leave_type))
    }

    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
        Ok(self.lock()?.policies.values().cloned().collect())
    }

    async fn leave_account(&self, employee: &EmployeeCode) -> StoreResult<LeaveAccount> {
        let inner = self.lock()?;
        let mut ledgers = Vec::new();
        for ((owner, leave_type), entries) in &inner.ledger {
            if owner == employee {
                let ledger =
                    LeaveLedger::from_entries(owner.clone(), leave_type.clone(), entries.clone())
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                ledgers.push(ledger);
            }
        }
        Ok(LeaveAccount {
            employee: employee.clone(),
            version: inner.leave_versions.get(employee).copied().unwrap_or(0),
            requests: inner
                .requests
                .values()
                .filter(|r| &r.employee == employee)
                .cloned()
                .collect(),
            ledgers,
        })
    }

    async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        if !inner.employees.contains_key(&change.employee) {
            return Err(StoreError::Invalid(format!(
                "leave of unknown employee {}",
                change.employee
            )));
        }
        change.check()?;
        let current = inner
            .leave_versions
            .get(&change.employee)
            .copied()
            .unwrap_or(0);
        if current != change.expected_version {
            return Err(StoreError::Conflict(format!(
                "the leave of {} changed (version {current}, expected {})",
                change.employee, change.expected_version
            )));
        }
        if let Some(taken) = change.requests.iter().find(|r| {
            inner
                .requests
                .get(&r.id)
                .is_some_and(|old| old.employee != r.employee)
        }) {
            return Err(StoreError::Conflict(format!(
                "request id {} belongs to another employee",
                taken.id
            )));
        }
        let next = current + 1;
        inner.leave_versions.insert(change.employee.clone(), next);
        for request in change.requests {
            inner.requests.insert(request.id.clone(), request);
        }
        for (leave_type, entry) in change.entries {
            inner
                .ledger
                .entry((change.employee.clone(), leave_type))
                .or_default()
                .push(entry);
        }
        Ok(next)
    }

    async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest> {
        self.lock()?
            .requests
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("leave request", id))
    }

    async fn query_leave_requests(
        &self,
        query: &LeaveRequestQuery,
    ) -> StoreResult<Page<LeaveRequest>> {
        let inner = self.lock()?;
        let mut matching: Vec<&LeaveRequest> = inner
            .requests
            .values()
            .filter(|r| query.employee.as_ref().is_none_or(|e| &r.employee == e))
            .filter(|r| query.department.as_ref().is_none_or(|d| &r.department == d))
            .filter(|r| query.status.is_none_or(|s| r.status == s))
            .filter(|r| query.from.is_none_or(|from| r.end >= from))
            .filter(|r| query.to.is_none_or(|to| r.start <= to))
            .collect();
        matching.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.id.cmp(&b.id)));
        Ok(page(matching, query.offset, query.limit))
    }
}

#[async_trait]
impl LeaveDocumentStore for MemoryStore {
    async fn add_leave_document(
        &self,
        file: LeaveDocumentFile,
        max_per_request: u32,
    ) -> StoreResult<()> {
        file.check_size()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut inner = self.lock()?;
        let request = file.document.request.clone();
        if !inner.requests.contains_key(&request) {
            return Err(not_found("leave request", &request));
        }
        if inner.document_ids.contains(&file.document.id) {
            return Err(StoreError::Conflict(format!(
                "document id {} is taken",
                file.document.id
            )));
        }
        let held = inner.documents.get(&request).map_or(0, Vec::len);
        if held >= usize::try_from(max_per_request).unwrap_or(usize::MAX) {
            return Err(StoreError::Conflict(format!(
                "leave request {request} holds {held} documents, the most allowed"
            )));
        }
        inner.document_ids.insert(file.document.id.clone());
        inner.documents.entry(request).or_default().push(file);
        Ok(())
    }

    async fn leave_documents(&self, request: &LeaveRequestId) -> StoreResult<Vec<LeaveDocument>> {
        let inner = self.lock()?;
        if !inner.requests.contains_key(request) {
            return Err(not_found("leave request", request));
        }
        Ok(inner
            .documents
            .get(request)
            .map(|files| files.iter().map(|f| f.document.clone()).collect())
            .unwrap_or_default())
    }

    async fn leave_document(
        &self,
        request: &LeaveRequestId,
        id: &LeaveDocumentId,
    ) -> StoreResult<LeaveDocumentFile> {
        self.lock()?
            .documents
            .get(request)
            .and_then(|files| files.iter().find(|f| &f.document.id == id))
            .cloned()
            .ok_or_else(|| not_found("leave document", format!("{request}/{id}")))
    }
}

#[async_trait]
impl UserAccountStore for MemoryStore {
    async fn create_account(&self, account: &UserAccount) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.accounts.contains_key(&account.username) {
            return Err(StoreError::Conflict(format!(
                "username {} is taken",
                account.username
            )));
        }
        check_account_employee(&inner, account)?;
        inner
            .accounts
            .insert(account.username.clone(), account.clone());
        Ok(())
    }

    async fn update_account(&self, account: &UserAccount) -> StoreResult<()> {
        let mut inner = self.lock()?;
        check_account_employee(&inner, account)?;
        match inner.accounts.get_mut(&account.username) {
            Some(slot) => {
                *slot = account.clone();
                Ok(())
            }
            None => Err(not_found("user account", &account.username)),
        }
    }

    async fn account(&self, username: &str) -> StoreResult<UserAccount> {
        self.lock()?
            .accounts
            .get(username)
            .cloned()
            .ok_or_else(|| not_found("user account", username))
    }

    async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>> {
        Ok(self.lock()?.accounts.values().cloned().collect())
    }

    async fn delete_account(&self, username: &str) -> StoreResult<()> {
        self.lock()?
            .accounts
            .remove(username)
            .map(|_| ())
            .ok_or_else(|| not_found("user account", username))
    }
}

fn check_account_employee(inner: &Inner, account: &UserAccount) -> StoreResult<()> {
    match &account.employee {
        Some(code) if !inner.employees.contains_key(code) => Err(StoreError::Invalid(format!(
            "user account {} links unknown employee {code}",
            account.username
        ))),
        _ => Ok(()),
    }
}

#[async_trait]
impl super::RecomputeJobStore for MemoryStore {
    async fn enqueue_recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<super::RecomputeJobRecord> {
        self.jobs.enqueue_recompute(from, to, reason, now).await
    }

    async fn take_recompute(
        &self,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<super::RecomputeJobRecord>> {
        self.jobs.take_recompute(now).await
    }

    async fn save_recompute_progress(
        &self,
        id: i64,
        progress: &super::JobProgress,
    ) -> StoreResult<()> {
        self.jobs.save_recompute_progress(id, progress).await
    }

    async fn finish_recompute(
        &self,
        id: i64,
        now: DateTime<Utc>,
        outcome: Result<u64, String>,
    ) -> StoreResult<super::RecomputeJobRecord> {
        self.jobs.finish_recompute(id, now, outcome).await
    }

    async fn current_recompute(&self) -> StoreResult<Option<super::RecomputeJobRecord>> {
        self.jobs.current_recompute().await
    }
}
