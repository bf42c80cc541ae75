//! Daily records: upsert, filters, orders, pages, counts by status, large upserts whole or
//! not at all.

use chrono::{Days, NaiveDate};

use super::fixtures::{add_employees, date, id, record};
use super::{CheckResult, fail};
use crate::daily::{DailyRecord, DayTally};
use crate::employee::{Department, EmployeeCode};
use crate::status::AttendanceStatus;
use crate::store::{RecordOrder, RecordQuery, Store, StoreError};

pub(super) async fn daily_records_upsert_filter_sort_and_page<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let mut records = Vec::new();
    for d in 1..=5 {
        records.push(record(
            "EMP001",
            day(d),
            AttendanceStatus::PresentOnTime,
            29_700,
        )?);
        records.push(record("EMP002", day(d), AttendanceStatus::Absent, 0)?);
    }
    store.upsert_records(&records).await.map_err(fail)?;
    // Replacing a record by (employee, date).
    let late = record("EMP001", day(3), AttendanceStatus::PresentLate, 27_000)?;
    store
        .upsert_records(std::slice::from_ref(&late))
        .await
        .map_err(fail)?;
    let got = store
        .record(&late.employee_id, day(3))
        .await
        .map_err(fail)?;
    ensure!(
        got.as_ref() == Some(&late),
        "upsert did not replace: {got:?}"
    );

    let query = |f: fn(&mut RecordQuery)| {
        let mut q = RecordQuery {
            limit: 100,
            ..RecordQuery::default()
        };
        f(&mut q);
        q
    };
    let page = store
        .query_records(&query(|q| q.from = NaiveDate::from_ymd_opt(2026, 11, 2)))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 8,
        "from the 2nd: {} records, want 8",
        page.count
    );
    let page = store
        .query_records(&query(|q| {
            q.department = Department::parse("Cutting").ok();
            q.to = NaiveDate::from_ymd_opt(2026, 11, 2);
        }))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 2
            && page
                .results
                .iter()
                .all(|r| r.employee_id.as_str() == "EMP002"),
        "department: {page:?}"
    );
    let page = store
        .query_records(&query(|q| q.status = Some(AttendanceStatus::PresentLate)))
        .await
        .map_err(fail)?;
    ensure!(page.results == [late.clone()], "status filter: {page:?}");
    let page = store
        .query_records(&query(|q| {
            q.order = RecordOrder::DateDescThenEmployee;
            q.offset = 1;
            q.limit = 3;
        }))
        .await
        .map_err(fail)?;
    let keys: Vec<(u32, &str)> = page
        .results
        .iter()
        .map(|r| (chrono::Datelike::day(&r.date), r.employee_id.as_str()))
        .collect();
    ensure!(
        page.count == 10 && keys == [(5, "EMP002"), (4, "EMP001"), (4, "EMP002")],
        "page: {keys:?}"
    );
    let page = store
        .query_records(&query(|q| {
            q.order = RecordOrder::EmployeeThenDate;
            q.employee = EmployeeCode::parse("EMP001").ok();
        }))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 5 && page.results.windows(2).all(|w| w[0].date < w[1].date),
        "employee order"
    );
    store
        .delete_record(&late.employee_id, day(3))
        .await
        .map_err(fail)?;
    ensure!(
        matches!(
            store.delete_record(&late.employee_id, day(3)).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleting twice must be NotFound"
    );
    Ok(())
}

pub(super) async fn record_counts_by_status_and_unknown_employees<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let stray = record("EMP404", day(1), AttendanceStatus::Absent, 0)?;
    let good = record("EMP001", day(1), AttendanceStatus::Absent, 0)?;
    ensure!(
        matches!(
            store.upsert_records(&[good, stray]).await,
            Err(StoreError::Invalid(_))
        ),
        "a record of an unknown employee must be Invalid"
    );
    ensure!(
        store
            .record(&id(EmployeeCode::parse("EMP001"))?, day(1))
            .await
            .map_err(fail)?
            .is_none(),
        "a refused upsert must store none of its records"
    );
    let mut records = Vec::new();
    for d in 1..=4 {
        let status = if d == 2 {
            AttendanceStatus::PresentLate
        } else {
            AttendanceStatus::PresentOnTime
        };
        records.push(record("EMP001", day(d), status, 28_000)?);
        records.push(record("EMP002", day(d), AttendanceStatus::Absent, 0)?);
    }
    store.upsert_records(&records).await.map_err(fail)?;
    let mut counts = store
        .count_records_by_status(&RecordQuery {
            from: Some(day(2)),
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    counts.sort_by_key(|(s, _)| s.to_string());
    let mut want_sorted = vec![
        (AttendanceStatus::Absent, 3),
        (AttendanceStatus::PresentLate, 1),
        (AttendanceStatus::PresentOnTime, 2),
    ];
    want_sorted.sort_by_key(|(s, _)| s.to_string());
    ensure!(counts == want_sorted, "counts from the 2nd: {counts:?}");
    let counts = store
        .count_records_by_status(&RecordQuery {
            department: Department::parse("Sewing").ok(),
            status: Some(AttendanceStatus::PresentLate),
            offset: 5,
            limit: 1,
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        counts == [(AttendanceStatus::PresentLate, 1)],
        "counts ignore the page and honour the filters: {counts:?}"
    );
    Ok(())
}

/// An upsert of as many records as a recompute stores at once (a store may write it another
/// way than a few records): every record stored or replaced by key, the last of a repeated key
/// standing, and one record of an unknown employee refuses the whole upsert.
pub(super) async fn a_large_upsert_replaces_by_key_whole_or_not_at_all<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let codes = ["EMP001", "EMP002", "EMP003"];
    add_employees(store, &codes.map(|code| (code, "Sewing"))).await?;
    let first = date(1, 1);
    let days = |n: u64| (0..n).filter_map(move |i| first.checked_add_days(Days::new(i)));
    let all = |status: AttendanceStatus, working: i64| -> Result<Vec<DailyRecord>, String> {
        let mut records = Vec::new();
        for code in codes {
            for day in days(150) {
                records.push(record(code, day, status.clone(), working)?);
            }
        }
        Ok(records)
    };
    store
        .upsert_records(&all(AttendanceStatus::Absent, 0)?)
        .await
        .map_err(fail)?;
    // Again, replacing every one; a key repeated within the upsert: the last stands.
    let mut again = all(AttendanceStatus::PresentOnTime, 28_800)?;
    again.push(record(
        "EMP002",
        date(1, 9),
        AttendanceStatus::PresentLate,
        7,
    )?);
    store.upsert_records(&again).await.map_err(fail)?;
    let stored = store
        .query_records(&RecordQuery {
            order: RecordOrder::EmployeeThenDate,
            limit: 1_000,
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        stored.count == 450,
        "{} records stored, want 450",
        stored.count
    );
    let mut want = all(AttendanceStatus::PresentOnTime, 28_800)?;
    if let Some(late) = want
        .iter_mut()
        .find(|r| r.employee_id.as_str() == "EMP002" && r.date == date(1, 9))
    {
        *late = record("EMP002", date(1, 9), AttendanceStatus::PresentLate, 7)?;
    }
    ensure!(
        stored.results == want,
        "the records read back are not the last upserted"
    );
    // One record of an unknown employee among many: nothing of the upsert is stored.
    let mut stray = all(AttendanceStatus::Holiday, 1)?;
    stray.insert(200, record("EMP404", first, AttendanceStatus::Holiday, 1)?);
    let refused = store.upsert_records(&stray).await;
    ensure!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "an unknown employee's record: {refused:?}"
    );
    let counts = store
        .count_records_by_status(&RecordQuery::default())
        .await
        .map_err(fail)?;
    ensure!(
        counts.iter().all(|(s, _)| *s != AttendanceStatus::Holiday),
        "a refused upsert stored records: {counts:?}"
    );
    Ok(())
}

pub(super) async fn record_tallies_are_their_records_fields<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let mut records = Vec::new();
    for d in 1..=6 {
        let mut worked = record(
            "EMP001",
            day(d),
            AttendanceStatus::PresentLate,
            30_000 + i64::from(d),
        )?;
        worked.overtime_seconds = 3_600 * i64::from(d);
        worked.extra_overtime_seconds = 60 * i64::from(d);
        worked.late_minutes = i64::from(d);
        worked.worked_on_holiday = d % 2 == 0;
        worked.worked_on_weekend = d % 3 == 0;
        worked.snacks_eligible = d % 2 == 1;
        worked.night_bill_eligible = d == 4;
        worked.window_closed = d != 6;
        records.push(worked);
        let mut leave = record(
            "EMP002",
            day(d),
            AttendanceStatus::Leave(crate::calendar::LeaveType::Sick),
            0,
        )?;
        leave.half_day_leave = d % 2 == 0;
        leave.holiday_name = Some("Victory Day".into());
        records.push(leave);
    }
    store.upsert_records(&records).await.map_err(fail)?;
    let queries = [
        RecordQuery {
            limit: 100,
            ..RecordQuery::default()
        },
        RecordQuery {
            from: Some(day(2)),
            to: Some(day(4)),
            department: Department::parse("Cutting").ok(),
            order: RecordOrder::EmployeeThenDate,
            limit: 100,
            ..RecordQuery::default()
        },
        RecordQuery {
            employee: EmployeeCode::parse("EMP001").ok(),
            order: RecordOrder::DateDescThenEmployee,
            offset: 2,
            limit: 3,
            ..RecordQuery::default()
        },
    ];
    for query in &queries {
        let whole: Vec<DayTally> = store
            .query_records(query)
            .await
            .map_err(fail)?
            .results
            .iter()
            .map(DayTally::from)
            .collect();
        let tallies = store.query_record_tallies(query).await.map_err(fail)?;
        ensure!(!whole.is_empty(), "no records for {query:?}");
        ensure!(
            tallies == whole,
            "tallies of {query:?}: {tallies:?}, want {whole:?}"
        );
    }
    Ok(())
}
