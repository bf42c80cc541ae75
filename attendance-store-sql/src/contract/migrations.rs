//! The schema migration step both stores run in a transaction they began (and locked where
//! their database needs it).

use std::collections::HashSet;

use attendance_core::store::StoreResult;

use crate::backend::{On, SqlBackend, SqlRow};
use crate::schema::{SchemaStatement, migrations_table, pending_migrations};
use crate::stmt;

/// Creates the migrations table if it is missing and applies, in `tx` (which the caller
/// commits), every migration of [`MIGRATIONS`](crate::schema::MIGRATIONS) not applied yet, in
/// [`SqlBackend::BACKEND`]'s variant, recording each.
pub async fn apply_pending_migrations<B: SqlBackend>(
    store: &B,
    tx: &mut B::Tx,
    what: &'static str,
) -> StoreResult<()> {
    let table = SchemaStatement::Table(Box::new(migrations_table())).render(B::Builder::default());
    store.execute_sql(tx, table, what).await?;
    let applied: HashSet<i64> = store
        .fetch_all(On::Tx(&mut *tx), &stmt::select_applied_migrations(), what)
        .await?
        .iter()
        .map(|row| row.int(0, what))
        .collect::<StoreResult<_>>()?;
    for migration in pending_migrations(&applied) {
        for statement in (migration.statements)(B::BACKEND) {
            let sql = statement.render(B::Builder::default());
            store.execute_sql(tx, sql, what).await?;
        }
        let record = stmt::insert_applied_migration(migration.version, migration.description);
        store.execute(On::Tx(&mut *tx), &record, what).await?;
        tracing::info!(
            version = migration.version,
            "applied {} migration",
            B::LABEL
        );
    }
    Ok(())
}
