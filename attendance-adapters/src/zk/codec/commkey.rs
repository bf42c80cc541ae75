//! The comm-key proof of `CMD_AUTH` (`docs/protocols/zkteco-binary.md` §5).

/// The 4-byte `CMD_AUTH` proof for `key` in `session` (`docs/protocols/zkteco-binary.md` §5,
/// pyzk `make_commkey`), wrapping the sum modulo 2^32 where pyzk would raise.
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
