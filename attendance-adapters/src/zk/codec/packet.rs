//! Checksum, packets and TCP framing (`docs/protocols/zkteco-binary.md` §1 and §2).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{CodecError, HEADER_LEN, MAX_PACKET_LEN, TCP_MAGIC, TCP_PREFIX_LEN};

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
    /// at [`TCP_CHUNK`](super::TCP_CHUNK)).
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
