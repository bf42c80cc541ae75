//! Holidays: adding, moving and removing one, and recomputing its old and new dates. Each
//! change is audited (`holiday_created`, `holiday_updated`, `holiday_deleted`, target
//! `holiday:{id}`, the holiday before and after) as soon as it is stored, before the recompute.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::{AttendanceService, HOLIDAY_LOOKBACK_DAYS, ServiceError};
use crate::access::{Action, Actor, authorize};
use crate::audit::{AuditAction, NewAuditEntry};
use crate::holiday::Holiday;
use crate::store::StoredHoliday;

fn value(holiday: &Holiday) -> serde_json::Value {
    serde_json::to_value(holiday).unwrap_or(serde_json::Value::Null)
}

fn target(id: i64) -> String {
    format!("holiday:{id}")
}

/// What a holiday change did.
#[derive(Debug, Clone, PartialEq)]
pub struct HolidayChange {
    /// The holiday as stored now (`None` after a deletion).
    pub holiday: Option<StoredHoliday>,
    /// How many daily records were recomputed.
    pub recomputed: usize,
}

impl AttendanceService {
    /// Adds a holiday for `actor` (username `by`, for the audit trail) and recomputes its dates
    /// (see the module docs for the bounds).
    pub async fn create_holiday(
        &self,
        actor: &Actor,
        by: &str,
        holiday: &Holiday,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let stored = self.holidays.create_holiday(holiday).await?;
        self.audit(
            NewAuditEntry::new(now, by, AuditAction::HolidayCreated, &target(stored.id))
                .after(value(holiday)),
        )
        .await;
        let recomputed = self.recompute_holidays(&[holiday], now).await?;
        Ok(HolidayChange {
            holiday: Some(stored),
            recomputed,
        })
    }

    /// Replaces holiday `id` for `actor` (username `by`) and recomputes the old and the new
    /// dates.
    pub async fn update_holiday(
        &self,
        actor: &Actor,
        by: &str,
        id: i64,
        holiday: &Holiday,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let old = self.holidays.update_holiday(id, holiday).await?;
        self.audit(
            NewAuditEntry::new(now, by, AuditAction::HolidayUpdated, &target(id))
                .before(value(&old))
                .after(value(holiday)),
        )
        .await;
        let recomputed = self.recompute_holidays(&[&old, holiday], now).await?;
        Ok(HolidayChange {
            holiday: Some(StoredHoliday {
                id,
                holiday: holiday.clone(),
            }),
            recomputed,
        })
    }

    /// Removes holiday `id` for `actor` (username `by`) and recomputes its dates.
    pub async fn delete_holiday(
        &self,
        actor: &Actor,
        by: &str,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let old = self.holidays.delete_holiday(id).await?;
        self.audit(
            NewAuditEntry::new(now, by, AuditAction::HolidayDeleted, &target(id))
                .before(value(&old)),
        )
        .await;
        let recomputed = self.recompute_holidays(&[&old], now).await?;
        Ok(HolidayChange {
            holiday: None,
            recomputed,
        })
    }

    async fn recompute_holidays(
        &self,
        changed: &[&Holiday],
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let site = self.site().await?;
        let today = site.today(now);
        let earliest = today
            .checked_sub_days(Days::new(HOLIDAY_LOOKBACK_DAYS))
            .unwrap_or(today);
        let dates: BTreeSet<NaiveDate> = changed
            .iter()
            .flat_map(|h| h.dates_between(earliest, today))
            .collect();
        if dates.is_empty() {
            return Ok(0);
        }
        let work = self.active_employees_on(&dates).await?;
        Ok(self
            .recompute_work(&site, work, now, false)
            .await?
            .records
            .len())
    }
}
