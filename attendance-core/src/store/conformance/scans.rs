//! Scans: stored once across resends and within a batch, deduplicated by the second, a bad
//! batch refused whole with its cursor, read back in time order, groups stored batch by batch.

use chrono::TimeDelta;

use super::fixtures::{at, batch, id, scan};
use super::{CheckResult, fail};
use crate::employee::DeviceUserId;
use crate::ingest::MachineCursor;
use crate::scan::{MachineId, PunchState, ScanData};
use crate::store::{Store, StoreError};

pub(super) async fn scans_are_stored_once_across_resends<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let scans = vec![
        scan("M1", "1", 0)?,
        scan("M1", "2", 1)?,
        scan("M1", "1", 600)?,
    ];
    let first = store
        .record_scans(batch("M1", scans.clone(), Some("3"))?)
        .await
        .map_err(fail)?;
    ensure!(
        first.inserted == scans && first.duplicates == 0,
        "first send: {first:?}"
    );
    // The same batch again, as after a crash before the device was told: nothing new.
    let again = store
        .record_scans(batch("M1", scans.clone(), Some("3"))?)
        .await
        .map_err(fail)?;
    ensure!(
        again.inserted.is_empty() && again.duplicates == 3,
        "resend: {again:?}"
    );
    // An overlapping batch stores only the new scan and moves the cursor.
    let more = vec![scans[2].clone(), scan("M1", "2", 700)?];
    let third = store
        .record_scans(batch("M1", more, Some("4"))?)
        .await
        .map_err(fail)?;
    ensure!(
        third.inserted.len() == 1 && third.duplicates == 1,
        "overlap: {third:?}"
    );
    let count = store.count_scans().await.map_err(fail)?;
    ensure!(count == 4, "{count} scans stored, want 4");
    let cursor = store
        .machine_cursor(&id(MachineId::parse("M1"))?)
        .await
        .map_err(fail)?;
    ensure!(
        cursor == Some(MachineCursor("4".into())),
        "cursor {cursor:?}, want 4"
    );
    let other = store
        .machine_cursor(&id(MachineId::parse("M2"))?)
        .await
        .map_err(fail)?;
    ensure!(other.is_none(), "a machine never read has cursor {other:?}");
    Ok(())
}

pub(super) async fn duplicates_within_a_batch_count_once<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let s = scan("M1", "7", 5)?;
    let outcome = store
        .record_scans(batch("M1", vec![s.clone(), s], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.inserted.len() == 1 && outcome.duplicates == 1,
        "{outcome:?}"
    );
    Ok(())
}

pub(super) async fn the_dedupe_key_is_truncated_to_the_second<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let whole = scan("M1", "7", 5)?;
    let mut later = whole.clone();
    later.timestamp += TimeDelta::milliseconds(400);
    later.punch_state = PunchState::CheckOut;
    let mut other_machine = scan("M2", "7", 5)?;
    other_machine.timestamp = whole.timestamp;
    store
        .record_scans(batch("M1", vec![whole], None)?)
        .await
        .map_err(fail)?;
    let outcome = store
        .record_scans(batch("M1", vec![later], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.duplicates == 1,
        "same second, same machine and user must be one scan: {outcome:?}"
    );
    let outcome = store
        .record_scans(batch("M2", vec![other_machine], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.inserted.len() == 1,
        "another machine is another scan: {outcome:?}"
    );
    Ok(())
}

pub(super) async fn a_rejected_batch_stores_nothing_and_keeps_the_cursor<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    store
        .record_scans(batch("M1", vec![scan("M1", "1", 0)?], Some("1"))?)
        .await
        .map_err(fail)?;
    let mixed = vec![scan("M1", "1", 10)?, scan("M2", "1", 11)?];
    match store.record_scans(batch("M1", mixed, Some("9"))?).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "a scan of another machine must be Invalid, got {other:?}"
            ));
        }
    }
    let count = store.count_scans().await.map_err(fail)?;
    ensure!(
        count == 1,
        "the rejected batch left {} scans behind",
        count - 1
    );
    let cursor = store
        .machine_cursor(&id(MachineId::parse("M1"))?)
        .await
        .map_err(fail)?;
    ensure!(
        cursor == Some(MachineCursor("1".into())),
        "cursor moved to {cursor:?}"
    );
    Ok(())
}

pub(super) async fn scans_of_a_user_come_in_time_order_from_every_machine<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    store
        .record_scans(batch(
            "M1",
            vec![
                scan("M1", "1", 30)?,
                scan("M1", "2", 10)?,
                scan("M1", "1", 0)?,
            ],
            None,
        )?)
        .await
        .map_err(fail)?;
    store
        .record_scans(batch(
            "M2",
            vec![scan("M2", "1", 20)?, scan("M2", "1", 90)?],
            None,
        )?)
        .await
        .map_err(fail)?;
    let user = id(DeviceUserId::parse("1"))?;
    let got = store
        .scans_of_user(&user, at(0), at(90))
        .await
        .map_err(fail)?;
    let minutes: Vec<i64> = got
        .iter()
        .map(|s| (s.timestamp - at(0)).num_minutes())
        .collect();
    ensure!(
        minutes == [0, 20, 30],
        "want [0, 20, 30] ([from, to) in time order), got {minutes:?}"
    );
    ensure!(got[1].machine_id.as_str() == "M2", "scans of every machine");
    ensure!(
        got[0].raw.as_deref() == Some("1\t0"),
        "raw payload kept: {:?}",
        got[0].raw
    );
    Ok(())
}

pub(super) async fn a_group_of_batches_is_stored_batch_by_batch<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let empty = store.record_scan_batches(Vec::new()).await.map_err(fail)?;
    ensure!(
        empty.is_empty(),
        "an empty group gives no outcomes: {empty:?}"
    );
    store
        .record_scans(batch("M2", vec![scan("M2", "2", 3)?], Some("0"))?)
        .await
        .map_err(fail)?;
    let group = vec![
        batch(
            "M1",
            vec![scan("M1", "1", 0)?, scan("M1", "2", 1)?],
            Some("a"),
        )?,
        batch(
            "M2",
            vec![scan("M2", "1", 0)?, scan("M2", "2", 3)?],
            Some("b"),
        )?,
        // The same machine again: its repeat of the first batch's scan is a duplicate.
        batch(
            "M1",
            vec![scan("M1", "1", 0)?, scan("M1", "1", 5)?],
            Some("c"),
        )?,
    ];
    let outcomes = store.record_scan_batches(group).await.map_err(fail)?;
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.inserted.len(), o.duplicates))
        .collect();
    ensure!(
        counts == [(2, 0), (1, 1), (1, 1)],
        "(inserted, duplicates) per batch {counts:?}, want [(2, 0), (1, 1), (1, 1)]"
    );
    ensure!(
        outcomes[2].inserted == [scan("M1", "1", 5)?],
        "the third batch's new scan: {:?}",
        outcomes[2].inserted
    );
    for (machine, want) in [("M1", "c"), ("M2", "b")] {
        let cursor = store
            .machine_cursor(&id(MachineId::parse(machine))?)
            .await
            .map_err(fail)?;
        ensure!(
            cursor == Some(MachineCursor(want.into())),
            "{machine}'s cursor {cursor:?}, want the last batch's {want}"
        );
    }
    ensure!(
        store.count_scans().await.map_err(fail)? == 5,
        "5 scans stored after the group"
    );

    // One invalid batch refuses the whole group: nothing of it is stored, no cursor moves.
    let refused = vec![
        batch("M3", vec![scan("M3", "1", 0)?], Some("x"))?,
        batch(
            "M1",
            vec![scan("M1", "1", 9)?, scan("M2", "1", 9)?],
            Some("y"),
        )?,
    ];
    match store.record_scan_batches(refused).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "a group with a stray scan must be Invalid: {other:?}"
            ));
        }
    }
    ensure!(
        store.count_scans().await.map_err(fail)? == 5,
        "a refused group stored scans"
    );
    let m3 = store
        .machine_cursor(&id(MachineId::parse("M3"))?)
        .await
        .map_err(fail)?;
    ensure!(m3.is_none(), "a refused group moved a cursor: {m3:?}");

    // A large group (stores may take another path for it) half of which is stored already.
    let big = |machine: &str, from: i64, n: i64| -> Result<Vec<ScanData>, String> {
        (from..from + n)
            .map(|i| scan(machine, &(100 + i % 50).to_string(), i))
            .collect()
    };
    store
        .record_scans(batch("M4", big("M4", 0, 1_500)?, None)?)
        .await
        .map_err(fail)?;
    let outcomes = store
        .record_scan_batches(vec![
            batch("M4", big("M4", 0, 3_000)?, Some("m4"))?,
            batch("M5", big("M5", 0, 2_000)?, Some("m5"))?,
        ])
        .await
        .map_err(fail)?;
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.inserted.len(), o.duplicates))
        .collect();
    ensure!(
        counts == [(1_500, 1_500), (2_000, 0)],
        "large group (inserted, duplicates) {counts:?}"
    );
    ensure!(
        outcomes[0].inserted == big("M4", 1_500, 1_500)?,
        "the large batch's new scans, in batch order"
    );
    ensure!(
        store.count_scans().await.map_err(fail)? == 5 + 3_000 + 2_000,
        "scans stored after the large group"
    );
    Ok(())
}
