//! Pure values ↔ JSON for the Suprema BioStar 2 REST API (`docs/protocols/suprema-biostar.md`):
//! login, the event search query and its rows, event codes → verify modes, and the adapter's
//! cursor.

use std::fmt;

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// The session header (in both directions).
pub const SESSION_HEADER: &str = "bs-session-id";

/// Search operators.
pub mod operator {
    /// EQUAL.
    pub const EQUAL: u8 = 0;
    /// NOT_EQUAL.
    pub const NOT_EQUAL: u8 = 1;
    /// CONTAINS (value in list).
    pub const CONTAINS: u8 = 2;
    /// BETWEEN (two values, inclusive).
    pub const BETWEEN: u8 = 3;
    /// LIKE.
    pub const LIKE: u8 = 4;
    /// GREATER.
    pub const GREATER: u8 = 5;
    /// LESS.
    pub const LESS: u8 = 6;
}

/// Event families (`event_code`, the high byte of the REST code) that count as a punch by
/// default: 1:1 verify success (0x1000), 1:N identify success (0x1300), dual authentication
/// success (0x1600).
pub const DEFAULT_PUNCH_FAMILIES: [u32; 3] = [0x1000, 0x1300, 0x1600];

/// The body of `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The credentials.
    #[serde(rename = "User")]
    pub user: LoginUser,
}

/// Login credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginUser {
    /// The login id.
    pub login_id: String,
    /// The password.
    pub password: String,
}

/// The body of `POST /api/events/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query.
    #[serde(rename = "Query")]
    pub query: Query,
}

/// A query: a row limit, conditions (all must hold) and orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Most rows returned.
    pub limit: u32,
    /// Conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Orders.
    #[serde(default)]
    pub orders: Vec<Order>,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The column (`datetime`, `event_type_id.code`, `device_id.id`, `id`, …).
    pub column: String,
    /// The operator (see [`operator`]).
    pub operator: u8,
    /// Its values, as strings.
    pub values: Vec<String>,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The column.
    pub column: String,
    /// Descending rather than ascending.
    pub descending: bool,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// The reply to a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The rows.
    #[serde(rename = "EventCollection", default)]
    pub collection: EventCollection,
    /// The server's verdict.
    #[serde(rename = "Response", default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ApiResponse>,
}

/// The rows of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCollection {
    /// The events (absent or `null` when there are none).
    #[serde(default, deserialize_with = "rows_or_null")]
    pub rows: Vec<EventRow>,
}

fn rows_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EventRow>, D::Error> {
    Ok(Option::<Vec<EventRow>>::deserialize(d)?.unwrap_or_default())
}

/// `Response`: `code` "0" is success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    /// The code.
    #[serde(deserialize_with = "string_or_number")]
    pub code: String,
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// An id-and-name reference (`user_id`, `device_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user's id.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A device reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    /// The device id.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The event type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventType {
    /// `event_code | sub_code` as text.
    #[serde(deserialize_with = "string_or_number")]
    pub code: String,
}

/// One event row (every value a string, as the server writes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// The event id (restarts every month).
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    /// The punch time in UTC (empty when absent: such a row is skipped, not the page).
    #[serde(default)]
    pub datetime: String,
    /// When the server stored it, in the server's zone (never the punch time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_datetime: Option<String>,
    /// The device's own event index.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub index: Option<String>,
    /// The person, absent for events without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserRef>,
    /// The device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceRef>,
    /// The event type.
    #[serde(default)]
    pub event_type_id: EventType,
    /// The time-and-attendance key pressed, if any.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub tna_key: Option<String>,
}

impl EventRow {
    /// The REST event code, if numeric.
    pub fn code(&self) -> Option<u32> {
        self.event_type_id.code.trim().parse().ok()
    }

    /// The punch time, if it is ISO 8601.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        parse_datetime(&self.datetime)
    }
}

/// Reads a BioStar datetime (`2026-01-05T02:30:00.00Z`).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Writes a datetime as the search expects it (`2026-01-05T02:30:00.000Z`).
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Why a decoder refused a body.
#[derive(Debug, thiserror::Error)]
#[error("bad BioStar JSON: {0}")]
pub struct BioStarCodecError(#[from] serde_json::Error);

/// Reads a search reply.
pub fn decode_search_response(body: &[u8]) -> Result<SearchResponse, BioStarCodecError> {
    Ok(serde_json::from_slice(body)?)
}

/// Writes a search reply (the fake server's).
pub fn encode_search_response(response: &SearchResponse) -> Vec<u8> {
    serde_json::to_vec_pretty(response).unwrap_or_default()
}

/// The verify mode of a REST event code, from its family and sub code (the G-SDK tables):
/// the first biometric a sub code names (face or finger), else a card-like credential (card,
/// AOC, mobile, QR, lock override), else a PIN. Codes without a sub code, and families that
/// are not authentication successes, are [`VerifyMode::Unknown`].
pub fn verify_mode(code: u32) -> VerifyMode {
    use VerifyMode::{Card, Face, Fingerprint, Password, Unknown};
    let family = code & 0xFF00;
    let sub = code & 0x00FF;
    match family {
        // 1:1 verify (and under duress): BS2_SUB_EVENT_VERIFY_*.
        0x1000 | 0x1200 => match sub {
            1 => Password,
            2 | 3 | 8 | 9 | 14 | 15 | 17 | 19 | 24 | 25 | 33 | 39 | 40 | 44 => Fingerprint,
            4 | 5 | 10 | 11 | 16 | 18 | 26 | 27 | 32 | 41 | 42 | 43 => Face,
            6 | 7 | 12 | 13 | 22 | 23 | 37 | 38 | 49 => Card,
            _ => Unknown,
        },
        // 1:N identify (and under duress): BS2_SUB_EVENT_IDENTIFY_*.
        0x1300 | 0x1500 => match sub {
            1 | 2 | 7 | 8 => Fingerprint,
            3..=6 => Face,
            _ => Unknown,
        },
        _ => Unknown,
    }
}

/// Whether `code` belongs to one of `families` (`event_code` values such as 0x1000).
pub fn is_punch(code: u32, families: &[u32]) -> bool {
    families.contains(&(code & 0xFF00))
}

/// Every REST code of `families` (sub codes 0 to 0x31), for the search's code condition.
pub fn family_codes(families: &[u32]) -> Vec<String> {
    families
        .iter()
        .flat_map(|f| (0..=0x31).map(move |sub| (f | sub).to_string()))
        .collect()
}

/// Why a row could not become a scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowSkip {
    /// Not an authentication success of the configured families.
    #[error("not a punch (code {0:?})")]
    NotPunch(String),
    /// No user on the event.
    #[error("no user")]
    NoUser,
    /// The user id is not a valid device user id.
    #[error("bad user id {0:?}")]
    BadUser(String),
    /// The datetime is not ISO 8601.
    #[error("bad datetime {0:?}")]
    BadTime(String),
}

impl RowSkip {
    /// Whether the row was a punch that could not be read.
    pub fn is_malformed(&self) -> bool {
        !matches!(self, Self::NotPunch(_))
    }
}

/// Converts a row into a scan of `machine`; the raw field holds the row's JSON.
pub fn row_to_scan(
    row: &EventRow,
    families: &[u32],
    machine: &MachineId,
) -> Result<ScanData, RowSkip> {
    let code = row
        .code()
        .filter(|c| is_punch(*c, families))
        .ok_or_else(|| RowSkip::NotPunch(row.event_type_id.code.clone()))?;
    let user = row
        .user_id
        .as_ref()
        .map(|u| u.user_id.trim())
        .filter(|u| !u.is_empty())
        .ok_or(RowSkip::NoUser)?;
    let device_user_id =
        DeviceUserId::parse(user).map_err(|_| RowSkip::BadUser(user.to_owned()))?;
    let timestamp = row
        .time()
        .ok_or_else(|| RowSkip::BadTime(row.datetime.clone()))?;
    Ok(ScanData {
        machine_id: machine.clone(),
        device_user_id,
        timestamp,
        punch_state: PunchState::Unknown,
        verify_mode: verify_mode(code),
        raw: Some(serde_json::to_string(row).unwrap_or_default()),
    })
}

/// The adapter's cursor: the datetime of the newest event read and the ids of the events at
/// exactly that instant (so a search that starts at the instant, inclusive, can drop them).
/// Written `2026-01-05T02:30:00.000Z|1,2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Ids of the events at `at` already returned.
    pub ids: Vec<String>,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", format_datetime(self.at), self.ids.join(","))
    }
}

impl Cursor {
    /// Reads a cursor written by [`Cursor`]'s `Display`; `None` when the datetime is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, ids) = text.split_once('|').unwrap_or((text, ""));
        Some(Self {
            at: parse_datetime(at)?,
            ids: ids
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}
