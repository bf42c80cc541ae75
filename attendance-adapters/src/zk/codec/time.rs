//! Device times: the u32 ZK time of records and the 6-byte timehex of realtime events
//! (`docs/protocols/zkteco-binary.md` §8).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use super::CodecError;

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
