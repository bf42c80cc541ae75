//! Pure ZKTeco binary protocol codec: bytes in, values out, and back. No IO happens here.
//!
//! Layouts follow `docs/protocols.md` part 1. Every decoder takes arbitrary bytes and returns a typed
//! [`CodecError`] instead of panicking; every encoder writes exactly what the matching decoder
//! reads back.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use thiserror::Error;

/// The 4 bytes that open every TCP frame: the u16 values 0x5050 and 0x7d82, little endian.
pub const TCP_MAGIC: [u8; 4] = [0x50, 0x50, 0x82, 0x7d];
/// Length of the TCP prefix (magic + u32 length) in front of every ZK packet on TCP.
pub const TCP_PREFIX_LEN: usize = 8;
/// Length of the ZK packet header (command, checksum, session, reply number).
pub const HEADER_LEN: usize = 8;
/// The largest ZK packet a TCP frame may announce: 65,535 data bytes plus the header. Longer
/// lengths are rejected as [`CodecError::BadLength`] rather than buffered.
pub const MAX_PACKET_LEN: usize = 65_535 + HEADER_LEN;
/// The chunk size clients ask for per `CMD_DATA_RDY` on TCP (and the most data one TCP `DATA`
/// packet carries): 0xFFC0 = 65,472 bytes.
pub const TCP_CHUNK: usize = 0xFFC0;
/// The chunk size pyzk asks for per `CMD_DATA_RDY` on UDP: 16 KiB.
pub const UDP_CHUNK: usize = 16 * 1024;
/// The most data bytes one UDP `DATA` datagram carries.
pub const UDP_DATA_MAX: usize = 1024;

/// Command and reply codes (`docs/protocols.md` 1.4).
pub mod cmd {
    /// Open a session; the reply header carries the session id.
    pub const CONNECT: u16 = 1000;
    /// Close the session.
    pub const EXIT: u16 = 1001;
    /// Make the terminal usable again.
    pub const ENABLE_DEVICE: u16 = 1002;
    /// Make the terminal refuse user activity until enabled.
    pub const DISABLE_DEVICE: u16 = 1003;
    /// Comm-key proof (4 bytes).
    pub const AUTH: u16 = 1102;
    /// Firmware version text.
    pub const GET_VERSION: u16 = 1100;
    /// Read an option: `"<key>\0"` → `"<key>=<value>\0"`.
    pub const OPTIONS_RRQ: u16 = 11;
    /// Write an option.
    pub const OPTIONS_WRQ: u16 = 12;
    /// Counters of users, records and capacities.
    pub const GET_FREE_SIZES: u16 = 50;
    /// Device clock as a ZK time.
    pub const GET_TIME: u16 = 201;
    /// Set the device clock.
    pub const SET_TIME: u16 = 202;
    /// Table id of the attendance log inside [`DATA_WRRQ`].
    pub const ATTLOG_RRQ: u16 = 13;
    /// Table id of the user table inside [`DATA_WRRQ`].
    pub const USERTEMP_RRQ: u16 = 9;
    /// Table id of the fingerprint templates inside [`DATA_WRRQ`].
    pub const DB_RRQ: u16 = 7;
    /// Table id of the operation log.
    pub const OPLOG_RRQ: u16 = 34;
    /// Delete all punches (never sent by our adapter).
    pub const CLEAR_ATTLOG: u16 = 15;
    /// Delete users, templates and punches (never sent by our adapter).
    pub const CLEAR_DATA: u16 = 14;
    /// Register for realtime events; also the command code of event packets.
    pub const REG_EVENT: u16 = 500;
    /// Sent by pyzk before registering for events.
    pub const STARTVERIFY: u16 = 60;
    /// Sent by pyzk before registering for events.
    pub const CANCELCAPTURE: u16 = 62;
    /// Device → client: announces a chunk.
    pub const PREPARE_DATA: u16 = 1500;
    /// Device → client: payload bytes.
    pub const DATA: u16 = 1501;
    /// Release the device's read buffer.
    pub const FREE_DATA: u16 = 1502;
    /// Load a table into the read buffer (pyzk `_CMD_PREPARE_BUFFER`).
    pub const DATA_WRRQ: u16 = 1503;
    /// Read a range of the read buffer (pyzk `_CMD_READ_BUFFER`).
    pub const DATA_RDY: u16 = 1504;
    /// Success.
    pub const ACK_OK: u16 = 2000;
    /// Failure.
    pub const ACK_ERROR: u16 = 2001;
    /// Comm key required or wrong.
    pub const ACK_UNAUTH: u16 = 2005;
    /// Unknown command.
    pub const ACK_UNKNOWN: u16 = 0xFFFF;
}

/// Realtime event flags for `CMD_REG_EVENT` (`docs/protocols.md` 1.12).
pub mod event_flag {
    /// Attendance punch.
    pub const ATTLOG: u16 = 1;
    /// Finger placed.
    pub const FINGER: u16 = 2;
    /// User enrolled.
    pub const ENROLL_USER: u16 = 4;
    /// Finger enrolled.
    pub const ENROLL_FINGER: u16 = 8;
    /// Button pressed.
    pub const BUTTON: u16 = 16;
    /// Door unlocked.
    pub const UNLOCK: u16 = 32;
    /// Verification.
    pub const VERIFY: u16 = 128;
    /// Fingerprint feature.
    pub const FPFTR: u16 = 256;
    /// Alarm.
    pub const ALARM: u16 = 512;
}

/// Why bytes could not be decoded. Every decoder of this module returns one of these on bad input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// A TCP frame did not start with `50 50 82 7d`.
    #[error("bad TCP magic {found:02x?}")]
    BadMagic {
        /// The bytes found where the magic belongs (up to 4).
        found: Vec<u8>,
    },
    /// A TCP frame announced a ZK packet shorter than its header or longer than
    /// [`MAX_PACKET_LEN`].
    #[error("bad ZK packet length {length} (must be {min}..={max})")]
    BadLength {
        /// The announced length.
        length: u64,
        /// The smallest allowed length.
        min: usize,
        /// The largest allowed length.
        max: usize,
    },
    /// The packet's checksum did not match its bytes (strict mode only).
    #[error("bad checksum: packet says {found:#06x}, bytes give {expected:#06x}")]
    BadChecksum {
        /// The checksum in the header.
        found: u16,
        /// The checksum computed over the packet.
        expected: u16,
    },
    /// The byte stream ended in the middle of a TCP frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// How many bytes of the unfinished frame were buffered.
        buffered: usize,
    },
    /// A value was shorter than its layout needs.
    #[error("{what} needs {needed} bytes, got {got}")]
    TooShort {
        /// What was being decoded.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A dataset's size does not fit any known record layout.
    #[error("cannot derive a {what} layout from {bytes} bytes for {count} entries")]
    UnknownLayout {
        /// `"attendance record"` or `"user record"`.
        what: &'static str,
        /// The dataset's record bytes.
        bytes: usize,
        /// The entry count the device reported.
        count: usize,
    },
    /// A dataset's `total_bytes` prefix does not match the bytes that follow.
    #[error("dataset says {declared} bytes but holds {actual}")]
    DatasetSize {
        /// The u32 at the start of the dataset.
        declared: u64,
        /// The bytes after it.
        actual: usize,
    },
    /// A ZK time or timehex names a date or time that does not exist.
    #[error("impossible device time {0}")]
    BadTime(String),
    /// A date outside 2000–2099, which the ZK time cannot carry.
    #[error("date {0} is outside the years 2000-2099 the device clock covers")]
    TimeOutOfRange(NaiveDateTime),
    /// A realtime event's data length is none of the known layouts.
    #[error("realtime attendance event of {0} bytes has no known layout (12, 32, 36, 52)")]
    EventSize(usize),
    /// A text value is too long for its field (encoding only).
    #[error("{field} {value:?} does not fit in {max} bytes")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
        /// The field's size, NUL excluded where one is needed.
        max: usize,
    },
    /// A user id must be numeric for this layout (encoding only).
    #[error("user id {0:?} must be a number for this layout")]
    NonNumericUserId(String),
}

// ---------------------------------------------------------------------------------------------
// Checksum and packets
// ---------------------------------------------------------------------------------------------

/// The RFC 1071 checksum of a whole ZK packet (header and data, not the TCP prefix), with the
/// checksum field (bytes 2..4) taken as zero. Works on any length, including short slices.
pub fn checksum(packet: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = packet.chunks_exact(2);
    for (i, word) in words.by_ref().enumerate() {
        if i != 1 {
            sum += u64::from(u16::from_le_bytes([word[0], word[1]]));
        }
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above leaves `sum` below 2^16.
    !(sum as u16)
}

/// Whether a receiver rejects packets whose checksum does not verify. Nobody knows whether
/// terminals check checksums and a few real captures carry wrong ones, so the default is to log
/// and accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumPolicy {
    /// Log a mismatch at `warn` and accept the packet.
    #[default]
    Lenient,
    /// Reject the packet with [`CodecError::BadChecksum`].
    Strict,
}

/// One ZK packet: the header fields and the data. The checksum is computed when encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Command code (requests) or reply code (answers).
    pub command: u16,
    /// Session id; in realtime event packets, the event flag.
    pub session: u16,
    /// Reply number; 0 in realtime event packets and their ACKs.
    pub reply: u16,
    /// Command-specific data, possibly empty.
    pub data: Bytes,
}

impl Packet {
    /// A packet with the given fields.
    pub fn new(command: u16, session: u16, reply: u16, data: impl Into<Bytes>) -> Self {
        Self {
            command,
            session,
            reply,
            data: data.into(),
        }
    }

    /// The length of the ZK packet on the wire (header + data).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Appends the bare ZK packet (a UDP datagram) with a correct checksum.
    pub fn encode_udp(&self, dst: &mut BytesMut) {
        let start = dst.len();
        dst.reserve(self.wire_len());
        dst.put_u16_le(self.command);
        dst.put_u16_le(0);
        dst.put_u16_le(self.session);
        dst.put_u16_le(self.reply);
        dst.put_slice(&self.data);
        let sum = checksum(&dst[start..]);
        dst[start + 2..start + 4].copy_from_slice(&sum.to_le_bytes());
    }

    /// Appends the TCP frame: prefix, then the ZK packet with a correct checksum. The data must be
    /// at most 65,535 bytes for the frame to be readable by every client (callers chunk bulk data
    /// at [`TCP_CHUNK`]).
    pub fn encode_tcp(&self, dst: &mut BytesMut) {
        dst.reserve(TCP_PREFIX_LEN + self.wire_len());
        dst.put_slice(&TCP_MAGIC);
        // `wire_len` fits in u32 for any packet held in memory by this process in practice; a
        // larger one would be clamped, and its reader would reject it as a bad length.
        dst.put_u32_le(u32::try_from(self.wire_len()).unwrap_or(u32::MAX));
        self.encode_udp(dst);
    }

    /// The bare ZK packet as bytes.
    pub fn to_udp_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.wire_len());
        self.encode_udp(&mut buf);
        buf.freeze()
    }

    /// The TCP frame as bytes.
    pub fn to_tcp_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(TCP_PREFIX_LEN + self.wire_len());
        self.encode_tcp(&mut buf);
        buf.freeze()
    }

    /// Decodes one bare ZK packet (a UDP datagram, or the part of a TCP frame after the prefix).
    /// Returns [`CodecError::TooShort`] below 8 bytes, and [`CodecError::BadChecksum`] on a
    /// mismatch in strict mode (lenient mode logs it and accepts the packet).
    pub fn decode(bytes: &[u8], policy: ChecksumPolicy) -> Result<Self, CodecError> {
        if bytes.len() < HEADER_LEN {
            return Err(CodecError::TooShort {
                what: "ZK packet",
                needed: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let mut header = &bytes[..HEADER_LEN];
        let command = header.get_u16_le();
        let found = header.get_u16_le();
        let session = header.get_u16_le();
        let reply = header.get_u16_le();
        let expected = checksum(bytes);
        if found != expected {
            match policy {
                ChecksumPolicy::Strict => return Err(CodecError::BadChecksum { found, expected }),
                ChecksumPolicy::Lenient => tracing::warn!(
                    command,
                    reply,
                    found,
                    expected,
                    "ZK packet checksum mismatch; accepting it"
                ),
            }
        }
        Ok(Self {
            command,
            session,
            reply,
            data: Bytes::copy_from_slice(&bytes[HEADER_LEN..]),
        })
    }

    /// Whether the checksum stored in `bytes` (a bare ZK packet) verifies. `false` below 8 bytes.
    pub fn checksum_ok(bytes: &[u8]) -> bool {
        bytes.len() >= HEADER_LEN && u16::from_le_bytes([bytes[2], bytes[3]]) == checksum(bytes)
    }
}

/// Takes one complete TCP frame off the front of `buf`. Returns `Ok(None)` when more bytes are
/// needed (nothing is consumed), the packet when a whole frame is there (its bytes are consumed and
/// any following bytes stay for the next call), or an error when the bytes cannot be a frame: bad
/// magic (detected as soon as the first differing byte arrives), bad length, or, in strict mode,
/// a bad checksum. After an error the stream is out of sync and should be dropped.
pub fn decode_tcp_frame(
    buf: &mut BytesMut,
    policy: ChecksumPolicy,
) -> Result<Option<Packet>, CodecError> {
    let seen = buf.len().min(TCP_MAGIC.len());
    if buf[..seen] != TCP_MAGIC[..seen] {
        return Err(CodecError::BadMagic {
            found: buf[..seen].to_vec(),
        });
    }
    if buf.len() < TCP_PREFIX_LEN {
        return Ok(None);
    }
    let length = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let length_usize = usize::try_from(length).unwrap_or(usize::MAX);
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&length_usize) {
        return Err(CodecError::BadLength {
            length: u64::from(length),
            min: HEADER_LEN,
            max: MAX_PACKET_LEN,
        });
    }
    if buf.len() < TCP_PREFIX_LEN + length_usize {
        buf.reserve(TCP_PREFIX_LEN + length_usize - buf.len());
        return Ok(None);
    }
    let packet = Packet::decode(&buf[TCP_PREFIX_LEN..TCP_PREFIX_LEN + length_usize], policy);
    // Consume the frame even when its checksum is rejected: the framing itself was sound.
    buf.advance(TCP_PREFIX_LEN + length_usize);
    packet.map(Some)
}

/// What to report when a TCP stream ends: `Ok(())` if no partial frame is buffered, otherwise
/// [`CodecError::Truncated`].
pub fn check_tcp_eof(buf: &BytesMut) -> Result<(), CodecError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(CodecError::Truncated {
            buffered: buf.len(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Comm key
// ---------------------------------------------------------------------------------------------

/// The 4-byte `CMD_AUTH` proof for `key` in `session` (`docs/protocols.md` 1.5, pyzk `make_commkey`),
/// wrapping the sum modulo 2^32 where pyzk would raise.
pub fn make_commkey(key: u32, session: u16, ticks: u8) -> [u8; 4] {
    let k = key.reverse_bits().wrapping_add(u32::from(session));
    let b = k.to_le_bytes();
    let b = [b[0] ^ b'Z', b[1] ^ b'K', b[2] ^ b'S', b[3] ^ b'O'];
    let b = [b[2], b[3], b[0], b[1]];
    [b[0] ^ ticks, b[1] ^ ticks, ticks, b[3] ^ ticks]
}

/// Whether `proof` (the data of a `CMD_AUTH`) proves `key` for `session`: the device reads the
/// ticks from byte 2 and recomputes. `false` when `proof` is not 4 bytes long.
pub fn verify_commkey(key: u32, session: u16, proof: &[u8]) -> bool {
    match proof {
        [_, _, ticks, _] => make_commkey(key, session, *ticks) == proof,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Encodes a device wall-clock time as a ZK time (every month 31 days, years 2000–2099). Returns
/// [`CodecError::TimeOutOfRange`] outside those years.
pub fn encode_zk_time(time: NaiveDateTime) -> Result<u32, CodecError> {
    let year = time.year();
    if !(2000..=2099).contains(&year) {
        return Err(CodecError::TimeOutOfRange(time));
    }
    // `year - 2000` is 0..=99 here, so the cast is exact.
    let yy = (year - 2000) as u32;
    let days = yy * 12 * 31 + (time.month() - 1) * 31 + (time.day() - 1);
    Ok(days * 86_400 + (time.hour() * 60 + time.minute()) * 60 + time.second())
}

/// Decodes a ZK time. Returns [`CodecError::BadTime`] when it names a day that does not exist
/// (day 31 of February, from corrupt records). Large values decode to years up to 2133, which
/// the encoder does not produce but which are real dates.
pub fn decode_zk_time(t: u32) -> Result<NaiveDateTime, CodecError> {
    let mut t = t;
    let ss = t % 60;
    t /= 60;
    let mi = t % 60;
    t /= 60;
    let hh = t % 24;
    t /= 24;
    let dd = t % 31 + 1;
    t /= 31;
    let mm = t % 12 + 1;
    // t / 12 is at most u32::MAX / 86_400 / 372 < 134, so the year fits easily.
    let yy = 2000 + (t / 12) as i32;
    NaiveDate::from_ymd_opt(yy, mm, dd)
        .and_then(|d| d.and_hms_opt(hh, mi, ss))
        .ok_or_else(|| {
            CodecError::BadTime(format!("{yy:04}-{mm:02}-{dd:02} {hh:02}:{mi:02}:{ss:02}"))
        })
}

/// Decodes the 6-byte "timehex" of realtime events: `yy - 2000, month, day, hour, minute,
/// second`. Returns [`CodecError::BadTime`] for impossible values.
pub fn decode_timehex(b: [u8; 6]) -> Result<NaiveDateTime, CodecError> {
    let [yy, mo, dd, hh, mi, ss] = b;
    NaiveDate::from_ymd_opt(2000 + i32::from(yy), u32::from(mo), u32::from(dd))
        .and_then(|d| d.and_hms_opt(u32::from(hh), u32::from(mi), u32::from(ss)))
        .ok_or_else(|| CodecError::BadTime(format!("timehex {b:02x?}")))
}

/// Encodes a time as timehex. Returns [`CodecError::TimeOutOfRange`] outside 2000–2255.
pub fn encode_timehex(time: NaiveDateTime) -> Result<[u8; 6], CodecError> {
    let yy = u8::try_from(time.year() - 2000).map_err(|_| CodecError::TimeOutOfRange(time))?;
    // Month, day, hour, minute and second all fit in a byte.
    Ok([
        yy,
        time.month() as u8,
        time.day() as u8,
        time.hour() as u8,
        time.minute() as u8,
        time.second() as u8,
    ])
}

// ---------------------------------------------------------------------------------------------
// Small helpers for fixed-width fields
// ---------------------------------------------------------------------------------------------

fn need(what: &'static str, bytes: &[u8], needed: usize) -> Result<(), CodecError> {
    if bytes.len() < needed {
        Err(CodecError::TooShort {
            what,
            needed,
            got: bytes.len(),
        })
    } else {
        Ok(())
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Text up to the first NUL, invalid UTF-8 replaced.
fn text_field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Writes `text` NUL padded into a `width`-byte field. The text must hold no NUL and fit.
fn put_text(
    dst: &mut BytesMut,
    field: &'static str,
    text: &str,
    width: usize,
) -> Result<(), CodecError> {
    if text.len() > width || text.as_bytes().contains(&0) {
        return Err(CodecError::TextTooLong {
            field,
            value: text.to_owned(),
            max: width,
        });
    }
    dst.put_slice(text.as_bytes());
    dst.put_bytes(0, width - text.len());
    Ok(())
}

fn numeric_id(user_id: &str) -> Result<u32, CodecError> {
    // Only plain decimal digits round-trip through `u32::to_string`.
    if user_id.is_empty()
        || !user_id.bytes().all(|c| c.is_ascii_digit())
        || (user_id.len() > 1 && user_id.starts_with('0'))
    {
        return Err(CodecError::NonNumericUserId(user_id.to_owned()));
    }
    user_id
        .parse()
        .map_err(|_| CodecError::NonNumericUserId(user_id.to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Attendance records
// ---------------------------------------------------------------------------------------------

/// The attendance record layouts (`docs/protocols.md` 1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordLayout {
    /// 8 bytes (old ZK6): uid, verify, time, state. The PIN comes from the user table.
    Compact8,
    /// 16 bytes (ZK6): numeric PIN, time, verify, state, work code.
    Numeric16,
    /// 40 bytes (ZK8 / TFT): uid, text PIN, verify, time, state, reserved.
    Text40,
}

impl RecordLayout {
    /// Every layout, smallest first.
    pub const ALL: [Self; 3] = [Self::Compact8, Self::Numeric16, Self::Text40];

    /// The record size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Compact8 => 8,
            Self::Numeric16 => 16,
            Self::Text40 => 40,
        }
    }

    /// The layout of records `size` bytes long, if there is one.
    pub fn from_size(size: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.size() == size)
    }
}

/// One attendance record as stored on the device. The time stays the raw ZK time so that a
/// corrupt date spoils only its own record (see [`AttendanceRecord::local_time`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceRecord {
    /// The internal user slot (8- and 40-byte layouts; 0 in the 16-byte layout).
    pub uid: u16,
    /// The user id (PIN) as text; empty in the 8-byte layout, whose PIN comes from the user
    /// table through `uid`.
    pub user_id: String,
    /// How the person identified (0 password, 1 finger, 2 card, 15 face, others by firmware).
    pub verify_type: u8,
    /// The attendance state (0 check-in … 5 overtime-out, 255 undefined).
    pub punch_state: u8,
    /// The raw ZK time of the device's local clock.
    pub time: u32,
    /// The work code (16-byte layout only; 0 otherwise).
    pub work_code: u32,
}

impl AttendanceRecord {
    /// The device wall-clock time of the record, or [`CodecError::BadTime`] for an impossible date.
    pub fn local_time(&self) -> Result<NaiveDateTime, CodecError> {
        decode_zk_time(self.time)
    }

    /// Decodes one record in `layout` from the first `layout.size()` bytes of `b`. Returns
    /// [`CodecError::TooShort`] when `b` is shorter. Text fields are read up to their first NUL.
    pub fn decode(layout: RecordLayout, b: &[u8]) -> Result<Self, CodecError> {
        need("attendance record", b, layout.size())?;
        Ok(match layout {
            RecordLayout::Compact8 => Self {
                uid: u16_at(b, 0),
                user_id: String::new(),
                verify_type: b[2],
                time: u32_at(b, 3),
                punch_state: b[7],
                work_code: 0,
            },
            RecordLayout::Numeric16 => Self {
                uid: 0,
                user_id: u32_at(b, 0).to_string(),
                time: u32_at(b, 4),
                verify_type: b[8],
                punch_state: b[9],
                work_code: u32_at(b, 12),
            },
            RecordLayout::Text40 => Self {
                uid: u16_at(b, 0),
                user_id: text_field(&b[2..26]),
                verify_type: b[26],
                time: u32_at(b, 27),
                punch_state: b[31],
                work_code: 0,
            },
        })
    }

    /// Appends the record in `layout`. Fields a layout does not carry are dropped. Returns
    /// [`CodecError::NonNumericUserId`] for a non-numeric PIN in the 16-byte layout and
    /// [`CodecError::TextTooLong`] for a PIN over 24 bytes in the 40-byte layout.
    pub fn encode(&self, layout: RecordLayout, dst: &mut BytesMut) -> Result<(), CodecError> {
        match layout {
            RecordLayout::Compact8 => {
                dst.put_u16_le(self.uid);
                dst.put_u8(self.verify_type);
                dst.put_u32_le(self.time);
                dst.put_u8(self.punch_state);
            }
            RecordLayout::Numeric16 => {
                dst.put_u32_le(numeric_id(&self.user_id)?);
                dst.put_u32_le(self.time);
                dst.put_u8(self.verify_type);
                dst.put_u8(self.punch_state);
                dst.put_u16_le(0);
                dst.put_u32_le(self.work_code);
            }
            RecordLayout::Text40 => {
                // Check before writing so a failure leaves `dst` untouched.
                if self.user_id.len() > 24 || self.user_id.as_bytes().contains(&0) {
                    return Err(CodecError::TextTooLong {
                        field: "user_id",
                        value: self.user_id.clone(),
                        max: 24,
                    });
                }
                dst.put_u16_le(self.uid);
                put_text(dst, "user_id", &self.user_id, 24)?;
                dst.put_u8(self.verify_type);
                dst.put_u32_le(self.time);
                dst.put_u8(self.punch_state);
                dst.put_slice(&[0, 0, 0, 0, 0xff, 0, 0, 0]);
            }
        }
        Ok(())
    }
}

/// Splits a bulk-read dataset (`u32 total_bytes` + entries) into its entry bytes, checking the
/// prefix. Returns [`CodecError::TooShort`] below 4 bytes and [`CodecError::DatasetSize`] when the
/// prefix disagrees with the bytes present (extra trailing bytes are tolerated and cut off).
pub fn dataset_body(dataset: &[u8]) -> Result<&[u8], CodecError> {
    need("dataset", dataset, 4)?;
    let declared = u32_at(dataset, 0);
    let body = &dataset[4..];
    let declared_usize = usize::try_from(declared).unwrap_or(usize::MAX);
    if declared_usize > body.len() {
        return Err(CodecError::DatasetSize {
            declared: u64::from(declared),
            actual: body.len(),
        });
    }
    Ok(&body[..declared_usize])
}

/// The record layout of a dataset body of `bytes` bytes holding `count` records (the count from
/// `CMD_GET_FREE_SIZES`). `Ok(None)` when both are zero; [`CodecError::UnknownLayout`] otherwise
/// when the division gives no known size.
pub fn attendance_layout(bytes: usize, count: usize) -> Result<Option<RecordLayout>, CodecError> {
    if bytes == 0 && count == 0 {
        return Ok(None);
    }
    let unknown = CodecError::UnknownLayout {
        what: "attendance record",
        bytes,
        count,
    };
    if count == 0 || !bytes.is_multiple_of(count) {
        return Err(unknown);
    }
    RecordLayout::from_size(bytes / count)
        .map(Some)
        .ok_or(unknown)
}

/// Decodes every record of a dataset body in `layout` (trailing bytes short of a record are
/// ignored).
pub fn decode_attendance_records(
    layout: RecordLayout,
    body: &[u8],
) -> Result<Vec<AttendanceRecord>, CodecError> {
    body.chunks_exact(layout.size())
        .map(|b| AttendanceRecord::decode(layout, b))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// User records
// ---------------------------------------------------------------------------------------------

/// The user record layouts (`docs/protocols.md` 1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserLayout {
    /// 28 bytes (ZK6): numeric PIN, 5-byte password, 8-byte name.
    Numeric28,
    /// 72 bytes (ZK8 / TFT): text PIN, 8-byte password, 24-byte name.
    Text72,
}

impl UserLayout {
    /// The record size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Numeric28 => 28,
            Self::Text72 => 72,
        }
    }

    /// The layout of records `size` bytes long, if there is one.
    pub fn from_size(size: usize) -> Option<Self> {
        [Self::Numeric28, Self::Text72]
            .into_iter()
            .find(|l| l.size() == size)
    }
}

/// The user layout of a dataset body of `bytes` bytes holding `count` users. `Ok(None)` when both
/// are zero; [`CodecError::UnknownLayout`] when the division gives no known size.
pub fn user_layout(bytes: usize, count: usize) -> Result<Option<UserLayout>, CodecError> {
    if bytes == 0 && count == 0 {
        return Ok(None);
    }
    let unknown = CodecError::UnknownLayout {
        what: "user record",
        bytes,
        count,
    };
    if count == 0 || !bytes.is_multiple_of(count) {
        return Err(unknown);
    }
    UserLayout::from_size(bytes / count)
        .map(Some)
        .ok_or(unknown)
}

/// One enrolled user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The internal user slot that 8-byte attendance records refer to.
    pub uid: u16,
    /// 0 user, 2 enroller, 6 manager, 14 admin.
    pub privilege: u8,
    /// Password, text up to its first NUL.
    pub password: String,
    /// Display name, text up to its first NUL.
    pub name: String,
    /// Card number.
    pub card: u32,
    /// Group byte (28-byte layout only; 0 in the 72-byte layout, whose group bytes pyzk misreads).
    pub group: u8,
    /// The user id (PIN).
    pub user_id: String,
}

impl UserRecord {
    /// Decodes one user in `layout` from the first `layout.size()` bytes of `b`; returns
    /// [`CodecError::TooShort`] when `b` is shorter.
    pub fn decode(layout: UserLayout, b: &[u8]) -> Result<Self, CodecError> {
        need("user record", b, layout.size())?;
        Ok(match layout {
            UserLayout::Numeric28 => Self {
                uid: u16_at(b, 0),
                privilege: b[2],
                password: text_field(&b[3..8]),
                name: text_field(&b[8..16]),
                card: u32_at(b, 16),
                group: b[21],
                user_id: u32_at(b, 24).to_string(),
            },
            UserLayout::Text72 => Self {
                uid: u16_at(b, 0),
                privilege: b[2],
                password: text_field(&b[3..11]),
                name: text_field(&b[11..35]),
                card: u32_at(b, 35),
                group: 0,
                user_id: text_field(&b[48..72]),
            },
        })
    }

    /// Appends the user in `layout`. Returns [`CodecError::TextTooLong`] when a text does not fit
    /// and [`CodecError::NonNumericUserId`] for a non-numeric PIN in the 28-byte layout; `dst` is
    /// left unchanged on error.
    pub fn encode(&self, layout: UserLayout, dst: &mut BytesMut) -> Result<(), CodecError> {
        let mut out = BytesMut::with_capacity(layout.size());
        match layout {
            UserLayout::Numeric28 => {
                let pin = numeric_id(&self.user_id)?;
                out.put_u16_le(self.uid);
                out.put_u8(self.privilege);
                put_text(&mut out, "password", &self.password, 5)?;
                put_text(&mut out, "name", &self.name, 8)?;
                out.put_u32_le(self.card);
                out.put_u8(0);
                out.put_u8(self.group);
                out.put_i16_le(0);
                out.put_u32_le(pin);
            }
            UserLayout::Text72 => {
                out.put_u16_le(self.uid);
                out.put_u8(self.privilege);
                put_text(&mut out, "password", &self.password, 8)?;
                put_text(&mut out, "name", &self.name, 24)?;
                out.put_u32_le(self.card);
                // Group, time-zone flag and time zones: zero, as pyzk reads them as text.
                out.put_bytes(0, 9);
                put_text(&mut out, "user_id", &self.user_id, 24)?;
            }
        }
        dst.put_slice(&out);
        Ok(())
    }
}

/// Decodes every user of a dataset body in `layout` (trailing bytes short of a record are
/// ignored).
pub fn decode_user_records(layout: UserLayout, body: &[u8]) -> Result<Vec<UserRecord>, CodecError> {
    body.chunks_exact(layout.size())
        .map(|b| UserRecord::decode(layout, b))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Free sizes
// ---------------------------------------------------------------------------------------------

/// The counters of a `CMD_GET_FREE_SIZES` reply (`docs/protocols.md` 1.11). The record and user
/// layouts are derived from `records` and `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreeSizes {
    /// Users enrolled (i32 index 4).
    pub users: i32,
    /// Fingerprint templates (index 6).
    pub fingerprints: i32,
    /// Attendance records (index 8).
    pub records: i32,
    /// Operation log entries (index 10).
    pub oplog: i32,
    /// Admins / cards (index 12).
    pub admins: i32,
    /// Fingerprint capacity (index 14).
    pub fingerprint_capacity: i32,
    /// User capacity (index 15).
    pub user_capacity: i32,
    /// Record capacity (index 16).
    pub record_capacity: i32,
    /// Fingerprints still available (index 17).
    pub fingerprints_available: i32,
    /// Users still available (index 18).
    pub users_available: i32,
    /// Records still available (index 19).
    pub records_available: i32,
    /// Faces and face capacity (indexes 20 and 22), present in 92-byte replies only.
    pub faces: Option<(i32, i32)>,
}

impl FreeSizes {
    /// The full reply length.
    pub const LEN: usize = 92;
    /// The shortest reply accepted (20 counters, no face counters), as pyzk accepts it.
    pub const MIN_LEN: usize = 80;

    /// Decodes the reply data; [`CodecError::TooShort`] below 80 bytes.
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        need("free sizes reply", b, Self::MIN_LEN)?;
        let at = |i: usize| i32_at(b, i * 4);
        Ok(Self {
            users: at(4),
            fingerprints: at(6),
            records: at(8),
            oplog: at(10),
            admins: at(12),
            fingerprint_capacity: at(14),
            user_capacity: at(15),
            record_capacity: at(16),
            fingerprints_available: at(17),
            users_available: at(18),
            records_available: at(19),
            faces: (b.len() >= Self::LEN).then(|| (at(20), at(22))),
        })
    }

    /// Encodes the 92-byte reply (80 bytes when `faces` is `None`).
    pub fn encode(&self) -> Bytes {
        let mut words = [0i32; 23];
        words[4] = self.users;
        words[6] = self.fingerprints;
        words[8] = self.records;
        words[10] = self.oplog;
        words[12] = self.admins;
        words[14] = self.fingerprint_capacity;
        words[15] = self.user_capacity;
        words[16] = self.record_capacity;
        words[17] = self.fingerprints_available;
        words[18] = self.users_available;
        words[19] = self.records_available;
        let n = match self.faces {
            Some((faces, capacity)) => {
                words[20] = faces;
                words[22] = capacity;
                23
            }
            None => 20,
        };
        let mut out = BytesMut::with_capacity(n * 4);
        for w in &words[..n] {
            out.put_i32_le(*w);
        }
        out.freeze()
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk read messages
// ---------------------------------------------------------------------------------------------

/// The data of `CMD_DATA_WRRQ` (1503): "load this table into the read buffer".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferRequest {
    /// Table id: 13 attendance, 9 users, 7 templates.
    pub table: u16,
    /// Function code: 0 attendance, 5 users, 2 templates.
    pub function: u32,
    /// Extra argument, 0 in every known use.
    pub extra: u32,
}

impl BufferRequest {
    /// The attendance log request.
    pub const ATTENDANCE: Self = Self {
        table: cmd::ATTLOG_RRQ,
        function: 0,
        extra: 0,
    };
    /// The user table request.
    pub const USERS: Self = Self {
        table: cmd::USERTEMP_RRQ,
        function: 5,
        extra: 0,
    };

    /// The 11 data bytes: `01 | u16 table | u32 function | u32 extra`.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(11);
        out.put_u8(1);
        out.put_u16_le(self.table);
        out.put_u32_le(self.function);
        out.put_u32_le(self.extra);
        out.freeze()
    }

    /// Decodes the data; [`CodecError::TooShort`] below 11 bytes (the leading byte is ignored).
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        need("buffer request", b, 11)?;
        Ok(Self {
            table: u16_at(b, 1),
            function: u32_at(b, 3),
            extra: u32_at(b, 7),
        })
    }
}

/// The data of `CMD_DATA_RDY` (1504): "send me bytes `[start, start + length)` of the buffer".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// First byte.
    pub start: i32,
    /// Number of bytes.
    pub length: i32,
}

impl ChunkRequest {
    /// The 8 data bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(8);
        out.put_i32_le(self.start);
        out.put_i32_le(self.length);
        out.freeze()
    }

    /// Decodes the data; [`CodecError::TooShort`] below 8 bytes.
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        need("chunk request", b, 8)?;
        Ok(Self {
            start: i32_at(b, 0),
            length: i32_at(b, 4),
        })
    }
}

/// The data of `CMD_PREPARE_DATA` (1500): exactly 8 bytes, the chunk length and a second value
/// whose meaning is unknown (0xFFC0 and 0x10000 in captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareData {
    /// Bytes that the following `DATA` packets carry.
    pub length: u32,
    /// Unknown; ignored by clients.
    pub x: u32,
}

impl PrepareData {
    /// The 8 data bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(8);
        out.put_u32_le(self.length);
        out.put_u32_le(self.x);
        out.freeze()
    }

    /// Decodes the data; [`CodecError::TooShort`] below 4 bytes (`x` is 0 when absent).
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        need("prepare data", b, 4)?;
        Ok(Self {
            length: u32_at(b, 0),
            x: if b.len() >= 8 { u32_at(b, 4) } else { 0 },
        })
    }
}

/// The data of the `ACK_OK` that answers a buffered `CMD_DATA_WRRQ`: `00 | u32 size | u32 size |
/// u32 checksum-like value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferReady {
    /// The dataset size in bytes (its `u32 total_bytes` prefix included).
    pub size: u32,
    /// The trailing value, meaning unknown; our fake writes a byte sum.
    pub check: u32,
}

impl BufferReady {
    /// The 13 data bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(13);
        out.put_u8(0);
        out.put_u32_le(self.size);
        out.put_u32_le(self.size);
        out.put_u32_le(self.check);
        out.freeze()
    }

    /// Decodes the data; clients read only the size at bytes 1..5, so 5 bytes suffice
    /// ([`CodecError::TooShort`] below that).
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        need("buffer ready", b, 5)?;
        Ok(Self {
            size: u32_at(b, 1),
            check: if b.len() >= 13 { u32_at(b, 9) } else { 0 },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Realtime events
// ---------------------------------------------------------------------------------------------

/// The data layouts of realtime attendance events (`docs/protocols.md` 1.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventLayout {
    /// 12 bytes: u32 PIN, verify, state, timehex (old firmware).
    Numeric12,
    /// 32 bytes: 24-byte text PIN, verify, state, timehex (most TFT firmware).
    Text32,
    /// The 32-byte layout + 4 unknown bytes.
    Text36,
    /// The 32-byte layout + 20 unknown bytes.
    Text52,
}

impl EventLayout {
    /// The data size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Numeric12 => 12,
            Self::Text32 => 32,
            Self::Text36 => 36,
            Self::Text52 => 52,
        }
    }

    /// The layout of event data `size` bytes long; sizes above 52 use the 52-byte layout, as
    /// pyzk reads them.
    pub fn from_size(size: usize) -> Option<Self> {
        match size {
            12 => Some(Self::Numeric12),
            32 => Some(Self::Text32),
            36 => Some(Self::Text36),
            n if n >= 52 => Some(Self::Text52),
            _ => None,
        }
    }
}

/// One realtime attendance event (command 500 with event flag 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeAttendance {
    /// The user id (PIN).
    pub user_id: String,
    /// How the person identified.
    pub verify_type: u8,
    /// The attendance state.
    pub punch_state: u8,
    /// The raw timehex; see [`RealtimeAttendance::local_time`].
    pub time: [u8; 6],
}

impl RealtimeAttendance {
    /// The device wall-clock time, or [`CodecError::BadTime`].
    pub fn local_time(&self) -> Result<NaiveDateTime, CodecError> {
        decode_timehex(self.time)
    }

    /// Decodes event data, picking the layout from its length; [`CodecError::EventSize`] for a
    /// length with no layout.
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        let layout = EventLayout::from_size(b.len()).ok_or(CodecError::EventSize(b.len()))?;
        let (user_id, rest) = match layout {
            EventLayout::Numeric12 => (u32_at(b, 0).to_string(), &b[4..12]),
            _ => (text_field(&b[..24]), &b[24..32]),
        };
        Ok(Self {
            user_id,
            verify_type: rest[0],
            punch_state: rest[1],
            time: [rest[2], rest[3], rest[4], rest[5], rest[6], rest[7]],
        })
    }

    /// Encodes the event data in `layout` (unknown trailing bytes are zero). Errors as for
    /// attendance records: a numeric PIN for the 12-byte layout, at most 24 bytes otherwise.
    pub fn encode(&self, layout: EventLayout) -> Result<Bytes, CodecError> {
        let mut out = BytesMut::with_capacity(layout.size());
        match layout {
            EventLayout::Numeric12 => out.put_u32_le(numeric_id(&self.user_id)?),
            _ => put_text(&mut out, "user_id", &self.user_id, 24)?,
        }
        out.put_u8(self.verify_type);
        out.put_u8(self.punch_state);
        out.put_slice(&self.time);
        out.put_bytes(0, layout.size() - out.len());
        Ok(out.freeze())
    }

    /// The whole event packet: command 500, session field = event flag 1, reply number 0.
    pub fn to_packet(&self, layout: EventLayout) -> Result<Packet, CodecError> {
        Ok(Packet::new(
            cmd::REG_EVENT,
            event_flag::ATTLOG,
            0,
            self.encode(layout)?,
        ))
    }
}

/// Extracts the text of an `OPTIONS_RRQ` reply or a version reply: after the first `=` when
/// `key_value` is set, NULs stripped, invalid UTF-8 replaced.
pub fn reply_text(data: &[u8], key_value: bool) -> String {
    let text = text_field(data);
    if key_value {
        match text.split_once('=') {
            Some((_, value)) => value.to_owned(),
            None => String::new(),
        }
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn checksum_vectors_from_the_protocol_doc() {
        let mut p = hex("0b00 5a17 f38d 0300");
        p.extend_from_slice(b"ZKFaceVersion\0");
        assert_eq!(checksum(&p), 0x175a);
        assert_eq!(checksum(&hex("d007 296a f38d 0a00 09")), 0x6a29);
        assert_eq!(checksum(&hex("e803 17fc 0000 0000")), 0xfc17);
        assert_eq!(checksum(&hex("0b00 58ef c5c0 0500 7e4f5300")), 0xef58);
    }

    #[test]
    fn commkey_vectors() {
        assert_eq!(make_commkey(12, 0x45cf, 50), [0x61, 0x4d, 0x32, 0x3c]);
        assert_eq!(make_commkey(45, 0x45cf, 50), [0x61, 0xc9, 0x32, 0x3c]);
        assert!(verify_commkey(12, 0x45cf, &[0x61, 0x4d, 0x32, 0x3c]));
        assert!(!verify_commkey(13, 0x45cf, &[0x61, 0x4d, 0x32, 0x3c]));
        assert!(!verify_commkey(12, 0x45cf, &[0x61, 0x4d, 0x32]));
        // pyzk overflows here; we wrap.
        let _ = make_commkey(131_071, 0xffff, 50);
        let auth = Packet::new(cmd::AUTH, 0x45cf, 1, make_commkey(12, 0x45cf, 50).to_vec());
        assert_eq!(
            auth.to_tcp_bytes().to_vec(),
            hex("5050827d0c000000 4e04 4e2c cf45 0100 614d323c")
        );
    }

    #[test]
    fn time_examples() {
        let t = decode_zk_time(0x2368_b36b).unwrap();
        assert_eq!(t.to_string(), "2018-06-25 17:50:35");
        let t = NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        assert_eq!(encode_zk_time(t).unwrap(), 836_035_200);
        assert_eq!(
            decode_timehex([0x12, 0x06, 0x19, 0x11, 0x29, 0x05])
                .unwrap()
                .to_string(),
            "2018-06-25 17:41:05"
        );
        // Day 31 of February.
        let feb31 = (18 * 12 * 31 + 31 + 30) * 86_400;
        assert!(matches!(decode_zk_time(feb31), Err(CodecError::BadTime(_))));
        assert_eq!(decode_zk_time(u32::MAX).unwrap().year(), 2133);
    }

    #[test]
    fn documented_40_byte_record() {
        let b = hex(
            "0d00 393939313131333333 000000000000000000000000000000 01 6bb36823 00 00000000ff000000",
        );
        let r = AttendanceRecord::decode(RecordLayout::Text40, &b).unwrap();
        assert_eq!(
            (r.uid, r.user_id.as_str(), r.verify_type, r.punch_state),
            (13, "999111333", 1, 0)
        );
        assert_eq!(r.local_time().unwrap().to_string(), "2018-06-25 17:50:35");
        let mut out = BytesMut::new();
        r.encode(RecordLayout::Text40, &mut out).unwrap();
        assert_eq!(out.to_vec(), b);
    }

    #[test]
    fn tcp_frames_reassemble_byte_by_byte() {
        let a = Packet::new(cmd::DATA, 7, 9, vec![1u8, 2, 3]);
        let b = Packet::new(cmd::ACK_OK, 7, 9, Bytes::new());
        let mut wire = BytesMut::new();
        a.encode_tcp(&mut wire);
        b.encode_tcp(&mut wire);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire {
            buf.put_u8(byte);
            while let Some(p) = decode_tcp_frame(&mut buf, ChecksumPolicy::Strict).unwrap() {
                got.push(p);
            }
        }
        assert_eq!(got, vec![a, b]);
        assert!(check_tcp_eof(&buf).is_ok());
    }

    #[test]
    fn tcp_frame_errors() {
        let mut buf = BytesMut::from(&b"PX"[..]);
        assert!(matches!(
            decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
            Err(CodecError::BadMagic { .. })
        ));
        let mut buf = BytesMut::from(&hex("5050827d ffff0100")[..]);
        assert!(matches!(
            decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
            Err(CodecError::BadLength { .. })
        ));
        let mut buf = BytesMut::from(&hex("5050827d 04000000")[..]);
        assert!(matches!(
            decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
            Err(CodecError::BadLength { .. })
        ));
        let mut buf = BytesMut::from(&hex("5050827d 08000000 d007 0000 0100 0200")[..]);
        assert!(matches!(
            decode_tcp_frame(&mut buf, ChecksumPolicy::Strict),
            Err(CodecError::BadChecksum { .. })
        ));
        let mut buf = BytesMut::from(&hex("5050827d 08000000 d007 0000 0100 0200")[..]);
        let p = decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient)
            .unwrap()
            .unwrap();
        assert_eq!((p.command, p.session, p.reply), (cmd::ACK_OK, 1, 2));
        let mut buf = BytesMut::from(&hex("5050827d 08000000 d007")[..]);
        assert_eq!(
            decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient),
            Ok(None)
        );
        assert!(matches!(
            check_tcp_eof(&buf),
            Err(CodecError::Truncated { buffered: 10 })
        ));
    }
}
