//! Pure ZKTeco binary protocol codec: bytes in, values out, and back. No IO happens here.
//!
//! Layouts follow `docs/protocols/zkteco-binary.md`. Every decoder takes arbitrary bytes and
//! returns a typed [`CodecError`] instead of panicking; every encoder writes exactly what the
//! matching decoder reads back.
//!
//! One file per concept, every item re-exported here: `packet` (checksum, packets, TCP framing),
//! `commkey` (the `CMD_AUTH` proof), `time` (ZK time and timehex), `records` (attendance records
//! and bulk-read datasets), `users` (user records), `bulk` (the free-sizes counters and the
//! bulk-read messages) and `realtime` (realtime attendance events).

mod bulk;
mod commkey;
mod fields;
mod packet;
mod realtime;
mod records;
mod time;
mod users;

#[cfg(test)]
mod tests;

use chrono::NaiveDateTime;
use thiserror::Error;

pub use bulk::{BufferReady, BufferRequest, ChunkRequest, FreeSizes, PrepareData};
pub use commkey::{make_commkey, verify_commkey};
pub use packet::{ChecksumPolicy, Packet, check_tcp_eof, checksum, decode_tcp_frame};
pub use realtime::{EventLayout, RealtimeAttendance};
pub use records::{
    AttendanceRecord, RecordLayout, attendance_layout, dataset_body, decode_attendance_records,
};
pub use time::{decode_timehex, decode_zk_time, encode_timehex, encode_zk_time};
pub use users::{UserLayout, UserRecord, decode_user_records, user_layout};

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

/// Command and reply codes (`docs/protocols/zkteco-binary.md` §4).
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

/// Realtime event flags for `CMD_REG_EVENT` (`docs/protocols/zkteco-binary.md` §12).
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
/// Extracts the text of an `OPTIONS_RRQ` reply or a version reply: after the first `=` when
/// `key_value` is set, NULs stripped, invalid UTF-8 replaced.
pub fn reply_text(data: &[u8], key_value: bool) -> String {
    let text = fields::text_field(data);
    if key_value {
        match text.split_once('=') {
            Some((_, value)) => value.to_owned(),
            None => String::new(),
        }
    } else {
        text
    }
}
