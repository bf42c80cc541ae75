//! `attendance-store-sql`: what the SQLite and PostgreSQL stores share, so no statement is
//! written twice.
//!
//! - [`schema`]: the table and column names ([`sea_query::Iden`] enums) and the versioned schema
//!   ([`schema::MIGRATIONS`]), as sea-query statements that each store renders with its own
//!   query builder and runs in its own migration transaction.
//! - [`stmt`]: every query of the store contract as a sea-query statement builder. A store
//!   renders it with `SqlxBinder::build_sqlx(SqliteQueryBuilder)` or
//!   `build_sqlx(PostgresQueryBuilder)`; values always stay bound parameters.
//! - [`codec`]: the conversions between domain values and column values (scans as plain columns,
//!   the richer values as JSON text beside the columns the queries filter and sort on), and
//!   decoding back from plain Rust values.
//! - [`contract`]: the store-trait glue written once: [`statement_runners!`] (the statement
//!   runners and the migration step for one sqlx database) and [`store_contract!`] (every port
//!   but the leave documents), which each store crate expands with its own types.
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
//! use attendance_store_sql::{schema::Backend, stmt};
//! use attendance_core::scan::MachineId;
//!
//! // A statement is built once, backend-neutral; the store renders it for its database.
//! let machine = MachineId::parse("BOCK200961014")?;
//! let select = stmt::select_cursor(&machine);
//! let _ = (select, Backend::Sqlite);
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```

pub mod codec;
pub mod contract;
pub mod document;
pub mod error;
pub mod ingest;
pub mod schema;
pub mod stmt;
