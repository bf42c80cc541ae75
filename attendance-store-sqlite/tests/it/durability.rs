//! What the conformance suite cannot check on any store: crashes, failing transactions, real
//! concurrency, reopening files, migrations run twice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use attendance_core::access::Role;
use attendance_core::daily::{DailyRecord, DayTally};
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode, NewEmployee};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::shift::ShiftId;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, LeaveChange, LeaveStore, MachineCursor, MachineStatus,
    MachineStore, RecordOrder, RecordQuery, ScanBatch, ScanStore, Store, StoreError, UserAccount,
    UserAccountStore,
};
use attendance_store_sql::codec::ScanRow;
use attendance_store_sql::schema::{Backend, MIGRATIONS, migrations_table};
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use sea_query::SqliteQueryBuilder;
use sqlx::{Connection, SqliteConnection};

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

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
        .await
        .unwrap()
}

async fn cursor(store: &SqliteStore, machine: &str) -> Option<String> {
    store
        .machine_cursor(&MachineId::parse(machine).unwrap())
        .await
        .unwrap()
        .map(|c| c.0)
}

const CRASH_DB: &str = "ATT_SQLITE_CRASH_DB";

/// Not a test of its own: the child process of
/// `a_batch_resent_after_a_crash_is_stored_once_and_its_cursor_is_right`, which stores a batch,
/// starts a second one and aborts the process in the middle of it.
#[tokio::test]
async fn crash_child() {
    let Ok(path) = std::env::var(CRASH_DB) else {
        return;
    };
    let store = open(Path::new(&path)).await;
    store
        .record_scans(batch("M1", scans("M1", 0, 1000), "1000"))
        .await
        .unwrap();
    let writer = store.clone();
    tokio::spawn(async move {
        // A big batch: the abort below lands while its transaction is open.
        let _ = writer
            .record_scans(batch("M1", scans("M1", 1000, 50_000), "51000"))
            .await;
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::process::abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resent_after_a_crash_is_stored_once_and_its_cursor_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB, &path)
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child must die by abort, got {status}"
    );

    // Reopening recovers the WAL: the first batch and its cursor, and the interrupted batch
    // either whole with its cursor or not at all.
    let store = open(&path).await;
    let count = store.count_scans().await.unwrap();
    let cur = cursor(&store, "M1").await;
    assert!(
        (count == 1000 && cur.as_deref() == Some("1000"))
            || (count == 51_000 && cur.as_deref() == Some("51000")),
        "after the crash: {count} scans, cursor {cur:?}"
    );
    // The adapter re-sends from the cursor it finds; re-sending both batches is harmless too.
    let first = store
        .record_scans(batch("M1", scans("M1", 0, 1000), "1000"))
        .await
        .unwrap();
    assert_eq!((first.inserted.len(), first.duplicates), (0, 1000));
    let second = store
        .record_scans(batch("M1", scans("M1", 1000, 50_000), "51000"))
        .await
        .unwrap();
    assert_eq!(second.inserted.len() + second.duplicates, 50_000);
    assert_eq!(second.inserted.len(), 51_000 - count as usize);
    assert_eq!(store.count_scans().await.unwrap(), 51_000);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("51000"));
    store.close().await;
}

#[tokio::test]
async fn a_batch_dropped_mid_way_and_a_store_dropped_without_close_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.db");
    let store = open(&path).await;
    store
        .record_scans(batch("M1", scans("M1", 0, 100), "100"))
        .await
        .unwrap();
    // The caller gives up on a batch after its first poll (a timeout, a cancelled task).
    {
        let pending = store.record_scans(batch("M1", scans("M1", 100, 5000), "5100"));
        let _ = tokio::time::timeout(Duration::from_micros(1), pending).await;
    }
    drop(store);
    let store = open(&path).await;
    let count = store.count_scans().await.unwrap();
    let cur = cursor(&store, "M1").await;
    assert!(
        (count == 100 && cur.as_deref() == Some("100"))
            || (count == 5100 && cur.as_deref() == Some("5100")),
        "{count} scans, cursor {cur:?}"
    );
    let again = store
        .record_scans(batch("M1", scans("M1", 100, 5000), "5100"))
        .await
        .unwrap();
    assert_eq!(again.inserted.len(), 5100 - count as usize);
    assert_eq!(store.count_scans().await.unwrap(), 5100);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("5100"));
}

#[tokio::test]
async fn a_batch_whose_transaction_fails_leaves_neither_scans_nor_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failing.db");
    let store = open(&path).await;
    store
        .record_scans(batch("M1", scans("M1", 0, 10), "10"))
        .await
        .unwrap();
    // Make the cursor write, which comes after the scans in the transaction, fail.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON att_machine_cursors \
         WHEN NEW.cursor = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_boom_update BEFORE UPDATE ON att_machine_cursors \
         WHEN NEW.cursor = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let failed = store
        .record_scans(batch("M1", scans("M1", 10, 700), "boom"))
        .await;
    assert!(
        matches!(failed, Err(StoreError::Backend { .. })),
        "{failed:?}"
    );
    assert_eq!(store.count_scans().await.unwrap(), 10);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("10"));
    // The writer is usable again and the batch goes in whole.
    let ok = store
        .record_scans(batch("M1", scans("M1", 10, 700), "710"))
        .await
        .unwrap();
    assert_eq!(ok.inserted.len(), 700);
    assert_eq!(cursor(&store, "M1").await.as_deref(), Some("710"));
    // A group is one transaction: another machine's good batch goes with the failing one.
    let failed = store
        .record_scan_batches(vec![
            batch("M2", scans("M2", 0, 5), "m2"),
            batch("M1", scans("M1", 710, 5), "boom"),
        ])
        .await;
    assert!(
        matches!(failed, Err(StoreError::Backend { .. })),
        "{failed:?}"
    );
    assert_eq!(store.count_scans().await.unwrap(), 710);
    assert_eq!(cursor(&store, "M2").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_leave_commits_exactly_one_wins_every_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("leave.db")).await);
    let code = EmployeeCode::parse("EMP001").unwrap();
    store.create_employee(&employee("EMP001")).await.unwrap();
    for round in 0..40u64 {
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
    assert_eq!(store.leave_account(&code).await.unwrap().version, 40);
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

#[tokio::test]
async fn foreign_key_and_unique_violations_come_back_typed() {
    let store = SqliteStore::open_in_memory().await.unwrap();
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_twice_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.db");
    let first = open(&path).await;
    first.create_employee(&employee("EMP001")).await.unwrap();
    // A second store on the same file while the first is open, then migrate again by hand.
    let second = open(&path).await;
    second.migrate().await.unwrap();
    first.migrate().await.unwrap();
    assert_eq!(second.list_employees(None).await.unwrap().len(), 1);
    first.close().await;
    second.close().await;
    let third = open(&path).await;
    assert_eq!(third.list_employees(None).await.unwrap().len(), 1);
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM att_schema_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let shipped = attendance_store_sql::schema::MIGRATIONS.len();
    assert_eq!(applied, shipped as i64, "each migration recorded once");
}

/// A scan of `user` on `machine` at `seconds` (and 250 ms) after 1970, with a raw record.
fn scan_at(machine: &str, user: &str, seconds: i64) -> ScanData {
    ScanData {
        timestamp: DateTime::from_timestamp(seconds, 250_000_000).unwrap(),
        raw: Some(format!("{user}\t{seconds}")),
        ..scan(machine, user, 0)
    }
}

#[tokio::test]
async fn a_version_1_database_is_migrated_to_scans_keyed_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let old_scans = vec![
        scan_at("M1", "7", -1),
        scan_at("M1", "7", -86_401),
        scan_at("M1", "7", 0),
        scan_at("M1", "7", 86_399),
        scan_at("M2", "8", 1_764_000_000),
    ];
    // The database as version 1 left it: its schema, its record, scans in its layout.
    {
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let mut statements = vec![migrations_table().to_string(SqliteQueryBuilder)];
        statements.extend(
            (MIGRATIONS[0].statements)(Backend::Sqlite)
                .iter()
                .map(|s| s.render(SqliteQueryBuilder)),
        );
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO att_schema_migrations (version, description) VALUES (1, 'v1')")
            .execute(&mut conn)
            .await
            .unwrap();
        for scan in &old_scans {
            let r = ScanRow::from_scan(scan).unwrap();
            sqlx::query(
                "INSERT INTO att_scans (device_user_id, at_second, machine_id, at_ns, \
                 punch_state, verify_mode, raw) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.device_user_id)
            .bind(r.at_second)
            .bind(&r.machine_id)
            .bind(r.at_ns)
            .bind(r.punch_state)
            .bind(r.verify_mode)
            .bind(&r.raw)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }

    let store = open(&path).await;
    let user = DeviceUserId::parse("7").unwrap();
    let day = TimeDelta::days(1);
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let of_7 = store
        .scans_of_user(&user, epoch - day * 2, epoch + day * 2)
        .await
        .unwrap();
    let mut want = old_scans[..4].to_vec();
    want.sort_by_key(|s| s.timestamp);
    assert_eq!(of_7, want, "every scan of user 7 reads back, in time order");
    // One day only: the scan one second before 1970 is on day -1, not day 0.
    let last_day_of_1969 = store
        .scans_of_user(&user, epoch - day, epoch)
        .await
        .unwrap();
    assert_eq!(last_day_of_1969, [old_scans[0].clone()]);
    let of_8 = store
        .scans_of_user(
            &DeviceUserId::parse("8").unwrap(),
            old_scans[4].timestamp - day,
            old_scans[4].timestamp + day,
        )
        .await
        .unwrap();
    assert_eq!(of_8, [old_scans[4].clone()]);
    assert_eq!(store.count_scans().await.unwrap(), 5);

    // The dedupe key still holds: every migrated scan comes back as a duplicate, and the
    // same user and second on another machine is a new scan.
    let resent = store
        .record_scan_batches(vec![
            batch("M1", old_scans[..4].to_vec(), "m1"),
            batch("M2", old_scans[4..].to_vec(), "m2"),
        ])
        .await
        .unwrap();
    assert!(resent.iter().all(|o| o.inserted.is_empty()), "{resent:?}");
    assert_eq!(resent[0].duplicates + resent[1].duplicates, 5);
    let other = store
        .record_scans(batch("M3", vec![scan_at("M3", "7", -1)], "m3"))
        .await
        .unwrap();
    assert_eq!(other.inserted.len(), 1);

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM att_schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let versions: Vec<i64> = versions.into_iter().map(|(v,)| v).collect();
    let every: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, every);
    let key: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM pragma_table_info('att_scans') WHERE pk > 0 ORDER BY pk")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let key: Vec<&str> = key.iter().map(|(k,)| k.as_str()).collect();
    assert_eq!(key, ["at_day", "device_user_id", "at_second", "machine_id"]);
    let (days,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM att_scans WHERE at_day = -1 AND at_second = -1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(days, 2, "the scans one second before 1970 are on day -1");
}

/// Migration 9 fills the `tally` column of the records stored before it from their JSON, and
/// a row without one (none should be left) is still read out of its JSON.
#[tokio::test]
async fn records_stored_before_migration_9_get_their_tally() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v8.db");
    let mut worked = record("EMP001", 3);
    worked.status = AttendanceStatus::PresentLate;
    worked.working_seconds = 8 * 3600 + 59;
    worked.overtime_seconds = 3600;
    worked.extra_overtime_seconds = 1800;
    worked.late_minutes = 12;
    worked.worked_on_weekend = true;
    worked.snacks_eligible = true;
    worked.night_bill_eligible = true;
    worked.half_day_leave = true;
    let records = [record("EMP001", 2), worked];
    {
        let store = open(&path).await;
        store.create_employee(&employee("EMP001")).await.unwrap();
        store.upsert_records(&records).await.unwrap();
        store.close().await;
    }
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    // The layout before migration 9: no tally column, the migration not recorded.
    for sql in [
        r#"ALTER TABLE "att_daily_records" DROP COLUMN "tally""#,
        "DELETE FROM att_schema_migrations WHERE version = 9",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    let want: Vec<DayTally> = records.iter().map(DayTally::from).collect();
    let query = RecordQuery {
        order: RecordOrder::EmployeeThenDate,
        limit: 10,
        ..RecordQuery::default()
    };
    let store = open(&path).await;
    assert_eq!(store.query_record_tallies(&query).await.unwrap(), want);
    store.close().await;
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let (filled,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM att_daily_records WHERE tally IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(filled, 2, "the migration filled every record's tally");
    sqlx::query("UPDATE att_daily_records SET tally = NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = open(&path).await;
    assert_eq!(store.query_record_tallies(&query).await.unwrap(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_and_readers_never_see_locked_and_lose_nothing() {
    const WRITERS: usize = 32;
    const BATCHES: usize = 50;
    const PER_BATCH: i64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(open(&dir.path().join("busy.db")).await);
    // A second store on the same file: another process's writer, as far as SQLite knows.
    let other: Arc<dyn Store> = Arc::new(open(&dir.path().join("busy.db")).await);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = if w % 4 == 3 {
            other.clone()
        } else {
            store.clone()
        };
        tasks.push(tokio::spawn(async move {
            let machine = format!("M{w}");
            let mut inserted = 0;
            for b in 0..BATCHES {
                let first = (b as i64) * PER_BATCH;
                let outcome = store
                    .record_scans(batch(
                        &machine,
                        scans(&machine, first, PER_BATCH),
                        &b.to_string(),
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("writer {w} batch {b}: {e:?}"));
                inserted += outcome.inserted.len();
                if b % 5 == 0 {
                    // A re-send, as after a reconnect: all duplicates.
                    let again = store
                        .record_scans(batch(
                            &machine,
                            scans(&machine, first, PER_BATCH),
                            &b.to_string(),
                        ))
                        .await
                        .unwrap_or_else(|e| panic!("writer {w} resend {b}: {e:?}"));
                    assert_eq!(again.duplicates, PER_BATCH as usize);
                }
            }
            inserted
        }));
    }
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let store = store.clone();
            tokio::spawn(async move {
                let user = DeviceUserId::parse(&(1 + r).to_string()).unwrap();
                let mut last = 0;
                for _ in 0..100 {
                    let count = store
                        .count_scans()
                        .await
                        .unwrap_or_else(|e| panic!("reader: {e:?}"));
                    assert!(count >= last, "counts only grow");
                    last = count;
                    store
                        .scans_of_user(&user, at(0), at(100_000))
                        .await
                        .unwrap_or_else(|e| panic!("reader: {e:?}"));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap();
    }
    for reader in readers {
        reader.await.unwrap();
    }
    let want = WRITERS * BATCHES * PER_BATCH as usize;
    assert_eq!(inserted, want);
    assert_eq!(store.count_scans().await.unwrap(), want as u64);
    for w in 0..WRITERS {
        let cursor = store
            .machine_cursor(&MachineId::parse(&format!("M{w}")).unwrap())
            .await
            .unwrap();
        assert_eq!(cursor, Some(MachineCursor((BATCHES - 1).to_string())));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writers_write_is_a_consistent_prefix_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("live.sqlite")).await);
    // Acknowledged before the backup: all of it must be in the copy.
    store
        .record_scans(batch("M1", scans("M1", 0, 500), "500"))
        .await
        .unwrap();
    // A writer keeps committing batches of 10 while the backup runs.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for round in 0..40 {
                let first = 500 + round * 10;
                store
                    .record_scans(batch(
                        "M1",
                        scans("M1", first, 10),
                        &(first + 10).to_string(),
                    ))
                    .await
                    .unwrap();
            }
        })
    };
    let copy = dir.path().join("copy.sqlite");
    store.backup_to(&copy).await.unwrap();
    writer.await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let backup = open(&copy).await;
    assert_eq!(backup.integrity_check().await.unwrap(), "ok");
    let in_copy = backup.count_scans().await.unwrap();
    assert!((500..=900).contains(&in_copy), "{in_copy}");
    // Whole batches only, with the cursor of the last one: one transaction's snapshot.
    assert_eq!(in_copy % 10, 0);
    assert_eq!(cursor(&backup, "M1").await, Some(in_copy.to_string()));
    assert_eq!(store.count_scans().await.unwrap(), 900);

    // An existing file is refused and left alone, whatever it holds.
    std::fs::write(dir.path().join("taken"), b"precious").unwrap();
    let err = store
        .backup_to(&dir.path().join("taken"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m.contains("exists already")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("taken")).unwrap(),
        b"precious"
    );
    let err = store.backup_to(&copy).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    // A directory that does not exist: SQLite's reason, not a panic.
    let err = store
        .backup_to(&dir.path().join("missing/copy.sqlite"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    assert!(!dir.path().join("missing").exists());
    // An in-memory database has no file to copy.
    let memory = SqliteStore::open_in_memory().await.unwrap();
    let err = memory
        .backup_to(&dir.path().join("memory.sqlite"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref m) if m.contains("in-memory")),
        "{err}"
    );
    assert!(!dir.path().join("memory.sqlite").exists());
}
