//! Validated text values: the `text_newtype!` macro that every text identifier of the crate is
//! made with (employee codes, device users, shifts, machines, leave requests and documents), and
//! the character rules they share. It depends on `crate::error` only.

/// Generates a validated string newtype with `parse`, `as_str`, `Display` and serde that goes
/// through `parse`, so an invalid value can never be deserialised into existence.
macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and normalises the value; returns a [`ValidationError`](crate::error::ValidationError) naming the field
            /// when it is empty, too long or has characters it may not have.
            pub fn parse(value: &str) -> Result<Self, $crate::error::ValidationError> {
                let text = $crate::error::non_empty_trimmed($field, value, $max)?;
                let check: fn(&str) -> Option<&'static str> = $check;
                if let Some(reason) = check(&text) {
                    return Err($crate::error::ValidationError::Invalid { field: $field, reason, value: text });
                }
                Ok(Self(text))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::error::ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use text_newtype;

/// The rule of codes people type (employee codes): ASCII letters, digits, `-`, `_` and `.`.
pub(crate) fn code_chars(text: &str) -> Option<&'static str> {
    let ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    (!ok).then_some("may hold only ASCII letters, digits, '-', '_' and '.'")
}

/// The rule of ids a store or a caller makes up (UUIDs, sequence numbers): ASCII letters,
/// digits, `-` and `_` only.
pub(crate) fn id_chars(text: &str) -> Option<&'static str> {
    (!text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some("may hold only ASCII letters, digits, '-' and '_'")
}

/// The rule of names (departments, designations, levels of work): no control characters.
pub(crate) fn no_control(text: &str) -> Option<&'static str> {
    text.chars()
        .any(char::is_control)
        .then_some("must not contain control characters")
}
