//! Leave: policies, the days a leave counts, the balance ledger, requests and their approval,
//! and the documents attached to a request ([`LeaveDocument`]).
//!
//! Every amount of leave is a whole number of half days ([`HalfDays`]); there are no floats.
//!
//! The flow, all pure:
//! 1. [`submit`] validates a [`LeaveApplication`] against the [`LeavePolicy`], the calendar, the
//!    employee's [`LeaveLedger`] and their other requests, and returns a pending
//!    [`LeaveRequest`] (or an approved one when the policy needs no approval).
//! 2. [`LeaveRequest::approve`] records each level in order (the levels come from the policy's
//!    [`LeaveApproval`] through [`ApprovalChain::for_request`]); the final approval checks
//!    the ledger again and returns the debit to append and the [`LeaveDay`](crate::calendar::LeaveDay)
//!    entries for [`DayCalendar::leave`](crate::calendar::DayCalendar::leave).
//! 3. [`LeaveRequest::reject`] and [`LeaveRequest::cancel`] end a request; cancelling an approved
//!    one returns the reversal to append.
//! 4. [`LeaveLedger::rollover`] closes a year: carries forward up to the policy's cap, expires
//!    the rest and allocates the new year.
//!
//! ```
//! use std::collections::BTreeMap;
//! use attendance_core::access::{Actor, Role};
//! use attendance_core::leave::*;
//! use attendance_core::prelude::*;
//! use chrono::{NaiveDate, Weekday};
//!
//! let date = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
//! let me = EmployeeCode::parse("EMP1")?;
//! let sewing = Department::parse("Sewing")?;
//! let policy = LeavePolicy::default_for(LeaveType::Casual);
//! let mut ledger = LeaveLedger::new(me.clone(), LeaveType::Casual);
//! ledger.append([LedgerEntry::new(
//!     LedgerEntryKind::Allocation, 2026, date(1, 1), HalfDays::from_days(10), "allocation 2026",
//! )?]).unwrap();
//!
//! // Thursday 5 to Saturday 7 March 2026; Friday is off, so two days count.
//! let application = LeaveApplication {
//!     employee: me.clone(),
//!     department: sewing.clone(),
//!     leave_type: LeaveType::Casual,
//!     start: date(3, 5),
//!     end: date(3, 7),
//!     start_half: false,
//!     end_half: false,
//!     reason: "Family wedding".into(),
//!     medical_certificate: false,
//!     priority: Default::default(),
//! };
//! let holidays = BTreeMap::new();
//! let ctx = RequestContext {
//!     policy: &policy,
//!     weekly_off_days: &[Weekday::Fri],
//!     holidays: &holidays,
//!     ledger: &ledger,
//!     requests: &[],
//! };
//! let (mut request, _) =
//!     submit(LeaveRequestId::parse("L1")?, &application, &ctx, &ApprovalChain::default(), date(3, 1)).unwrap();
//! assert_eq!(request.amount, HalfDays::from_days(2));
//!
//! let head = Actor::new(Role::DepartmentHead, Some(EmployeeCode::parse("EMP5")?), Some(sewing));
//! let hr = Actor::new(Role::HrStaff, None, None);
//! let heads = HeadPresence::Active; // Sewing has an active department head
//! request.approve(&head, heads, &policy, &ledger, date(3, 2), None).unwrap();
//! let ApprovalOutcome::Approved(done) = request.approve(&hr, heads, &policy, &ledger, date(3, 2), None).unwrap()
//! else { unreachable!() };
//! ledger.append(done.debits).unwrap();
//! assert_eq!(ledger.balance(2026, HalfDays::ZERO).available, HalfDays::from_days(8));
//! assert_eq!(done.leave_days.len(), 2); // goes into DayCalendar::leave
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```

mod approval;
mod document;
mod ledger;
mod policy;
mod request;
mod working_days;

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

pub use approval::{
    ApprovalChain, ApprovalError, ApprovalLevel, ApprovalOutcome, ApprovalRecord, Cancellation,
    Decision, FinalApproval, HeadPresence,
};
pub use document::{LeaveDocument, LeaveDocumentFile, LeaveDocumentId};
pub use ledger::{LeaveBalance, LeaveLedger, LedgerEntry, LedgerEntryKind, LedgerError};
pub use policy::{LeaveApproval, LeavePolicy, OffDayRule, default_policies};
pub use request::{
    LEAVE_FUTURE_DAYS, LEAVE_PAST_DAYS, LeaveApplication, LeavePriority, LeaveRequest,
    LeaveRequestError, LeaveRequestId, MAX_LEAVE_SPAN_DAYS, MAX_PENDING_REQUESTS,
    MAX_REQUESTS_PER_DAY, RequestContext, RequestStatus, approved_leave_days, pending_units,
    submit,
};
pub use working_days::{CountedDay, DayPart, count_working_days, leave_days};

/// An amount of leave as a whole number of half days: `HalfDays::from_days(2)` is two days,
/// `HalfDays::new(3)` is a day and a half. Signed, so a balance can show an overdraft; the
/// arithmetic saturates instead of overflowing. Serialised as the number of half days.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct HalfDays(i64);

impl HalfDays {
    /// No leave.
    pub const ZERO: HalfDays = HalfDays(0);

    /// `halves` half days.
    pub const fn new(halves: i64) -> Self {
        Self(halves)
    }

    /// `days` whole days.
    pub const fn from_days(days: i64) -> Self {
        Self(days.saturating_mul(2))
    }

    /// The number of half days.
    pub const fn halves(self) -> i64 {
        self.0
    }

    /// The whole days in the amount, rounded towards zero (`3` half days → `1`).
    pub const fn whole_days(self) -> i64 {
        self.0 / 2
    }

    /// Whether the amount ends in a half day.
    pub const fn has_half(self) -> bool {
        self.0 % 2 != 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The larger of `self` and zero.
    pub fn non_negative(self) -> Self {
        self.max(Self::ZERO)
    }
}

impl fmt::Display for HalfDays {
    /// Shows days with `.5` for a half: `2`, `2.5`, `-0.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let days = abs / 2;
        if abs.is_multiple_of(2) {
            write!(f, "{sign}{days}")
        } else {
            write!(f, "{sign}{days}.5")
        }
    }
}

impl Add for HalfDays {
    type Output = HalfDays;
    fn add(self, rhs: HalfDays) -> HalfDays {
        HalfDays(self.0.saturating_add(rhs.0))
    }
}

impl Sub for HalfDays {
    type Output = HalfDays;
    fn sub(self, rhs: HalfDays) -> HalfDays {
        HalfDays(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for HalfDays {
    type Output = HalfDays;
    fn neg(self) -> HalfDays {
        HalfDays(self.0.saturating_neg())
    }
}

impl AddAssign for HalfDays {
    fn add_assign(&mut self, rhs: HalfDays) {
        *self = *self + rhs;
    }
}

impl SubAssign for HalfDays {
    fn sub_assign(&mut self, rhs: HalfDays) {
        *self = *self - rhs;
    }
}

impl std::iter::Sum for HalfDays {
    fn sum<I: Iterator<Item = HalfDays>>(iter: I) -> HalfDays {
        iter.fold(HalfDays::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(halves: i64, expected: &str) {
        assert_eq!(
            HalfDays::new(halves).to_string(),
            expected,
            "{halves} halves"
        );
    }

    #[test]
    fn half_days_display_as_days() {
        for (halves, expected) in [
            (0, "0"),
            (1, "0.5"),
            (4, "2"),
            (5, "2.5"),
            (-1, "-0.5"),
            (-6, "-3"),
        ] {
            check(halves, expected);
        }
        assert_eq!(HalfDays::from_days(3), HalfDays::new(6));
        assert_eq!(HalfDays::new(5).whole_days(), 2);
        assert!(HalfDays::new(5).has_half());
        assert_eq!(
            HalfDays::new(i64::MAX) + HalfDays::new(1),
            HalfDays::new(i64::MAX)
        );
        assert_eq!(serde_json::to_string(&HalfDays::new(3)).unwrap(), "3");
    }
}
