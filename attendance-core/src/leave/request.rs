//! Leave requests: what an employee asks for, and the checks it must pass to be submitted.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::approval::{
    ApprovalChain, ApprovalLevel, ApprovalOutcome, ApprovalRecord, FinalApproval,
};
use super::working_days::{part_of, total};
use super::{
    CountedDay, DayPart, HalfDays, LeaveLedger, LeavePolicy, LedgerEntry, LedgerEntryKind,
    leave_days,
};
use crate::access::Owner;
use crate::calendar::{LeaveDay, LeaveType};
use crate::error::{ValidationError, non_empty_trimmed};
use crate::ids::{Department, EmployeeCode};
use crate::text::{id_chars, text_newtype};

text_newtype!(
    /// A leave request's id, given by the store (a UUID, a sequence number).
    LeaveRequestId,
    "leave_request_id",
    64,
    id_chars
);

/// The longest range one request may span, in calendar days.
pub const MAX_LEAVE_SPAN_DAYS: i64 = 366;
/// How far back a request may start, in days before the day it is submitted (sick leave is
/// often filed afterwards; a year is the most).
pub const LEAVE_PAST_DAYS: i64 = 366;
/// How far ahead a request may end, in days after the day it is submitted.
pub const LEAVE_FUTURE_DAYS: i64 = 731;
/// The most requests one employee may have pending at once.
pub const MAX_PENDING_REQUESTS: usize = 20;
/// The most requests one employee may submit on one day (cancelled ones included, so cancel and
/// resubmit cannot fill the database).
pub const MAX_REQUESTS_PER_DAY: usize = 30;

/// What an employee asks for, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveApplication {
    /// The employee.
    pub employee: EmployeeCode,
    /// The employee's department (it selects the department head who approves).
    pub department: Department,
    /// The type of leave.
    pub leave_type: LeaveType,
    /// The first date.
    pub start: NaiveDate,
    /// The last date (inclusive).
    pub end: NaiveDate,
    /// The leave starts at midday on `start` (only its afternoon is taken).
    #[serde(default)]
    pub start_half: bool,
    /// The leave ends at midday on `end` (only its morning is taken).
    #[serde(default)]
    pub end_half: bool,
    /// Why, as the employee puts it (at most 1000 characters).
    #[serde(default)]
    pub reason: String,
    /// Whether a medical certificate is attached.
    #[serde(default)]
    pub medical_certificate: bool,
    /// How urgent the employee says it is (the approvers' queue may sort by it; no rule
    /// depends on it).
    #[serde(default)]
    pub priority: LeavePriority,
}

/// How urgent a leave request is, as the employee puts it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LeavePriority {
    /// Whenever convenient.
    Low,
    /// The usual.
    #[default]
    Normal,
    /// Soon.
    High,
    /// At once (an emergency).
    Urgent,
}

impl LeavePriority {
    /// The priority as serialised (`normal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

impl std::str::FromStr for LeavePriority {
    type Err = ValidationError;
    /// `low`, `normal` (or `medium`), `high` or `urgent`, in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "normal" | "medium" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            "urgent" => Ok(Self::Urgent),
            _ => Err(ValidationError::Invalid {
                field: "priority",
                reason: "must be low, normal, high or urgent",
                value: text.to_owned(),
            }),
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the next approval level.
    Pending,
    /// Approved by every level; the balance has been debited.
    Approved,
    /// Rejected.
    Rejected,
    /// Cancelled (before or after approval).
    Cancelled,
}

impl RequestStatus {
    /// Whether the request still holds its dates (pending or approved).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Approved)
    }
}

/// A submitted leave request. Create with [`submit`]; change only through
/// [`LeaveRequest::approve`], [`LeaveRequest::reject`] and [`LeaveRequest::cancel`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveRequest {
    /// The request's id.
    pub id: LeaveRequestId,
    /// The employee.
    pub employee: EmployeeCode,
    /// The employee's department.
    pub department: Department,
    /// The type of leave.
    pub leave_type: LeaveType,
    /// The first date.
    pub start: NaiveDate,
    /// The last date (inclusive).
    pub end: NaiveDate,
    /// Starts at midday on `start`.
    pub start_half: bool,
    /// Ends at midday on `end`.
    pub end_half: bool,
    /// The employee's reason.
    pub reason: String,
    /// Whether a medical certificate is attached.
    pub medical_certificate: bool,
    /// How urgent the employee says it is.
    #[serde(default)]
    pub priority: LeavePriority,
    /// The dates the leave counts, as computed when it was submitted.
    pub days: Vec<CountedDay>,
    /// The total of `days`.
    pub amount: HalfDays,
    /// When it was submitted.
    pub submitted_on: NaiveDate,
    /// Where it stands.
    pub status: RequestStatus,
    /// The approval levels it needs, in order, fixed when it was submitted.
    pub levels: Vec<ApprovalLevel>,
    /// Every decision taken on it, oldest first.
    pub history: Vec<ApprovalRecord>,
}

/// A leave application that cannot be submitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeaveRequestError {
    /// A field did not validate.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The end date is before the start date.
    #[error("the leave ends on {end}, before it starts on {start}")]
    DatesReversed {
        /// The start asked for.
        start: NaiveDate,
        /// The end asked for.
        end: NaiveDate,
    },
    /// The range is longer than [`MAX_LEAVE_SPAN_DAYS`].
    #[error("the leave spans {days} days; at most {max} are allowed")]
    SpanTooLong {
        /// Calendar days asked for.
        days: i64,
        /// The most allowed.
        max: i64,
    },
    /// The dates are too far from the day of submission.
    #[error("leave must start on or after {earliest} and end on or before {latest}")]
    OutsideHorizon {
        /// The earliest start allowed.
        earliest: NaiveDate,
        /// The latest end allowed.
        latest: NaiveDate,
    },
    /// The employee has [`MAX_PENDING_REQUESTS`] requests pending already.
    #[error("{pending} leave requests are pending already; at most {max} may be")]
    TooManyPending {
        /// Requests pending now.
        pending: usize,
        /// The most allowed.
        max: usize,
    },
    /// The employee submitted [`MAX_REQUESTS_PER_DAY`] requests today already.
    #[error("{submitted} leave requests were submitted today already; at most {max} may be")]
    TooManyToday {
        /// Requests submitted today.
        submitted: usize,
        /// The most allowed.
        max: usize,
    },
    /// The policy does not allow half days.
    #[error("{leave_type} leave cannot start or end with half a day")]
    HalfDayNotAllowed {
        /// The leave type.
        leave_type: LeaveType,
    },
    /// No date of the range counts (only off days, or half of nothing).
    #[error("the leave covers no working day")]
    NoWorkingDays,
    /// The request counts more than the policy's maximum for one leave.
    #[error("the leave counts {requested} days; at most {max} in a row are allowed")]
    TooManyConsecutiveDays {
        /// What the request counts.
        requested: HalfDays,
        /// The policy's maximum.
        max: HalfDays,
    },
    /// A medical certificate is required and was not attached.
    #[error("a medical certificate is required for more than {above} days (asked for {requested})")]
    CertificateRequired {
        /// What the request counts.
        requested: HalfDays,
        /// The policy's threshold.
        above: HalfDays,
    },
    /// Another pending or approved request of the employee covers some of the same time.
    #[error("the leave overlaps request {other} on {date}")]
    Overlap {
        /// The other request.
        other: LeaveRequestId,
        /// The first date they share.
        date: NaiveDate,
    },
    /// Not enough balance in a year, counting the pending requests.
    #[error(
        "not enough {leave_type} leave in {year}: {available} available, {pending} pending, {requested} asked for"
    )]
    InsufficientBalance {
        /// The leave type.
        leave_type: LeaveType,
        /// The leave year.
        year: i32,
        /// Available in the ledger.
        available: HalfDays,
        /// Held by pending requests.
        pending: HalfDays,
        /// Asked for in that year.
        requested: HalfDays,
    },
    /// The policy or the ledger is not the application's leave type or employee.
    #[error("the policy or ledger given is not for this employee's {leave_type} leave")]
    ContextMismatch {
        /// The application's leave type.
        leave_type: LeaveType,
    },
}

/// What submitting needs besides the application.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The policy of the application's leave type.
    pub policy: &'a LeavePolicy,
    /// The site's weekly off days ([`AttendanceSettings::weekly_off_days`](crate::settings::AttendanceSettings::weekly_off_days)).
    pub weekly_off_days: &'a [Weekday],
    /// Observed holidays by date (see [`holiday_calendar`](crate::holiday::holiday_calendar)),
    /// covering the application's range.
    pub holidays: &'a BTreeMap<NaiveDate, String>,
    /// The employee's ledger of this leave type.
    pub ledger: &'a LeaveLedger,
    /// The employee's other requests, of every type and status.
    pub requests: &'a [LeaveRequest],
}

impl LeaveRequest {
    /// The owner of the request, for access checks.
    pub fn owner(&self) -> Owner {
        Owner {
            employee: self.employee.clone(),
            department: self.department.clone(),
        }
    }

    /// What the request counts in leave year `year`.
    pub fn amount_in(&self, year: i32) -> HalfDays {
        self.days
            .iter()
            .filter(|d| d.date.year() == year)
            .map(|d| d.part.amount())
            .sum()
    }

    /// The leave years the request counts in, in order.
    pub fn years(&self) -> BTreeSet<i32> {
        self.days.iter().map(|d| d.date.year()).collect()
    }

    /// The part of `date` the request's range covers, counted or not.
    pub fn part_on(&self, date: NaiveDate) -> Option<DayPart> {
        part_of(date, self.start, self.end, self.start_half, self.end_half)
    }

    /// The [`LeaveDay`] entries for [`DayCalendar::leave`](crate::calendar::DayCalendar::leave):
    /// one per counted date.
    pub fn leave_days(&self) -> BTreeMap<NaiveDate, LeaveDay> {
        self.days
            .iter()
            .map(|d| {
                (
                    d.date,
                    LeaveDay {
                        leave_type: self.leave_type.clone(),
                        half_day: d.part != DayPart::Full,
                    },
                )
            })
            .collect()
    }

    /// One ledger entry of `kind` per leave year, dated `on` and referenced by the request id.
    pub(crate) fn entries(
        &self,
        kind: LedgerEntryKind,
        on: NaiveDate,
    ) -> Result<Vec<LedgerEntry>, ValidationError> {
        self.years()
            .into_iter()
            .map(|year| (year, self.amount_in(year)))
            .filter(|(_, amount)| amount.is_positive())
            .map(|(year, amount)| LedgerEntry::new(kind, year, on, amount, self.id.as_str()))
            .collect()
    }

    /// The first date on which this request and `other` both take the same part of the day.
    fn first_shared_date(&self, other: &LeaveRequest) -> Option<NaiveDate> {
        let from = self.start.max(other.start);
        let to = self.end.min(other.end);
        let mut date = from;
        while date <= to {
            if let (Some(a), Some(b)) = (self.part_on(date), other.part_on(date))
                && a.overlaps(b)
            {
                return Some(date);
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// What the pending requests of `employee` for `leave_type` count in leave year `year`.
pub fn pending_units(
    requests: &[LeaveRequest],
    employee: &EmployeeCode,
    leave_type: &LeaveType,
    year: i32,
) -> HalfDays {
    pending_in(requests.iter(), employee, leave_type, year)
}

fn pending_in<'a>(
    requests: impl Iterator<Item = &'a LeaveRequest>,
    employee: &EmployeeCode,
    leave_type: &LeaveType,
    year: i32,
) -> HalfDays {
    requests
        .filter(|r| {
            r.status == RequestStatus::Pending
                && &r.employee == employee
                && &r.leave_type == leave_type
        })
        .map(|r| r.amount_in(year))
        .sum()
}

/// The approved leave of `requests` by date, for
/// [`DayCalendar::leave`](crate::calendar::DayCalendar::leave). When two approved half days
/// share a date (a morning and an afternoon), the date is a full day of the first one's type.
pub fn approved_leave_days(requests: &[LeaveRequest]) -> BTreeMap<NaiveDate, LeaveDay> {
    let mut days: BTreeMap<NaiveDate, LeaveDay> = BTreeMap::new();
    for request in requests
        .iter()
        .filter(|r| r.status == RequestStatus::Approved)
    {
        for (date, day) in request.leave_days() {
            days.entry(date)
                .and_modify(|existing| existing.half_day = false)
                .or_insert(day);
        }
    }
    days
}

/// The longest gap of off days between two requests that still makes them one leave.
const MAX_OFF_DAY_GAP: i64 = 31;

/// Whether a leave ending with `before` (its last date and whether it ends at midday) and one
/// starting with `after` are one run: nothing but off days between them, and no half day worked
/// at the seam.
fn adjoins(
    (last, ends_half): (NaiveDate, bool),
    (first, starts_half): (NaiveDate, bool),
    ctx: &RequestContext<'_>,
) -> bool {
    if ends_half || starts_half || first <= last {
        return false;
    }
    let gap = first.signed_duration_since(last).num_days() - 1;
    if gap > MAX_OFF_DAY_GAP {
        return false;
    }
    let mut date = last;
    for _ in 0..gap {
        let Some(next) = date.succ_opt() else {
            return false;
        };
        date = next;
        if !ctx.weekly_off_days.contains(&date.weekday()) && !ctx.holidays.contains_key(&date) {
            return false;
        }
    }
    true
}

/// What `request` counts together with the employee's other active requests of the same type
/// that join it into one unbroken leave (directly, or across off days only), so that splitting a
/// leave into several requests does not escape the policy's maximum in a row or its medical
/// certificate threshold.
fn consecutive_run(request: &LeaveRequest, ctx: &RequestContext<'_>) -> HalfDays {
    let mut others: Vec<&LeaveRequest> = ctx
        .requests
        .iter()
        .filter(|r| {
            r.status.is_active()
                && r.employee == request.employee
                && r.leave_type == request.leave_type
                && r.id != request.id
        })
        .collect();
    let mut run = request.amount;
    let mut head = (request.start, request.start_half);
    let mut tail = (request.end, request.end_half);
    loop {
        let found = others.iter().position(|o| {
            adjoins((o.end, o.end_half), head, ctx) || adjoins(tail, (o.start, o.start_half), ctx)
        });
        let Some(index) = found else {
            return run;
        };
        let other = others.swap_remove(index);
        run += other.amount;
        if other.end < head.0 {
            head = (other.start, other.start_half);
        } else {
            tail = (other.end, other.end_half);
        }
    }
}

/// Validates `application` and creates request `id`, submitted `on`. Checks, in order: the
/// context is for this employee and leave type, the reason's length, dates in order, a span of at
/// most [`MAX_LEAVE_SPAN_DAYS`], half days allowed, at least one counted day, the policy's maximum
/// in a row and the medical certificate (both counting the employee's active requests of the same
/// type that join this one across off days only into one unbroken leave), no overlap with another active request, and (for a limited
/// policy) enough balance in every leave year it touches once pending requests are counted.
///
/// The request needs the levels of `chain`; when the policy needs no approval or the chain is
/// empty it is approved at once and the outcome carries the debit and the leave days.
pub fn submit(
    id: LeaveRequestId,
    application: &LeaveApplication,
    ctx: &RequestContext<'_>,
    chain: &ApprovalChain,
    on: NaiveDate,
) -> Result<(LeaveRequest, ApprovalOutcome), LeaveRequestError> {
    let a = application;
    if ctx.policy.leave_type != a.leave_type
        || ctx.ledger.leave_type() != &a.leave_type
        || ctx.ledger.employee() != &a.employee
    {
        return Err(LeaveRequestError::ContextMismatch {
            leave_type: a.leave_type.clone(),
        });
    }
    let reason = if a.reason.trim().is_empty() {
        String::new()
    } else {
        non_empty_trimmed("reason", &a.reason, 1000)?
    };
    if a.end < a.start {
        return Err(LeaveRequestError::DatesReversed {
            start: a.start,
            end: a.end,
        });
    }
    let earliest = on - chrono::Days::new(LEAVE_PAST_DAYS.unsigned_abs());
    let latest = on + chrono::Days::new(LEAVE_FUTURE_DAYS.unsigned_abs());
    if a.start < earliest || a.end > latest {
        return Err(LeaveRequestError::OutsideHorizon { earliest, latest });
    }
    let pending = ctx
        .requests
        .iter()
        .filter(|r| r.status == RequestStatus::Pending)
        .count();
    if pending >= MAX_PENDING_REQUESTS {
        return Err(LeaveRequestError::TooManyPending {
            pending,
            max: MAX_PENDING_REQUESTS,
        });
    }
    let submitted = ctx.requests.iter().filter(|r| r.submitted_on == on).count();
    if submitted >= MAX_REQUESTS_PER_DAY {
        return Err(LeaveRequestError::TooManyToday {
            submitted,
            max: MAX_REQUESTS_PER_DAY,
        });
    }
    let span = a.end.signed_duration_since(a.start).num_days() + 1;
    if span > MAX_LEAVE_SPAN_DAYS {
        return Err(LeaveRequestError::SpanTooLong {
            days: span,
            max: MAX_LEAVE_SPAN_DAYS,
        });
    }
    if (a.start_half || a.end_half) && !ctx.policy.half_days_allowed {
        return Err(LeaveRequestError::HalfDayNotAllowed {
            leave_type: a.leave_type.clone(),
        });
    }
    let days = leave_days(
        a.start,
        a.end,
        (a.start_half, a.end_half),
        ctx.policy.off_days,
        ctx.weekly_off_days,
        ctx.holidays,
    );
    let amount = total(&days);
    if !amount.is_positive() {
        return Err(LeaveRequestError::NoWorkingDays);
    }
    let levels = if ctx.policy.requires_approval {
        chain.levels.clone()
    } else {
        Vec::new()
    };
    let mut request = LeaveRequest {
        id,
        employee: a.employee.clone(),
        department: a.department.clone(),
        leave_type: a.leave_type.clone(),
        start: a.start,
        end: a.end,
        start_half: a.start_half,
        end_half: a.end_half,
        reason,
        medical_certificate: a.medical_certificate,
        priority: a.priority,
        days,
        amount,
        submitted_on: on,
        status: RequestStatus::Pending,
        levels,
        history: Vec::new(),
    };
    let run = consecutive_run(&request, ctx);
    if let Some(max) = ctx.policy.max_consecutive
        && run > max
    {
        return Err(LeaveRequestError::TooManyConsecutiveDays {
            requested: run,
            max,
        });
    }
    if let Some(above) = ctx.policy.certificate_required_above
        && run > above
        && !a.medical_certificate
    {
        return Err(LeaveRequestError::CertificateRequired {
            requested: run,
            above,
        });
    }
    let others = ctx
        .requests
        .iter()
        .filter(|r| r.status.is_active() && r.employee == request.employee && r.id != request.id);
    for other in others {
        if let Some(date) = request.first_shared_date(other) {
            return Err(LeaveRequestError::Overlap {
                other: other.id.clone(),
                date,
            });
        }
    }
    if ctx.policy.is_limited() {
        for year in request.years() {
            let requested = request.amount_in(year);
            let available = ctx.ledger.available(year);
            let pending = pending_in(
                ctx.requests.iter().filter(|r| r.id != request.id),
                &request.employee,
                &request.leave_type,
                year,
            );
            if requested > available - pending {
                return Err(LeaveRequestError::InsufficientBalance {
                    leave_type: request.leave_type.clone(),
                    year,
                    available,
                    pending,
                    requested,
                });
            }
        }
    }
    let outcome = match request.levels.first() {
        Some(level) => ApprovalOutcome::AwaitingLevel(*level),
        None => {
            request.status = RequestStatus::Approved;
            ApprovalOutcome::Approved(FinalApproval {
                debits: request.entries(LedgerEntryKind::Taken, on)?,
                leave_days: request.leave_days(),
            })
        }
    };
    Ok((request, outcome))
}

#[cfg(test)]
pub(crate) mod tests;
