//! Settings: the defaults until some are stored, then what was stored.

use super::{CheckResult, fail};
use crate::settings::AttendanceSettings;
use crate::store::Store;

pub(super) async fn settings_default_then_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    ensure!(
        store.settings().await.map_err(fail)? == AttendanceSettings::default(),
        "defaults first"
    );
    let changed = AttendanceSettings {
        considered_minutes: 20,
        time_zone: chrono_tz::Europe::London,
        ..AttendanceSettings::default()
    };
    store.put_settings(&changed).await.map_err(fail)?;
    ensure!(
        store.settings().await.map_err(fail)? == changed,
        "settings not read back"
    );
    Ok(())
}
