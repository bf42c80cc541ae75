//! Every storage port of `attendance-core` for [`PgStore`]: each method hands the store to its
//! shared body in [`attendance_store_sql::contract`] (see the crate docs for what is
//! PostgreSQL's own).

mod jobs;
mod oversight;

use async_trait::async_trait;
use attendance_core::calendar::LeaveType;
use attendance_core::daily::{DailyRecord, DayTally};
use attendance_core::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use attendance_core::holiday::Holiday;
use attendance_core::leave::{
    LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeavePolicy, LeaveRequest, LeaveRequestId,
};
use attendance_core::machine::Machine;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::settings::AttendanceSettings;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, HolidayStore, IngestOutcome, LeaveAccount, LeaveChange,
    LeaveDocumentStore, LeaveRequestQuery, LeaveStore, MachineCursor, MachineStatus, MachineStore,
    Page, RecordQuery, ScanBatch, ScanStore, SettingsStore, StoreResult, StoredHoliday,
    UserAccount, UserAccountStore,
};
use attendance_store_sql::contract::{
    accounts, documents, employees, holidays, leave, machines, records, scans, settings,
};
use chrono::{DateTime, NaiveDate, Utc};

use crate::PgStore;

#[async_trait]
impl ScanStore for PgStore {
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
        scans::record_scans(self, batch).await
    }

    async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        scans::record_scan_batches(self, batches).await
    }

    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>> {
        scans::machine_cursor(self, machine).await
    }

    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        scans::scans_of_user(self, user, from, to).await
    }

    async fn scans_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        scans::scans_of_users(self, users, from, to).await
    }

    async fn count_scans(&self) -> StoreResult<u64> {
        scans::count_scans(self).await
    }
}

#[async_trait]
impl EmployeeStore for PgStore {
    async fn create_employee(&self, employee: &Employee) -> StoreResult<()> {
        employees::create_employee(self, employee).await
    }

    async fn update_employee(&self, employee: &Employee) -> StoreResult<()> {
        employees::update_employee(self, employee).await
    }

    async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
        employees::employee(self, code).await
    }

    async fn employee_by_device_user(&self, user: &DeviceUserId) -> StoreResult<Option<Employee>> {
        employees::employee_by_device_user(self, user).await
    }

    async fn employees_by_device_users(
        &self,
        users: &[DeviceUserId],
    ) -> StoreResult<Vec<Employee>> {
        employees::employees_by_device_users(self, users).await
    }

    async fn employees_by_codes(&self, codes: &[EmployeeCode]) -> StoreResult<Vec<Employee>> {
        employees::employees_by_codes(self, codes).await
    }

    async fn list_employees(&self, department: Option<Department>) -> StoreResult<Vec<Employee>> {
        employees::list_employees(self, department).await
    }

    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()> {
        employees::delete_employee(self, code).await
    }
}

#[async_trait]
impl MachineStore for PgStore {
    async fn create_machine(&self, machine: &Machine) -> StoreResult<()> {
        machines::create_machine(self, machine).await
    }

    async fn update_machine(&self, machine: &Machine) -> StoreResult<()> {
        machines::update_machine(self, machine).await
    }

    async fn machine(&self, id: &MachineId) -> StoreResult<Machine> {
        machines::machine(self, id).await
    }

    async fn list_machines(&self) -> StoreResult<Vec<Machine>> {
        machines::list_machines(self).await
    }

    async fn delete_machine(&self, id: &MachineId) -> StoreResult<()> {
        machines::delete_machine(self, id).await
    }

    async fn put_machine_status(&self, status: &MachineStatus) -> StoreResult<()> {
        machines::put_machine_status(self, status).await
    }

    async fn machine_statuses(&self) -> StoreResult<Vec<MachineStatus>> {
        machines::machine_statuses(self).await
    }
}

#[async_trait]
impl DailyRecordStore for PgStore {
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
        records::upsert_records(self, records).await
    }

    /// Whole recompute chunks per write: PostgreSQL's writers do not wait for one another, and
    /// each commit costs a WAL flush.
    fn records_per_write(&self) -> usize {
        usize::MAX
    }

    async fn record(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<Option<DailyRecord>> {
        records::record(self, employee, date).await
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<Page<DailyRecord>> {
        records::query_records(self, query).await
    }

    async fn query_record_tallies(&self, query: &RecordQuery) -> StoreResult<Vec<DayTally>> {
        records::query_record_tallies(self, query).await
    }

    async fn delete_record(&self, employee: &EmployeeCode, date: NaiveDate) -> StoreResult<()> {
        records::delete_record(self, employee, date).await
    }

    async fn count_records_by_status(
        &self,
        query: &RecordQuery,
    ) -> StoreResult<Vec<(AttendanceStatus, u64)>> {
        records::count_records_by_status(self, query).await
    }
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn settings(&self) -> StoreResult<AttendanceSettings> {
        settings::settings(self).await
    }

    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()> {
        settings::put_settings(self, settings).await
    }
}

#[async_trait]
impl HolidayStore for PgStore {
    async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday> {
        holidays::create_holiday(self, holiday).await
    }

    async fn update_holiday(&self, id: i64, holiday: &Holiday) -> StoreResult<Holiday> {
        holidays::update_holiday(self, id, holiday).await
    }

    async fn delete_holiday(&self, id: i64) -> StoreResult<Holiday> {
        holidays::delete_holiday(self, id).await
    }

    async fn holiday(&self, id: i64) -> StoreResult<StoredHoliday> {
        holidays::holiday(self, id).await
    }

    async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
        holidays::list_holidays(self).await
    }
}

#[async_trait]
impl LeaveStore for PgStore {
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
        leave::put_leave_policy(self, policy).await
    }

    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
        leave::leave_policy(self, leave_type).await
    }

    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
        leave::leave_policies(self).await
    }

    async fn leave_account(&self, employee: &EmployeeCode) -> StoreResult<LeaveAccount> {
        leave::leave_account(self, employee).await
    }

    async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64> {
        leave::commit_leave(self, change).await
    }

    async fn leave_requests_of(
        &self,
        employees: &[EmployeeCode],
    ) -> StoreResult<Vec<LeaveRequest>> {
        leave::leave_requests_of(self, employees).await
    }

    async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest> {
        leave::leave_request(self, id).await
    }

    async fn query_leave_requests(
        &self,
        query: &LeaveRequestQuery,
    ) -> StoreResult<Page<LeaveRequest>> {
        leave::query_leave_requests(self, query).await
    }
}

#[async_trait]
impl LeaveDocumentStore for PgStore {
    async fn add_leave_document(
        &self,
        file: LeaveDocumentFile,
        max_per_request: u32,
    ) -> StoreResult<()> {
        documents::add_leave_document(self, file, max_per_request).await
    }

    async fn leave_documents(&self, request: &LeaveRequestId) -> StoreResult<Vec<LeaveDocument>> {
        documents::leave_documents(self, request).await
    }

    async fn leave_document(
        &self,
        request: &LeaveRequestId,
        id: &LeaveDocumentId,
    ) -> StoreResult<LeaveDocumentFile> {
        documents::leave_document(self, request, id).await
    }
}

#[async_trait]
impl UserAccountStore for PgStore {
    async fn create_account(&self, account: &UserAccount) -> StoreResult<()> {
        accounts::create_account(self, account).await
    }

    async fn update_account(&self, account: &UserAccount) -> StoreResult<()> {
        accounts::update_account(self, account).await
    }

    async fn account(&self, username: &str) -> StoreResult<UserAccount> {
        accounts::account(self, username).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>> {
        accounts::list_accounts(self).await
    }

    async fn delete_account(&self, username: &str) -> StoreResult<()> {
        accounts::delete_account(self, username).await
    }
}
