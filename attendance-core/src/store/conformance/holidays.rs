//! Holidays: round trip with the ids the store gives.

use chrono::NaiveDate;

use super::fixtures::id;
use super::{CheckResult, fail};
use crate::holiday::{Holiday, HolidayType, NewHoliday};
use crate::store::{Store, StoreError};

fn holiday(name: &str, start: (u32, u32), days: u64, recurring: bool) -> Result<Holiday, String> {
    let first = NaiveDate::from_ymd_opt(2026, start.0, start.1).unwrap_or_default();
    id(Holiday::parse(&NewHoliday {
        name: name.into(),
        start: first,
        end: first.checked_add_days(chrono::Days::new(days - 1)),
        recurring_yearly: recurring,
        observed: true,
        holiday_type: if recurring {
            HolidayType::Public
        } else {
            HolidayType::Company
        },
    }))
}

pub(super) async fn holidays_round_trip_with_ids<S: Store + ?Sized>(store: &S) -> CheckResult {
    let victory = holiday("Victory Day", (12, 16), 1, true)?;
    let eid = holiday("Eid ul-Fitr", (3, 19), 3, false)?;
    let a = store.create_holiday(&victory).await.map_err(fail)?;
    let b = store.create_holiday(&eid).await.map_err(fail)?;
    ensure!(
        a.id != b.id && a.holiday == victory && b.holiday == eid,
        "ids must differ and holidays come back: {a:?} {b:?}"
    );
    let listed = store.list_holidays().await.map_err(fail)?;
    ensure!(
        listed == [b.clone(), a.clone()],
        "listed by start date: {listed:?}"
    );
    let moved = holiday("Eid ul-Fitr", (3, 20), 3, false)?;
    let old = store.update_holiday(b.id, &moved).await.map_err(fail)?;
    ensure!(old == eid, "update must return the old holiday");
    ensure!(
        store.holiday(b.id).await.map_err(fail)?.holiday == moved,
        "update not read back"
    );
    let gone = store.delete_holiday(a.id).await.map_err(fail)?;
    ensure!(gone == victory, "delete must return the holiday");
    for result in [
        store.holiday(a.id).await.map(|_| ()),
        store.delete_holiday(a.id).await.map(|_| ()),
        store.update_holiday(a.id, &victory).await.map(|_| ()),
    ] {
        ensure!(
            matches!(result, Err(StoreError::NotFound { .. })),
            "a deleted holiday must be NotFound: {result:?}"
        );
    }
    Ok(())
}
