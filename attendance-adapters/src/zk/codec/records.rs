//! Attendance records and the bulk-read datasets that carry them
//! (`docs/protocols/zkteco-binary.md` §7 and §9).

use bytes::{BufMut, BytesMut};
use chrono::NaiveDateTime;

use super::fields::{layout_of, need, numeric_id, put_text, text_field, u16_at, u32_at};
use super::{CodecError, decode_zk_time};

/// The attendance record layouts (`docs/protocols/zkteco-binary.md` §9).
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
    layout_of("attendance record", bytes, count, RecordLayout::from_size)
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
