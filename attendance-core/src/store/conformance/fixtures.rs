//! The test data every check builds on: scans, batches, employees, records, leave requests
//! and documents, each `Err` with a message when it does not validate.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use super::{CheckResult, fail};
use crate::calendar::LeaveType;
use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode, NewEmployee};
use crate::ingest::{MachineCursor, ScanBatch};
use crate::leave::{
    ApprovalChain, HalfDays, LeaveApplication, LeaveDocument, LeaveDocumentFile, LeaveDocumentId,
    LeaveLedger, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry, LedgerEntryKind,
    RequestContext, submit,
};
use crate::scan::{MachineId, PunchState, ScanData, VerifyMode};
use crate::shift::ShiftId;
use crate::status::AttendanceStatus;
use crate::store::Store;
use crate::store::{StoreError, StoreResult};

pub(super) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0)
        .single()
        .unwrap_or_default()
        + TimeDelta::minutes(minutes)
}

pub(super) fn id<T, E: fmt::Debug>(value: Result<T, E>) -> Result<T, String> {
    value.map_err(|e| format!("test data did not validate: {e:?}"))
}

pub(super) fn scan(machine: &str, user: &str, minutes: i64) -> Result<ScanData, String> {
    Ok(ScanData {
        machine_id: id(MachineId::parse(machine))?,
        device_user_id: id(DeviceUserId::parse(user))?,
        timestamp: at(minutes),
        punch_state: PunchState::CheckIn,
        verify_mode: VerifyMode::Fingerprint,
        raw: Some(format!("{user}\t{minutes}")),
    })
}

pub(super) fn batch(
    machine: &str,
    scans: Vec<ScanData>,
    cursor: Option<&str>,
) -> Result<ScanBatch, String> {
    Ok(ScanBatch {
        machine_id: id(MachineId::parse(machine))?,
        scans,
        cursor: cursor.map(|c| MachineCursor(c.to_owned())),
    })
}

pub(super) fn employee(code: &str, department: &str) -> Result<Employee, String> {
    id(Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: department.into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        ..NewEmployee::default()
    }))
}

pub(super) fn record(
    code: &str,
    date: NaiveDate,
    status: AttendanceStatus,
    working: i64,
) -> Result<DailyRecord, String> {
    Ok(DailyRecord {
        employee_id: id(EmployeeCode::parse(code))?,
        date,
        shift: id(ShiftId::parse("DAY"))?,
        status,
        check_in: Some(at(0)),
        check_out: Some(at(540)),
        working_seconds: working,
        overtime_seconds: 1800,
        extra_overtime_seconds: 0,
        late_minutes: 0,
        scans: Vec::new(),
        missing_checkout: false,
        worked_on_holiday: false,
        worked_on_weekend: false,
        snacks_eligible: false,
        night_bill_eligible: false,
        holiday_name: None,
        half_day_leave: false,
        window_closed: true,
    })
}

pub(super) fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap_or_default()
}

pub(super) fn allocation(days: i64, reference: &str) -> Result<(LeaveType, LedgerEntry), String> {
    Ok((
        LeaveType::Casual,
        id(LedgerEntry::new(
            LedgerEntryKind::Allocation,
            2026,
            date(1, 1),
            HalfDays::from_days(days),
            reference,
        ))?,
    ))
}

/// A pending casual request of `code` for `start..=end` (no approval levels: it is approved at
/// once when `approve` is set).
pub(super) fn leave_request(
    request_id: &str,
    code: &str,
    department: &str,
    start: NaiveDate,
    end: NaiveDate,
    approve: bool,
) -> Result<LeaveRequest, String> {
    let employee = id(EmployeeCode::parse(code))?;
    let policy = LeavePolicy {
        requires_approval: !approve,
        ..LeavePolicy::default_for(LeaveType::Casual)
    };
    let mut ledger = LeaveLedger::new(employee.clone(), LeaveType::Casual);
    let (_, grant) = allocation(30, "grant")?;
    id(ledger.append([grant]))?;
    let holidays = Default::default();
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[],
        holidays: &holidays,
        ledger: &ledger,
        requests: &[],
    };
    let application = LeaveApplication {
        employee,
        department: id(Department::parse(department))?,
        leave_type: LeaveType::Casual,
        start,
        end,
        start_half: false,
        end_half: false,
        reason: "family".into(),
        medical_certificate: false,
        priority: crate::leave::LeavePriority::High,
    };
    let chain = ApprovalChain::hr_only();
    let (request, _) = id(submit(
        id(LeaveRequestId::parse(request_id))?,
        &application,
        &ctx,
        &chain,
        date(1, 5),
    ))?;
    Ok(request)
}

/// A document of `request` holding `bytes`.
pub(super) fn leave_document(
    request: &str,
    doc: &str,
    bytes: Vec<u8>,
) -> Result<LeaveDocumentFile, String> {
    Ok(LeaveDocumentFile {
        document: LeaveDocument {
            id: id(LeaveDocumentId::parse(doc))?,
            request: id(LeaveRequestId::parse(request))?,
            filename: format!("certificat médical {doc}.pdf"),
            content_type: "application/pdf".into(),
            size: bytes.len() as u64,
            uploaded_by: "worker".into(),
            uploaded_at: at(7) + TimeDelta::nanoseconds(123_456_789),
        },
        bytes,
    })
}

pub(super) fn is_not_found<T>(result: &StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

/// Stores an employee ([`employee`]) of each (code, department) of `staff`, in order.
pub(super) async fn add_employees<S: Store + ?Sized>(
    store: &S,
    staff: &[(&str, &str)],
) -> CheckResult {
    for &(code, department) in staff {
        store
            .create_employee(&employee(code, department)?)
            .await
            .map_err(fail)?;
    }
    Ok(())
}
