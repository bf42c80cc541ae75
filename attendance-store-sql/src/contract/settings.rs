//! [`SettingsStore`](attendance_core::store::SettingsStore) over a [`SqlBackend`].

use attendance_core::settings::AttendanceSettings;
use attendance_core::store::StoreResult;

use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// [`SettingsStore::settings`](attendance_core::store::SettingsStore::settings): the defaults
/// when none were stored.
pub async fn settings<B: SqlBackend>(store: &B) -> StoreResult<AttendanceSettings> {
    let what = "read the settings";
    match store
        .fetch_optional(On::Read, &stmt::select_settings(), what)
        .await?
    {
        Some(row) => from_json("settings", &row.text(0, what)?),
        None => Ok(AttendanceSettings::default()),
    }
}

/// [`SettingsStore::put_settings`](attendance_core::store::SettingsStore::put_settings).
pub async fn put_settings<B: SqlBackend>(
    store: &B,
    settings: &AttendanceSettings,
) -> StoreResult<()> {
    let statement = stmt::upsert_settings(to_json(settings)?);
    store
        .execute(On::Write, &statement, "store the settings")
        .await?;
    Ok(())
}
