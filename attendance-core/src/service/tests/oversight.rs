//! Voids and overrides over the in-memory store: a voided scan changes the day exactly as if it
//! was never stored, on both recompute paths; a recompute keeps overrides; both are audited.

use super::*;
use crate::audit::{AuditAction, AuditQuery};
use crate::overrides::DayOverride;
use crate::store::memory::MemoryStore;
use crate::store::{DayOverrideStore, ScanId, ScanStore, Store};

async fn store_with(scans: &[ScanData]) -> (Arc<MemoryStore>, Employee) {
    let store = Arc::new(MemoryStore::new());
    let e = employee("EMP001", "7", true);
    store.create_employee(&e).await.unwrap();
    store
        .record_scans(ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: scans.to_vec(),
            cursor: None,
        })
        .await
        .unwrap();
    (store, e)
}

fn days_of(code_: &str, dates: &[NaiveDate]) -> DayKeys {
    BTreeMap::from([(code(code_), dates.iter().copied().collect())])
}

#[test]
fn a_voided_scan_changes_the_day_as_if_never_stored_on_both_paths() {
    block_on(async {
        // An early stray punch at 06:10 makes the day start early; voided, the day is 08:02–17:05.
        let stray = scan("7", local(24, 6, 10));
        let kept = [scan("7", local(24, 8, 2)), scan("7", local(24, 17, 5))];
        let mut all = kept.to_vec();
        all.push(stray.clone());
        let (store, e) = store_with(&all).await;
        let (reference, _) = store_with(&kept).await;
        let days = days_of("EMP001", &[d(24)]);
        let recorder = Arc::new(Recorder::default());
        let service = AttendanceService::new(store.clone()).with_observer(recorder.clone());
        let before = service.recompute_days(&days, now()).await.unwrap().records;
        let want = AttendanceService::new(reference)
            .recompute_days(&days, now())
            .await
            .unwrap()
            .records;
        assert_ne!(before, want, "the stray scan counts before the void");

        let id = ScanId::of(&stray);
        let employee_actor = Actor::new(Role::Employee, Some(code("EMP001")), None);
        assert!(matches!(
            service
                .void_scan(&employee_actor, "rahim", &id, "mine", now())
                .await,
            Err(ServiceError::Denied(_))
        ));
        assert!(matches!(
            service.void_scan(&hr(), "hr", &id, "  ", now()).await,
            Err(ServiceError::Invalid(_))
        ));
        let (void, recomputed) = service
            .void_scan(&hr(), "hr", &id, "installer's test punch", now())
            .await
            .unwrap();
        assert_eq!(void.reason, "installer's test punch");
        assert_eq!(recomputed.records, want, "set-based path");
        let per_day = service
            .recompute(&e, &BTreeSet::from([d(24)]), now())
            .await
            .unwrap();
        assert_eq!(per_day, want, "per-employee path");
        assert!(
            recorder
                .events()
                .last()
                .unwrap()
                .starts_with("EMP001 2026-11-24")
        );
        assert!(matches!(
            service.void_scan(&hr(), "hr", &id, "again", now()).await,
            Err(ServiceError::Store(StoreError::Conflict(_)))
        ));
        let log = service
            .audit_log(&hr(), &AuditQuery::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(log.count, 1);
        let entry = &log.results[0].entry;
        assert_eq!(entry.action, AuditAction::ScanVoided);
        assert_eq!(entry.target, format!("scan:{id}"));
        assert_eq!(entry.after.as_ref().unwrap()["voided"], true);
        assert_eq!(entry.before.as_ref().unwrap()["voided"], false);
    });
}

#[test]
fn overrides_survive_recomputes_and_are_audited() {
    block_on(async {
        let (store, _) = store_with(&[scan("7", local(24, 8, 30))]).await;
        let recorder = Arc::new(Recorder::default());
        let service = AttendanceService::new(store.clone()).with_observer(recorder.clone());
        let days = days_of("EMP001", &[d(24)]);
        let computed = service.recompute_days(&days, now()).await.unwrap().records;
        let day = DayOverride::new(
            code("EMP001"),
            d(24),
            AttendanceStatus::PresentOnTime,
            "gate reader was late",
            "hr",
            now(),
        )
        .unwrap();
        let employee_actor = Actor::new(Role::Employee, Some(code("EMP001")), None);
        assert!(matches!(
            service.put_override(&employee_actor, &day).await,
            Err(ServiceError::Denied(_))
        ));
        assert_eq!(service.put_override(&hr(), &day).await.unwrap(), None);
        assert_eq!(
            recorder.events().last().unwrap(),
            "EMP001 2026-11-24 Present-OnTime",
            "published with the override applied"
        );
        let again = service.recompute_days(&days, now()).await.unwrap().records;
        assert_eq!(again, computed, "the record stays as computed");
        assert_eq!(
            store.overrides(None, d(1), d(30)).await.unwrap(),
            vec![day.clone()],
            "a recompute keeps the override"
        );
        let removed = service
            .remove_override(&hr(), "hr", &code("EMP001"), d(24), Some("fixed"), now())
            .await
            .unwrap();
        assert_eq!(removed, day);
        assert!(matches!(
            service
                .remove_override(&hr(), "hr", &code("EMP001"), d(24), None, now())
                .await,
            Err(ServiceError::Store(StoreError::NotFound { .. }))
        ));
        let log = service
            .audit_log(&hr(), &AuditQuery::default(), 0, 10)
            .await
            .unwrap();
        let actions: Vec<AuditAction> = log.results.iter().map(|e| e.entry.action).collect();
        assert_eq!(
            actions,
            [AuditAction::DayOverrideRemoved, AuditAction::DayOverridden]
        );
        assert!(matches!(
            service
                .audit_log(&employee_actor, &AuditQuery::default(), 0, 10)
                .await,
            Err(ServiceError::Denied(_))
        ));
        let _: &dyn Store = &*store;
    });
}
