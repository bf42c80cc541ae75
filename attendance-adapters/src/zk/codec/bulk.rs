//! The counters of `CMD_GET_FREE_SIZES` and the messages of the bulk read
//! (`docs/protocols/zkteco-binary.md` §7 and §11).

use bytes::{BufMut, Bytes, BytesMut};

use super::fields::{i32_at, need, u16_at, u32_at};
use super::{CodecError, cmd};

/// The counters of a `CMD_GET_FREE_SIZES` reply (`docs/protocols/zkteco-binary.md` §11). The
/// record and user layouts are derived from `records` and `users`.
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
