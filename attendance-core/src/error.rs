//! Errors raised when a value from outside fails validation.

use thiserror::Error;

/// A value that came from outside (an HTTP body, a CSV file, a device, a settings file) and cannot
/// be turned into a domain value. The message names the field and says what was wrong, so a
/// server can hand it to a user as it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// A required text field was empty or only white space.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name as the user knows it (for example `employee_id`).
        field: &'static str,
    },
    /// A text field was longer than allowed.
    #[error("{field} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// The length received.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// A field held characters or a shape it may not have.
    #[error("{field} {reason} (got {value:?})")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What the value should look like.
        reason: &'static str,
        /// The value received, for the message.
        value: String,
    },
    /// A number was outside its allowed range.
    #[error("{field} must be between {min} and {max} (got {value})")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value received.
        value: i64,
        /// The smallest allowed value.
        min: i64,
        /// The largest allowed value.
        max: i64,
    },
    /// Two values that must be in order were not (a range whose end is before its start).
    #[error("{field}: {start} is after {end}")]
    Reversed {
        /// The range's name.
        field: &'static str,
        /// The start received.
        start: String,
        /// The end received.
        end: String,
    },
}

/// Checks that `value` is non-empty after trimming and at most `max` characters, and returns the
/// trimmed text.
pub(crate) fn non_empty_trimmed(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let len = trimmed.chars().count();
    if len > max {
        return Err(ValidationError::TooLong { field, len, max });
    }
    Ok(trimmed.to_owned())
}
