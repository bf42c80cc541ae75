//! What the conformance suite cannot check on any store, on PostgreSQL: re-sends after a lost
//! connection, failing transactions, racing writers and leave commits, typed errors, migrations
//! run twice. Each test makes its own database (see `attendance_store_postgres::testkit`).

use std::sync::Arc;
use std::time::Duration;

use attendance_core::access::Role;
use attendance_core::daily::DailyRecord;
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode, NewEmployee};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::shift::ShiftId;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, LeaveChange, LeaveStore, MachineCursor, MachineStatus,
    MachineStore, ScanBatch, ScanStore, StoreError, UserAccount, UserAccountStore,
};
use attendance_store_postgres::{
    COPY_MIN_SCANS, PING_IDLE_AFTER, PgOptions, PgStore, SMALL_GROUP_SCANS, testkit,
};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use sqlx::{Connection, PgConnection};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

fn scan(machine: &str, user: &str, seconds: i64) -> ScanData {
    ScanData {
        machine_id: MachineId::parse(machine).unwrap(),
        device_user_id: DeviceUserId::parse(user).unwrap(),
        timestamp: at(seconds),
        punch_state: PunchState::CheckIn,
        verify_mode: VerifyMode::Fingerprint,
        raw: None,
    }
}

/// `n` scans of machine `machine`, users 1–50, one second apart from `first`.
fn scans(machine: &str, first: i64, n: i64) -> Vec<ScanData> {
    (first..first + n)
        .map(|i| scan(machine, &(1 + i % 50).to_string(), i))
        .collect()
}

fn batch(machine: &str, scans: Vec<ScanData>, cursor: &str) -> ScanBatch {
    ScanBatch {
        machine_id: MachineId::parse(machine).unwrap(),
        scans,
        cursor: Some(MachineCursor(cursor.into())),
    }
}

fn employee(code: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: "Sewing".into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        ..NewEmployee::default()
    })
    .unwrap()
}

async fn cursor(store: &PgStore, machine: &str) -> Option<String> {
    store
        .machine_cursor(&MachineId::parse(machine).unwrap())
        .await
        .unwrap()
        .map(|c| c.0)
}

fn record(code: &str, day: u32) -> DailyRecord {
    DailyRecord {
        employee_id: EmployeeCode::parse(code).unwrap(),
        date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
        shift: ShiftId::parse("DAY").unwrap(),
        status: AttendanceStatus::Absent,
        check_in: None,
        check_out: None,
        working_seconds: 0,
        overtime_seconds: 0,
        extra_overtime_seconds: 0,
        late_minutes: 0,
        scans: Vec::new(),
        missing_checkout: false,
        worked_on_holiday: false,
        worked_on_weekend: false,
        snacks_eligible: false,
        night_bill_eligible: false,
        holiday_name: None,
        half_day_leave: false,
        window_closed: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resent_after_a_lost_connection_is_stored_once_and_its_cursor_is_right() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let url = server.database().await;
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    store
        .record_scans(batch("M1", scans("M1", 0, 100), "100"))
        .await
        .unwrap();
    // The caller gives up on a batch mid-way (a timeout, a cancelled task), then the process
    // goes away without closing its pool.
    {
        let pending = store.record_scans(batch("M1", scans("M1", 100, 20_000), "20100"));
        let _ = tokio::time::timeout(Duration::from_millis(5), pending).await;
    }
    drop(store);
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let count = store.count_scans().await.unwrap();
    let cur = cursor(&store, "M1").await;
    assert!(
        (count == 100 && cur.as_deref() == Some("100"))
            || (count == 20_100 && cur.as_deref() == Some("20100")),
        "{count} scans, cursor {cur:?}"
    );
    for _ in 0..2 {
        let again = store
            .record_scans(batch("M1", scans("M1", 100, 20_000), "20100"))
            .await
            .unwrap();
        assert_eq!(again.inserted.len() + again.duplicates, 20_000);
    }
    assert_eq!(store.count_scans().await.unwrap(), 20_100);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("20100"));
    store.close().await;
    server.cleanup().await;
}

/// A fresh database holding 10 scans of `M1` (cursor `10`), its store and a second
/// connection to it; `None` when the PostgreSQL tests are skipped.
async fn ten_scans_stored() -> Option<(Arc<testkit::TestServer>, PgStore, PgConnection)> {
    let server = testkit::server().await?;
    let url = server.database().await;
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    store
        .record_scans(batch("M1", scans("M1", 0, 10), "10"))
        .await
        .unwrap();
    let other = PgConnection::connect(&url).await.unwrap();
    Some((server, store, other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_broken_while_idle_are_replaced_before_they_are_used() {
    let Some((server, store, mut admin)) = ten_scans_stored().await else {
        return;
    };
    // Another session ends every connection of the store's pool (as a server restart or a
    // network timeout would).
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the pool had no connection to end");
    tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(200)).await;
    // Idle that long, each is checked before use, found broken and replaced: no call fails.
    for _ in 0..3 {
        assert_eq!(store.count_scans().await.unwrap(), 10);
    }
    store
        .record_scans(batch("M1", scans("M1", 10, 10), "20"))
        .await
        .unwrap();
    assert_eq!(store.count_scans().await.unwrap(), 20);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("20"));
    admin.close().await.unwrap();
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_transaction_fails_leaves_neither_scans_nor_cursor() {
    let Some((server, store, mut conn)) = ten_scans_stored().await else {
        return;
    };
    // Make the cursor write, which comes after the scans in the transaction, fail.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.cursor = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_boom BEFORE INSERT OR UPDATE ON att_machine_cursors \
         FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    // Each way a group is stored: one statement, an insert in a transaction, `COPY`.
    for size in [
        SMALL_GROUP_SCANS as i64,
        SMALL_GROUP_SCANS as i64 + 1,
        COPY_MIN_SCANS as i64,
    ] {
        let failed = store
            .record_scans(batch("M1", scans("M1", 10, size), "boom"))
            .await;
        assert!(
            matches!(failed, Err(StoreError::Backend { .. })),
            "{size} scans: {failed:?}"
        );
        assert_eq!(store.count_scans().await.unwrap(), 10, "{size} scans");
        assert_eq!(cursor(&store, "M1").await.as_deref(), Some("10"));
    }
    let ok = store
        .record_scans(batch("M1", scans("M1", 10, 700), "710"))
        .await
        .unwrap();
    assert_eq!(ok.inserted.len(), 700);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("710"));
    store.close().await;
    server.cleanup().await;
}

/// Runs `writers` writers at once, writer `w` storing the groups `groups(w)` one after the other
/// (a group of one with `record_scans`). Every scan sent must come back new or duplicate, and
/// every stored scan new for exactly one writer. Returns how many scans are stored.
async fn race(
    store: &Arc<PgStore>,
    writers: i64,
    groups: impl Fn(i64) -> Vec<Vec<ScanBatch>>,
) -> u64 {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, groups) = (store.clone(), groups(w));
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for (round, mut group) in groups.into_iter().enumerate() {
                let sent: Vec<usize> = group.iter().map(|b| b.scans.len()).collect();
                let outcomes = if group.len() == 1 {
                    store.record_scans(group.remove(0)).await.map(|o| vec![o])
                } else {
                    store.record_scan_batches(group).await
                }
                .unwrap_or_else(|e| panic!("writer {w} round {round}: {e:?}"));
                for (outcome, sent) in outcomes.iter().zip(sent) {
                    assert_eq!(outcome.inserted.len() + outcome.duplicates, sent);
                    inserted += outcome.inserted.len();
                }
            }
            inserted
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap();
    }
    let stored = store.count_scans().await.unwrap();
    assert_eq!(
        inserted as u64, stored,
        "every scan new for exactly one writer"
    );
    stored
}

/// Eight writers send the same overlapping batches of `size` scans at once (a push and a pull
/// of the same device, two instances polling it): every scan is new for exactly one of them.
async fn race_overlapping_batches(size: i64) {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = Arc::new(server.store().await.unwrap());
    let stored = race(&store, 8, |w| {
        (0..20i64)
            .map(|b| {
                // Half the writers send their scans backwards: overlapping batches in opposite
                // orders must not deadlock.
                let mut sent = scans("M1", b * size / 2 + (w % 2) * size / 4, size);
                if w % 4 >= 2 {
                    sent.reverse();
                }
                vec![batch("M1", sent, &b.to_string())]
            })
            .collect()
    })
    .await;
    assert_eq!(stored as i64, 19 * size / 2 + size / 4 + size);
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_of_the_same_scans_store_each_once() {
    // Small groups: one statement each.
    race_overlapping_batches(SMALL_GROUP_SCANS as i64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_of_the_same_larger_groups_store_each_once() {
    // Larger groups: the anti-join in a transaction, again with `ON CONFLICT` after a race.
    race_overlapping_batches(2 * SMALL_GROUP_SCANS as i64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_leave_commits_exactly_one_wins_every_round() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = Arc::new(server.store().await.unwrap());
    let code = EmployeeCode::parse("EMP001").unwrap();
    store.create_employee(&employee("EMP001")).await.unwrap();
    for round in 0..30u64 {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let change = LeaveChange {
                    employee: code.clone(),
                    expected_version: round,
                    requests: Vec::new(),
                    entries: Vec::new(),
                };
                tokio::spawn(async move { store.commit_leave(change).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(version) => {
                    assert_eq!(version, round + 1);
                    wins += 1;
                }
                Err(StoreError::Conflict(_)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    assert_eq!(store.leave_account(&code).await.unwrap().version, 30);
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_twice_are_harmless() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let url = server.database().await;
    // Two instances starting at once on an empty database, then a third, then by hand.
    let (a, b) = tokio::join!(
        PgStore::connect(&url, PgOptions::default()),
        PgStore::connect(&url, PgOptions::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    a.create_employee(&employee("EMP001")).await.unwrap();
    let c = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    c.migrate().await.unwrap();
    assert_eq!(b.list_employees(None).await.unwrap().len(), 1);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM att_schema_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let shipped = attendance_store_sql::schema::MIGRATIONS.len();
    assert_eq!(applied, shipped as i64, "each migration recorded once");
    conn.close().await.unwrap();
    for store in [a, b, c] {
        store.close().await;
    }
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_key_and_unique_violations_come_back_typed() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    let a = employee("EMP001");
    store.create_employee(&a).await.unwrap();
    // Unique: the code, the device user id, a machine id, a username.
    assert!(matches!(
        store.create_employee(&a).await,
        Err(StoreError::Conflict(_))
    ));
    let mut same_pin = employee("EMP002");
    same_pin.device_user_id = a.device_user_id.clone();
    assert!(matches!(
        store.create_employee(&same_pin).await,
        Err(StoreError::Conflict(_))
    ));
    store.create_employee(&employee("EMP002")).await.unwrap();
    let mut taken_pin = employee("EMP002");
    taken_pin.device_user_id = a.device_user_id.clone();
    assert!(matches!(
        store.update_employee(&taken_pin).await,
        Err(StoreError::Conflict(_))
    ));
    let machine = Machine::parse(
        &NewMachine {
            machine_id: "M1".into(),
            name: "Gate".into(),
            machine_type: "simulated".into(),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    )
    .unwrap();
    store.create_machine(&machine).await.unwrap();
    assert!(matches!(
        store.create_machine(&machine).await,
        Err(StoreError::Conflict(_))
    ));
    let account = UserAccount {
        username: "rahima".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Employee,
        employee: Some(a.employee_id.clone()),
        active: true,
        token_version: 0,
        created_at: None,
    };
    store.create_account(&account).await.unwrap();
    assert!(matches!(
        store.create_account(&account).await,
        Err(StoreError::Conflict(_))
    ));
    // Foreign keys: records, accounts and leave of unknown employees.
    assert!(matches!(
        store
            .upsert_records(&[record("EMP001", 1), record("EMP404", 1)])
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(
        store
            .record(
                &a.employee_id,
                NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "a refused upsert writes nothing"
    );
    let stray = UserAccount {
        username: "ghost".into(),
        employee: Some(EmployeeCode::parse("EMP404").unwrap()),
        ..account.clone()
    };
    assert!(matches!(
        store.create_account(&stray).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .commit_leave(LeaveChange {
                employee: EmployeeCode::parse("EMP404").unwrap(),
                expected_version: 0,
                requests: Vec::new(),
                entries: Vec::new(),
            })
            .await,
        Err(StoreError::Invalid(_))
    ));
    // In use: an employee with an account cannot go; a status needs its machine.
    assert!(matches!(
        store.delete_employee(&a.employee_id).await,
        Err(StoreError::Conflict(_))
    ));
    let status = MachineStatus {
        machine_id: MachineId::parse("M404").unwrap(),
        connected: false,
        last_seen: None,
        last_error: None,
        clock_drift_seconds: None,
        updated_at: at(0),
    };
    assert!(matches!(
        store.put_machine_status(&status).await,
        Err(StoreError::NotFound { .. })
    ));
    server.cleanup().await;
}

/// `n` scans like [`scans`], with raw records full of what `COPY` text must escape, empty ones
/// and missing ones (chosen by the second, so a scan sent twice carries the same record).
fn raw_scans(machine: &str, first: i64, n: i64) -> Vec<ScanData> {
    scans(machine, first, n)
        .into_iter()
        .zip(first..)
        .map(|(s, second)| ScanData {
            raw: match second % 5 {
                0 => Some(format!("tab\there {second}")),
                1 => Some(format!("back\\slash \\N {second}")),
                2 => Some(format!("cr\r\nlf\n{second}")),
                3 => Some(String::new()),
                _ => None,
            },
            ..s
        })
        .collect()
}

/// Every scan stored for users 1–50, in a canonical order.
async fn stored_scans(store: &PgStore) -> Vec<ScanData> {
    let mut all = Vec::new();
    for user in 1..=50 {
        let user = DeviceUserId::parse(&user.to_string()).unwrap();
        all.extend(
            store
                .scans_of_user(&user, at(-86_400), at(10 * 86_400))
                .await
                .unwrap(),
        );
    }
    all.sort_by(|a, b| {
        (a.machine_id.as_str(), a.timestamp).cmp(&(b.machine_id.as_str(), b.timestamp))
    });
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_new_group_is_copied_with_every_text_intact() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    let (m1, m2) = (raw_scans("M1", 0, 3_000), raw_scans("M2", 0, 2_000));
    assert!(m1.len() + m2.len() >= attendance_store_postgres::COPY_MIN_SCANS);
    assert!(m1.iter().any(|s| s.raw.is_none()) && m1.iter().any(|s| s.raw.as_deref() == Some("")));
    let outcomes = store
        .record_scan_batches(vec![
            batch("M1", m1.clone(), "c1"),
            batch("M2", m2.clone(), "c2"),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes[0].inserted, m1);
    assert_eq!(outcomes[1].inserted, m2);
    assert_eq!(outcomes[0].duplicates + outcomes[1].duplicates, 0);
    let mut want = [m1, m2].concat();
    want.sort_by(|a, b| {
        (a.machine_id.as_str(), a.timestamp).cmp(&(b.machine_id.as_str(), b.timestamp))
    });
    assert_eq!(
        stored_scans(&store).await,
        want,
        "tab, backslash, CR/LF, empty and NULL round-trip"
    );
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("c1"));
    assert_eq!(cursor(&store, "M2").await.as_deref(), Some("c2"));
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_group_overlapping_stored_scans_gets_per_batch_outcomes() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    store
        .record_scans(batch("M1", raw_scans("M1", 0, 1_000), "old"))
        .await
        .unwrap();
    // M1 overlaps what is stored, M2 is new, and M1 again repeats part of its own batch.
    let group = vec![
        batch("M1", raw_scans("M1", 500, 2_500), "m1a"),
        batch("M2", raw_scans("M2", 0, 2_000), "m2"),
        batch("M1", raw_scans("M1", 2_900, 200), "m1b"),
    ];
    let outcomes = store.record_scan_batches(group.clone()).await.unwrap();
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.inserted.len(), o.duplicates))
        .collect();
    assert_eq!(counts, [(2_000, 500), (2_000, 0), (100, 100)]);
    assert_eq!(outcomes[0].inserted, group[0].scans[500..]);
    assert_eq!(outcomes[2].inserted, group[2].scans[100..]);
    assert_eq!(store.count_scans().await.unwrap(), 3_100 + 2_000);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("m1b"));
    assert_eq!(cursor(&store, "M2").await.as_deref(), Some("m2"));
    // The same group again: all duplicates, through the staging table.
    let again = store.record_scan_batches(group).await.unwrap();
    assert!(again.iter().all(|o| o.inserted.is_empty()), "{again:?}");
    assert_eq!(again.iter().map(|o| o.duplicates).sum::<usize>(), 4_700);
    let mut want = [raw_scans("M1", 0, 3_100), raw_scans("M2", 0, 2_000)].concat();
    want.sort_by(|a, b| {
        (a.machine_id.as_str(), a.timestamp).cmp(&(b.machine_id.as_str(), b.timestamp))
    });
    assert_eq!(stored_scans(&store).await, want);
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_racing_large_groups_store_each_scan_once() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = Arc::new(server.store().await.unwrap());
    // Writers overlap by half a group, in both machines.
    let stored = race(&store, 4, |w| {
        (0..4i64)
            .map(|round| {
                let first = round * 2_000 + w * 1_000;
                vec![
                    batch("M1", scans("M1", first, 2_500), "m1"),
                    batch("M2", scans("M2", first, 2_500), "m2"),
                ]
            })
            .collect()
    })
    .await;
    // Each machine: seconds 0 up to the last writer's last round, 3 * 2,000 + 3 * 1,000 + 2,500.
    assert_eq!(stored, 2 * (6_000 + 3_000 + 2_500));
    store.close().await;
    server.cleanup().await;
}
