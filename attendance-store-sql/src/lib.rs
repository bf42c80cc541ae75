//! `attendance-store-sql`: what the SQLite and PostgreSQL stores share, so no statement and no
//! port body is written twice.
//!
//! - [`backend`]: [`SqlBackend`](backend::SqlBackend), the contract a database gives the shared
//!   code: its transaction, row and query-builder types, three statement runners (rows
//!   affected, every row, the first row) on the reader, the writer or a transaction
//!   ([`On`](backend::On)), and the hooks where the databases differ (scan ingest, daily-record
//!   writes, bulk-read chunks, the scans of many users, holding a leave request). Rows decode
//!   by position through [`SqlRow`](backend::SqlRow): text, integer, bytes, a scan.
//! - [`contract`]: every storage port of `attendance-core` as generic functions over a
//!   [`SqlBackend`](backend::SqlBackend), one module per port and one function per method, with
//!   the method's name; a store crate implements each port for its store type by handing itself
//!   to them (`impl EmployeeStore for SqliteStore`, `impl EmployeeStore for PgStore`), and runs
//!   [`contract::migrations::apply_pending_migrations`] in its own migration transaction.
//! - [`schema`]: the table and column names ([`sea_query::Iden`] enums) and the versioned schema
//!   ([`schema::MIGRATIONS`]), as sea-query statements that each store renders with its own
//!   query builder.
//! - [`stmt`]: every query both stores run as a sea-query statement builder, grouped by concept
//!   (scans, employees, machines, records, settings, holidays, leave, documents, accounts,
//!   migrations); a store renders it with its builder, values always stay bound parameters.
//!   The statements only one database runs (SQLite's day-keyed scan inserts and reads,
//!   PostgreSQL's `UNNEST`/`COPY` paths and row lock) live in that store's crate.
//! - [`codec`]: the conversions between domain values and column values (scans as plain columns,
//!   the richer values as JSON text beside the columns the queries filter and sort on), and
//!   decoding back from plain Rust values.
//! - [`ingest`]: the store-independent half of scan ingest: checking and deduplicating a group of
//!   batches, and the outcomes from the keys the database reported as new.
//! - [`document`]: the store-independent half of the leave documents port: a document as its
//!   row (size checked, metadata as JSON beside the bytes), back again, and the limit check.
//! - [`error`]: the mapping of `sqlx` errors to [`StoreError`](attendance_core::store::StoreError)
//!   (unique violation → `Conflict`, foreign-key or check violation → `Invalid`, no row →
//!   `NotFound`, anything else → `Backend`), the same for both databases.
//!
//! This crate enables no sea-query backend and no sqlx driver: each store crate brings its own,
//! so an embedder who wants only SQLite never compiles PostgreSQL.
//!
//! ```
//! use attendance_core::employee::{Employee, EmployeeCode};
//! use attendance_core::scan::MachineId;
//! use attendance_core::store::StoreResult;
//! use attendance_store_sql::backend::SqlBackend;
//! use attendance_store_sql::{contract, stmt};
//!
//! // A statement is built once, backend-neutral; the store renders it for its database.
//! let machine = MachineId::parse("BOCK200961014")?;
//! let _select = stmt::select_cursor(&machine);
//!
//! // A port body is written once, for any backend; `SqliteStore` and `PgStore` delegate to it.
//! async fn read<B: SqlBackend>(store: &B, code: &EmployeeCode) -> StoreResult<Employee> {
//!     contract::employees::employee(store, code).await
//! }
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```

pub mod backend;
pub mod codec;
pub mod contract;
pub mod document;
pub mod error;
pub mod ingest;
pub mod schema;
pub mod stmt;
