//! Oversight: the audit trail, corrections, voided scans, day overrides and set-aside scans.

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use serde_json::json;

use super::fixtures::{add_employees, at, batch, date, id, is_not_found, scan};
use super::{CheckResult, fail};
use crate::audit::{AuditAction, AuditQuery, NewAuditEntry};
use crate::correction::{Correction, CorrectionId, CorrectionStatus};
use crate::employee::{DeviceUserId, EmployeeCode};
use crate::overrides::DayOverride;
use crate::scan::{MachineId, PunchState};
use crate::status::AttendanceStatus;
use crate::store::{CorrectionQuery, ScanId, ScanVoid, SetAsideScan, Store, StoreError};

fn entry(minutes: i64, actor: &str, action: AuditAction, target: &str) -> NewAuditEntry {
    NewAuditEntry::new(at(minutes), actor, action, target)
        .before(json!({"n": minutes}))
        .after(json!({"n": minutes + 1, "text": "é ✓"}))
        .reason("because")
}

pub(super) async fn audit_entries_append_with_increasing_ids_and_filter<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let entries = [
        entry(0, "ana", AuditAction::ScanVoided, "scan:A"),
        entry(10, "bob", AuditAction::DayOverridden, "employee:EMP001"),
        NewAuditEntry::new(at(20), "ana", AuditAction::SettingsChanged, "settings"),
        entry(30, "ana", AuditAction::DayOverridden, "employee:EMP002"),
        entry(30, "bob", AuditAction::ScanVoided, "scan:A"),
    ];
    let mut ids = Vec::new();
    for e in &entries {
        ids.push(store.append_audit(e).await.map_err(fail)?);
    }
    ensure!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "audit ids must increase: {ids:?}"
    );
    let all = store
        .query_audit(&AuditQuery::default(), 0, 100)
        .await
        .map_err(fail)?;
    ensure!(all.count == 5, "count of every entry: {}", all.count);
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    ensure!(
        all.results.iter().map(|e| e.id).collect::<Vec<_>>() == newest_first,
        "entries newest first: {:?}",
        all.results
    );
    ensure!(
        all.results
            .iter()
            .zip(entries.iter().rev())
            .all(|(stored, asked)| &stored.entry == asked),
        "entries must read back whole: {:?}",
        all.results
    );
    let cases: [(AuditQuery, Vec<usize>); 6] = [
        (
            AuditQuery {
                from: Some(at(10)),
                ..AuditQuery::default()
            },
            vec![4, 3, 2, 1],
        ),
        (
            AuditQuery {
                to: Some(at(30)),
                ..AuditQuery::default()
            },
            vec![2, 1, 0],
        ),
        (
            AuditQuery {
                actor: Some("ana".into()),
                ..AuditQuery::default()
            },
            vec![3, 2, 0],
        ),
        (
            AuditQuery {
                action: Some(AuditAction::DayOverridden),
                ..AuditQuery::default()
            },
            vec![3, 1],
        ),
        (
            AuditQuery {
                target: Some("scan:A".into()),
                ..AuditQuery::default()
            },
            vec![4, 0],
        ),
        (
            AuditQuery {
                from: Some(at(5)),
                to: Some(at(31)),
                actor: Some("bob".into()),
                action: Some(AuditAction::ScanVoided),
                target: Some("scan:A".into()),
            },
            vec![4],
        ),
    ];
    for (query, expected) in cases {
        let page = store.query_audit(&query, 0, 100).await.map_err(fail)?;
        let want: Vec<i64> = expected.iter().map(|&i| ids[i]).collect();
        ensure!(
            page.results.iter().map(|e| e.id).collect::<Vec<_>>() == want
                && page.count == want.len() as u64,
            "{query:?}: got {:?} (count {}), want {want:?}",
            page.results.iter().map(|e| e.id).collect::<Vec<_>>(),
            page.count
        );
    }
    let page = store
        .query_audit(&AuditQuery::default(), 1, 2)
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 5
            && page.results.iter().map(|e| e.id).collect::<Vec<_>>() == [ids[3], ids[2]],
        "offset 1 limit 2: {page:?}"
    );
    let next = store.append_audit(&entries[0]).await.map_err(fail)?;
    ensure!(next > ids[4], "a later entry gets a greater id");
    Ok(())
}

fn correction(id_text: &str, code: &str, requested_minutes: i64) -> Result<Correction, String> {
    Ok(Correction {
        id: id(CorrectionId::parse(id_text))?,
        employee_id: id(EmployeeCode::parse(code))?,
        scan_time: at(requested_minutes - 60),
        scan_type: Some(PunchState::CheckIn),
        reason: "forgot to punch".into(),
        requested_by: "worker".into(),
        requested_at: at(requested_minutes) + TimeDelta::nanoseconds(7),
        status: CorrectionStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_note: None,
    })
}

fn decided(mut c: Correction, approve: bool, by: &str) -> Correction {
    c.status = if approve {
        CorrectionStatus::Approved
    } else {
        CorrectionStatus::Rejected
    };
    c.decided_by = Some(by.to_owned());
    c.decided_at = Some(c.requested_at + TimeDelta::minutes(5));
    c.decision_note = Some(format!("decided by {by}"));
    c
}

pub(super) async fn corrections_filter_page_and_decide_once<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let a = correction("A", "EMP001", 10)?;
    let b = correction("B", "EMP002", 20)?;
    let c = correction("C", "EMP001", 20)?;
    let d = correction("D", "EMP002", 5)?;
    for x in [&a, &b, &c, &d] {
        store.create_correction(x).await.map_err(fail)?;
    }
    ensure!(
        matches!(
            store.create_correction(&a).await,
            Err(StoreError::Conflict(_))
        ),
        "a taken correction id must be a Conflict"
    );
    ensure!(
        matches!(
            store
                .create_correction(&correction("Z", "EMP404", 1)?)
                .await,
            Err(StoreError::Invalid(_))
        ),
        "a correction of an unknown employee must be Invalid"
    );
    ensure!(
        store.correction(&a.id).await.map_err(fail)? == a,
        "a correction must read back whole"
    );
    ensure!(
        is_not_found(&store.correction(&id(CorrectionId::parse("Q"))?).await),
        "a missing correction must be NotFound"
    );
    let approved = decided(a.clone(), true, "head");
    store.decide_correction(&approved).await.map_err(fail)?;
    ensure!(
        matches!(
            store
                .decide_correction(&decided(a.clone(), false, "hr"))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "deciding a decided correction must be a Conflict"
    );
    ensure!(
        store.correction(&a.id).await.map_err(fail)? == approved,
        "the first decision stands"
    );
    ensure!(
        is_not_found(
            &store
                .decide_correction(&decided(correction("Q", "EMP001", 1)?, true, "hr"))
                .await
        ),
        "deciding a missing correction must be NotFound"
    );
    let ids = |page: &crate::store::Page<Correction>| {
        page.results
            .iter()
            .map(|c| c.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let emp1 = id(EmployeeCode::parse("EMP001"))?;
    let emp2 = id(EmployeeCode::parse("EMP002"))?;
    let cases: [(CorrectionQuery, &[&str]); 5] = [
        (CorrectionQuery::default(), &["C", "B", "A", "D"]),
        (
            CorrectionQuery {
                employees: Some(vec![emp1.clone()]),
                ..CorrectionQuery::default()
            },
            &["C", "A"],
        ),
        (
            CorrectionQuery {
                employees: Some(vec![emp2.clone(), emp1.clone()]),
                status: Some(CorrectionStatus::Pending),
                ..CorrectionQuery::default()
            },
            &["C", "B", "D"],
        ),
        (
            CorrectionQuery {
                status: Some(CorrectionStatus::Approved),
                ..CorrectionQuery::default()
            },
            &["A"],
        ),
        (
            CorrectionQuery {
                employees: Some(Vec::new()),
                ..CorrectionQuery::default()
            },
            &[],
        ),
    ];
    for (mut query, want) in cases {
        query.limit = 100;
        let page = store.query_corrections(&query).await.map_err(fail)?;
        ensure!(
            ids(&page) == want && page.count == want.len() as u64,
            "{query:?}: got {:?} (count {}), want {want:?}",
            ids(&page),
            page.count
        );
    }
    let page = store
        .query_corrections(&CorrectionQuery {
            offset: 1,
            limit: 2,
            ..CorrectionQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 4 && ids(&page) == ["B", "A"],
        "offset 1 limit 2: {:?} (count {})",
        ids(&page),
        page.count
    );
    Ok(())
}

pub(super) async fn racing_correction_decisions_exactly_one_wins<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing")]).await?;
    for round in 0..4 {
        let c = correction(&format!("R{round}"), "EMP001", round)?;
        store.create_correction(&c).await.map_err(fail)?;
        let decisions: Vec<Correction> = (0..4)
            .map(|i| decided(c.clone(), i % 2 == 0, &format!("decider{i}")))
            .collect();
        let results = join_all(decisions.iter().map(|d| store.decide_correction(d))).await;
        let winners: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_ok()).collect();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        ensure!(
            winners.len() == 1 && conflicts == results.len() - 1,
            "round {round}: {} won and {conflicts} conflicted: {results:?}",
            winners.len()
        );
        let stored = store.correction(&c.id).await.map_err(fail)?;
        ensure!(
            stored == decisions[winners[0]],
            "round {round}: the winner's decision is stored: {stored:?}"
        );
    }
    Ok(())
}

fn void(scan: &ScanId, by: &str) -> ScanVoid {
    ScanVoid {
        scan: scan.clone(),
        reason: "test punch".into(),
        voided_by: by.to_owned(),
        voided_at: at(600) + TimeDelta::nanoseconds(3),
    }
}

pub(super) async fn voids_need_a_stored_scan_and_count_once<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let scans = vec![
        scan("M1", "7", 0)?,
        scan("M1", "7", 60)?,
        scan("M1", "8", 30)?,
        scan("M1", "9", 30)?,
    ];
    store
        .record_scans(batch("M1", scans.clone(), None)?)
        .await
        .map_err(fail)?;
    let ids: Vec<ScanId> = scans.iter().map(ScanId::of).collect();
    let missing = ScanId::of(&scan("M1", "7", 1)?);
    ensure!(
        is_not_found(&store.void_scan(&void(&missing, "hr")).await),
        "voiding a scan never stored must be NotFound"
    );
    for i in [0, 1, 2] {
        store.void_scan(&void(&ids[i], "hr")).await.map_err(fail)?;
    }
    ensure!(
        matches!(
            store.void_scan(&void(&ids[0], "other")).await,
            Err(StoreError::Conflict(_))
        ),
        "voiding a voided scan must be a Conflict"
    );
    let users = |u: &[&str]| -> Result<Vec<DeviceUserId>, String> {
        u.iter().map(|u| id(DeviceUserId::parse(u))).collect()
    };
    let read = |users: Vec<DeviceUserId>, from: DateTime<Utc>, to: DateTime<Utc>| async move {
        store
            .voids_of_users(&users, from, to)
            .await
            .map(|v| v.into_iter().map(|v| v.scan).collect::<Vec<_>>())
            .map_err(fail)
    };
    let all = store
        .voids_of_users(&users(&["7", "8", "9"])?, at(0), at(60))
        .await
        .map_err(fail)?;
    ensure!(
        all == vec![
            void(&ids[0], "hr"),
            void(&ids[1], "hr"),
            void(&ids[2], "hr")
        ],
        "every void of the users, whole, by scan id: {all:?}"
    );
    let cases = [
        (
            users(&["7"])?,
            at(0),
            at(60),
            vec![ids[0].clone(), ids[1].clone()],
        ),
        (users(&["7"])?, at(1), at(60), vec![ids[1].clone()]),
        (users(&["7"])?, at(0), at(59), vec![ids[0].clone()]),
        // Compared in whole seconds: a range ending within the scan's second includes it.
        (
            users(&["7"])?,
            at(60) + TimeDelta::milliseconds(500),
            at(60) + TimeDelta::milliseconds(900),
            vec![ids[1].clone()],
        ),
        (users(&["8", "9"])?, at(0), at(100), vec![ids[2].clone()]),
        (users(&["10"])?, at(0), at(100), Vec::new()),
        (Vec::new(), at(0), at(100), Vec::new()),
    ];
    for (who, from, to, want) in cases {
        let got = read(who.clone(), from, to).await?;
        ensure!(
            got == want,
            "{who:?} {from}..={to}: got {got:?}, want {want:?}"
        );
    }
    Ok(())
}

fn day_override(code: &str, day: u32, status: AttendanceStatus) -> Result<DayOverride, String> {
    id(DayOverride::new(
        id(EmployeeCode::parse(code))?,
        date(11, day),
        status,
        "device down",
        "hr",
        at(day.into()) + TimeDelta::nanoseconds(11),
    ))
}

pub(super) async fn overrides_put_replace_remove<S: Store + ?Sized>(store: &S) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let first = day_override("EMP001", 3, AttendanceStatus::PresentOnTime)?;
    ensure!(
        store.put_override(&first).await.map_err(fail)?.is_none(),
        "a first override replaces nothing"
    );
    let second = day_override("EMP001", 3, AttendanceStatus::Absent)?;
    ensure!(
        store.put_override(&second).await.map_err(fail)? == Some(first.clone()),
        "a second override returns the one it replaced"
    );
    let others = [
        day_override("EMP001", 1, AttendanceStatus::PresentLate)?,
        day_override("EMP002", 2, AttendanceStatus::PresentOnTime)?,
        day_override("EMP002", 5, AttendanceStatus::PresentOnTime)?,
    ];
    for o in &others {
        store.put_override(o).await.map_err(fail)?;
    }
    ensure!(
        matches!(
            store
                .put_override(&day_override("EMP404", 3, AttendanceStatus::Absent)?)
                .await,
            Err(StoreError::Invalid(_))
        ),
        "an override of an unknown employee must be Invalid"
    );
    let all = store
        .overrides(None, date(11, 1), date(11, 30))
        .await
        .map_err(fail)?;
    ensure!(
        all == vec![
            others[0].clone(),
            second.clone(),
            others[1].clone(),
            others[2].clone()
        ],
        "every override by employee then date: {all:?}"
    );
    let emp2 = [id(EmployeeCode::parse("EMP002"))?];
    let some = store
        .overrides(Some(&emp2), date(11, 2), date(11, 4))
        .await
        .map_err(fail)?;
    ensure!(some == vec![others[1].clone()], "filtered: {some:?}");
    let none = store
        .overrides(Some(&[]), date(11, 1), date(11, 30))
        .await
        .map_err(fail)?;
    ensure!(none.is_empty(), "no employees, no overrides: {none:?}");
    let emp1 = id(EmployeeCode::parse("EMP001"))?;
    ensure!(
        store
            .remove_override(&emp1, date(11, 3))
            .await
            .map_err(fail)?
            == second,
        "remove returns what it removed"
    );
    ensure!(
        is_not_found(&store.remove_override(&emp1, date(11, 3)).await),
        "removing a missing override must be NotFound"
    );
    let left = store
        .overrides(Some(&[emp1]), date(11, 1), date(11, 30))
        .await
        .map_err(fail)?;
    ensure!(
        left == vec![others[0].clone()],
        "after the removal: {left:?}"
    );
    Ok(())
}

fn set_aside(
    machine: &str,
    user: &str,
    timestamp: DateTime<Utc>,
    received_minutes: i64,
    raw: Option<&str>,
) -> Result<SetAsideScan, String> {
    Ok(SetAsideScan {
        machine_id: id(MachineId::parse(machine))?,
        device_user_id: id(DeviceUserId::parse(user))?,
        timestamp,
        reason: format!("outside the window ({user})"),
        raw: raw.map(str::to_owned),
        received_at: at(received_minutes) + TimeDelta::nanoseconds(7),
    })
}

pub(super) async fn set_aside_scans_are_kept_once_newest_first<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let instant = |text: &str| -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{text}: {e}"))
    };
    // Dates no scan may be stored at: the year 0, the epoch, far ahead; nanoseconds kept.
    let year_zero = set_aside("M1", "7", instant("0000-01-01T08:00:00Z")?, 0, None)?;
    let epoch = set_aside(
        "M1",
        "8",
        instant("1970-01-01T00:00:00.123456789Z")?,
        0,
        Some("8\t1970-01-01 00:00:00\t0\t1 é"),
    )?;
    let far = set_aside("M2", "7", instant("2099-12-31T23:59:59Z")?, 5, Some("raw"))?;
    let kept = store
        .keep_set_aside(&[year_zero.clone(), epoch.clone(), far.clone()])
        .await
        .map_err(fail)?;
    ensure!(kept == 3, "three new set-aside scans are kept, not {kept}");
    // Sent again (the same second, other details) with one new one: only the new one is kept.
    let mut again = epoch.clone();
    again.timestamp = instant("1970-01-01T00:00:00.5Z")?;
    again.reason = "again".into();
    again.received_at = at(9);
    let newer = set_aside("M2", "9", instant("2100-01-01T00:00:00Z")?, 9, None)?;
    let kept = store
        .keep_set_aside(&[again, year_zero.clone(), newer.clone()])
        .await
        .map_err(fail)?;
    ensure!(kept == 1, "only the one new scan is kept, not {kept}");
    let all = store.set_aside_scans(0, 10).await.map_err(fail)?;
    ensure!(all.count == 4, "four kept in all, not {}", all.count);
    ensure!(
        all.results == vec![newer.clone(), far.clone(), year_zero.clone(), epoch.clone()],
        "newest arrival first, then by key, each exactly as kept: {:?}",
        all.results
    );
    let page = store.set_aside_scans(1, 2).await.map_err(fail)?;
    ensure!(
        page.count == 4 && page.results == vec![far, year_zero],
        "the second and third: {page:?}"
    );
    ensure!(
        store.keep_set_aside(&[]).await.map_err(fail)? == 0,
        "keeping nothing keeps nothing"
    );
    Ok(())
}
