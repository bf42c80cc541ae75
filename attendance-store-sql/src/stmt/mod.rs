//! Every statement of the store contract that both stores run, built once with sea-query and
//! rendered by each store for its database. Values are always bound parameters. The statements
//! only one database runs live in its store crate.
//!
//! Result columns come in the order the doc of each builder gives, so a store reads them by
//! position. The statements are grouped by concept in submodules and all re-exported here.

mod accounts;
mod documents;
mod employees;
mod holidays;
mod jobs;
mod leave;
mod machines;
mod migrations;
mod oversight;
mod records;
mod scans;
mod settings;

pub use accounts::*;
pub use documents::*;
pub use employees::*;
pub use holidays::*;
pub use jobs::*;
pub use leave::*;
pub use machines::*;
pub use migrations::*;
pub use oversight::*;
pub use records::*;
pub use scans::*;
pub use settings::*;

use sea_query::{Asterisk, Expr, Func, Query, SelectStatement};

/// A text value.
fn text(value: &str) -> Expr {
    Expr::value(value.to_owned())
}

/// `COUNT(*)` of a table.
pub fn count_all(table: impl sea_query::IntoTableRef) -> SelectStatement {
    Query::select()
        .expr(Func::count(Expr::col(Asterisk)))
        .from(table)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_core::employee::{DeviceUserId, EmployeeCode};
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn bulk_reads_take_one_in_list_and_order_requests_by_employee_then_id() {
        let ns = |s: i64| s * 1_000_000_000;
        let pg = select_scans_of_users(&["7"], 0, ns(10)).to_string(PostgresQueryBuilder);
        assert!(pg.ends_with(r#""device_user_id" IN ('7')"#), "{pg}");
        assert!(!pg.contains("at_day"), "{pg}");
        let requests = select_requests_of_employees(&["E1", "E2"]).to_string(PostgresQueryBuilder);
        assert!(
            requests
                .ends_with(r#"WHERE "employee" IN ('E1', 'E2') ORDER BY "employee" ASC, "id" ASC"#),
            "{requests}"
        );
    }

    #[test]
    fn statements_render_for_both_backends() {
        let user = DeviceUserId::parse("7").unwrap_or_else(|_| unreachable!());
        let select = select_scans_of_user(&user, 0, 10);
        assert!(
            select
                .to_string(SqliteQueryBuilder)
                .contains(r#"ORDER BY "at_ns" ASC"#)
        );
        let bump = bump_leave_version(
            &EmployeeCode::parse("E1").unwrap_or_else(|_| unreachable!()),
            3,
        );
        assert_eq!(
            bump.to_string(PostgresQueryBuilder),
            r#"UPDATE "att_leave_versions" SET "version" = "version" + 1 WHERE "employee" = 'E1' AND "version" = 3"#
        );
    }
}
