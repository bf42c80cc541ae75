//! The statements only SQLite runs: its scans table is keyed by UTC day first (migration 2), so
//! its scan inserts carry the day and its scan reads seek `(day, user)` per day. The statements
//! both stores run are [`attendance_store_sql::stmt`].

use attendance_core::employee::DeviceUserId;
use attendance_core::store::{ScanId, StoreError, StoreResult};
use attendance_store_sql::codec::{SECONDS_PER_DAY, ScanRow};
use attendance_store_sql::schema::Scans;
use attendance_store_sql::stmt;
use sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Order, Query, SelectStatement};

/// How many scans one multi-row insert carries at most (7 bound values each: 3,584 per
/// statement, far under both databases' limits).
pub const SCAN_CHUNK: usize = 512;

/// Splits `len` rows into statement sizes: full [`SCAN_CHUNK`]s, then the remainder as powers of
/// two. Statements are prepared and cached by their text, so this keeps the distinct texts to
/// ten whatever the batch sizes are.
pub fn chunk_sizes(len: usize) -> Vec<usize> {
    let mut sizes = vec![SCAN_CHUNK; len / SCAN_CHUNK];
    let rest = len % SCAN_CHUNK;
    let mut bit = SCAN_CHUNK;
    while bit > 0 {
        if rest & bit != 0 {
            sizes.push(bit);
        }
        bit >>= 1;
    }
    sizes
}

/// SQLite only (its table keyed by day, migration 2): `INSERT INTO att_scans … VALUES (…), …
/// ON CONFLICT DO NOTHING` with the columns `at_day` then [`ScanRow`]'s, and `RETURNING
/// machine_id, device_user_id, at_second` (the scans that were new) when `returning`.
pub fn sqlite_insert_scans(rows: &[ScanRow], returning: bool) -> StoreResult<InsertStatement> {
    let mut insert = Query::insert();
    insert
        .into_table(Scans::Table)
        .columns(std::iter::once(Scans::AtDay).chain(stmt::SCAN_COLUMNS));
    for row in rows {
        insert
            .values([
                Expr::value(row.at_day()),
                Expr::value(row.machine_id.clone()),
                Expr::value(row.device_user_id.clone()),
                Expr::value(row.at_second),
                Expr::value(row.at_ns),
                Expr::value(row.punch_state),
                Expr::value(row.verify_mode),
                Expr::value(row.raw.clone()),
            ])
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns([
            Scans::AtDay,
            Scans::DeviceUserId,
            Scans::AtSecond,
            Scans::MachineId,
        ])
        .do_nothing()
        .to_owned(),
    );
    if returning {
        insert.returning(Query::returning().columns([
            Scans::MachineId,
            Scans::DeviceUserId,
            Scans::AtSecond,
        ]));
    }
    Ok(insert)
}

/// SQLite only (its table keyed by day, migration 2): [`count_scan`](stmt::count_scan) with the
/// scan's UTC day, so it is one seek of the primary key.
pub fn sqlite_count_scan(scan: &ScanId) -> SelectStatement {
    stmt::count_scan(scan)
        .and_where(Expr::col(Scans::AtDay).eq(scan.unix_seconds.div_euclid(SECONDS_PER_DAY)))
        .to_owned()
}

/// The most days [`sqlite_select_scans_of_user`] seeks one by one.
pub const SQLITE_SEEK_DAYS: i64 = 62;

/// SQLite only (its table keyed by day, migration 2): [`select_scans_of_user`](stmt::select_scans_of_user) as one seek of
/// `(day, user)` per day, `at_day IN (…)`, for ranges of up to [`SQLITE_SEEK_DAYS`] days; a
/// longer range reads every scan of its days.
pub fn sqlite_select_scans_of_user(
    user: &DeviceUserId,
    from_ns: i64,
    to_ns: i64,
) -> SelectStatement {
    let mut select = stmt::scans_of_user_in(from_ns, to_ns);
    sqlite_days(&mut select, from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).eq(user.as_str()));
    select
}

/// SQLite only: one scan as JSON, `[at_ns, punch_state, verify_mode, machine_id, raw]`,
/// aggregated per device user by [`sqlite_select_scans_of_users`].
pub const SQLITE_SCAN_JSON: &str =
    r#"json_group_array(json_array("at_ns", "punch_state", "verify_mode", "machine_id", "raw"))"#;

/// SQLite only (its table keyed by day, migration 2): the scans of the device users `users` with
/// `from_ns <= at_ns < to_ns` as one row per user, by user: `device_user_id` and the user's
/// scans as a JSON array of [`SQLITE_SCAN_JSON`] (in no particular order; see
/// [`scans_from_json`](attendance_store_sql::codec::scans_from_json)). It seeks `(day, user)` for every day and
/// user, `at_day IN (…) AND device_user_id IN (…)`, for ranges of up to [`SQLITE_SEEK_DAYS`]
/// days; a longer range reads every scan of its days. One row per user, not per scan: sqlx hands
/// each row over from its worker thread one by one, which costs more than SQLite's reading.
pub fn sqlite_select_scans_of_users(users: &[&str], from_ns: i64, to_ns: i64) -> SelectStatement {
    let second = |ns: i64| ns.div_euclid(1_000_000_000);
    let mut select = Query::select();
    select
        .column(Scans::DeviceUserId)
        .expr(Expr::cust(SQLITE_SCAN_JSON))
        .from(Scans::Table)
        .and_where(Expr::col(Scans::AtSecond).gte(second(from_ns)))
        .and_where(Expr::col(Scans::AtSecond).lte(second(to_ns)))
        .and_where(Expr::col(Scans::AtNs).gte(from_ns))
        .and_where(Expr::col(Scans::AtNs).lt(to_ns));
    sqlite_days(&mut select, from_ns, to_ns);
    select
        .and_where(Expr::col(Scans::DeviceUserId).is_in(users.iter().copied()))
        .group_by_col(Scans::DeviceUserId)
        .order_by(Scans::DeviceUserId, Order::Asc);
    select
}

/// `at_day IN (…)` for the UTC days of `[from_ns, to_ns]` up to [`SQLITE_SEEK_DAYS`] of them,
/// else `at_day BETWEEN …`.
fn sqlite_days(select: &mut SelectStatement, from_ns: i64, to_ns: i64) {
    let day = |ns: i64| ns.div_euclid(NANOS_PER_DAY);
    let (first, last) = (day(from_ns), day(to_ns));
    if last - first < SQLITE_SEEK_DAYS {
        select.and_where(Expr::col(Scans::AtDay).is_in(first..=last));
    } else {
        select.and_where(Expr::col(Scans::AtDay).between(first, last));
    }
}

const NANOS_PER_DAY: i64 = SECONDS_PER_DAY * 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::SqliteQueryBuilder;

    #[test]
    fn chunk_sizes_cover_every_row_with_few_distinct_sizes() {
        for len in [0, 1, 7, 511, 512, 513, 1000, 5000] {
            let sizes = chunk_sizes(len);
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert!(
                sizes
                    .iter()
                    .all(|s| s.is_power_of_two() && *s <= SCAN_CHUNK)
            );
        }
    }

    #[test]
    fn sqlite_seeks_each_day_of_a_short_range_and_floors_days_before_1970() {
        let user = DeviceUserId::parse("7").unwrap_or_else(|_| unreachable!());
        let ns = |s: i64| s * 1_000_000_000;
        // From one second before 1970 (day -1) to the middle of day 1.
        let sql = sqlite_select_scans_of_user(&user, ns(-1), ns(86_400 + 5))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r#""at_day" IN (-1, 0, 1)"#), "{sql}");
        assert!(sql.contains(r#""device_user_id" = '7'"#), "{sql}");
        let long =
            sqlite_select_scans_of_user(&user, 0, ns(86_400 * 100)).to_string(SqliteQueryBuilder);
        assert!(long.contains(r#""at_day" BETWEEN 0 AND 100"#), "{long}");
        let row = ScanRow {
            at_second: -1,
            ..ScanRow::default()
        };
        assert_eq!(row.at_day(), -1);
        let insert = sqlite_insert_scans(&[row], true)
            .unwrap_or_else(|_| unreachable!())
            .to_string(SqliteQueryBuilder);
        assert!(
            insert.contains(
                r#"ON CONFLICT ("at_day", "device_user_id", "at_second", "machine_id") DO NOTHING"#
            ),
            "{insert}"
        );
    }

    #[test]
    fn bulk_scan_reads_seek_each_day_and_user_and_order_by_user_then_time() {
        let ns = |s: i64| s * 1_000_000_000;
        let sql = sqlite_select_scans_of_users(&["7", "12"], ns(0), ns(86_400 + 5))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r#""at_day" IN (0, 1)"#), "{sql}");
        assert!(sql.contains(r#""device_user_id" IN ('7', '12')"#), "{sql}");
        assert!(
            sql.ends_with(r#"GROUP BY "device_user_id" ORDER BY "device_user_id" ASC"#),
            "{sql}"
        );
        assert!(
            sql.starts_with(r#"SELECT "device_user_id", json_group_array("#),
            "{sql}"
        );
    }
}
