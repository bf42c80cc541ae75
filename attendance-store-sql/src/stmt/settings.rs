//! The site's settings, one row.

use sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query, SelectStatement};

use crate::schema::Settings;

/// The settings: `data`.
pub fn select_settings() -> SelectStatement {
    Query::select()
        .column(Settings::Data)
        .from(Settings::Table)
        .and_where(Expr::col(Settings::Id).eq(1))
        .to_owned()
}

/// Inserts or replaces the settings.
pub fn upsert_settings(data: String) -> InsertStatement {
    Query::insert()
        .into_table(Settings::Table)
        .columns([Settings::Id, Settings::Data])
        .values_panic([Expr::value(1), Expr::value(data)])
        .on_conflict(
            OnConflict::column(Settings::Id)
                .update_column(Settings::Data)
                .to_owned(),
        )
        .to_owned()
}
