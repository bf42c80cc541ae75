//! Leave policies: how much of each type of leave an employee gets and how it is counted.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::HalfDays;
use crate::calendar::LeaveType;
use crate::error::ValidationError;

/// Whether weekly off days and holidays that fall inside a leave count against it (the
/// "sandwich rule").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffDayRule {
    /// Off days never count: only working days are taken.
    Excluded,
    /// Off days count when they lie between two working days of the same leave (a Friday
    /// between a Thursday and a Saturday on leave); off days at its edges do not.
    Sandwiched,
    /// Every calendar day counts (maternity leave).
    Counted,
}

/// Who approves a request of a leave type, in order. Serialised `head_then_hr`, `hr_only` or
/// `head_only`; [`ApprovalChain::for_request`](super::ApprovalChain::for_request) turns it into
/// the levels one request needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveApproval {
    /// The head of the employee's department, then HR (the default).
    #[default]
    HeadThenHr,
    /// HR alone.
    HrOnly,
    /// The head of the employee's department alone.
    HeadOnly,
}

impl LeaveApproval {
    /// Every value, in the order above.
    pub const ALL: [LeaveApproval; 3] = [Self::HeadThenHr, Self::HrOnly, Self::HeadOnly];

    /// The value as serialised (`head_then_hr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeadThenHr => "head_then_hr",
            Self::HrOnly => "hr_only",
            Self::HeadOnly => "head_only",
        }
    }
}

impl std::str::FromStr for LeaveApproval {
    type Err = ValidationError;

    /// Parses the serialised names exactly; an error naming `approval` otherwise.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| ValidationError::Invalid {
                field: "approval",
                reason: "must be head_then_hr, hr_only or head_only",
                value: text.to_owned(),
            })
    }
}

impl std::fmt::Display for LeaveApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules of one type of leave. Build with [`LeavePolicy::default_for`] and change fields,
/// then call [`LeavePolicy::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeavePolicy {
    /// The type of leave this policy governs.
    pub leave_type: LeaveType,
    /// Allocated at the start of every year; `None` means no balance limit (unpaid leave).
    pub max_per_year: Option<HalfDays>,
    /// At most this much unused leave is carried into the next year; the rest expires.
    pub max_carry_forward: HalfDays,
    /// Whether a request needs approval; without, it is approved when submitted.
    pub requires_approval: bool,
    /// A medical certificate is required when one request counts more than this.
    pub certificate_required_above: Option<HalfDays>,
    /// One request may count at most this much.
    pub max_consecutive: Option<HalfDays>,
    /// Whether off days inside a leave count.
    pub off_days: OffDayRule,
    /// Whether a request may start or end with half a day.
    pub half_days_allowed: bool,
    /// Whether the yearly allocation of an employee who joined during the year is prorated from
    /// their joining date ([`LeavePolicy::entitlement`]).
    #[serde(default)]
    pub pro_rata: bool,
    /// Who approves its requests (when it needs approval); policies stored before the field
    /// existed read as [`LeaveApproval::HeadThenHr`].
    #[serde(default)]
    pub approval: LeaveApproval,
}

impl LeavePolicy {
    /// The default policy for `leave_type`, following the Bangladesh Labour Act where it says
    /// something: casual 10 days; sick 14 days, a certificate above 2 days; annual 18 days,
    /// carried forward up to 40, off days inside counted (sandwich rule); maternity 112
    /// calendar days; unpaid without limit; compensatory credited when earned (nothing
    /// allocated per year). Other types get 0 days a year, all counted as working days.
    pub fn default_for(leave_type: LeaveType) -> Self {
        let days = |n| Some(HalfDays::from_days(n));
        let base = Self {
            leave_type: leave_type.clone(),
            max_per_year: days(0),
            max_carry_forward: HalfDays::ZERO,
            requires_approval: true,
            certificate_required_above: None,
            max_consecutive: None,
            off_days: OffDayRule::Excluded,
            half_days_allowed: true,
            pro_rata: false,
            approval: LeaveApproval::HeadThenHr,
        };
        match leave_type {
            LeaveType::Casual => Self {
                max_per_year: days(10),
                ..base
            },
            LeaveType::Sick => Self {
                max_per_year: days(14),
                certificate_required_above: days(2),
                half_days_allowed: false,
                ..base
            },
            LeaveType::Annual => Self {
                max_per_year: days(18),
                max_carry_forward: HalfDays::from_days(40),
                off_days: OffDayRule::Sandwiched,
                ..base
            },
            LeaveType::Maternity => Self {
                max_per_year: days(112),
                max_consecutive: days(112),
                off_days: OffDayRule::Counted,
                half_days_allowed: false,
                ..base
            },
            LeaveType::Unpaid => Self {
                max_per_year: None,
                ..base
            },
            LeaveType::Compensatory | LeaveType::Other(_) => base,
        }
    }

    /// What an employee who joined on `joined_on` (if known) is allocated for `year`: nothing for
    /// a policy without a balance limit or with no days a year, or when the employee joined after
    /// the year; with [`LeavePolicy::pro_rata`] and a joining date inside the year, the share of
    /// the year's days from that date to 31 December, rounded to the nearest half day (half
    /// away from zero); else the whole `max_per_year`.
    pub fn entitlement(&self, year: i32, joined_on: Option<NaiveDate>) -> Option<HalfDays> {
        let full = self.max_per_year.filter(|d| d.is_positive())?;
        let first = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let last = NaiveDate::from_ymd_opt(year, 12, 31)?;
        let amount = match joined_on {
            Some(j) if j > last => return None,
            Some(j) if self.pro_rata && j > first => {
                let in_year = (last - first).num_days() + 1;
                let served = (last - j).num_days() + 1;
                // halves × served / in_year, rounded half up, in integers.
                HalfDays::new((2 * full.halves() * served + in_year) / (2 * in_year))
            }
            _ => full,
        };
        amount.is_positive().then_some(amount)
    }

    /// Whether requests are limited by the balance (every type but unpaid, by default).
    pub fn is_limited(&self) -> bool {
        self.max_per_year.is_some()
    }

    /// Checks that no amount is negative and that `max_consecutive`, when set, is positive.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let amounts = [
            ("max_per_year", self.max_per_year),
            ("max_carry_forward", Some(self.max_carry_forward)),
            (
                "certificate_required_above",
                self.certificate_required_above,
            ),
        ];
        for (field, amount) in amounts {
            if let Some(amount) = amount
                && amount.is_negative()
            {
                return Err(out_of_range(field, amount));
            }
        }
        if let Some(max) = self.max_consecutive
            && !max.is_positive()
        {
            return Err(out_of_range("max_consecutive", max));
        }
        Ok(())
    }
}

fn out_of_range(field: &'static str, value: HalfDays) -> ValidationError {
    ValidationError::OutOfRange {
        field,
        value: value.halves(),
        min: 0,
        max: i64::MAX,
    }
}

/// The default policies of the six named leave types, in the order of [`LeaveType`].
pub fn default_policies() -> Vec<LeavePolicy> {
    [
        LeaveType::Casual,
        LeaveType::Sick,
        LeaveType::Annual,
        LeaveType::Maternity,
        LeaveType::Unpaid,
        LeaveType::Compensatory,
    ]
    .into_iter()
    .map(LeavePolicy::default_for)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the defaults of one type: (days a year, carry-forward days, certificate above
    /// days, off-day rule, half days allowed).
    fn check(leave_type: LeaveType, expected: (Option<i64>, i64, Option<i64>, OffDayRule, bool)) {
        let p = LeavePolicy::default_for(leave_type.clone());
        let got = (
            p.max_per_year.map(HalfDays::whole_days),
            p.max_carry_forward.whole_days(),
            p.certificate_required_above.map(HalfDays::whole_days),
            p.off_days,
            p.half_days_allowed,
        );
        assert_eq!(got, expected, "{leave_type}");
        assert_eq!(p.validate(), Ok(()));
        assert!(p.requires_approval);
    }

    #[test]
    fn defaults_follow_the_labour_act() {
        use OffDayRule::*;
        let table = [
            (LeaveType::Casual, (Some(10), 0, None, Excluded, true)),
            (LeaveType::Sick, (Some(14), 0, Some(2), Excluded, false)),
            (LeaveType::Annual, (Some(18), 40, None, Sandwiched, true)),
            (LeaveType::Maternity, (Some(112), 0, None, Counted, false)),
            (LeaveType::Unpaid, (None, 0, None, Excluded, true)),
            (LeaveType::Compensatory, (Some(0), 0, None, Excluded, true)),
        ];
        for (leave_type, expected) in table {
            check(leave_type, expected);
        }
        assert_eq!(default_policies().len(), 6);
        assert!(!LeavePolicy::default_for(LeaveType::Unpaid).is_limited());
    }

    #[test]
    fn entitlements_are_prorated_from_the_joining_date_when_the_policy_says_so() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day);
        let mut casual = LeavePolicy::default_for(LeaveType::Casual); // 10 days
        assert_eq!(
            casual.entitlement(2026, None),
            Some(HalfDays::from_days(10))
        );
        assert_eq!(
            casual.entitlement(2026, d(7, 1)),
            Some(HalfDays::from_days(10))
        );
        assert_eq!(
            casual.entitlement(2025, d(7, 1)),
            None,
            "joined after the year"
        );
        casual.pro_rata = true;
        assert_eq!(
            casual.entitlement(2026, d(1, 1)),
            Some(HalfDays::from_days(10))
        );
        assert_eq!(
            casual.entitlement(2027, d(7, 1)),
            Some(HalfDays::from_days(10))
        );
        // 1 July to 31 December: 184 of 365 days of 20 halves = 10.08 halves → 10 (5 days).
        assert_eq!(casual.entitlement(2026, d(7, 1)), Some(HalfDays::new(10)));
        // 31 December: 1/365 of 20 halves rounds to nothing.
        assert_eq!(casual.entitlement(2026, d(12, 31)), None);
        // 2 October: 91 days → 4.99 halves → 5 halves (2.5 days).
        assert_eq!(casual.entitlement(2026, d(10, 2)), Some(HalfDays::new(5)));
        assert_eq!(
            LeavePolicy::default_for(LeaveType::Unpaid).entitlement(2026, None),
            None
        );
        assert_eq!(
            LeavePolicy::default_for(LeaveType::Compensatory).entitlement(2026, None),
            None
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        let mut p = LeavePolicy::default_for(LeaveType::Casual);
        p.max_carry_forward = HalfDays::new(-1);
        assert!(p.validate().is_err());
        let mut p = LeavePolicy::default_for(LeaveType::Casual);
        p.max_consecutive = Some(HalfDays::ZERO);
        assert!(p.validate().is_err());
        let json = serde_json::to_string(&LeavePolicy::default_for(LeaveType::Annual)).unwrap();
        assert!(json.contains("\"off_days\":\"sandwiched\""), "{json}");
        assert!(json.contains("\"approval\":\"head_then_hr\""), "{json}");
    }

    #[test]
    fn the_approval_chain_reads_and_defaults() {
        for approval in LeaveApproval::ALL {
            let json = serde_json::to_value(approval).unwrap();
            assert_eq!(json, approval.as_str());
            assert_eq!(approval.as_str().parse::<LeaveApproval>(), Ok(approval));
            assert_eq!(approval.to_string(), approval.as_str());
        }
        let err = "sideways".parse::<LeaveApproval>().unwrap_err();
        assert!(err.to_string().contains("approval"), "{err}");
        // A policy stored before the field existed reads as head then HR.
        let mut old = serde_json::to_value(LeavePolicy::default_for(LeaveType::Casual)).unwrap();
        old.as_object_mut().unwrap().remove("approval");
        let read: LeavePolicy = serde_json::from_value(old).unwrap();
        assert_eq!(read.approval, LeaveApproval::HeadThenHr);
        let mut odd = serde_json::to_value(LeavePolicy::default_for(LeaveType::Casual)).unwrap();
        odd["approval"] = "sideways".into();
        assert!(serde_json::from_value::<LeavePolicy>(odd).is_err());
    }
}
