//! Small helpers for the fixed-width fields of records, users and events.

use bytes::{BufMut, BytesMut};

use super::CodecError;

/// [`CodecError::TooShort`] when `bytes` is shorter than `needed`.
pub(super) fn need(what: &'static str, bytes: &[u8], needed: usize) -> Result<(), CodecError> {
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

/// The little-endian u16 at `at` (the caller checked the length).
pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// The little-endian u32 at `at` (the caller checked the length).
pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The little-endian i32 at `at` (the caller checked the length).
pub(super) fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Text up to the first NUL, invalid UTF-8 replaced.
pub(super) fn text_field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Writes `text` NUL padded into a `width`-byte field. The text must hold no NUL and fit.
pub(super) fn put_text(
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

/// A PIN as the u32 of the numeric layouts; [`CodecError::NonNumericUserId`] unless it is
/// plain decimal digits that round-trip.
pub(super) fn numeric_id(user_id: &str) -> Result<u32, CodecError> {
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

/// The layout of a dataset body of `bytes` bytes holding `count` entries of one `what`, by entry
/// size: `Ok(None)` when both are zero, [`CodecError::UnknownLayout`] when the division gives no
/// size `from_size` knows.
pub(super) fn layout_of<L>(
    what: &'static str,
    bytes: usize,
    count: usize,
    from_size: fn(usize) -> Option<L>,
) -> Result<Option<L>, CodecError> {
    if bytes == 0 && count == 0 {
        return Ok(None);
    }
    let unknown = CodecError::UnknownLayout { what, bytes, count };
    if count == 0 || !bytes.is_multiple_of(count) {
        return Err(unknown);
    }
    from_size(bytes / count).map(Some).ok_or(unknown)
}
