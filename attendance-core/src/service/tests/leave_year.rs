//! Leave year-end over the in-memory store: allocation and rollover twice give the balances of
//! once; a change committed between a rollover's read and its write (an approval racing with it)
//! makes the rollover compute again, so it never carries days that were taken; the runtime's
//! start-of-year job runs once per year, and only for an installation that allocates in bulk.

use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::audit::{AuditAction, AuditQuery};
use crate::store::memory::MemoryStore;
use crate::store::{
    AuditStore, LeaveChange, LeaveRequestQuery, LeaveStore, Page, Store, StoreResult,
};

fn scope() -> YearEndScope {
    YearEndScope::default()
}

fn quiet(_: usize, _: usize) {}

async fn store_with(employees: &[Employee]) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    for e in employees {
        store.create_employee(e).await.unwrap();
    }
    store
}

async fn available(store: &MemoryStore, employee: &str, t: &LeaveType, year: i32) -> i64 {
    let account = store.leave_account(&code(employee)).await.unwrap();
    account.ledger(t).available(year).halves()
}

#[test]
fn allocation_and_rollover_twice_equal_once() {
    block_on(async {
        let mut joiner = employee("EMP002", "2", true);
        joiner.joined_on = NaiveDate::from_ymd_opt(2026, 7, 1);
        let store = store_with(&[employee("EMP001", "1", true), joiner]).await;
        let mut casual = LeavePolicy::default_for(LeaveType::Casual);
        casual.pro_rata = true;
        store.put_leave_policy(&casual).await.unwrap();
        let service = AttendanceService::new(store.clone());

        let worker = Actor::new(Role::Employee, Some(code("EMP001")), None);
        assert!(matches!(
            service
                .allocate_year(&worker, "w", 2026, &scope(), now(), &quiet)
                .await,
            Err(ServiceError::Denied(_))
        ));
        let calls = Mutex::new(Vec::new());
        let progress = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
        let first = service
            .allocate_year(&hr(), "hr", 2026, &scope(), now(), &progress)
            .await
            .unwrap();
        assert_eq!((first.employees, first.changed), (2, 2));
        assert_eq!(*calls.lock().unwrap(), [(2, 2)], "progress at the end");
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Casual, 2026).await,
            20
        );
        assert_eq!(
            available(&store, "EMP002", &LeaveType::Casual, 2026).await,
            10
        );
        let snapshot = |s: Arc<MemoryStore>| async move {
            let mut all = Vec::new();
            for c in ["EMP001", "EMP002"] {
                all.push(s.leave_account(&code(c)).await.unwrap().ledgers);
            }
            all
        };
        let once = snapshot(store.clone()).await;
        let again = service
            .allocate_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        assert_eq!((again.changed, again.entries), (0, 0));
        assert_eq!(snapshot(store.clone()).await, once);

        let rolled = service
            .rollover_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        assert!(rolled.entries > 0);
        let after_once = snapshot(store.clone()).await;
        let rolled_again = service
            .rollover_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        assert_eq!(rolled_again.entries, 0);
        assert_eq!(snapshot(store.clone()).await, after_once);
        // Annual: 18 days carried (cap 40), Casual: all expired; 2027 is not allocated yet.
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Annual, 2027).await,
            36
        );
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Casual, 2027).await,
            0
        );
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Casual, 2026).await,
            0
        );
    });
}

/// A leave store that, after the first read of `EMP001`'s account, commits one more `Taken`
/// entry of 2026 Annual leave (as an approval would) before handing the read back: the reader's
/// commit then meets a newer version.
struct Racing {
    inner: Arc<MemoryStore>,
    raced: Mutex<bool>,
}

#[async_trait]
impl LeaveStore for Racing {
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
        self.inner.put_leave_policy(policy).await
    }
    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
        self.inner.leave_policy(leave_type).await
    }
    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
        self.inner.leave_policies().await
    }
    async fn leave_account(&self, employee: &EmployeeCode) -> StoreResult<LeaveAccount> {
        let read = self.inner.leave_account(employee).await?;
        let first = {
            let mut raced = self.raced.lock().unwrap();
            !std::mem::replace(&mut *raced, true)
        };
        if first {
            let taken = LedgerEntry::new(
                LedgerEntryKind::Taken,
                2026,
                d(20),
                HalfDays::from_days(5),
                "a racing approval",
            )
            .unwrap();
            self.inner
                .commit_leave(LeaveChange {
                    employee: employee.clone(),
                    expected_version: read.version,
                    requests: Vec::new(),
                    entries: vec![(LeaveType::Annual, taken)],
                })
                .await?;
        }
        Ok(read)
    }
    async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64> {
        self.inner.commit_leave(change).await
    }
    async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest> {
        self.inner.leave_request(id).await
    }
    async fn query_leave_requests(
        &self,
        query: &LeaveRequestQuery,
    ) -> StoreResult<Page<LeaveRequest>> {
        self.inner.query_leave_requests(query).await
    }
}

#[test]
fn a_racing_approval_makes_the_rollover_compute_again_and_never_overdraws() {
    block_on(async {
        let store = store_with(&[employee("EMP001", "1", true)]).await;
        let setup = AttendanceService::new(store.clone());
        setup
            .allocate_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Annual, 2026).await,
            36
        );
        let racing: Arc<dyn LeaveStore> = Arc::new(Racing {
            inner: store.clone(),
            raced: Mutex::new(false),
        });
        let whole: Arc<dyn Store> = store.clone();
        let service = AttendanceService::from_parts(StoreParts {
            scans: whole.clone(),
            employees: whole.clone(),
            records: whole.clone(),
            settings: whole.clone(),
            holidays: whole.clone(),
            leave: racing,
        });
        let rolled = service
            .rollover_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        // 18 − 5 taken meanwhile = 13 days carried, not the 18 the first read saw.
        assert_eq!(rolled.days["Annual"]["carry_forward"], 13.0, "{rolled:?}");
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Annual, 2026).await,
            0
        );
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Annual, 2027).await,
            26
        );
    });
}

#[test]
fn the_start_of_year_job_runs_once_and_only_where_years_are_allocated_in_bulk() {
    block_on(async {
        let store = store_with(&[employee("EMP001", "1", true)]).await;
        let service = AttendanceService::new(store.clone());
        // A new installation: nothing happens, whatever the date.
        assert_eq!(service.start_of_year(now()).await.unwrap(), None);
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Casual, 2026).await,
            0
        );
        // HR allocated 2026 in bulk; on 2 January 2027 the job rolls 2026 over and opens 2027.
        service
            .allocate_year(&hr(), "hr", 2026, &scope(), now(), &quiet)
            .await
            .unwrap();
        assert_eq!(
            service.start_of_year(now()).await.unwrap(),
            None,
            "2026 is done"
        );
        let new_year = Utc.with_ymd_and_hms(2027, 1, 2, 3, 0, 0).unwrap();
        let (rolled, allocated) = service.start_of_year(new_year).await.unwrap().unwrap();
        assert_eq!((rolled.year, allocated.year), (2026, 2027));
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Annual, 2027).await,
            72
        );
        assert_eq!(
            available(&store, "EMP001", &LeaveType::Casual, 2027).await,
            20
        );
        assert_eq!(service.start_of_year(new_year).await.unwrap(), None, "once");
        let by_system = store
            .query_audit(
                &AuditQuery {
                    actor: Some(SYSTEM_ACTOR.into()),
                    ..AuditQuery::default()
                },
                0,
                10,
            )
            .await
            .unwrap();
        let actions: Vec<AuditAction> = by_system.results.iter().map(|e| e.entry.action).collect();
        assert_eq!(
            actions,
            [AuditAction::LeaveAllocated, AuditAction::LeaveRolledOver]
        );
    });
}
