//! Leave year-end: every active employee's yearly entitlement (prorated from `joined_on` where
//! the policy says so), and the rollover of a year's unused balance (carried forward within the
//! policy's cap, the rest expired). Both are idempotent — a second run writes nothing — and each
//! employee's entries are committed at the version of the leave account they were computed from,
//! so an approval racing with a rollover makes the rollover compute again from what is stored
//! then, and never overdraws.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::{AttendanceService, LEAVE_ATTEMPTS, ServiceError};
use crate::access::{Action, Actor, Role, authorize};
use crate::audit::{AuditAction, AuditQuery, NewAuditEntry};
use crate::calendar::LeaveType;
use crate::employee::{Department, Employee};
use crate::leave::{LeaveLedger, LeavePolicy, LedgerEntry, LedgerEntryKind, default_policies};
use crate::store::{LeaveAccount, LeaveChange, StoreError};

/// Which employees and leave types a year-end run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearEndScope {
    /// Only this department's employees (`None`: every department).
    pub department: Option<Department>,
    /// Only this leave type (`None`: every policy's type).
    pub leave_type: Option<LeaveType>,
}

/// What a year-end run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct YearEndOutcome {
    /// The year allocated, or the year rolled over.
    pub year: i32,
    /// Active employees looked at.
    pub employees: usize,
    /// Employees whose ledgers got entries.
    pub changed: usize,
    /// Ledger entries written.
    pub entries: usize,
    /// Days written per leave type and entry kind (`Casual` → `allocation` → 10.0).
    pub days: BTreeMap<String, BTreeMap<String, f64>>,
}

impl YearEndOutcome {
    fn count(&mut self, written: &[(LeaveType, LedgerEntry)]) {
        if written.is_empty() {
            return;
        }
        self.changed += 1;
        self.entries += written.len();
        for (leave_type, entry) in written {
            let kind = match entry.kind {
                LedgerEntryKind::Allocation => "allocation",
                LedgerEntryKind::CarryForward => "carry_forward",
                LedgerEntryKind::Taken => "taken",
                LedgerEntryKind::Reversal => "reversal",
                LedgerEntryKind::Expiry => "expiry",
            };
            *self
                .days
                .entry(leave_type.name().to_owned())
                .or_default()
                .entry(kind.to_owned())
                .or_default() += entry.amount.halves() as f64 / 2.0;
        }
    }
}

/// Who runs a year-end pass, over what, and how it is audited.
struct YearEndRun<'a> {
    actor: &'a Actor,
    by: &'a str,
    year: i32,
    scope: &'a YearEndScope,
    now: DateTime<Utc>,
    action: AuditAction,
}

/// The audit target of a year-end run: `leave-year:2027`.
pub fn leave_year_target(year: i32) -> String {
    format!("leave-year:{year}")
}

/// How many years back [`AttendanceService::start_of_year`] looks for a bulk allocation.
pub const BULK_YEARS_LOOKED_BACK: i32 = 5;

/// The audit actor of the runtime's own year-end runs.
pub const SYSTEM_ACTOR: &str = "system";

/// How many employees a year-end run handles between two calls of its progress callback.
pub const YEAR_END_PROGRESS_EVERY: usize = 200;

impl AttendanceService {
    /// Every policy that applies: the stored ones and the statutory default of each named type
    /// with none stored (`true` beside a default, as [`crate::store::leave_policy_or_default`]
    /// says it); named types first in their usual order, then the site's own types.
    pub async fn effective_leave_policies(&self) -> Result<Vec<(LeavePolicy, bool)>, ServiceError> {
        let mut stored = self.leave.leave_policies().await?;
        let mut policies: Vec<(LeavePolicy, bool)> = default_policies()
            .into_iter()
            .map(
                |d| match stored.iter().position(|s| s.leave_type == d.leave_type) {
                    Some(i) => (stored.remove(i), false),
                    None => (d, true),
                },
            )
            .collect();
        policies.extend(stored.into_iter().map(|s| (s, false)));
        Ok(policies)
    }

    /// Allocates `year`'s entitlement of every policy in `scope` to every active employee in
    /// `scope` ([`LeaveLedger::yearly_allocation`]: prorated from `joined_on` where the policy
    /// says so, nothing for a year allocated already), as `actor` (HR or a super admin,
    /// [`Action::ManageLeavePolicies`]), username `by`, at `now`. `progress(done, total)` is
    /// called every [`YEAR_END_PROGRESS_EVERY`] employees and at the end. Audited
    /// ([`AuditAction::LeaveAllocated`], target [`leave_year_target`]; also when nothing was left
    /// to write, so the trail shows the year was allocated).
    pub async fn allocate_year(
        &self,
        actor: &Actor,
        by: &str,
        year: i32,
        scope: &YearEndScope,
        now: DateTime<Utc>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<YearEndOutcome, ServiceError> {
        let run = YearEndRun {
            actor,
            by,
            year,
            scope,
            now,
            action: AuditAction::LeaveAllocated,
        };
        self.run_year_end(run, progress, |employee, account, policies, today| {
            let mut entries = Vec::new();
            for policy in policies {
                let ledger = account.ledger(&policy.leave_type);
                if let Some(entry) =
                    ledger.yearly_allocation(policy, year, employee.joined_on, today)?
                {
                    entries.push((policy.leave_type.clone(), entry));
                }
            }
            Ok(entries)
        })
        .await
    }

    /// Rolls `from_year` over for every active employee in `scope`: the unused balance of each
    /// limited policy's type is carried into the next year up to the policy's
    /// `max_carry_forward` and the rest expires ([`LeaveLedger::rollover`]; the next year's
    /// allocation is [`AttendanceService::allocate_year`]'s, so a rollover writes none). A year
    /// rolled over already is left as it is. Who may, progress and audit
    /// ([`AuditAction::LeaveRolledOver`]) as for [`AttendanceService::allocate_year`].
    pub async fn rollover_year(
        &self,
        actor: &Actor,
        by: &str,
        from_year: i32,
        scope: &YearEndScope,
        now: DateTime<Utc>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<YearEndOutcome, ServiceError> {
        let run = YearEndRun {
            actor,
            by,
            year: from_year,
            scope,
            now,
            action: AuditAction::LeaveRolledOver,
        };
        let reference = LeaveLedger::rollover_reference(from_year);
        self.run_year_end(run, progress, |_, account, policies, today| {
            let mut entries = Vec::new();
            for policy in policies.iter().filter(|p| p.is_limited()) {
                let ledger = account.ledger(&policy.leave_type);
                if ledger.entries().iter().any(|e| e.reference == reference) {
                    continue;
                }
                let rolled = ledger.rollover(policy, from_year, today)?;
                entries.extend(
                    rolled
                        .into_iter()
                        .filter(|e| e.kind != LedgerEntryKind::Allocation)
                        .map(|e| (policy.leave_type.clone(), e)),
                );
            }
            Ok(entries)
        })
        .await
    }

    /// Runs one year-end pass: authorises `run.actor`, then for every active employee in
    /// scope commits what `entries_for` computes from their account (see
    /// [`AttendanceService::commit_year_end`]), reports progress and audits the outcome.
    async fn run_year_end(
        &self,
        run: YearEndRun<'_>,
        progress: &(dyn Fn(usize, usize) + Sync),
        entries_for: impl Fn(
            &Employee,
            &LeaveAccount,
            &[LeavePolicy],
            NaiveDate,
        ) -> Result<Vec<(LeaveType, LedgerEntry)>, ServiceError>,
    ) -> Result<YearEndOutcome, ServiceError> {
        authorize(run.actor, Action::ManageLeavePolicies, None)?;
        let today = self.site().await?.today(run.now);
        let policies = self.year_end_policies(run.scope).await?;
        let employees = self.year_end_employees(run.scope).await?;
        let mut outcome = YearEndOutcome {
            year: run.year,
            ..YearEndOutcome::default()
        };
        for (done, employee) in employees.iter().enumerate() {
            let written = self
                .commit_year_end(employee, |account| {
                    entries_for(employee, account, &policies, today)
                })
                .await?;
            outcome.count(&written);
            report_progress(progress, done + 1, employees.len());
        }
        outcome.employees = employees.len();
        self.audit_year_end(run.action, run.by, &outcome, run.scope, run.now)
            .await;
        Ok(outcome)
    }

    /// The year-end job of a running installation, called at start and then now and again (the
    /// engine does so hourly): when the site's year (at `now`) has no bulk allocation yet
    /// (no [`AuditAction::LeaveAllocated`] entry with its [`leave_year_target`]) but one of the
    /// [`BULK_YEARS_LOOKED_BACK`] years before had one, rolls the
    /// year before over and allocates this one, as [`SYSTEM_ACTOR`]. An installation that has
    /// never allocated a year in bulk is left alone (HR allocates its first year through the
    /// API), so a new installation's balances change only when someone asks. Returns the two
    /// outcomes when it ran.
    pub async fn start_of_year(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<(YearEndOutcome, YearEndOutcome)>, ServiceError> {
        let year = self.site().await?.today(now).year();
        let done = |year: i32| AuditQuery {
            action: Some(AuditAction::LeaveAllocated),
            target: Some(leave_year_target(year)),
            ..AuditQuery::default()
        };
        if self.oversight.query_audit(&done(year), 0, 1).await?.count > 0 {
            return Ok(None);
        }
        let mut allocates_yearly = false;
        for back in 1..=BULK_YEARS_LOOKED_BACK {
            let Some(earlier) = year.checked_sub(back) else {
                break;
            };
            if self
                .oversight
                .query_audit(&done(earlier), 0, 1)
                .await?
                .count
                > 0
            {
                allocates_yearly = true;
                break;
            }
        }
        if !allocates_yearly {
            return Ok(None);
        }
        let system = Actor::new(Role::SuperAdmin, None, None);
        let scope = YearEndScope::default();
        let quiet = |_: usize, _: usize| {};
        let rolled = match year.checked_sub(1) {
            Some(previous) => {
                self.rollover_year(&system, SYSTEM_ACTOR, previous, &scope, now, &quiet)
                    .await?
            }
            None => YearEndOutcome::default(),
        };
        let allocated = self
            .allocate_year(&system, SYSTEM_ACTOR, year, &scope, now, &quiet)
            .await?;
        Ok(Some((rolled, allocated)))
    }

    /// The policies of `scope` (every effective policy, or the one of its leave type).
    async fn year_end_policies(
        &self,
        scope: &YearEndScope,
    ) -> Result<Vec<LeavePolicy>, ServiceError> {
        let mut policies: Vec<LeavePolicy> = self
            .effective_leave_policies()
            .await?
            .into_iter()
            .map(|(policy, _)| policy)
            .collect();
        if let Some(only) = &scope.leave_type {
            policies.retain(|p| &p.leave_type == only);
            if policies.is_empty() {
                return Err(StoreError::NotFound {
                    entity: "leave policy",
                    key: only.to_string(),
                }
                .into());
            }
        }
        Ok(policies)
    }

    /// The active employees of `scope`, by code.
    async fn year_end_employees(
        &self,
        scope: &YearEndScope,
    ) -> Result<Vec<Employee>, ServiceError> {
        let mut employees = self
            .employees
            .list_employees(scope.department.clone())
            .await?;
        employees.retain(|e| e.active);
        Ok(employees)
    }

    /// Commits the entries `entries_for` computes from `employee`'s account, at the version
    /// read; computes again when another change commits first (up to [`LEAVE_ATTEMPTS`]).
    /// Returns what was written (nothing when `entries_for` gives nothing).
    async fn commit_year_end(
        &self,
        employee: &Employee,
        entries_for: impl Fn(&LeaveAccount) -> Result<Vec<(LeaveType, LedgerEntry)>, ServiceError>,
    ) -> Result<Vec<(LeaveType, LedgerEntry)>, ServiceError> {
        for _ in 0..LEAVE_ATTEMPTS {
            let account = self.leave.leave_account(&employee.employee_id).await?;
            let entries = entries_for(&account)?;
            if entries.is_empty() {
                return Ok(entries);
            }
            let change = LeaveChange {
                employee: employee.employee_id.clone(),
                expected_version: account.version,
                requests: Vec::new(),
                entries: entries.clone(),
            };
            match self.leave.commit_leave(change).await {
                Ok(_) => return Ok(entries),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended {
            employee: employee.employee_id.to_string(),
            attempts: LEAVE_ATTEMPTS,
        })
    }

    async fn audit_year_end(
        &self,
        action: AuditAction,
        by: &str,
        outcome: &YearEndOutcome,
        scope: &YearEndScope,
        now: DateTime<Utc>,
    ) {
        let after = json!({
            "year": outcome.year,
            "employees": outcome.employees,
            "changed": outcome.changed,
            "entries": outcome.entries,
            "days": outcome.days,
            "department": scope.department.as_ref().map(ToString::to_string),
            "leave_type": scope.leave_type.as_ref().map(|t| t.name().to_owned()),
        });
        self.audit(
            NewAuditEntry::new(now, by, action, &leave_year_target(outcome.year)).after(after),
        )
        .await;
    }
}

fn report_progress(progress: &(dyn Fn(usize, usize) + Sync), done: usize, total: usize) {
    if done.is_multiple_of(YEAR_END_PROGRESS_EVERY) || done == total {
        progress(done, total);
    }
}
