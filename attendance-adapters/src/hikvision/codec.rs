//! Pure values ↔ JSON and multipart for Hikvision ISAPI access-control events
//! (`docs/protocols/hikvision-isapi.md`): the `AcsEventCond` search, its `AcsEvent` reply, the
//! push envelope of HTTP listening, a tolerant `multipart` reader (boundaries compared without regard to case,
//! as DS-K1T323 firmware need) and its writer, and the conversion of person events to scans.

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::time::local_to_utc;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Major type of access-control events (`MAJOR_EVENT`).
pub const MAJOR_EVENT: u32 = 5;

/// Minor codes of a person passing (`docs/protocols/hikvision-isapi.md` §3): card, fingerprint,
/// card + fingerprint, card + fingerprint + password, fingerprint + password, face.
pub const PERSON_MINORS: [u32; 6] = [1, 38, 40, 43, 46, 75];

/// The search body of `POST /ISAPI/AccessControl/AcsEvent?format=json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEventSearch {
    /// The condition.
    #[serde(rename = "AcsEventCond")]
    pub cond: AcsEventCond,
}

/// `AcsEventCond`: one page of one search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEventCond {
    /// Kept for every page of one search.
    #[serde(rename = "searchID")]
    pub search_id: String,
    /// Rows to skip: the sum of `numOfMatches` of the pages before.
    #[serde(rename = "searchResultPosition")]
    pub position: u32,
    /// Rows asked for (the device may return fewer).
    #[serde(rename = "maxResults")]
    pub max_results: u32,
    /// Major type, 0 for all.
    pub major: u32,
    /// Minor type, 0 for all.
    pub minor: u32,
    /// Window start, ISO 8601 with the device's offset.
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Window end.
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Only this person, if given.
    #[serde(
        rename = "employeeNoString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub employee: Option<String>,
}

/// The reply to a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEventReply {
    /// The page.
    #[serde(rename = "AcsEvent")]
    pub page: AcsEventPage,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEventPage {
    /// The search's id.
    #[serde(rename = "searchID", default)]
    pub search_id: String,
    /// `MORE`, `OK` or `NO MATCH`.
    #[serde(rename = "responseStatusStrg")]
    pub status: String,
    /// Rows in this page.
    #[serde(rename = "numOfMatches", default)]
    pub num_of_matches: u32,
    /// Rows in the whole search.
    #[serde(rename = "totalMatches", default)]
    pub total_matches: u32,
    /// The rows; absent (not empty) when there are none.
    #[serde(rename = "InfoList", default, skip_serializing_if = "Option::is_none")]
    pub info_list: Option<Vec<AcsEventInfo>>,
}

impl AcsEventPage {
    /// Whether another page follows (`MORE`, compared without regard to case).
    pub fn has_more(&self) -> bool {
        self.status.trim().eq_ignore_ascii_case("MORE")
    }
}

/// One event row of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEventInfo {
    /// Major type (0 when absent).
    #[serde(default)]
    pub major: u32,
    /// Minor type (0 when absent).
    #[serde(default)]
    pub minor: u32,
    /// When, ISO 8601 with offset (empty when absent: such a row is skipped, not the page).
    #[serde(default)]
    pub time: String,
    /// The person id (newer firmware).
    #[serde(
        rename = "employeeNoString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_no_string: Option<String>,
    /// The person id of older firmware (`employeeNo`, a number or a string).
    #[serde(
        rename = "employeeNo",
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_no: Option<String>,
    /// The card number of card events.
    #[serde(rename = "cardNo", default, skip_serializing_if = "Option::is_none")]
    pub card_no: Option<String>,
    /// The person's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The device's ever-increasing event number.
    #[serde(rename = "serialNo", default, skip_serializing_if = "Option::is_none")]
    pub serial_no: Option<u64>,
    /// `checkIn`, `checkOut`, … on terminals that record one.
    #[serde(
        rename = "attendanceStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attendance_status: Option<String>,
    /// The configured verify mode, e.g. `cardOrFaceOrFp`.
    #[serde(
        rename = "currentVerifyMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_verify_mode: Option<String>,
}

impl AcsEventInfo {
    /// The person id: `employeeNoString`, else `employeeNo`; `None` when empty.
    pub fn person(&self) -> Option<String> {
        self.employee_no_string
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                self.employee_no
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            })
    }
}

fn opt_string_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

/// Why a decoder refused a body.
#[derive(Debug, thiserror::Error)]
pub enum HikCodecError {
    /// The body is not the JSON the protocol says.
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A multipart body without a boundary in its `Content-Type`.
    #[error("multipart body without a boundary")]
    NoBoundary,
}

/// Reads an `AcsEvent` reply.
pub fn decode_acs_reply(body: &[u8]) -> Result<AcsEventPage, HikCodecError> {
    Ok(serde_json::from_slice::<AcsEventReply>(body)?.page)
}

/// Writes an `AcsEvent` reply (the fake terminal's), pretty-printed as real firmware do.
pub fn encode_acs_reply(page: &AcsEventPage) -> Vec<u8> {
    serde_json::to_vec_pretty(&AcsEventReply { page: page.clone() }).unwrap_or_default()
}

/// Why a person event could not become a scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventSkip {
    /// Not a person passing (door, alarm, failure, major ≠ 5).
    #[error("not a person event (major {major}, minor {minor})")]
    NotPerson {
        /// Major type.
        major: u32,
        /// Minor type.
        minor: u32,
    },
    /// A person event without a person id.
    #[error("no person id")]
    NoPerson,
    /// The person id is not a valid device user id.
    #[error("bad person id {0:?}")]
    BadPerson(String),
    /// The time is not ISO 8601.
    #[error("bad time {0:?}")]
    BadTime(String),
}

impl EventSkip {
    /// Whether the row was a person event that could not be read (as opposed to an event that
    /// is not attendance at all).
    pub fn is_malformed(&self) -> bool {
        !matches!(self, Self::NotPerson { .. })
    }
}

/// Reads an ISAPI time: with its offset when it has one (`2026-01-05T08:00:00+05:30`, `…Z`),
/// else as wall-clock time in `tz`.
pub fn parse_time(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .ok()
        .map(|t| local_to_utc(tz, t))
}

/// The verify mode of a person minor: 38, 40, 43, 46 fingerprint (alone or combined), 75 face,
/// 1 card.
pub fn verify_mode(minor: u32) -> VerifyMode {
    match minor {
        38 | 40 | 43 | 46 => VerifyMode::Fingerprint,
        75 => VerifyMode::Face,
        1 => VerifyMode::Card,
        other => VerifyMode::Other(u16::try_from(other).unwrap_or(u16::MAX)),
    }
}

/// The punch state of `attendanceStatus`; absent or `undefined` is unknown.
pub fn punch_state(status: Option<&str>) -> PunchState {
    match status.map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("checkIn") => PunchState::CheckIn,
        Some(s) if s.eq_ignore_ascii_case("checkOut") => PunchState::CheckOut,
        Some(s) if s.eq_ignore_ascii_case("breakOut") => PunchState::BreakOut,
        Some(s) if s.eq_ignore_ascii_case("breakIn") => PunchState::BreakIn,
        Some(s) if s.eq_ignore_ascii_case("overtimeIn") => PunchState::OvertimeIn,
        Some(s) if s.eq_ignore_ascii_case("overtimeOut") => PunchState::OvertimeOut,
        _ => PunchState::Unknown,
    }
}

/// The fields of an event that make a scan, shared by search rows and pushed events.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    /// Major type.
    pub major: u32,
    /// Minor type.
    pub minor: u32,
    /// Person id.
    pub person: Option<&'a str>,
    /// Time text.
    pub time: &'a str,
    /// `attendanceStatus`.
    pub attendance_status: Option<&'a str>,
}

/// Converts a person event to a scan of `machine` (zone `tz` for times without offset); the raw
/// field holds `raw` (the event's JSON). Only major 5 with a minor of `minors` and a person id
/// becomes a scan.
pub fn event_to_scan(
    fields: EventFields<'_>,
    minors: &[u32],
    machine: &MachineId,
    tz: Tz,
    raw: String,
) -> Result<ScanData, EventSkip> {
    if fields.major != MAJOR_EVENT || !minors.contains(&fields.minor) {
        return Err(EventSkip::NotPerson {
            major: fields.major,
            minor: fields.minor,
        });
    }
    let person = fields
        .person
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or(EventSkip::NoPerson)?;
    let device_user_id =
        DeviceUserId::parse(person).map_err(|_| EventSkip::BadPerson(person.to_owned()))?;
    let timestamp =
        parse_time(fields.time, tz).ok_or_else(|| EventSkip::BadTime(fields.time.to_owned()))?;
    Ok(ScanData {
        machine_id: machine.clone(),
        device_user_id,
        timestamp,
        punch_state: punch_state(fields.attendance_status),
        verify_mode: verify_mode(fields.minor),
        raw: Some(raw),
    })
}

/// Converts a search row (see [`event_to_scan`]).
pub fn info_to_scan(
    info: &AcsEventInfo,
    minors: &[u32],
    machine: &MachineId,
    tz: Tz,
) -> Result<ScanData, EventSkip> {
    let person = info.person();
    event_to_scan(
        EventFields {
            major: info.major,
            minor: info.minor,
            person: person.as_deref(),
            time: &info.time,
            attendance_status: info.attendance_status.as_deref(),
        },
        minors,
        machine,
        tz,
        serde_json::to_string(info).unwrap_or_default(),
    )
}

/// The JSON envelope of a pushed event (HTTP listening or `alertStream`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEnvelope {
    /// `AccessControllerEvent` or `heartBeat`.
    #[serde(rename = "eventType", default)]
    pub event_type: String,
    /// When, ISO 8601 with offset.
    #[serde(rename = "dateTime", default)]
    pub date_time: String,
    /// The event, absent on heartbeats.
    #[serde(
        rename = "AccessControllerEvent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event: Option<PushedEvent>,
}

impl PushEnvelope {
    /// Whether this is a heartbeat (or any envelope without an event).
    pub fn is_heartbeat(&self) -> bool {
        self.event.is_none() || self.event_type.eq_ignore_ascii_case("heartBeat")
    }
}

/// The `AccessControllerEvent` member of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedEvent {
    /// Major type (named `major` in searches).
    #[serde(rename = "majorEventType", default)]
    pub major: u32,
    /// Minor type (named `minor` in searches).
    #[serde(rename = "subEventType", default)]
    pub minor: u32,
    /// Person id.
    #[serde(
        rename = "employeeNoString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub employee_no_string: Option<String>,
    /// The event number.
    #[serde(rename = "serialNo", default, skip_serializing_if = "Option::is_none")]
    pub serial_no: Option<u64>,
    /// `checkIn`, `checkOut`, ….
    #[serde(
        rename = "attendanceStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attendance_status: Option<String>,
    /// The person's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// The `name` of its `Content-Disposition`.
    pub name: Option<String>,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// The `boundary` parameter of a `Content-Type` value (quotes removed).
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

fn find_ci(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| {
        haystack[i..i + needle.len()].eq_ignore_ascii_case(needle)
            && (i == 0 || haystack[i - 1] == b'\n')
    })
}

fn strip_line_end(mut bytes: &[u8]) -> &[u8] {
    if let Some(rest) = bytes.strip_suffix(b"\n") {
        bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    bytes
}

/// Splits a multipart body on `--<boundary>` lines, comparing the boundary without regard to
/// case; the closing `--<boundary>--` is optional (streams never close). A part's headers end at
/// the first blank line; a part without one has no headers. Never fails: garbage gives no parts.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let Some(mut at) = find_ci(body, &delimiter, 0) else {
        return parts;
    };
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        // Skip the rest of the delimiter line.
        let content_start = match body[start..].iter().position(|&b| b == b'\n') {
            Some(nl) => start + nl + 1,
            None => break,
        };
        let next = find_ci(body, &delimiter, content_start);
        let end = next.unwrap_or(body.len());
        let content = if next.is_some() {
            strip_line_end(&body[content_start..end])
        } else {
            &body[content_start..end]
        };
        parts.push(parse_part(content));
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    parts
}

fn parse_part(content: &[u8]) -> Part {
    let split = content
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| {
            content
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, 2))
        });
    let Some((head_end, sep)) = split else {
        return Part {
            body: content.to_vec(),
            ..Part::default()
        };
    };
    let mut part = Part {
        body: content[head_end + sep..].to_vec(),
        ..Part::default()
    };
    for line in String::from_utf8_lossy(&content[..head_end]).lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.trim().to_owned());
        } else if key.eq_ignore_ascii_case("content-disposition") {
            part.name = value.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("name")
                    .then(|| v.trim().trim_matches('"').to_owned())
            });
        }
    }
    part
}

/// Writes a multipart body with `boundary` as the body spells it, each part with its
/// `Content-Disposition`, `Content-Type` and `Content-Length`, and the closing delimiter.
pub fn encode_multipart(parts: &[Part], boundary: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(name) = &part.name {
            out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes(),
            );
        }
        if let Some(ct) = &part.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", part.body.len()).as_bytes());
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Reads the envelopes of a push body: every multipart part that holds JSON (by its content
/// type or its name `AccessControllerEvent` / `event_log`), or the whole body when it is plain
/// JSON. Pictures and unreadable parts are skipped; heartbeats are returned (check
/// [`PushEnvelope::is_heartbeat`]).
pub fn decode_push(content_type: &str, body: &[u8]) -> Result<Vec<PushEnvelope>, HikCodecError> {
    if !content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return Ok(vec![serde_json::from_slice(body)?]);
    }
    let boundary = boundary_of(content_type).ok_or(HikCodecError::NoBoundary)?;
    let mut out = Vec::new();
    for part in parse_multipart(body, &boundary) {
        let json_type = part
            .content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        let event_name = part.name.as_deref().is_some_and(|n| {
            n.eq_ignore_ascii_case("AccessControllerEvent") || n.eq_ignore_ascii_case("event_log")
        });
        if !(json_type || event_name) {
            continue;
        }
        match serde_json::from_slice::<PushEnvelope>(&part.body) {
            Ok(envelope) => out.push(envelope),
            Err(e) => tracing::warn!(error = %e, "unreadable Hikvision push part skipped"),
        }
    }
    Ok(out)
}
