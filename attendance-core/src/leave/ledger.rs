//! The leave balance as an append-only ledger per employee and leave type.
//!
//! Every entry belongs to a leave year (a calendar year) and moves a positive amount:
//! - [`LedgerEntryKind::Allocation`] and [`LedgerEntryKind::Reversal`] add to their year;
//! - [`LedgerEntryKind::Taken`] and [`LedgerEntryKind::Expiry`] take from their year;
//! - [`LedgerEntryKind::CarryForward`] moves days from the year before its own into its own: it
//!   adds to its year and takes from the year before.
//!
//! The balance of a year is the sum of the entries' effects on it, so after a rollover the old
//! year's available balance is zero and the new year starts with the carried days and its
//! allocation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{HalfDays, LeavePolicy};
use crate::calendar::LeaveType;
use crate::employee::EmployeeCode;
use crate::error::{ValidationError, non_empty_trimmed};

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryKind {
    /// Days granted for the year (or earned, for compensatory leave).
    Allocation,
    /// Unused days brought from the previous year.
    CarryForward,
    /// Days taken by an approved request.
    Taken,
    /// Days given back when an approved request is cancelled.
    Reversal,
    /// Unused days lost at the year's end.
    Expiry,
}

/// One movement of the balance. Build with [`LedgerEntry::new`], which checks the amount and the
/// reference; [`LeaveLedger`] refuses entries that would not pass it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// What happened.
    pub kind: LedgerEntryKind,
    /// The leave year the entry belongs to.
    pub year: i32,
    /// The date it was recorded.
    pub date: NaiveDate,
    /// How much, always positive; `kind` says in which direction.
    pub amount: HalfDays,
    /// What caused it: a request id, `rollover 2025->2026`, an HR note.
    pub reference: String,
}

impl LedgerEntry {
    /// An entry of `amount` (which must be positive) and a reference of 1 to 200 characters.
    pub fn new(
        kind: LedgerEntryKind,
        year: i32,
        date: NaiveDate,
        amount: HalfDays,
        reference: &str,
    ) -> Result<Self, ValidationError> {
        let entry = Self {
            kind,
            year,
            date,
            amount,
            reference: reference.trim().to_owned(),
        };
        entry.validate()?;
        Ok(entry)
    }

    /// Checks that the amount is positive and the reference is 1 to 200 characters.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !self.amount.is_positive() {
            return Err(ValidationError::OutOfRange {
                field: "amount",
                value: self.amount.halves(),
                min: 1,
                max: i64::MAX,
            });
        }
        non_empty_trimmed("reference", &self.reference, 200)?;
        Ok(())
    }

    /// The signed effect of this entry on the balance of `year`.
    pub fn effect_on(&self, year: i32) -> HalfDays {
        let own = self.year == year;
        match self.kind {
            LedgerEntryKind::Allocation | LedgerEntryKind::Reversal if own => self.amount,
            LedgerEntryKind::Taken | LedgerEntryKind::Expiry if own => -self.amount,
            LedgerEntryKind::CarryForward if own => self.amount,
            LedgerEntryKind::CarryForward if year.checked_add(1) == Some(self.year) => -self.amount,
            _ => HalfDays::ZERO,
        }
    }
}

/// A ledger operation that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// An entry did not validate.
    #[error("invalid ledger entry: {0}")]
    InvalidEntry(#[from] ValidationError),
    /// The policy is for another leave type than the ledger.
    #[error("the policy is for {policy} leave but the ledger is for {ledger} leave")]
    PolicyMismatch {
        /// The ledger's type.
        ledger: LeaveType,
        /// The policy's type.
        policy: LeaveType,
    },
    /// The year has already been rolled over.
    #[error("the year {year} has already been rolled over")]
    AlreadyRolledOver {
        /// The year rolled over.
        year: i32,
    },
    /// The year is at the end of the representable range.
    #[error("the year {year} cannot be rolled over")]
    YearOutOfRange {
        /// The year.
        year: i32,
    },
}

/// The balance of one leave year, every component shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveBalance {
    /// The leave year.
    pub year: i32,
    /// Allocated for the year.
    pub allocated: HalfDays,
    /// Carried in from the year before.
    pub carried_forward: HalfDays,
    /// Carried out into the next year.
    pub carried_out: HalfDays,
    /// Taken by approved requests.
    pub taken: HalfDays,
    /// Given back by cancelled requests.
    pub reversed: HalfDays,
    /// Expired.
    pub expired: HalfDays,
    /// Used: taken − reversed.
    pub used: HalfDays,
    /// Available: allocated + carried forward − used − expired − carried out. Equals the sum of
    /// the entries' effects on the year.
    pub available: HalfDays,
    /// Asked for by pending requests, not yet debited.
    pub pending: HalfDays,
    /// Available − pending: what a new request may still ask for.
    pub available_after_pending: HalfDays,
}

/// The append-only ledger of one employee's leave of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveLedger {
    employee: EmployeeCode,
    leave_type: LeaveType,
    entries: Vec<LedgerEntry>,
}

impl LeaveLedger {
    /// An empty ledger.
    pub fn new(employee: EmployeeCode, leave_type: LeaveType) -> Self {
        Self {
            employee,
            leave_type,
            entries: Vec::new(),
        }
    }

    /// A ledger holding `entries` (as a store loads them); returns an error for the first entry
    /// that does not validate.
    pub fn from_entries(
        employee: EmployeeCode,
        leave_type: LeaveType,
        entries: Vec<LedgerEntry>,
    ) -> Result<Self, LedgerError> {
        for entry in &entries {
            entry.validate()?;
        }
        Ok(Self {
            employee,
            leave_type,
            entries,
        })
    }

    /// The employee.
    pub fn employee(&self) -> &EmployeeCode {
        &self.employee
    }

    /// The leave type.
    pub fn leave_type(&self) -> &LeaveType {
        &self.leave_type
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// Appends `entries`, all or none: returns an error, appending nothing, if one does not
    /// validate.
    pub fn append(
        &mut self,
        entries: impl IntoIterator<Item = LedgerEntry>,
    ) -> Result<(), LedgerError> {
        let entries: Vec<LedgerEntry> = entries.into_iter().collect();
        for entry in &entries {
            entry.validate()?;
        }
        self.entries.extend(entries);
        Ok(())
    }

    /// What is available in `year`: the sum of the entries' effects on it.
    pub fn available(&self, year: i32) -> HalfDays {
        self.entries.iter().map(|e| e.effect_on(year)).sum()
    }

    /// The balance of `year`, with `pending` (the amount of pending requests in that year, see
    /// [`pending_units`](super::pending_units)) shown apart.
    pub fn balance(&self, year: i32, pending: HalfDays) -> LeaveBalance {
        let sum = |kind: LedgerEntryKind, of_year: Option<i32>| -> HalfDays {
            self.entries
                .iter()
                .filter(|e| e.kind == kind && Some(e.year) == of_year)
                .map(|e| e.amount)
                .sum()
        };
        let allocated = sum(LedgerEntryKind::Allocation, Some(year));
        let carried_forward = sum(LedgerEntryKind::CarryForward, Some(year));
        let carried_out = sum(LedgerEntryKind::CarryForward, year.checked_add(1));
        let taken = sum(LedgerEntryKind::Taken, Some(year));
        let reversed = sum(LedgerEntryKind::Reversal, Some(year));
        let expired = sum(LedgerEntryKind::Expiry, Some(year));
        let used = taken - reversed;
        let available = allocated + carried_forward - used - expired - carried_out;
        LeaveBalance {
            year,
            allocated,
            carried_forward,
            carried_out,
            taken,
            reversed,
            expired,
            used,
            available,
            pending,
            available_after_pending: available - pending,
        }
    }

    /// The reference of the allocation [`LeaveLedger::yearly_allocation`] writes for `year`.
    pub fn yearly_allocation_reference(year: i32) -> String {
        format!("yearly allocation {year}")
    }

    /// Whether `year`'s yearly entitlement is in the ledger already: an allocation referenced
    /// [`LeaveLedger::yearly_allocation_reference`], or the one a rollover of the year before
    /// wrote ([`LeaveLedger::rollover`]).
    pub fn has_yearly_allocation(&self, year: i32) -> bool {
        let yearly = Self::yearly_allocation_reference(year);
        let rolled = year.checked_sub(1).map(Self::rollover_reference);
        self.entries.iter().any(|e| {
            e.kind == LedgerEntryKind::Allocation
                && e.year == year
                && (e.reference == yearly || Some(&e.reference) == rolled.as_ref())
        })
    }

    /// The allocation of `year`'s entitlement under `policy` for an employee who joined on
    /// `joined_on` ([`LeavePolicy::entitlement`]), dated `on`; `None` when there is nothing to
    /// allocate or it is allocated already ([`LeaveLedger::has_yearly_allocation`]), so
    /// allocating a year twice gives the balance of allocating it once.
    pub fn yearly_allocation(
        &self,
        policy: &LeavePolicy,
        year: i32,
        joined_on: Option<NaiveDate>,
        on: NaiveDate,
    ) -> Result<Option<LedgerEntry>, LedgerError> {
        if policy.leave_type != self.leave_type {
            return Err(LedgerError::PolicyMismatch {
                ledger: self.leave_type.clone(),
                policy: policy.leave_type.clone(),
            });
        }
        if self.has_yearly_allocation(year) {
            return Ok(None);
        }
        let Some(amount) = policy.entitlement(year, joined_on) else {
            return Ok(None);
        };
        Ok(Some(LedgerEntry::new(
            LedgerEntryKind::Allocation,
            year,
            on,
            amount,
            &Self::yearly_allocation_reference(year),
        )?))
    }

    /// The reference of the entries written by rolling `year` over.
    pub fn rollover_reference(year: i32) -> String {
        format!("rollover {year}->{}", i64::from(year) + 1)
    }

    /// The entries that close `year` and open the next, to append: the unused balance of `year`
    /// is carried forward up to `policy.max_carry_forward`, the rest expires, and the next year
    /// gets `policy.max_per_year` unless it holds its yearly allocation already
    /// ([`LeaveLedger::has_yearly_allocation`]). Zero amounts write no entry, and a policy without a balance
    /// limit writes nothing. Entries are dated `on` and referenced
    /// [`LeaveLedger::rollover_reference`]; rolling a year over twice is refused.
    pub fn rollover(
        &self,
        policy: &LeavePolicy,
        year: i32,
        on: NaiveDate,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        if policy.leave_type != self.leave_type {
            return Err(LedgerError::PolicyMismatch {
                ledger: self.leave_type.clone(),
                policy: policy.leave_type.clone(),
            });
        }
        let next = year
            .checked_add(1)
            .ok_or(LedgerError::YearOutOfRange { year })?;
        let reference = Self::rollover_reference(year);
        if self.entries.iter().any(|e| e.reference == reference) {
            return Err(LedgerError::AlreadyRolledOver { year });
        }
        let Some(allowance) = policy.max_per_year else {
            return Ok(Vec::new());
        };
        let unused = self.available(year).non_negative();
        let carry = unused.min(policy.max_carry_forward.non_negative());
        let expire = unused - carry;
        // A next year allocated already (by `yearly_allocation`) gets no second allowance.
        let allowance = if self.has_yearly_allocation(next) {
            HalfDays::ZERO
        } else {
            allowance
        };
        let mut entries = Vec::new();
        for (kind, of_year, amount) in [
            (LedgerEntryKind::Expiry, year, expire),
            (LedgerEntryKind::CarryForward, next, carry),
            (LedgerEntryKind::Allocation, next, allowance),
        ] {
            if amount.is_positive() {
                entries.push(LedgerEntry::new(kind, of_year, on, amount, &reference)?);
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use LedgerEntryKind::*;

    fn on() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    fn entry(kind: LedgerEntryKind, year: i32, halves: i64) -> LedgerEntry {
        LedgerEntry::new(kind, year, on(), HalfDays::new(halves), "test").unwrap()
    }

    fn ledger(entries: Vec<LedgerEntry>) -> LeaveLedger {
        LeaveLedger::from_entries(
            EmployeeCode::parse("EMP1").unwrap(),
            LeaveType::Annual,
            entries,
        )
        .unwrap()
    }

    /// Checks the balance of 2025 for `entries`: (allocated, carried in, carried out, used,
    /// expired, available), all in half days.
    fn check(entries: Vec<LedgerEntry>, expected: (i64, i64, i64, i64, i64, i64)) {
        let b = ledger(entries.clone()).balance(2025, HalfDays::new(3));
        let got = (
            b.allocated.halves(),
            b.carried_forward.halves(),
            b.carried_out.halves(),
            b.used.halves(),
            b.expired.halves(),
            b.available.halves(),
        );
        assert_eq!(got, expected, "{entries:?}");
        assert_eq!(b.pending, HalfDays::new(3));
        assert_eq!(b.available_after_pending, b.available - HalfDays::new(3));
    }

    #[test]
    fn balance_table() {
        check(vec![], (0, 0, 0, 0, 0, 0));
        check(vec![entry(Allocation, 2025, 36)], (36, 0, 0, 0, 0, 36));
        check(
            vec![entry(Allocation, 2025, 36), entry(Taken, 2025, 5)],
            (36, 0, 0, 5, 0, 31),
        );
        check(
            vec![
                entry(Allocation, 2025, 36),
                entry(Taken, 2025, 5),
                entry(Reversal, 2025, 5),
            ],
            (36, 0, 0, 0, 0, 36),
        );
        check(
            vec![
                entry(CarryForward, 2025, 10),
                entry(Allocation, 2025, 36),
                entry(Expiry, 2025, 4),
            ],
            (36, 10, 0, 0, 4, 42),
        );
        // Carried out of 2025 into 2026.
        check(
            vec![
                entry(Allocation, 2025, 36),
                entry(CarryForward, 2026, 30),
                entry(Expiry, 2025, 6),
            ],
            (36, 0, 30, 0, 6, 0),
        );
        // Other years do not count.
        check(
            vec![entry(Allocation, 2024, 36), entry(Taken, 2026, 2)],
            (0, 0, 0, 0, 0, 0),
        );
    }

    #[test]
    fn entries_must_be_positive_and_referenced() {
        assert!(LedgerEntry::new(Taken, 2025, on(), HalfDays::ZERO, "x").is_err());
        assert!(LedgerEntry::new(Taken, 2025, on(), HalfDays::new(-2), "x").is_err());
        assert!(LedgerEntry::new(Taken, 2025, on(), HalfDays::new(2), " ").is_err());
        let mut bad = entry(Taken, 2025, 2);
        bad.amount = HalfDays::ZERO;
        let mut l = ledger(vec![]);
        assert!(l.append([entry(Taken, 2025, 2), bad.clone()]).is_err());
        assert!(l.entries().is_empty(), "nothing appended");
        assert!(
            LeaveLedger::from_entries(l.employee().clone(), LeaveType::Annual, vec![bad]).is_err()
        );
    }

    #[test]
    fn rollover_carries_up_to_the_cap_and_expires_the_rest() {
        let policy = LeavePolicy::default_for(LeaveType::Annual); // 18 days, cap 40
        // 18 allocated + 30 carried in − 2 taken = 46 unused: 40 carried, 6 expire.
        let mut l = ledger(vec![
            entry(CarryForward, 2025, 60),
            entry(Allocation, 2025, 36),
            entry(Taken, 2025, 4),
        ]);
        let written = l.rollover(&policy, 2025, on()).unwrap();
        let summary: Vec<_> = written
            .iter()
            .map(|e| (e.kind, e.year, e.amount.halves()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Expiry, 2025, 12),
                (CarryForward, 2026, 80),
                (Allocation, 2026, 36)
            ]
        );
        l.append(written).unwrap();
        assert_eq!(l.available(2025), HalfDays::ZERO);
        assert_eq!(l.available(2026), HalfDays::new(116));
        assert_eq!(
            l.rollover(&policy, 2025, on()),
            Err(LedgerError::AlreadyRolledOver { year: 2025 })
        );
        let casual = LeavePolicy::default_for(LeaveType::Casual);
        assert!(matches!(
            l.rollover(&casual, 2026, on()),
            Err(LedgerError::PolicyMismatch { .. })
        ));
        // Casual leave is not carried: everything unused expires.
        let l = LeaveLedger::from_entries(
            EmployeeCode::parse("EMP1").unwrap(),
            LeaveType::Casual,
            vec![entry(Allocation, 2025, 20)],
        )
        .unwrap();
        let kinds: Vec<_> = l
            .rollover(&casual, 2025, on())
            .unwrap()
            .iter()
            .map(|e| (e.kind, e.amount.halves()))
            .collect();
        assert_eq!(kinds, vec![(Expiry, 20), (Allocation, 20)]);
        // Unpaid leave has no balance: nothing to roll over.
        let unpaid = LeavePolicy::default_for(LeaveType::Unpaid);
        let l = LeaveLedger::new(EmployeeCode::parse("EMP1").unwrap(), LeaveType::Unpaid);
        assert_eq!(l.rollover(&unpaid, 2025, on()), Ok(vec![]));
    }

    #[test]
    fn a_year_is_allocated_once_whichever_way_it_is_asked() {
        let casual = LeavePolicy::default_for(LeaveType::Casual); // 10 days
        let mut l = LeaveLedger::new(EmployeeCode::parse("EMP1").unwrap(), LeaveType::Casual);
        let first = l.yearly_allocation(&casual, 2026, None, on()).unwrap();
        let first = first.expect("nothing allocated yet");
        assert_eq!(
            (first.kind, first.year, first.amount.halves()),
            (Allocation, 2026, 20)
        );
        l.append([first]).unwrap();
        assert_eq!(l.yearly_allocation(&casual, 2026, None, on()), Ok(None));
        // The rollover into an allocated year carries and expires but allocates nothing more.
        let rolled = l.rollover(&casual, 2025, on()).unwrap();
        assert!(rolled.iter().all(|e| e.kind != Allocation), "{rolled:?}");
        // A year opened by a rollover counts as allocated.
        let rolled = l.rollover(&casual, 2026, on()).unwrap();
        l.append(rolled).unwrap();
        assert!(l.has_yearly_allocation(2027));
        assert_eq!(l.yearly_allocation(&casual, 2027, None, on()), Ok(None));
        assert_eq!(l.available(2027), HalfDays::new(20));
        let sick = LeavePolicy::default_for(LeaveType::Sick);
        assert!(matches!(
            l.yearly_allocation(&sick, 2028, None, on()),
            Err(LedgerError::PolicyMismatch { .. })
        ));
    }

    fn kinds() -> impl Strategy<Value = LedgerEntryKind> {
        prop_oneof![
            Just(Allocation),
            Just(CarryForward),
            Just(Taken),
            Just(Reversal),
            Just(Expiry)
        ]
    }

    fn entries() -> impl Strategy<Value = Vec<LedgerEntry>> {
        proptest::collection::vec((kinds(), 2024i32..2027, 1i64..60), 0..30).prop_map(|v| {
            v.into_iter()
                .map(|(kind, year, halves)| entry(kind, year, halves))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_ledger_sum_equals_the_reported_balance(entries in entries(), year in 2023i32..2028) {
            let l = ledger(entries);
            let b = l.balance(year, HalfDays::ZERO);
            let sum: HalfDays = l.entries().iter().map(|e| e.effect_on(year)).sum();
            prop_assert_eq!(b.available, sum);
            prop_assert_eq!(
                b.available,
                b.allocated + b.carried_forward - b.taken + b.reversed - b.expired - b.carried_out
            );
        }

        #[test]
        fn carry_forward_never_exceeds_its_cap(
            entries in entries(),
            cap in 0i64..100,
            allowance in 0i64..60,
        ) {
            let mut policy = LeavePolicy::default_for(LeaveType::Annual);
            policy.max_carry_forward = HalfDays::new(cap);
            policy.max_per_year = Some(HalfDays::new(allowance));
            let mut l = ledger(entries);
            let before_next = l.available(2026);
            let unused = l.available(2025);
            let written = l.rollover(&policy, 2025, on()).unwrap();
            let carried: HalfDays = written.iter().filter(|e| e.kind == CarryForward).map(|e| e.amount).sum();
            prop_assert!(carried.halves() <= cap);
            l.append(written).unwrap();
            if !unused.is_negative() {
                prop_assert_eq!(l.available(2025), HalfDays::ZERO);
            }
            prop_assert_eq!(l.available(2026), before_next + carried + HalfDays::new(allowance));
        }
    }
}
