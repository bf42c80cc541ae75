//! Realtime attendance events (`docs/protocols/zkteco-binary.md` §12).

use bytes::{BufMut, Bytes, BytesMut};
use chrono::NaiveDateTime;

use super::fields::{numeric_id, put_text, text_field, u32_at};
use super::{CodecError, Packet, cmd, decode_timehex, event_flag};

/// The data layouts of realtime attendance events (`docs/protocols/zkteco-binary.md` §12).
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
