//! The statements only PostgreSQL runs: the scan ingest through `UNNEST` arrays and `COPY`
//! (straight into the table, or through a staging table), the daily-record upsert through
//! `UNNEST`, and the row lock on a leave request that serialises document uploads. The
//! statements both stores run are [`attendance_store_sql::stmt`].

use attendance_store_sql::codec::ScanRow;
use attendance_store_sql::schema::LeaveRequests;
use sea_query::{Expr, ExprTrait, LockType, Query, SelectStatement};

/// The text of [`PG_INSERT_SCANS_UNNEST_ON_CONFLICT`], for the statements that contain it.
macro_rules! insert_scans_on_conflict {
    () => {
        "INSERT INTO \"att_scans\" \
         (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
         SELECT u.* FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int4[], $6::int4[], $7::text[]) AS u \
         ON CONFLICT (\"device_user_id\", \"at_second\", \"machine_id\") DO NOTHING \
         RETURNING \"machine_id\", \"device_user_id\", \"at_second\""
    };
}

/// The cursor upsert of [`PG_UPSERT_CURSORS_UNNEST`] with its two arrays at the placeholders
/// given.
macro_rules! upsert_cursors {
    ($machines:literal, $cursors:literal) => {
        concat!(
            "INSERT INTO \"att_machine_cursors\" (\"machine_id\", \"cursor\") \
             SELECT * FROM UNNEST(",
            $machines,
            "::text[], ",
            $cursors,
            "::text[]) \
             ON CONFLICT (\"machine_id\") DO UPDATE SET \"cursor\" = EXCLUDED.\"cursor\""
        )
    };
}

/// PostgreSQL only, the fast path: the scans of a group of batches (any machines) as one insert
/// of seven arrays, one per column (`$1`–`$7`: machine ids, device user ids, seconds,
/// nanoseconds, punch codes, verify codes, raw records), skipping the keys already stored with
/// an anti-join. Returns `machine_id, device_user_id, at_second` of the new scans. A group of
/// single-scan batches from many machines (terminals read live) is one round trip, not one
/// per machine.
///
/// It has no `ON CONFLICT`: PostgreSQL's speculative insertion doubles the cost of every row
/// (measured: 100,000 rows in 975 ms with `ON CONFLICT DO NOTHING`, 438 ms with the anti-join).
/// A concurrent transaction storing the same scan between the check and the insert makes it
/// fail with a unique violation; the store then runs the group again with
/// [`PG_INSERT_SCANS_UNNEST_ON_CONFLICT`]. One text whatever the group size, so it is prepared
/// once per connection.
pub const PG_INSERT_NEW_SCANS_UNNEST: &str = "INSERT INTO \"att_scans\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    SELECT u.m, u.d, u.s, u.ns, u.p, u.v, u.r \
    FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int4[], $6::int4[], $7::text[]) AS u (m, d, s, ns, p, v, r) \
    WHERE NOT EXISTS (SELECT 1 FROM \"att_scans\" x \
        WHERE x.\"device_user_id\" = u.d AND x.\"at_second\" = u.s AND x.\"machine_id\" = u.m) \
    RETURNING \"machine_id\", \"device_user_id\", \"at_second\"";

/// PostgreSQL only, the safe path: [`PG_INSERT_NEW_SCANS_UNNEST`] deduplicated by the primary
/// key with `ON CONFLICT DO NOTHING`, which never fails on a racing duplicate.
pub const PG_INSERT_SCANS_UNNEST_ON_CONFLICT: &str = insert_scans_on_conflict!();

/// PostgreSQL only: the cursors of a group of batches as one upsert of two arrays (`$1`
/// machine ids, each once, `$2` their cursors).
pub const PG_UPSERT_CURSORS_UNNEST: &str = upsert_cursors!("$1", "$2");

/// PostgreSQL only, a small group in one statement (one round trip, its own transaction):
/// [`PG_INSERT_SCANS_UNNEST_ON_CONFLICT`] (`$1`–`$7`) and [`PG_UPSERT_CURSORS_UNNEST`] (`$8`
/// machine ids, `$9` their cursors; empty arrays for none) as two data-modifying parts of one
/// `WITH`, both run whatever the query reads. Returns `machine_id, device_user_id, at_second`
/// of the new scans.
///
/// `ON CONFLICT DO NOTHING` rather than the anti-join: its extra cost per row is nothing for
/// the few rows of live terminals, and it needs no plan of a join, so the statement is
/// prepared once per connection (the anti-join's generic plan, cached while the table is
/// small, would scan the whole table per group; the transaction path plans it afresh with
/// `SET LOCAL plan_cache_mode`, which costs two round trips more).
pub const PG_INGEST_SMALL_GROUP: &str = concat!(
    "WITH \"new\" AS (",
    insert_scans_on_conflict!(),
    "), \"cursors\" AS (",
    upsert_cursors!("$8", "$9"),
    ") SELECT \"machine_id\", \"device_user_id\", \"at_second\" FROM \"new\""
);

/// PostgreSQL only: `COPY` of scans in text format, columns in [`ScanRow`] order, straight into
/// the table. It fails with a unique violation if any scan is stored already.
pub const PG_COPY_SCANS: &str = "COPY \"att_scans\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    FROM STDIN";

/// PostgreSQL only: this connection's staging table for a group that overlaps stored scans (the
/// scans table's columns without its key; emptied at every commit).
pub const PG_CREATE_STAGING: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS \"att_scans_staging\" \
    (LIKE \"att_scans\" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

/// PostgreSQL only: [`PG_COPY_SCANS`] into the staging table.
pub const PG_COPY_STAGING: &str = "COPY \"att_scans_staging\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    FROM STDIN";

/// PostgreSQL only: moves the staged scans not stored yet into the table with one anti-join,
/// returning `machine_id, device_user_id, at_second` of the new ones. Run it with hash and merge
/// joins off, so each staged row probes the primary key: left to itself the planner scans the
/// whole table per group. Fails with a unique violation on a racing duplicate, like
/// [`PG_INSERT_NEW_SCANS_UNNEST`].
pub const PG_MOVE_NEW_SCANS: &str = "INSERT INTO \"att_scans\" \
    SELECT s.* FROM \"att_scans_staging\" s \
    WHERE NOT EXISTS (SELECT 1 FROM \"att_scans\" x \
        WHERE x.\"device_user_id\" = s.\"device_user_id\" AND x.\"at_second\" = s.\"at_second\" \
        AND x.\"machine_id\" = s.\"machine_id\") \
    RETURNING \"machine_id\", \"device_user_id\", \"at_second\"";

/// PostgreSQL only, the safe path: [`PG_MOVE_NEW_SCANS`] deduplicated by the primary key with
/// `ON CONFLICT DO NOTHING`, which never fails on a racing duplicate.
pub const PG_MOVE_SCANS_ON_CONFLICT: &str = "INSERT INTO \"att_scans\" \
    SELECT s.* FROM \"att_scans_staging\" s \
    ON CONFLICT (\"device_user_id\", \"at_second\", \"machine_id\") DO NOTHING \
    RETURNING \"machine_id\", \"device_user_id\", \"at_second\"";

/// PostgreSQL only: scan rows as `COPY … FROM STDIN` text data, one line per row, columns in
/// [`ScanRow`] order. Text is escaped (backslash, tab, line feed, carriage return), so any text
/// round-trips; a missing raw record is `\N` (NULL), an empty one an empty field.
pub fn pg_copy_text<'a>(rows: impl IntoIterator<Item = &'a ScanRow>) -> Vec<u8> {
    use std::io::Write as _;
    fn push_text(out: &mut Vec<u8>, text: &str) {
        for byte in text.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                other => out.push(other),
            }
        }
    }
    let mut out = Vec::new();
    for row in rows {
        push_text(&mut out, &row.machine_id);
        out.push(b'\t');
        push_text(&mut out, &row.device_user_id);
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t{}\t",
            row.at_second, row.at_ns, row.punch_state, row.verify_mode
        );
        match &row.raw {
            Some(raw) => push_text(&mut out, raw),
            None => out.extend_from_slice(b"\\N"),
        }
        out.push(b'\n');
    }
    out
}

/// PostgreSQL only: inserts or replaces daily records (unique by key) given as five arrays,
/// employees (`$1`), dates (`$2`), statuses (`$3`), JSON (`$4`) and tallies (`$5`), in one
/// statement.
pub const PG_UPSERT_RECORDS_UNNEST: &str = "INSERT INTO \"att_daily_records\" (\"employee\", \"date\", \"status\", \"data\", \"tally\") \
    SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[], $5::text[]) \
    ON CONFLICT (\"employee\", \"date\") DO UPDATE SET \"status\" = EXCLUDED.\"status\", \"data\" = EXCLUDED.\"data\", \"tally\" = EXCLUDED.\"tally\"";

/// Locks the leave request `id` until the transaction ends, so adding documents to
/// it runs one transaction at a time: `id` (no row if there is no such request).
pub fn lock_leave_request(id: &str) -> SelectStatement {
    Query::select()
        .column(LeaveRequests::Id)
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).eq(id))
        .lock(LockType::Update)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_every_special_byte_and_tells_empty_from_null() {
        let row = |raw: Option<&str>| ScanRow {
            machine_id: "M\\1".into(),
            device_user_id: "7".into(),
            at_second: -1,
            at_ns: -999_999_999,
            punch_state: 1,
            verify_mode: 15,
            raw: raw.map(str::to_owned),
        };
        let text = pg_copy_text(&[row(Some("a\tb\\c\r\nd")), row(Some("")), row(None)]);
        let text = String::from_utf8(text).unwrap_or_default();
        assert_eq!(
            text,
            "M\\\\1\t7\t-1\t-999999999\t1\t15\ta\\tb\\\\c\\r\\nd\n\
             M\\\\1\t7\t-1\t-999999999\t1\t15\t\n\
             M\\\\1\t7\t-1\t-999999999\t1\t15\t\\N\n"
        );
    }
}
