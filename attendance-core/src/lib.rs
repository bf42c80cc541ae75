//! # attendance-core
//!
//! The pure rules of the attendance platform: which work date a scan belongs to, which scans
//! count, working hours, overtime and extra overtime, allowances, the status of every date, leave,
//! holidays and who may see what. Nothing here does IO, spawns a task or reads the clock: "now" is
//! a parameter, and the same input always gives the same output, whatever the order of the scans.
//!
//! ```
//! use attendance_core::prelude::*;
//! use chrono::{NaiveDate, TimeZone};
//!
//! let settings = AttendanceSettings::default(); // Asia/Dhaka, 08:00–17:00, Friday off
//! let employee = Employee::parse(&NewEmployee {
//!     employee_id: "EMP001".into(),
//!     employee_name: "Rahima Khatun".into(),
//!     department: "Sewing".into(),
//!     designation: "Senior Tailor".into(),
//!     level_of_work: "Worker".into(),
//!     ..Default::default()
//! })?;
//! let roster = ShiftRoster::fixed(&settings.default_shift);
//! let calendar = DayCalendar::new();
//! let ctx = EmployeeContext { settings: &settings, employee: &employee, roster: &roster, calendar: &calendar };
//!
//! let tz = settings.time_zone;
//! let scan = |h, m| ScanData {
//!     machine_id: MachineId::parse("BOCK200961014").unwrap(),
//!     device_user_id: employee.device_user_id.clone(),
//!     timestamp: tz.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap().to_utc(),
//!     punch_state: PunchState::Unknown,
//!     verify_mode: VerifyMode::Fingerprint,
//!     raw: None,
//! };
//! let date = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
//! let now = tz.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap().to_utc();
//! let days = compute_days(&ctx, &[scan(17, 30), scan(8, 0)], date, date, now);
//!
//! let summary = DailySummary::new(&employee, &days[0], tz);
//! assert_eq!(summary.status, AttendanceStatus::PresentOnTime);
//! assert_eq!((summary.working_hours, summary.overtime, summary.extra_overtime), (8.25, 0.5, 0.0));
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```
//!
//! ## Modules
//!
//! Listed in dependency order: each module uses only modules listed before it, so the crate has
//! no module cycle.
//!
//! - [`error`] (validation errors), [`time`] (local time over DST) and the crate's validated
//!   text (the `text_newtype!` macro of every text identifier, and the names employees, shifts
//!   and overtime share: employee code, device user, department, designation, level of work,
//!   shift id, exported as `employee::EmployeeCode`, `shift::ShiftId`, …);
//! - [`calendar`] (leave types and the day calendar the rules read), [`holiday`], [`status`];
//! - [`scan`] (raw scans, machine ids), [`overtime`] (clock offsets, tiers, per-level
//!   policies), [`employee`];
//! - [`shift`] (shifts with their unpaid breaks and tiers, rosters), [`access`] (roles and the
//!   one access policy), [`machine`], [`ingest`] (a machine's batch of scans with its cursor,
//!   and what storing it did);
//! - [`settings`] (every number the rules use), [`leave`] (policies, ledger, requests,
//!   approvals, documents);
//! - [`attribution`] (work windows and work dates), then [`daily`] (scans to daily records),
//!   then [`report`] (the daily summary and timesheet shapes, and `report::monthly`, the
//!   monthly payroll report);
//! - [`store`] (the storage ports, with feature `testkit` the in-memory store and the
//!   conformance suite), then [`service`] (the use cases over the ports: ingest, recompute,
//!   leave, holidays).

pub mod access;
pub mod account;
pub mod attribution;
pub mod audit;
pub mod calendar;
pub mod correction;
pub mod daily;
pub mod employee;
pub mod error;
pub mod holiday;
mod ids;
pub mod ingest;
pub mod leave;
pub mod machine;
pub mod overrides;
pub mod overtime;
pub mod report;
pub mod scan;
pub mod service;
pub mod settings;
pub mod shift;
pub mod status;
pub mod store;
mod text;
pub mod time;

pub use error::ValidationError;

/// The names most users of the crate need, in one import.
pub mod prelude {
    pub use crate::access::{
        AccessDenied, Action, Actor, ListFilter, Owner, Role, authorize, list_filter,
    };
    pub use crate::attribution::{Attributor, WorkWindow};
    pub use crate::calendar::{DayCalendar, LeaveDay, LeaveType};
    pub use crate::daily::{DailyRecord, EmployeeContext, RecordedScan, compute_days};
    pub use crate::employee::{
        Department, Designation, DeviceUserId, Employee, EmployeeCode, LevelOfWork, NewEmployee,
    };
    pub use crate::error::ValidationError;
    pub use crate::holiday::{Holiday, NewHoliday, holiday_calendar};
    pub use crate::leave::{
        ApprovalChain, ApprovalError, ApprovalLevel, ApprovalOutcome, HalfDays, HeadPresence,
        LeaveApplication, LeaveApproval, LeaveBalance, LeaveLedger, LeavePolicy, LeaveRequest,
        LeaveRequestError, LeaveRequestId, LedgerEntry, LedgerEntryKind, OffDayRule,
        RequestContext, RequestStatus, submit,
    };
    pub use crate::machine::{Machine, MachineType, NewMachine};
    pub use crate::overtime::{ClockOffset, OvertimeKind, OvertimePolicy, OvertimeTier};
    pub use crate::report::{DailySummary, Timesheet};
    pub use crate::scan::{MachineId, PunchState, ScanData, ScanType, VerifyMode};
    pub use crate::settings::{AttendanceSettings, UnknownShift, UnpaidBreak};
    pub use crate::shift::{Shift, ShiftAssignment, ShiftId, ShiftRoster};
    pub use crate::status::AttendanceStatus;
}
