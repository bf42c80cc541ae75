//! The store contract written once for both SQL stores, as generic code over a
//! [`SqlBackend`]: one submodule per storage port of `attendance-core`, each holding a function
//! per port method with the method's name and the body both stores run, and the helpers here
//! that turn domain values into the rows the statements take.
//!
//! A store crate implements [`SqlBackend`] for its store type and then every port as a thin
//! `impl … for ItsStore` whose methods hand the store to these functions:
//!
//! ```text
//! #[async_trait]
//! impl EmployeeStore for SqliteStore {
//!     async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
//!         employees::employee(self, code).await
//!     }
//!     // …
//! }
//! ```
//!
//! Each store keeps only what its database does differently (the hooks of [`SqlBackend`]): how
//! a group of scans is ingested (SQLite's one writer and pre-rendered inserts, PostgreSQL's
//! parameter arrays and `COPY` staging), how daily records are split into statements, how
//! transactions begin and what they lock.

pub mod accounts;
pub mod documents;
pub mod employees;
pub mod holidays;
pub mod jobs;
pub mod leave;
pub mod machines;
pub mod migrations;
pub mod oversight;
pub mod records;
pub mod scans;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet};

use attendance_core::daily::DailyRecord;
use attendance_core::employee::EmployeeCode;
use attendance_core::leave::LeaveRequest;
use attendance_core::store::{StoreError, StoreResult, UserAccount};
use sea_query::QueryStatementWriter;
use serde::de::DeserializeOwned;

use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{enum_text, from_json, to_json, to_u64};
use crate::error::map_sqlx;
use crate::stmt::{RecordRow, RequestRow};
use records::tally_fields;

/// The one `COUNT` column of `statement`'s one row, as `u64`.
pub async fn fetch_count<B, S>(
    store: &B,
    on: On<'_, B::Tx>,
    statement: &S,
    what: &'static str,
) -> StoreResult<u64>
where
    B: SqlBackend,
    S: QueryStatementWriter + Sync,
{
    match store.fetch_optional(on, statement, what).await? {
        Some(row) => to_u64(what, row.int(0, what)?),
        None => Err(map_sqlx(what, sqlx::Error::RowNotFound)),
    }
}

/// The JSON of the first column of every row, decoded; `what` names the value for the errors.
pub fn json_rows<T: DeserializeOwned>(
    rows: &[impl SqlRow],
    what: &'static str,
) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(|row| from_json(what, &row.text(0, what)?))
        .collect()
}

/// `keys` sorted, each once.
pub fn unique_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> Vec<&'k str> {
    let set: BTreeSet<&str> = keys.into_iter().collect();
    set.into_iter().collect()
}

/// Records keyed by (employee, date), the last of repeated keys standing, as memory does.
pub fn record_rows(records: &[DailyRecord]) -> StoreResult<Vec<RecordRow>> {
    let mut by_key: BTreeMap<(&EmployeeCode, chrono::NaiveDate), &DailyRecord> = BTreeMap::new();
    for record in records {
        by_key.insert((&record.employee_id, record.date), record);
    }
    by_key
        .into_values()
        .map(|r| {
            Ok(RecordRow {
                employee: r.employee_id.as_str().to_owned(),
                date: r.date,
                status: r.status.to_string(),
                data: to_json(r)?,
                tally: to_json(&tally_fields(r))?,
            })
        })
        .collect()
}

/// Leave requests as their rows, one per id, the last of repeated ids standing.
pub fn request_rows(requests: &[LeaveRequest]) -> StoreResult<Vec<RequestRow>> {
    // One row per id, the last standing, as inserting them one after the other would leave it.
    let mut by_id: BTreeMap<&str, &LeaveRequest> = BTreeMap::new();
    for r in requests {
        by_id.insert(r.id.as_str(), r);
    }
    by_id
        .into_values()
        .map(|r| {
            Ok(RequestRow {
                id: r.id.as_str().to_owned(),
                employee: r.employee.as_str().to_owned(),
                department: r.department.as_str().to_owned(),
                status: enum_text(&r.status)?,
                start: r.start,
                end: r.end,
                data: to_json(r)?,
            })
        })
        .collect()
}

/// [`StoreError::Invalid`] for an account that links an employee who does not exist.
pub fn unknown_account_employee(account: &UserAccount) -> StoreError {
    StoreError::Invalid(format!(
        "user account {} links unknown employee {}",
        account.username,
        account
            .employee
            .as_ref()
            .map(|e| e.as_str())
            .unwrap_or_default()
    ))
}

/// [`StoreError::NotFound`] for the `entity` keyed `key`.
pub fn not_found(entity: &'static str, key: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        key: key.to_string(),
    }
}
