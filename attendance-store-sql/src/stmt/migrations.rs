//! The table of applied migrations.

use sea_query::{Expr, InsertStatement, Query, SelectStatement};

use super::text;
use crate::schema::SchemaMigrations;

/// The versions already applied: `version`.
pub fn select_applied_migrations() -> SelectStatement {
    Query::select()
        .column(SchemaMigrations::Version)
        .from(SchemaMigrations::Table)
        .to_owned()
}

/// Records a migration as applied.
pub fn insert_applied_migration(version: i64, description: &str) -> InsertStatement {
    Query::insert()
        .into_table(SchemaMigrations::Table)
        .columns([SchemaMigrations::Version, SchemaMigrations::Description])
        .values_panic([Expr::value(version), text(description)])
        .to_owned()
}
