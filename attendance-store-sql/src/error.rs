//! `sqlx` errors as [`StoreError`]s, the same way for both databases.

use attendance_core::store::StoreError;
use sqlx::error::ErrorKind;

/// Maps a database error met while doing `what`:
/// - a unique violation → [`StoreError::Conflict`];
/// - a foreign-key, check or not-null violation → [`StoreError::Invalid`];
/// - no row where one was expected → [`StoreError::NotFound`] (entity `what`);
/// - anything else (IO, a lock, a pool timeout, a bug) → [`StoreError::Backend`] with the
///   error as its source.
pub fn map_sqlx(what: &'static str, error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(format!("{what}: {}", db.message())),
            ErrorKind::ForeignKeyViolation => StoreError::Invalid(format!(
                "{what}: a reference to something that does not exist ({})",
                db.message()
            )),
            ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                StoreError::Invalid(format!("{what}: {}", db.message()))
            }
            _ => backend(what, error),
        },
        sqlx::Error::RowNotFound => StoreError::NotFound {
            entity: what,
            key: String::new(),
        },
        _ => backend(what, error),
    }
}

/// `error` as [`StoreError::Backend`] while doing `what`.
pub fn backend(what: &'static str, error: sqlx::Error) -> StoreError {
    StoreError::Backend {
        message: format!("{what} failed"),
        source: Some(Box::new(error)),
    }
}

/// A closure for `map_err` that maps with [`map_sqlx`].
pub fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| map_sqlx(what, e)
}
