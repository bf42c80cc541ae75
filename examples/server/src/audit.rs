//! What the server adds to the audit trail, beside core's entries: the actor of command-line
//! changes, secrets kept out of every entry, and the fields a replacement changed.
//!
//! Every write the API or the command line stores is audited through
//! [`AttendanceService::audit`](attendance_core::service::AttendanceService::audit) once it is
//! stored (a failed append is logged, never answered). Core's use cases audit their own writes
//! (leave decisions, holidays, voided scans); the handlers audit the writes they make on the
//! store directly: manual scans and scan imports, settings, leave policies, machines and their
//! commands, employees and their import, accounts and passwords. The actor is the caller's
//! username, `cli:<os user>` for the command line ([`cli_actor`]) and `system` for the first
//! admin created from the flags at start. No entry holds a password, a password hash or a
//! machine's secrets ([`redact_secrets`]).

use serde_json::{Map, Value};

/// What a secret is written as in an entry.
pub const REDACTED: &str = "********";

/// The actor of a change made at start-up from the configuration (the first admin).
pub const SYSTEM_ACTOR: &str = "system";

/// The actor of a command-line change: `cli:` and the operating-system user running the
/// command (`USER`, else `LOGNAME`, else `USERNAME`), or `cli:local` when none is set.
pub fn cli_actor() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty());
    format!("cli:{}", user.as_deref().unwrap_or("local"))
}

/// Whether a configuration key names a secret: a password, a key (a ZKTeco `comm_key`, an API
/// key), a secret, a token or a credential.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "key", "token", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

/// `value` with the value of every secret key ([`is_secret_key`]), at any depth, replaced by
/// [`REDACTED`] (`null` stays `null`: no secret was set).
pub fn redact_secrets(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_secrets(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_secrets).collect()),
        other => other.clone(),
    }
}

/// The top-level fields of two objects that differ: `(before, after)`, each an object of those
/// fields (a field absent on one side is `null` there). Values that are not objects are
/// compared whole.
pub fn changed_fields(before: &Value, after: &Value) -> (Value, Value) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let mut was = Map::new();
            let mut now = Map::new();
            let keys = old
                .keys()
                .chain(new.keys().filter(|k| !old.contains_key(*k)));
            for key in keys {
                let (a, b) = (old.get(key), new.get(key));
                if a != b {
                    was.insert(key.clone(), a.cloned().unwrap_or(Value::Null));
                    now.insert(key.clone(), b.cloned().unwrap_or(Value::Null));
                }
            }
            (Value::Object(was), Value::Object(now))
        }
        _ => (before.clone(), after.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_never_reach_an_entry() {
        let config = json!({
            "comm_key": 12, "password": "pw", "username": "admin", "timeout_ms": 5000,
            "nested": {"api_secret": "s", "apiKey": "k", "token": null},
            "list": [{"Passwd": "p"}],
        });
        assert_eq!(
            redact_secrets(&config),
            json!({
                "comm_key": REDACTED, "password": REDACTED, "username": "admin",
                "timeout_ms": 5000,
                "nested": {"api_secret": REDACTED, "apiKey": REDACTED, "token": null},
                "list": [{"Passwd": REDACTED}],
            })
        );
    }

    #[test]
    fn only_the_changed_fields_are_kept() {
        let (before, after) = changed_fields(
            &json!({"a": 1, "b": [1, 2], "c": "same", "gone": true}),
            &json!({"a": 2, "b": [1, 2], "c": "same", "new": 5}),
        );
        assert_eq!(before, json!({"a": 1, "gone": true, "new": null}));
        assert_eq!(after, json!({"a": 2, "gone": null, "new": 5}));
        let (before, after) = changed_fields(&json!({"a": 1}), &json!({"a": 1}));
        assert_eq!((before, after), (json!({}), json!({})));
    }

    #[test]
    fn the_command_line_actor_names_the_os_user() {
        let actor = cli_actor();
        assert!(actor.starts_with("cli:") && actor.len() > 4, "{actor}");
    }
}
