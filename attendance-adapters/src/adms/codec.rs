//! Pure text ↔ values for ZKTeco ADMS ("iclock") bodies, with no IO: `ATTLOG` uploads, `OPERLOG` /
//! `BIODATA` uploads, the handshake options reply, `OK: n` replies, `getrequest` command lines and
//! `devicecmd` results (`docs/protocols/zkteco-adms.md`).
//!
//! Decoders never fail on a whole body: a line that cannot be read is returned as a
//! [`RejectedLine`] beside the good ones, because a device that gets anything but 200 re-sends the
//! same batch forever. Encoders write what the fake device and the server put on the wire, and the
//! decoders read it back unchanged.

use std::fmt::Write as _;

use attendance_core::scan::{PunchState, VerifyMode};
use chrono::NaiveDateTime;

/// The time format of `ATTLOG` lines (device wall clock, no zone).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One punch from an `ATTLOG` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttLogRecord {
    /// Column 1: the user's PIN, as text (leading zeros kept).
    pub pin: String,
    /// Column 2: the device wall-clock time, naive local time.
    pub time: NaiveDateTime,
    /// Column 3: the punch state code (0 in, 1 out, …, 255 undefined); `None` when empty or not a
    /// number.
    pub status: Option<u8>,
    /// Column 4: the verify mode code; `None` when empty or not a number.
    pub verify: Option<u16>,
    /// Columns 5 and later, raw (work code, reserved fields, mask flag, temperature, …): their
    /// meaning varies with firmware, so they are kept as sent.
    pub extra: Vec<String>,
}

impl AttLogRecord {
    /// The punch state as core names it: an empty or unreadable column is
    /// [`PunchState::Unknown`], not check-in.
    pub fn punch_state(&self) -> PunchState {
        self.status
            .map_or(PunchState::Unknown, PunchState::from_code)
    }

    /// The verify mode as core names it (see [`verify_mode`]).
    pub fn verify_mode(&self) -> VerifyMode {
        self.verify.map_or(VerifyMode::Unknown, verify_mode)
    }

    /// The work code, when column 5 holds a non-empty value.
    pub fn work_code(&self) -> Option<&str> {
        self.extra
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Maps an ADMS verify code: 1 fingerprint; 0 (any), 2 (PIN) and 3 password; 4 card; 15 to 20
/// face and its combinations; 21 to 25 finger vein and palm; anything else (the combined modes 5
/// to 13, whose meaning is "one of several") is kept as [`VerifyMode::Other`].
pub fn verify_mode(code: u16) -> VerifyMode {
    match code {
        1 => VerifyMode::Fingerprint,
        0 | 2 | 3 => VerifyMode::Password,
        4 => VerifyMode::Card,
        15..=20 => VerifyMode::Face,
        21..=25 => VerifyMode::Palm,
        other => VerifyMode::Other(other),
    }
}

/// Why one line of a body was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line has no PIN (first column empty).
    #[error("missing PIN")]
    MissingPin,
    /// The line has no time column.
    #[error("missing time")]
    MissingTime,
    /// The time column is not `YYYY-MM-DD hh:mm:ss` or names an impossible date.
    #[error("bad time {0:?}")]
    BadTime(String),
}

/// A line that could not be used, kept for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based line number in the body (blank lines counted).
    pub line_no: usize,
    /// The line as sent (without its line ending).
    pub line: String,
    /// What was wrong.
    pub reason: LineError,
}

/// An `ATTLOG` body read line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttLogBody {
    /// The good punches, with the raw line each came from, in body order.
    pub records: Vec<(AttLogRecord, String)>,
    /// The lines that could not be read.
    pub rejected: Vec<RejectedLine>,
}

impl AttLogBody {
    /// Lines handled (good and rejected): the `n` of the `OK: n` reply.
    pub fn handled(&self) -> usize {
        self.records.len() + self.rejected.len()
    }
}

/// Splits a body into its non-blank lines with 1-based line numbers: LF separated, a trailing CR
/// dropped, blank lines skipped.
pub fn body_lines(body: &str) -> impl Iterator<Item = (usize, &str)> {
    body.split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
}

/// Reads an `ATTLOG` body (`docs/protocols/zkteco-adms.md` §3): TAB-separated columns, any count
/// from 2 up; lines ended by LF or CRLF; blank lines skipped; a line without TAB split on
/// whitespace with the date and time tokens joined. Bad lines go to [`AttLogBody::rejected`]; never fails.
pub fn parse_attlog(body: &str) -> AttLogBody {
    let mut out = AttLogBody::default();
    for (line_no, line) in body_lines(body) {
        match parse_attlog_line(line) {
            Ok(record) => out.records.push((record, line.to_owned())),
            Err(reason) => out.rejected.push(RejectedLine {
                line_no,
                line: line.to_owned(),
                reason,
            }),
        }
    }
    out
}

/// Reads one `ATTLOG` line (without its line ending); see [`parse_attlog`].
pub fn parse_attlog_line(line: &str) -> Result<AttLogRecord, LineError> {
    let columns: Vec<String> = if line.contains('\t') {
        line.split('\t').map(str::to_owned).collect()
    } else {
        // Space-separated firmware: `PIN DATE TIME STATUS VERIFY ...`.
        let mut tokens = line.split_whitespace();
        let mut columns = Vec::new();
        if let Some(pin) = tokens.next() {
            columns.push(pin.to_owned());
        }
        match (tokens.next(), tokens.next()) {
            (Some(date), Some(time)) => columns.push(format!("{date} {time}")),
            (Some(date), None) => columns.push(date.to_owned()),
            _ => {}
        }
        columns.extend(tokens.map(str::to_owned));
        columns
    };
    let mut columns = columns.into_iter();
    let pin = columns
        .next()
        .map(|p| p.trim().to_owned())
        .unwrap_or_default();
    if pin.is_empty() {
        return Err(LineError::MissingPin);
    }
    let time_text = columns.next().ok_or(LineError::MissingTime)?;
    let time = NaiveDateTime::parse_from_str(time_text.trim(), TIME_FORMAT)
        .map_err(|_| LineError::BadTime(time_text.clone()))?;
    let status = columns.next().and_then(|s| s.trim().parse::<u8>().ok());
    let verify = columns.next().and_then(|s| s.trim().parse::<u16>().ok());
    Ok(AttLogRecord {
        pin,
        time,
        status,
        verify,
        extra: columns.collect(),
    })
}

/// How the fake device ends lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`.
    CrLf,
}

impl LineEnding {
    /// The ending's characters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lf => "\n",
            Self::CrLf => "\r\n",
        }
    }
}

/// Writes one `ATTLOG` line (no line ending): PIN, time, status, verify and the extra columns,
/// TAB separated; an unknown status or verify is an empty column.
pub fn encode_attlog_line(record: &AttLogRecord) -> String {
    let mut line = format!("{}\t{}\t", record.pin, record.time.format(TIME_FORMAT));
    if let Some(s) = record.status {
        let _ = write!(line, "{s}");
    }
    line.push('\t');
    if let Some(v) = record.verify {
        let _ = write!(line, "{v}");
    }
    for column in &record.extra {
        line.push('\t');
        line.push_str(column);
    }
    line
}

/// Writes an `ATTLOG` body, every line ended with `ending` (as most firmware do; one capture ends
/// the last line without it, which [`parse_attlog`] accepts too).
pub fn encode_attlog(records: &[AttLogRecord], ending: LineEnding) -> String {
    let mut body = String::new();
    for record in records {
        body.push_str(&encode_attlog_line(record));
        body.push_str(ending.as_str());
    }
    body
}

/// The kinds of lines an `OPERLOG` or `BIODATA` upload holds, counted; their content (operations,
/// user records, templates) is not used by attendance and is not kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperLogCounts {
    /// `OPLOG` lines.
    pub oplog: usize,
    /// `USER` lines.
    pub users: usize,
    /// `FP` template lines.
    pub fingerprints: usize,
    /// `BIODATA` lines.
    pub biodata: usize,
    /// Other non-blank lines (`FACE`, `USERPIC`, unknown tags).
    pub other: usize,
}

impl OperLogCounts {
    /// Lines handled: the `n` of the `OK: n` reply.
    pub fn handled(&self) -> usize {
        self.oplog + self.users + self.fingerprints + self.biodata + self.other
    }
}

/// Counts the lines of an `OPERLOG` / `BIODATA` body by tag (`docs/protocols/zkteco-adms.md` §4);
/// never fails.
pub fn parse_operlog(body: &str) -> OperLogCounts {
    let mut counts = OperLogCounts::default();
    for (_, line) in body_lines(body) {
        let tag = line.split([' ', '\t']).next().unwrap_or_default();
        match tag.to_ascii_uppercase().as_str() {
            "OPLOG" => counts.oplog += 1,
            "USER" => counts.users += 1,
            "FP" => counts.fingerprints += 1,
            "BIODATA" => counts.biodata += 1,
            _ => counts.other += 1,
        }
    }
    counts
}

/// The option lines of the handshake reply (`docs/protocols/zkteco-adms.md` §2). Defaults are the
/// protocol document's sample with `ATTLOGStamp=None`, `Delay=10`, `TransInterval=1`, `Realtime=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeOptions {
    /// `ATTLOGStamp`: the resume cursor for punches (`None`, `0` for everything, or a number).
    pub attlog_stamp: String,
    /// `OPERLOGStamp`.
    pub operlog_stamp: String,
    /// `ATTPHOTOStamp`.
    pub attphoto_stamp: String,
    /// `ErrorDelay`: seconds the device waits after a failed request.
    pub error_delay: u32,
    /// `Delay`: seconds between `getrequest` polls.
    pub delay: u32,
    /// `TransTimes`: times of day for scheduled uploads.
    pub trans_times: String,
    /// `TransInterval`: minutes between checks for new data.
    pub trans_interval: u32,
    /// `TransFlag`: which data to upload.
    pub trans_flag: String,
    /// `TimeZone`: whole hours, or minutes for fractional zones, as the device expects. The
    /// router replaces it with each device's own offset.
    pub time_zone: i32,
    /// `Realtime`: upload each punch as it happens.
    pub realtime: bool,
    /// `Encrypt`: `None` for plain text.
    pub encrypt: String,
    /// More `key=value` lines (`ServerVer`, `PushProtVer`, `BIODATAStamp`, …), in order.
    pub extra: Vec<(String, String)>,
}

impl Default for HandshakeOptions {
    fn default() -> Self {
        Self {
            attlog_stamp: "None".into(),
            operlog_stamp: "9999".into(),
            attphoto_stamp: "None".into(),
            error_delay: 30,
            delay: 10,
            trans_times: "00:00;14:05".into(),
            trans_interval: 1,
            trans_flag:
                "TransData AttLog\tOpLog\tAttPhoto\tEnrollUser\tChgUser\tEnrollFP\tChgFP\tUserPic"
                    .into(),
            time_zone: 6,
            realtime: true,
            encrypt: "None".into(),
            extra: Vec::new(),
        }
    }
}

/// Writes the handshake reply body: `GET OPTION FROM: <serial>` then one option per line, LF
/// separated. `attlog_stamp` overrides the configured stamp (the server's last stamp for the
/// device, so it resumes there).
pub fn encode_handshake(
    serial: &str,
    options: &HandshakeOptions,
    attlog_stamp: Option<&str>,
) -> String {
    let mut out = format!("GET OPTION FROM: {}\n", one_line(serial).unwrap_or(""));
    // Only a stamp a device could have sent is offered back (never one that holds a line break).
    let stamp = attlog_stamp
        .filter(|s| is_stamp(s))
        .unwrap_or(&options.attlog_stamp);
    let lines: [(&str, String); 11] = [
        ("ATTLOGStamp", stamp.to_owned()),
        ("OPERLOGStamp", options.operlog_stamp.clone()),
        ("ATTPHOTOStamp", options.attphoto_stamp.clone()),
        ("ErrorDelay", options.error_delay.to_string()),
        ("Delay", options.delay.to_string()),
        ("TransTimes", options.trans_times.clone()),
        ("TransInterval", options.trans_interval.to_string()),
        ("TransFlag", options.trans_flag.clone()),
        ("TimeZone", options.time_zone.to_string()),
        ("Realtime", u8::from(options.realtime).to_string()),
        ("Encrypt", options.encrypt.clone()),
    ];
    for (key, value) in lines
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(options.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        // A value or key with a line break would add options of its own: left out.
        if let (Some(key), Some(value)) = (one_line(key), one_line(value)) {
            let _ = writeln!(out, "{key}={value}");
        }
    }
    out
}

/// `text` if it holds no line break (no option of its own can ride along), else `None`.
fn one_line(text: &str) -> Option<&str> {
    (!text.contains(['\r', '\n'])).then_some(text)
}

/// The longest stamp accepted (a Unix time or a counter fits in 20 digits).
pub const MAX_STAMP_CHARS: usize = 20;

/// Whether `stamp` is one a device sends as `Stamp=`: 1 to [`MAX_STAMP_CHARS`] ASCII digits.
/// Anything else is not kept as a cursor, nor offered back at a handshake.
pub fn is_stamp(stamp: &str) -> bool {
    !stamp.is_empty() && stamp.len() <= MAX_STAMP_CHARS && stamp.bytes().all(|b| b.is_ascii_digit())
}

/// A handshake reply as the device reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeReply {
    /// The serial named on the first line.
    pub serial: String,
    /// Every `key=value` line, in order.
    pub options: Vec<(String, String)>,
}

impl HandshakeReply {
    /// The value of option `key` (case-insensitive), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Option `key` as a number, if present and numeric.
    pub fn number(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// Reads a handshake reply; `None` when the first line is not `GET OPTION FROM: <serial>`. Lines
/// without `=` are skipped.
pub fn parse_handshake(body: &str) -> Option<HandshakeReply> {
    let mut lines = body_lines(body).map(|(_, l)| l);
    let serial = lines
        .next()?
        .trim()
        .strip_prefix("GET OPTION FROM:")?
        .trim()
        .to_owned();
    let options = lines
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect();
    Some(HandshakeReply { serial, options })
}

/// The reply to an upload: `OK: <n>`.
pub fn encode_ok(n: usize) -> String {
    format!("OK: {n}")
}

/// Reads an upload reply: `Some(n)` for `OK: n` (or `OK:n`), `Some(0)` for a bare `OK`, `None`
/// otherwise.
pub fn parse_ok(body: &str) -> Option<usize> {
    let rest = body.trim().strip_prefix("OK")?;
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix(':')?.trim().parse().ok()
}

/// A command the server queues for a device (`C:<id>:<command>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCommand {
    /// The server's id for it (letters and digits).
    pub id: String,
    /// The command text (`INFO`, `DATA UPDATE USERINFO PIN=…`, `CHECK`, …).
    pub command: String,
}

/// Writes the reply to `getrequest`: `OK` when there is nothing, else one `C:<id>:<command>` line
/// per command.
pub fn encode_commands(commands: &[DeviceCommand]) -> String {
    if commands.is_empty() {
        return "OK".into();
    }
    let mut out = String::new();
    for c in commands {
        let _ = writeln!(out, "C:{}:{}", c.id, c.command);
    }
    out
}

/// Reads a `getrequest` reply: the `C:<id>:<command>` lines; `OK` and other lines are ignored.
pub fn parse_commands(body: &str) -> Vec<DeviceCommand> {
    body_lines(body)
        .filter_map(|(_, line)| {
            let rest = line.strip_prefix("C:")?;
            let (id, command) = rest.split_once(':')?;
            Some(DeviceCommand {
                id: id.to_owned(),
                command: command.to_owned(),
            })
        })
        .collect()
}

/// A command result from `POST /iclock/devicecmd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// The command's id.
    pub id: String,
    /// The return code (0 success, -1 unsupported, -1002 bad syntax, …); `None` if unreadable.
    pub return_code: Option<i32>,
    /// The command verb the device echoes (`INFO`, `DATA`, …).
    pub cmd: String,
    /// The `key=value` lines that follow an `INFO` result.
    pub info: Vec<(String, String)>,
}

/// Reads a `devicecmd` body: one `ID=..&Return=..&CMD=..` line per result, each optionally
/// followed by `key=value` lines (after `INFO`). Lines before the first result are ignored.
pub fn parse_devicecmd(body: &str) -> Vec<CommandResult> {
    let mut out: Vec<CommandResult> = Vec::new();
    for (_, line) in body_lines(body) {
        if line.starts_with("ID=") && line.contains('&') {
            let mut result = CommandResult {
                id: String::new(),
                return_code: None,
                cmd: String::new(),
                info: Vec::new(),
            };
            for pair in line.split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                match key {
                    "ID" => result.id = value.to_owned(),
                    "Return" => result.return_code = value.trim().parse().ok(),
                    "CMD" => result.cmd = value.to_owned(),
                    _ => {}
                }
            }
            out.push(result);
        } else if let (Some(last), Some((k, v))) = (out.last_mut(), line.split_once('=')) {
            last.info.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// The most `key=value` lines kept of one command result.
pub const MAX_RESULT_INFO_LINES: usize = 256;
/// The most characters kept of a command result's id, verb, info key or info value.
pub const MAX_RESULT_FIELD_CHARS: usize = 1_024;

impl CommandResult {
    /// The result cut to a bounded size: at most [`MAX_RESULT_INFO_LINES`] info lines, each
    /// field at most [`MAX_RESULT_FIELD_CHARS`] characters (what a device sends beyond that is
    /// not kept).
    pub fn bounded(mut self) -> Self {
        let cut = |text: &mut String| {
            if let Some((at, _)) = text.char_indices().nth(MAX_RESULT_FIELD_CHARS) {
                text.truncate(at);
            }
        };
        cut(&mut self.id);
        cut(&mut self.cmd);
        self.info.truncate(MAX_RESULT_INFO_LINES);
        for (key, value) in &mut self.info {
            cut(key);
            cut(value);
        }
        self
    }
}

/// Writes a `devicecmd` body (see [`parse_devicecmd`]).
pub fn encode_devicecmd(results: &[CommandResult]) -> String {
    let mut out = String::new();
    for r in results {
        let code = r.return_code.unwrap_or(-1);
        let _ = writeln!(out, "ID={}&Return={}&CMD={}", r.id, code, r.cmd);
        for (k, v) in &r.info {
            let _ = writeln!(out, "{k}={v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_odd_lines_do_not_stop_the_batch() {
        let body = "\r\n1\t2024-07-28 01:25:24\t0\t1\r\n\t2024-07-28 01:25:24\nx\tnot a time\n  \n";
        let parsed = parse_attlog(body);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.rejected.len(), 2);
        assert_eq!(parsed.rejected[0].reason, LineError::MissingPin);
        assert_eq!(parsed.rejected[1].line_no, 4);
        assert_eq!(parsed.handled(), 3);
    }

    #[test]
    fn space_separated_lines_join_date_and_time() {
        let r = parse_attlog_line("7 2026-01-05 08:00:00 1 15").unwrap();
        assert_eq!(
            (r.pin.as_str(), r.status, r.verify),
            ("7", Some(1), Some(15))
        );
        assert_eq!(r.verify_mode(), VerifyMode::Face);
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(parse_ok(&encode_ok(12)), Some(12));
        assert_eq!(parse_ok("OK"), Some(0));
        assert_eq!(parse_ok("ERROR"), None);
        let reply = encode_handshake("SN1", &HandshakeOptions::default(), Some("77"));
        let parsed = parse_handshake(&reply).unwrap();
        assert_eq!(parsed.serial, "SN1");
        assert_eq!(parsed.get("attlogstamp"), Some("77"));
        assert_eq!(parsed.number("Delay"), Some(10));
    }

    #[test]
    fn a_stamp_with_a_line_break_is_not_offered_back() {
        let reply = encode_handshake(
            "SN1",
            &HandshakeOptions::default(),
            Some("999\r\nTimeZone=-12\r\nDelay=86400"),
        );
        let parsed = parse_handshake(&reply).unwrap();
        assert_eq!(parsed.get("ATTLOGStamp"), Some("None"));
        assert_eq!(parsed.number("Delay"), Some(10));
        assert!(
            !reply.contains("86400") && !reply.contains("-12"),
            "{reply}"
        );
        assert!(is_stamp("1507190862") && is_stamp("0"));
        for bad in [
            "",
            "12a",
            "-1",
            "1 2",
            "None",
            "123456789012345678901",
            "9\n9",
        ] {
            assert!(!is_stamp(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_command_result_is_kept_bounded() {
        let huge = "v".repeat(100_000);
        let mut body = format!("ID={}&Return=0&CMD=INFO\n", "i".repeat(5_000));
        for n in 0..10_000 {
            body.push_str(&format!("k{n}={huge}\n"));
        }
        let result = parse_devicecmd(&body).remove(0).bounded();
        assert_eq!(result.id.len(), MAX_RESULT_FIELD_CHARS);
        assert_eq!(result.info.len(), MAX_RESULT_INFO_LINES);
        assert!(
            result
                .info
                .iter()
                .all(|(_, v)| v.len() == MAX_RESULT_FIELD_CHARS)
        );
        // A multi-byte text is cut on a character boundary.
        let mut wide = CommandResult {
            id: "é".repeat(2_000),
            return_code: Some(0),
            cmd: "INFO".into(),
            info: Vec::new(),
        };
        wide = wide.bounded();
        assert_eq!(wide.id.chars().count(), MAX_RESULT_FIELD_CHARS);
    }
}
