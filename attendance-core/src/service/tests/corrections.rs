//! Corrections over the in-memory store: who files and decides, the approved scan stored
//! through the ingest path (deduplicated, recomputed, published), the audit entries, the scope
//! of the list; and overrides applied to every summary the service builds.

use super::*;
use crate::audit::{AuditAction, AuditQuery};
use crate::correction::{CorrectionError, CorrectionId, CorrectionStatus, NewCorrection};
use crate::overrides::DayOverride;
use crate::store::memory::MemoryStore;
use crate::store::{
    CorrectionQuery, CorrectionStore, DailyRecordStore, ScanStore, ScanVoidStore, Store,
    StoreResult,
};

fn actor(role: Role, code_: &str, department: &str) -> Actor {
    Actor::new(
        role,
        Some(code(code_)),
        Some(Department::parse(department).unwrap()),
    )
}

fn in_dept(code_: &str, user_: &str, department: &str) -> Employee {
    let mut e = employee(code_, user_, true);
    e.department = Department::parse(department).unwrap();
    e
}

/// EMP001 (user 7) and the head EMP005 (user 9) in Sewing, EMP002 (user 8) in Cutting.
async fn site() -> (Arc<MemoryStore>, AttendanceService, Arc<Recorder>) {
    let store = Arc::new(MemoryStore::new());
    for e in [
        in_dept("EMP001", "7", "Sewing"),
        in_dept("EMP002", "8", "Cutting"),
        in_dept("EMP005", "9", "Sewing"),
    ] {
        store.create_employee(&e).await.unwrap();
    }
    let recorder = Arc::new(Recorder::default());
    let service = AttendanceService::new(store.clone()).with_observer(recorder.clone());
    (store, service, recorder)
}

fn asked(code_: &str, at: DateTime<Utc>, punch: Option<PunchState>) -> NewCorrection {
    NewCorrection {
        employee_id: code(code_),
        scan_time: at,
        scan_type: punch,
        reason: "forgot to punch".into(),
    }
}

fn cid(id: &str) -> CorrectionId {
    CorrectionId::parse(id).unwrap()
}

#[test]
fn corrections_are_filed_in_scope_and_approved_into_a_published_scan() {
    block_on(async {
        let (store, service, recorder) = site().await;
        let worker = actor(Role::Employee, "EMP001", "Sewing");
        let head = actor(Role::DepartmentHead, "EMP005", "Sewing");
        let other_head = actor(Role::DepartmentHead, "EMP002", "Cutting");
        // Filing: the employee for themselves, never for a colleague; a bad time is refused.
        let refused = service
            .request_correction(
                &worker,
                "rahima",
                cid("C0"),
                asked("EMP002", local(24, 8, 0), None),
                now(),
            )
            .await;
        assert!(
            matches!(refused, Err(ServiceError::Denied(_))),
            "{refused:?}"
        );
        let future = service
            .request_correction(
                &worker,
                "rahima",
                cid("C0"),
                asked("EMP001", now() + chrono::TimeDelta::hours(2), None),
                now(),
            )
            .await;
        assert!(matches!(
            future,
            Err(ServiceError::Correction(CorrectionError::Invalid(_)))
        ));
        let with_millis = local(24, 8, 0) + chrono::TimeDelta::milliseconds(250);
        let filed = service
            .request_correction(
                &worker,
                "rahima",
                cid("C1"),
                asked("EMP001", with_millis, Some(PunchState::CheckIn)),
                now(),
            )
            .await
            .unwrap();
        assert_eq!(filed.status, CorrectionStatus::Pending);
        assert_eq!(filed.scan_time, local(24, 8, 0), "whole seconds");
        // The employee never decides their own; a head of another department may not either.
        for who in [&worker, &other_head] {
            let denied = service
                .decide_correction(who, "x", &cid("C1"), true, None, now())
                .await;
            assert!(
                matches!(
                    denied,
                    Err(ServiceError::Correction(CorrectionError::Denied(_)))
                ),
                "{denied:?}"
            );
        }
        let decided = service
            .decide_correction(&head, "karim", &cid("C1"), true, Some(" ok "), now())
            .await
            .unwrap();
        assert_eq!(decided.correction.status, CorrectionStatus::Approved);
        assert_eq!(decided.correction.decision_note.as_deref(), Some("ok"));
        let approved = decided.approved.unwrap();
        assert!(!approved.duplicate);
        assert_eq!(approved.scan.machine_id.as_str(), "MANUAL");
        assert_eq!(approved.scan.verify_mode, VerifyMode::Manual);
        assert!(
            approved
                .scan
                .raw
                .as_deref()
                .unwrap()
                .contains("\"correction_id\":\"C1\"")
        );
        let summary = approved.summary.unwrap();
        assert_eq!(
            (summary.employee_id.as_str(), summary.date),
            ("EMP001", d(24))
        );
        assert_eq!(summary.check_in.as_deref(), Some("08:00"));
        // Stored before the answer, and published: the scan, then its day.
        let stored = store
            .scans_of_user(&user("7"), local(24, 0, 0), local(25, 0, 0))
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        let events = recorder.events();
        assert_eq!(events[events.len() - 2], "1 scans of [\"EMP001\"]");
        assert!(events.last().unwrap().starts_with("EMP001 2026-11-24"));
        // A second decision is refused, whoever takes it.
        let again = service
            .decide_correction(&hr(), "hr", &cid("C1"), false, None, now())
            .await;
        assert!(matches!(
            again,
            Err(ServiceError::Correction(
                CorrectionError::AlreadyDecided { .. }
            ))
        ));

        // A correction whose scan is stored already is approved all the same.
        service
            .request_correction(
                &head,
                "karim",
                cid("C2"),
                asked("EMP001", local(24, 8, 0), Some(PunchState::CheckIn)),
                now(),
            )
            .await
            .unwrap();
        let dup = service
            .decide_correction(&hr(), "hr", &cid("C2"), true, None, now())
            .await
            .unwrap();
        assert_eq!(dup.correction.status, CorrectionStatus::Approved);
        let dup = dup.approved.unwrap();
        assert!(dup.duplicate);
        assert_eq!(dup.summary.unwrap().date, d(24));

        // Rejected: nothing stored.
        service
            .request_correction(
                &hr(),
                "hr",
                cid("C3"),
                asked("EMP002", local(24, 17, 0), Some(PunchState::CheckOut)),
                now(),
            )
            .await
            .unwrap();
        let rejected = service
            .decide_correction(&hr(), "hr2", &cid("C3"), false, Some("no"), now())
            .await
            .unwrap();
        assert_eq!(rejected.correction.status, CorrectionStatus::Rejected);
        assert!(rejected.approved.is_none());
        assert!(
            store
                .scans_of_user(&user("8"), local(24, 0, 0), local(25, 0, 0))
                .await
                .unwrap()
                .is_empty()
        );

        // The audit trail: filed, approved (naming the scan), rejected.
        let log = service
            .audit_log(&hr(), &AuditQuery::default(), 0, 20)
            .await
            .unwrap();
        let actions: Vec<(AuditAction, String, String)> = log
            .results
            .iter()
            .map(|e| {
                (
                    e.entry.action,
                    e.entry.actor.clone(),
                    e.entry.target.clone(),
                )
            })
            .collect();
        let t = |id: &str| format!("correction:{id}");
        assert_eq!(
            actions,
            [
                (AuditAction::CorrectionRejected, "hr2".into(), t("C3")),
                (AuditAction::CorrectionRequested, "hr".into(), t("C3")),
                (AuditAction::CorrectionApproved, "hr".into(), t("C2")),
                (AuditAction::CorrectionRequested, "karim".into(), t("C2")),
                (AuditAction::CorrectionApproved, "karim".into(), t("C1")),
                (AuditAction::CorrectionRequested, "rahima".into(), t("C1")),
            ]
        );
        let approval = &log.results[4].entry;
        assert_eq!(
            approval.after.as_ref().unwrap()["scan_id"],
            approved.id.to_string()
        );
        assert_eq!(approval.before.as_ref().unwrap()["status"], "pending");
        assert_eq!(approval.after.as_ref().unwrap()["status"], "approved");

        // The list, in scope: the worker their own, the head Sewing, HR everything.
        let all = CorrectionQuery {
            limit: 10,
            ..CorrectionQuery::default()
        };
        let ids = |page: crate::store::Page<crate::correction::Correction>| -> Vec<String> {
            page.results.iter().map(|c| c.id.to_string()).collect()
        };
        assert_eq!(
            ids(service.corrections(&hr(), &all).await.unwrap()).len(),
            3
        );
        let mine = ids(service.corrections(&worker, &all).await.unwrap());
        assert_eq!(mine.len(), 2);
        assert!(!mine.contains(&"C3".to_owned()));
        let cutting = CorrectionQuery {
            employees: Some(vec![code("EMP002")]),
            ..all.clone()
        };
        assert!(ids(service.corrections(&head, &cutting).await.unwrap()).is_empty());
        assert_eq!(
            ids(service.corrections(&other_head, &all).await.unwrap()),
            ["C3"]
        );
        let rejected_only = CorrectionQuery {
            status: Some(CorrectionStatus::Rejected),
            ..all
        };
        assert_eq!(
            ids(service.corrections(&hr(), &rejected_only).await.unwrap()),
            ["C3"]
        );
        assert!(service.correction(&worker, &cid("C3")).await.is_err());
        assert_eq!(
            service.correction(&head, &cid("C1")).await.unwrap().id,
            cid("C1")
        );
        let _: &dyn Store = &*store;
    });
}

#[test]
fn every_summary_the_service_builds_carries_the_days_override() {
    block_on(async {
        let (store, service, recorder) = site().await;
        store
            .record_scans(ScanBatch {
                machine_id: MachineId::parse("GATE-1").unwrap(),
                scans: vec![scan("7", local(24, 8, 30))],
                cursor: None,
            })
            .await
            .unwrap();
        let day = DayOverride::new(
            code("EMP001"),
            d(24),
            AttendanceStatus::PresentOnTime,
            "the gate clock was slow",
            "hr",
            now(),
        )
        .unwrap();
        service.put_override(&hr(), &day).await.unwrap();
        let days: DayKeys = BTreeMap::from([(code("EMP001"), BTreeSet::from([d(23), d(24)]))]);
        // The set-based path: returned and published with the override; the record as computed.
        let recomputed = service.recompute_days(&days, now()).await.unwrap();
        let summary = &recomputed.summaries[1];
        assert_eq!(summary.status, AttendanceStatus::PresentOnTime);
        assert_eq!(summary.computed_status, AttendanceStatus::PresentLate);
        assert_eq!(summary.day_override.as_ref().unwrap().set_by, "hr");
        assert_eq!(recomputed.records[1].status, AttendanceStatus::PresentLate);
        assert_eq!(recomputed.summaries[0].day_override, None);
        assert!(
            recorder
                .events()
                .last()
                .unwrap()
                .ends_with("EMP001 2026-11-24 Present-OnTime")
        );
        // The per-employee path tells the observer the same.
        let e = store.employee(&code("EMP001")).await.unwrap();
        service
            .recompute(&e, &BTreeSet::from([d(24)]), now())
            .await
            .unwrap();
        assert_eq!(
            recorder.events().last().unwrap(),
            "EMP001 2026-11-24 Present-OnTime"
        );
        // A new scan's day is published with it too.
        service
            .record_scans(
                ScanBatch {
                    machine_id: MachineId::parse("GATE-1").unwrap(),
                    scans: vec![scan("7", local(24, 17, 0))],
                    cursor: None,
                },
                now(),
            )
            .await
            .unwrap();
        assert_eq!(
            recorder.events().last().unwrap(),
            "EMP001 2026-11-24 Present-OnTime"
        );
    });
}

/// The memory store's oversight ports, except that deciding a correction first lets a rival
/// decision (a rejection by `rival`) be stored, as if it won the race.
struct Racing(Arc<MemoryStore>);

#[async_trait::async_trait]
impl crate::store::AuditStore for Racing {
    async fn append_audit(&self, entry: &crate::audit::NewAuditEntry) -> StoreResult<i64> {
        self.0.append_audit(entry).await
    }
    async fn query_audit(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> StoreResult<crate::store::Page<crate::audit::AuditEntry>> {
        self.0.query_audit(query, offset, limit).await
    }
}

#[async_trait::async_trait]
impl crate::store::CorrectionStore for Racing {
    async fn create_correction(&self, c: &crate::correction::Correction) -> StoreResult<()> {
        self.0.create_correction(c).await
    }
    async fn correction(&self, id: &CorrectionId) -> StoreResult<crate::correction::Correction> {
        self.0.correction(id).await
    }
    async fn decide_correction(&self, c: &crate::correction::Correction) -> StoreResult<()> {
        let mut rival = self.0.correction(&c.id).await?;
        rival.status = CorrectionStatus::Rejected;
        rival.decided_by = Some("rival".into());
        self.0.decide_correction(&rival).await?;
        self.0.decide_correction(c).await
    }
    async fn query_corrections(
        &self,
        query: &CorrectionQuery,
    ) -> StoreResult<crate::store::Page<crate::correction::Correction>> {
        self.0.query_corrections(query).await
    }
}

#[async_trait::async_trait]
impl crate::store::SetAsideStore for Racing {
    async fn keep_set_aside(&self, scans: &[crate::store::SetAsideScan]) -> StoreResult<usize> {
        self.0.keep_set_aside(scans).await
    }
    async fn set_aside_scans(
        &self,
        offset: u64,
        limit: u64,
    ) -> StoreResult<crate::store::Page<crate::store::SetAsideScan>> {
        self.0.set_aside_scans(offset, limit).await
    }
}

#[async_trait::async_trait]
impl crate::store::ScanVoidStore for Racing {
    async fn void_scan(&self, void: &crate::store::ScanVoid) -> StoreResult<()> {
        self.0.void_scan(void).await
    }
    async fn voids_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<crate::store::ScanVoid>> {
        self.0.voids_of_users(users, from, to).await
    }
}

#[async_trait::async_trait]
impl crate::store::DayOverrideStore for Racing {
    async fn put_override(&self, day: &DayOverride) -> StoreResult<Option<DayOverride>> {
        self.0.put_override(day).await
    }
    async fn remove_override(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<DayOverride> {
        self.0.remove_override(employee, date).await
    }
    async fn overrides(
        &self,
        employees: Option<&[EmployeeCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DayOverride>> {
        self.0.overrides(employees, from, to).await
    }
}

#[test]
fn an_approval_that_loses_to_a_rejection_leaves_no_counted_scan() {
    block_on(async {
        let (store, service, _) = site().await;
        let racing = service
            .clone()
            .with_oversight(Arc::new(Racing(store.clone())));
        service
            .request_correction(
                &hr(),
                "hr",
                cid("C1"),
                asked("EMP001", local(24, 8, 0), Some(PunchState::CheckIn)),
                now(),
            )
            .await
            .unwrap();
        let lost = racing
            .decide_correction(&hr(), "hr", &cid("C1"), true, None, now())
            .await;
        assert!(
            matches!(lost, Err(ServiceError::Store(StoreError::Conflict(_)))),
            "{lost:?}"
        );
        assert_eq!(
            store.correction(&cid("C1")).await.unwrap().status,
            CorrectionStatus::Rejected
        );
        // The scan stored for the approval stays (scans are never deleted) but is voided, and
        // the day is recomputed without it.
        let from = local(24, 0, 0);
        let to = local(25, 0, 0);
        let stored = store.scans_of_user(&user("7"), from, to).await.unwrap();
        assert_eq!(stored.len(), 1);
        let voids = store.voids_of_users(&[user("7")], from, to).await.unwrap();
        assert_eq!(voids.len(), 1);
        assert_eq!(voids[0].voided_by, "system");
        let record = store.record(&code("EMP001"), d(24)).await.unwrap().unwrap();
        assert_eq!(record.check_in, None, "{record:?}");
    });
}
