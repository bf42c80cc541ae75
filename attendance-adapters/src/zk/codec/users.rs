//! User records (`docs/protocols/zkteco-binary.md` §10).

use bytes::{BufMut, BytesMut};

use super::CodecError;
use super::fields::{layout_of, need, numeric_id, put_text, text_field, u16_at, u32_at};

/// The user record layouts (`docs/protocols/zkteco-binary.md` §10).
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
    layout_of("user record", bytes, count, UserLayout::from_size)
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
