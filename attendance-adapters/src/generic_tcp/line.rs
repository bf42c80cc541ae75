//! The pure line codec: a validated [`LineFormat`] decodes lines into scans (typed
//! [`LineError`]s) and encodes [`GenericLine`]s for the fake device.

use std::fmt::Write as _;

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::time::local_to_utc;
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;

use crate::zk::client::verify_mode;

/// A column of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The device user id (required, once).
    User,
    /// The time (required, once).
    Timestamp,
    /// The punch state.
    Punch,
    /// The verify mode.
    Verify,
    /// A column to skip.
    Ignore,
}

/// Why a line could not become a scan, or why a format is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    /// The line is empty (or only whitespace).
    #[error("empty line")]
    Empty,
    /// The line is not UTF-8 text.
    #[error("the line is not UTF-8 text")]
    NotText,
    /// The line is longer than the configured limit.
    #[error("the line is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The line was cut off (the connection closed inside it).
    #[error("the line was cut off")]
    Truncated,
    /// The line has another number of columns than the format.
    #[error("expected {expected} columns, got {got}")]
    FieldCount {
        /// Columns the format has.
        expected: usize,
        /// Columns the line has.
        got: usize,
    },
    /// The user column is not a valid device user id.
    #[error("bad user id `{value}`: {reason}")]
    User {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// The time column does not match the time format.
    #[error("bad time `{value}`: {reason}")]
    Time {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// The punch column is not a code or a known word.
    #[error("bad punch state `{0}`")]
    Punch(String),
    /// The verify column is not a code or a known word.
    #[error("bad verify mode `{0}`")]
    Verify(String),
    /// The format itself is unusable (no user column, a bad strftime string, …).
    #[error("invalid line format: {0}")]
    Format(String),
}

/// One line's content, as the fake device writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericLine {
    /// The device user id.
    pub user: String,
    /// The device's local time (for `unix` formats: the UTC time).
    pub local_time: NaiveDateTime,
    /// The punch state code, if the line carries one.
    pub punch: Option<u8>,
    /// The verify code, if the line carries one.
    pub verify: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeFormat {
    Unix,
    Strftime(String),
}

/// A validated line format: delimiter, columns and time format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    delimiter: String,
    fields: Vec<Field>,
    time: TimeFormat,
    // How many times the delimiter occurs inside a formatted timestamp.
    time_splits: usize,
}

fn sample_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(8, 9, 10))
        .unwrap_or_default()
}

fn format_time(fmt: &str, t: NaiveDateTime) -> Result<String, LineError> {
    let mut out = String::new();
    write!(out, "{}", t.format(fmt))
        .map_err(|_| LineError::Format(format!("`{fmt}` cannot format a local time")))?;
    Ok(out)
}

impl LineFormat {
    /// Validates a format. Returns [`LineError::Format`] when the delimiter is empty or a line
    /// break, `user` or `timestamp` is missing or repeated, or the time format is not a strftime
    /// string that formats and parses back a local date and time (or `unix`).
    pub fn new(delimiter: &str, fields: Vec<Field>, time_format: &str) -> Result<Self, LineError> {
        let bad = |m: &str| Err(LineError::Format(m.into()));
        if delimiter.is_empty() || delimiter.contains(['\n', '\r']) {
            return bad("the delimiter must be non-empty and not a line break");
        }
        for required in [Field::User, Field::Timestamp] {
            if fields.iter().filter(|f| **f == required).count() != 1 {
                return bad("`fields` must name `user` and `timestamp` exactly once each");
            }
        }
        for optional in [Field::Punch, Field::Verify] {
            if fields.iter().filter(|f| **f == optional).count() > 1 {
                return bad("`punch` and `verify` may appear at most once each");
            }
        }
        let time = if time_format == "unix" {
            TimeFormat::Unix
        } else {
            if StrftimeItems::new(time_format).any(|i| matches!(i, Item::Error)) {
                return Err(LineError::Format(format!(
                    "`{time_format}` is not a valid strftime format"
                )));
            }
            let text = format_time(time_format, sample_time())?;
            if NaiveDateTime::parse_from_str(&text, time_format).is_err() {
                return Err(LineError::Format(format!(
                    "`{time_format}` does not give a complete date and time"
                )));
            }
            TimeFormat::Strftime(time_format.to_owned())
        };
        let time_splits = match &time {
            TimeFormat::Unix => 0,
            TimeFormat::Strftime(f) => format_time(f, sample_time())?.matches(delimiter).count(),
        };
        Ok(Self {
            delimiter: delimiter.to_owned(),
            fields,
            time,
            time_splits,
        })
    }

    /// The columns, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Decodes one line (a trailing `\r\n` or `\n` is ignored) into a scan of `machine`, whose
    /// clock runs in `tz`. Never panics; every problem is a [`LineError`].
    pub fn decode(&self, line: &[u8], machine: &MachineId, tz: Tz) -> Result<ScanData, LineError> {
        let text = std::str::from_utf8(line).map_err(|_| LineError::NotText)?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Err(LineError::Empty);
        }
        let parts: Vec<&str> = text.split(self.delimiter.as_str()).collect();
        let expected = self.fields.len() + self.time_splits;
        if parts.len() != expected {
            return Err(LineError::FieldCount {
                expected,
                got: parts.len(),
            });
        }
        let mut user = None;
        let mut timestamp = None;
        let mut punch_state = PunchState::Unknown;
        let mut verify = VerifyMode::Unknown;
        let mut i = 0;
        for field in &self.fields {
            let width = if *field == Field::Timestamp {
                self.time_splits + 1
            } else {
                1
            };
            let value = parts
                .get(i..i + width)
                .map(|p| p.join(self.delimiter.as_str()))
                .unwrap_or_default();
            i += width;
            let value = value.trim();
            match field {
                Field::User => {
                    user = Some(DeviceUserId::parse(value).map_err(|e| LineError::User {
                        value: value.to_owned(),
                        reason: e.to_string(),
                    })?);
                }
                Field::Timestamp => timestamp = Some(self.parse_time(value, tz)?),
                Field::Punch => punch_state = parse_punch(value)?,
                Field::Verify => verify = parse_verify(value)?,
                Field::Ignore => {}
            }
        }
        let (Some(device_user_id), Some(timestamp)) = (user, timestamp) else {
            return Err(LineError::Format("no user or timestamp column".into()));
        };
        Ok(ScanData {
            machine_id: machine.clone(),
            device_user_id,
            timestamp,
            punch_state,
            verify_mode: verify,
            raw: Some(text.to_owned()),
        })
    }

    fn parse_time(&self, value: &str, tz: Tz) -> Result<DateTime<Utc>, LineError> {
        let bad = |reason: String| LineError::Time {
            value: value.to_owned(),
            reason,
        };
        match &self.time {
            TimeFormat::Unix => {
                let secs: i64 = value
                    .parse()
                    .map_err(|_| bad("not a number of seconds".into()))?;
                DateTime::from_timestamp(secs, 0).ok_or_else(|| bad("out of range".into()))
            }
            TimeFormat::Strftime(f) => NaiveDateTime::parse_from_str(value, f)
                .map(|local| local_to_utc(tz, local))
                .map_err(|e| bad(e.to_string())),
        }
    }

    /// Writes `line` in this format, without the line break. Returns [`LineError::Format`] when
    /// the time cannot be written in the format.
    pub fn encode(&self, line: &GenericLine) -> Result<String, LineError> {
        let mut columns = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            columns.push(match field {
                Field::User => line.user.clone(),
                Field::Timestamp => match &self.time {
                    TimeFormat::Unix => line.local_time.and_utc().timestamp().to_string(),
                    TimeFormat::Strftime(f) => format_time(f, line.local_time)?,
                },
                Field::Punch => line.punch.map(|p| p.to_string()).unwrap_or_default(),
                Field::Verify => line.verify.map(|v| v.to_string()).unwrap_or_default(),
                Field::Ignore => String::new(),
            });
        }
        Ok(columns.join(self.delimiter.as_str()))
    }
}

fn parse_punch(value: &str) -> Result<PunchState, LineError> {
    if value.is_empty() {
        return Ok(PunchState::Unknown);
    }
    if let Ok(code) = value.parse::<u8>() {
        return Ok(PunchState::from_code(code));
    }
    match value.to_ascii_lowercase().as_str() {
        "i" | "in" | "checkin" | "check-in" | "check_in" => Ok(PunchState::CheckIn),
        "o" | "out" | "checkout" | "check-out" | "check_out" => Ok(PunchState::CheckOut),
        _ => Err(LineError::Punch(value.to_owned())),
    }
}

fn parse_verify(value: &str) -> Result<VerifyMode, LineError> {
    if value.is_empty() {
        return Ok(VerifyMode::Unknown);
    }
    if let Ok(code) = value.parse::<u16>() {
        return Ok(match u8::try_from(code) {
            Ok(small) => verify_mode(small),
            Err(_) => VerifyMode::Other(code),
        });
    }
    match value.to_ascii_lowercase().as_str() {
        "fp" | "finger" | "fingerprint" => Ok(VerifyMode::Fingerprint),
        "face" => Ok(VerifyMode::Face),
        "card" | "rfid" => Ok(VerifyMode::Card),
        "pw" | "pin" | "password" => Ok(VerifyMode::Password),
        "palm" | "vein" => Ok(VerifyMode::Palm),
        _ => Err(LineError::Verify(value.to_owned())),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::generic_tcp::default_fields;

    fn machine_id() -> MachineId {
        MachineId::parse("G1").unwrap()
    }

    fn check(format: &LineFormat, line: &str, expected: Result<(&str, &str), LineError>) {
        let got = format
            .decode(line.as_bytes(), &machine_id(), chrono_tz::UTC)
            .map(|s| {
                (
                    s.device_user_id.as_str().to_owned(),
                    s.timestamp.to_rfc3339(),
                )
            });
        let expected = expected.map(|(u, t)| (u.to_owned(), t.to_owned()));
        assert_eq!(got, expected, "{line:?}");
    }

    #[test]
    fn decodes_lines_with_typed_errors() {
        let f = LineFormat::new(",", default_fields(), "%Y-%m-%d %H:%M:%S").unwrap();
        check(
            &f,
            "7,2026-01-05 08:00:00,0,1\n",
            Ok(("7", "2026-01-05T08:00:00+00:00")),
        );
        check(
            &f,
            "7,2026-01-05 08:00:00,,\r\n",
            Ok(("7", "2026-01-05T08:00:00+00:00")),
        );
        check(&f, "   \n", Err(LineError::Empty));
        check(
            &f,
            "7,2026-01-05 08:00:00,0",
            Err(LineError::FieldCount {
                expected: 4,
                got: 3,
            }),
        );
        assert!(matches!(
            f.decode(
                b"x y,2026-01-05 08:00:00,0,1",
                &machine_id(),
                chrono_tz::UTC
            ),
            Err(LineError::User { .. })
        ));
        assert!(matches!(
            f.decode(b"7,2026-02-31 08:00:00,0,1", &machine_id(), chrono_tz::UTC),
            Err(LineError::Time { .. })
        ));
        assert_eq!(
            f.decode(
                b"7,2026-01-05 08:00:00,sideways,1",
                &machine_id(),
                chrono_tz::UTC
            ),
            Err(LineError::Punch("sideways".into()))
        );
        assert_eq!(
            f.decode(b"\xff\xfe", &machine_id(), chrono_tz::UTC),
            Err(LineError::NotText)
        );
        let s = f
            .decode(
                b"7,2026-01-05 08:00:00,out,face",
                &machine_id(),
                chrono_tz::UTC,
            )
            .unwrap();
        assert_eq!(
            (s.punch_state, s.verify_mode),
            (PunchState::CheckOut, VerifyMode::Face)
        );
    }

    #[test]
    fn a_space_delimiter_keeps_the_time_whole() {
        let f = LineFormat::new(
            " ",
            vec![Field::Ignore, Field::User, Field::Timestamp],
            "%d/%m/%Y %H:%M",
        )
        .unwrap();
        check(
            &f,
            "gate 42 05/01/2026 08:30",
            Ok(("42", "2026-01-05T08:30:00+00:00")),
        );
        let unix = LineFormat::new(";", vec![Field::Timestamp, Field::User], "unix").unwrap();
        check(
            &unix,
            "1767600000;9",
            Ok(("9", "2026-01-05T08:00:00+00:00")),
        );
    }

    #[test]
    fn rejects_unusable_formats() {
        for (delim, fields, time) in [
            ("", default_fields(), "%Y-%m-%d %H:%M:%S"),
            (",", vec![Field::User], "%Y-%m-%d %H:%M:%S"),
            (",", vec![Field::User, Field::User, Field::Timestamp], "%Y"),
            (",", default_fields(), "%Q"),
            (",", default_fields(), "%H:%M"),
            (",", default_fields(), "%Y-%m-%d %H:%M:%S %z"),
        ] {
            assert!(
                matches!(
                    LineFormat::new(delim, fields, time),
                    Err(LineError::Format(_))
                ),
                "{time}"
            );
        }
    }
}
