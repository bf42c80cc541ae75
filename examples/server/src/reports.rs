//! The monthly report of a set of employees, computed from the store for
//! `GET /api/attendance/reports/monthly/` and `attendance-server export monthly` alike (the
//! route picks the employees of the caller's scope, the command line every active one).
//!
//! A department of thousands is computed without holding its month of records: the stored
//! records of the month are read a date at a time, in pages ([`RECORD_PAGE`]), each as only
//! what the report counts (the store's `query_record_tallies`: the record's `tally` column,
//! written with it, the record never decoded whole), and each is counted into its
//! employee's row at once ([`MonthlyRow::add_tally`]). The days with no stored
//! record, or whose record was computed while its window was still open, are then recomputed
//! (and stored) through the service's set-based path
//! ([`AttendanceService::recompute_days`]), [`RECOMPUTE_CHUNK`] employees at a time, and
//! counted likewise, exactly as `complete_records` completes a timesheet. A record read twice
//! (another write moved the pages) is counted once; one missed is recomputed. Overrides in force
//! are read once and win for the status of their day.

use std::collections::{BTreeSet, HashMap};

use attendance_core::calendar::LeaveType;
use attendance_core::daily::DayTally;
use attendance_core::employee::{Employee, EmployeeCode};
use attendance_core::leave::default_policies;
use attendance_core::overrides::DayOverride;
use attendance_core::report::monthly::{MonthlyReport, MonthlyRow};
use attendance_core::service::{AttendanceService, DayKeys, RECOMPUTE_CHUNK, ServiceError};
use attendance_core::store::{RecordOrder, RecordQuery, Store, StoreError};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// How many stored records one page of the report's read holds.
pub const RECORD_PAGE: u64 = 10_000;

/// At most this many employees are named in the read of the overrides; a larger scope reads
/// the month's overrides of everyone and keeps its own.
const NAMED_OVERRIDES: usize = 500;

/// Where a report's computation is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Stored records read so far, of about this many.
    Read(u64, u64),
    /// Employees whose missing days are recomputed, of this many with any.
    Computed(usize, usize),
}

/// The leave types of the site's policies: the named types (their statutory defaults apply
/// when none is stored), then the site's own stored types, as `GET leave-policies/` lists them.
pub async fn leave_types(store: &dyn Store) -> Result<Vec<LeaveType>, StoreError> {
    let mut kinds: Vec<LeaveType> = default_policies()
        .into_iter()
        .map(|p| p.leave_type)
        .collect();
    for policy in store.leave_policies().await? {
        if !kinds.contains(&policy.leave_type) {
            kinds.push(policy.leave_type);
        }
    }
    Ok(kinds)
}

/// The rows being counted, with the days each has counted already.
struct Tally<'a> {
    index: HashMap<&'a EmployeeCode, usize>,
    rows: Vec<MonthlyRow>,
    /// Per row, bit `d - 1` set once day `d` of the month is counted.
    counted: Vec<u32>,
    overrides: HashMap<(EmployeeCode, NaiveDate), DayOverride>,
}

impl<'a> Tally<'a> {
    fn new(employees: &'a [Employee], overrides: Vec<DayOverride>) -> Self {
        Self {
            index: employees
                .iter()
                .enumerate()
                .map(|(i, e)| (&e.employee_id, i))
                .collect(),
            rows: employees.iter().map(MonthlyRow::new).collect(),
            counted: vec![0; employees.len()],
            overrides: overrides
                .into_iter()
                .map(|o| ((o.employee_id.clone(), o.date), o))
                .collect(),
        }
    }

    /// Counts `record` unless its employee is not reported or its day is counted already.
    fn count(&mut self, record: &DayTally) {
        let Some(&i) = self.index.get(&record.employee_id) else {
            return;
        };
        let bit = 1u32 << (record.date.day0() % 32);
        if self.counted[i] & bit != 0 {
            return;
        }
        self.counted[i] |= bit;
        let o = self
            .overrides
            .get(&(record.employee_id.clone(), record.date));
        self.rows[i].add_tally(record, o);
    }
}

/// The report of `first..=last` (one month) for `employees`, made at `now`: their stored
/// records, the days missing recomputed and stored through `service`, the overrides in force
/// applied, `leave_types` as the leave columns. `progress` hears of each page read and each
/// chunk recomputed.
pub async fn monthly_report(
    store: &dyn Store,
    service: &AttendanceService,
    employees: &[Employee],
    (first, last): (NaiveDate, NaiveDate),
    leave_types: &[LeaveType],
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MonthlyReport, ServiceError> {
    let codes: Vec<EmployeeCode> = employees.iter().map(|e| e.employee_id.clone()).collect();
    let overrides = if codes.len() <= NAMED_OVERRIDES {
        service.overrides(Some(&codes), first, last).await?
    } else {
        service.overrides(None, first, last).await?
    };
    let mut tally = Tally::new(employees, overrides);

    // The stored records: of the one employee, of their one department, or of everyone.
    if let Some(head) = employees.first() {
        let one_department = employees.iter().all(|e| e.department == head.department);
        let base = RecordQuery {
            employee: (employees.len() == 1).then(|| head.employee_id.clone()),
            department: one_department.then(|| head.department.clone()),
            order: RecordOrder::DateThenEmployee,
            limit: RECORD_PAGE,
            ..RecordQuery::default()
        };
        let total = store
            .query_records(&RecordQuery {
                from: Some(first),
                to: Some(last),
                limit: 0,
                ..base.clone()
            })
            .await?
            .count;
        // Day by day, so every page is a slice of one date in the (date, employee) order the
        // store keeps: no sort of the month and no long OFFSET scan, whatever the month's size.
        let mut read = 0;
        progress(Progress::Read(read, total));
        for day in first.iter_days().take_while(|d| *d <= last) {
            let mut query = RecordQuery {
                from: Some(day),
                to: Some(day),
                ..base.clone()
            };
            loop {
                let page = store.query_record_tallies(&query).await?;
                let n = page.len() as u64;
                for record in page.iter().filter(|r| r.window_closed) {
                    tally.count(record);
                }
                read += n;
                if n > 0 {
                    progress(Progress::Read(read, total.max(read)));
                }
                if n < RECORD_PAGE {
                    break;
                }
                query.offset += n;
            }
        }
    }

    // The days still missing, recomputed set-based a chunk of employees at a time.
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let missing: Vec<(EmployeeCode, BTreeSet<NaiveDate>)> = employees
        .iter()
        .zip(&tally.counted)
        .filter_map(|(employee, counted)| {
            let dates: BTreeSet<NaiveDate> = days
                .iter()
                .filter(|d| counted & (1u32 << (d.day0() % 32)) == 0)
                .copied()
                .collect();
            (!dates.is_empty()).then(|| (employee.employee_id.clone(), dates))
        })
        .collect();
    let total = missing.len();
    let mut done = 0;
    for chunk in missing.chunks(RECOMPUTE_CHUNK) {
        let keys: DayKeys = chunk.iter().cloned().collect();
        for record in service.recompute_days(&keys, now).await?.records {
            tally.count(&DayTally::from(&record));
        }
        done += chunk.len();
        progress(Progress::Computed(done, total));
    }
    Ok(MonthlyReport::from_rows(
        first,
        now,
        leave_types,
        tally.rows,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use attendance_core::employee::NewEmployee;
    use attendance_core::store::memory::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn a_large_department_is_read_in_pages_and_completed_in_chunks() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let n = 400; // 12,000 employee-days: two pages of stored records
        let mut employees = Vec::new();
        for i in 1..=n {
            let employee = Employee::parse(&NewEmployee {
                employee_id: format!("EMP{i:04}"),
                employee_name: format!("Worker {i}"),
                department: "Sewing".into(),
                designation: "Operator".into(),
                level_of_work: "Worker".into(),
                ..NewEmployee::default()
            })
            .unwrap();
            store.create_employee(&employee).await.unwrap();
            employees.push(employee);
        }
        let service = AttendanceService::new(store.clone());
        let june = (
            NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        );
        let kinds = leave_types(store.as_ref()).await.unwrap();
        let mut steps = Vec::new();
        let first = monthly_report(
            store.as_ref(),
            &service,
            &employees,
            june,
            &kinds,
            Utc::now(),
            &mut |p| steps.push(p),
        )
        .await
        .unwrap();
        // Nothing was stored: every day computed, in chunks of employees.
        assert_eq!(steps.first(), Some(&Progress::Read(0, 0)));
        assert_eq!(steps.last(), Some(&Progress::Computed(n, n)), "{steps:?}");
        let chunks = steps
            .iter()
            .filter(|s| matches!(s, Progress::Computed(..)))
            .count();
        assert_eq!(chunks, n.div_ceil(RECOMPUTE_CHUNK));
        assert_eq!(first.totals.counts.days as usize, 30 * n);
        assert_eq!(first.totals.counts.absent_days as usize, 26 * n);

        // Now everything is stored: read a day at a time, nothing recomputed, the same report.
        let mut steps = Vec::new();
        let second = monthly_report(
            store.as_ref(),
            &service,
            &employees,
            june,
            &kinds,
            first.generated_at,
            &mut |p| steps.push(p),
        )
        .await
        .unwrap();
        let total = 30 * n as u64;
        let days: Vec<Progress> = (0..=30)
            .map(|d| Progress::Read(d * n as u64, total))
            .collect();
        assert_eq!(steps, days);
        assert_eq!(second, first);
    }
}
