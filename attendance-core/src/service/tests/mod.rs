//! The use cases over one mock store per port ([`Mocks`]): what each reads and writes, in which
//! order, and what it returns. Shared fixtures are here, the tests by concept in the modules.

#[cfg(feature = "testkit")]
mod corrections;
mod holidays;
mod ingest;
mod leave;
#[cfg(feature = "testkit")]
mod leave_year;
#[cfg(feature = "testkit")]
mod oversight;
mod recompute;

use chrono::{TimeZone, Weekday};
use mockall::Sequence;
use mockall::predicate::eq;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::access::{Actor, Role};
use crate::calendar::DayCalendar;
use crate::calendar::LeaveType;
use crate::daily::{DailyRecord, EmployeeContext, compute_days};
use crate::employee::{Department, EmployeeCode, NewEmployee};
use crate::employee::{DeviceUserId, Employee};
use crate::holiday::Holiday;
use crate::ingest::IngestOutcome;
use crate::ingest::ScanBatch;
use crate::leave::{
    ApprovalChain, ApprovalError, LeaveApplication, LeavePolicy, LeaveRequest, LeaveRequestId,
    RequestContext, submit,
};
use crate::leave::{
    ApprovalLevel, HalfDays, LeaveLedger, LedgerEntry, LedgerEntryKind, RequestStatus,
};
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::scan::{MachineId, PunchState, VerifyMode};
use crate::settings::AttendanceSettings;
use crate::shift::Shift;
use crate::shift::ShiftId;
use crate::status::AttendanceStatus;
use crate::store::{
    LeaveAccount, MockDailyRecordStore, MockEmployeeStore, MockHolidayStore, MockLeaveStore,
    MockScanStore, MockSettingsStore, block_on,
};
use crate::store::{StoreError, StoredHoliday};

/// One mock per port; `site` expectations (settings, holidays) are set by the test.
#[derive(Default)]
struct Mocks {
    scans: MockScanStore,
    employees: MockEmployeeStore,
    records: MockDailyRecordStore,
    settings: MockSettingsStore,
    holidays: MockHolidayStore,
    leave: MockLeaveStore,
}

impl Mocks {
    /// Default settings (Dhaka, 08:00–17:00, Friday off) and `holidays`.
    fn with_site(self, holidays: Vec<StoredHoliday>) -> Self {
        self.with_settings(AttendanceSettings::default(), holidays)
    }

    /// `settings` and `holidays`.
    fn with_settings(mut self, settings: AttendanceSettings, holidays: Vec<StoredHoliday>) -> Self {
        self.settings
            .expect_settings()
            .returning(move || Ok(settings.clone()));
        self.holidays
            .expect_list_holidays()
            .returning(move || Ok(holidays.clone()));
        self
    }

    fn service(mut self) -> AttendanceService {
        // Whole chunks per write unless a test says otherwise (its expectation comes first).
        self.records
            .expect_records_per_write()
            .return_const(usize::MAX);
        AttendanceService::from_parts(StoreParts {
            scans: Arc::new(self.scans),
            employees: Arc::new(self.employees),
            records: Arc::new(self.records),
            settings: Arc::new(self.settings),
            holidays: Arc::new(self.holidays),
            leave: Arc::new(self.leave),
        })
    }
}

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
}

/// Local Dhaka time on a November day, as an instant.
fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Dhaka
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    local(26, 12, 0)
}

fn employee(code: &str, user: &str, active: bool) -> Employee {
    let mut e = Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: "Sewing".into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        device_user_id: Some(user.into()),
        ..NewEmployee::default()
    })
    .unwrap();
    e.active = active;
    e
}

fn scan(user: &str, at: DateTime<Utc>) -> ScanData {
    ScanData {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        device_user_id: DeviceUserId::parse(user).unwrap(),
        timestamp: at,
        punch_state: PunchState::CheckIn,
        verify_mode: VerifyMode::Fingerprint,
        raw: None,
    }
}

fn empty_account(code: &str, version: u64) -> LeaveAccount {
    LeaveAccount {
        employee: EmployeeCode::parse(code).unwrap(),
        version,
        requests: Vec::new(),
        ledgers: Vec::new(),
    }
}

fn hr() -> Actor {
    Actor::new(Role::HrStaff, None, None)
}

fn user(id: &str) -> DeviceUserId {
    DeviceUserId::parse(id).unwrap()
}

fn code(id: &str) -> EmployeeCode {
    EmployeeCode::parse(id).unwrap()
}

/// The default settings with a night shift, 20:00–05:00, in the catalogue.
fn with_night_shift() -> AttendanceSettings {
    let mut settings = AttendanceSettings::default();
    settings.shifts.push(
        Shift::new(
            ShiftId::parse("NIGHT").unwrap(),
            "Night",
            crate::shift::hm(20, 0),
            crate::shift::hm(5, 0),
        )
        .unwrap(),
    );
    settings.validate().unwrap();
    settings
}

fn on_shift(mut employee: Employee, shift: &str) -> Employee {
    employee.shift = Some(ShiftId::parse(shift).unwrap());
    employee
}

/// Writes down what it is told, in order.
#[derive(Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl ChangeObserver for Recorder {
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>) {
        let enrolled: Vec<&str> = employees
            .iter()
            .map(|(u, e)| {
                assert_eq!(u, &e.device_user_id);
                e.employee_id.as_str()
            })
            .collect();
        self.events
            .lock()
            .unwrap()
            .push(format!("{} scans of {enrolled:?}", scans.len()));
    }

    fn days_recomputed(&self, summaries: &[DailySummary]) {
        let days: Vec<String> = summaries
            .iter()
            .map(|s| format!("{} {} {}", s.employee_id, s.date, s.status))
            .collect();
        self.events.lock().unwrap().push(days.join(", "));
    }
}
