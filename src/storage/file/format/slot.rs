//! The bytes of a version-5 slot (`state.0`, `state.1`) and of the marker
//! that version 5 leaves in `hardstate`: pure, like the rest of `format`.
//! The layout is documented on
//! [`FileStorage`](crate::storage::FileStorage#version-5-written-by-this-build).

use crate::core::Term;

use super::{
    DecodeError, EncodeError, MAX_FILE_LEN, Reader, Record, Trailing, VERSION_1, VERSION_4,
    VERSION_5, decode_payload, encode_payload, open, seal,
};

/// Generation and term ceiling, before the version-4 payload.
const SLOT_FIELDS_LEN: usize = 8 + 8;
/// The largest slot: the largest version-4 file plus the slot fields.
pub(in crate::storage::file) const MAX_SLOT_LEN: usize = MAX_FILE_LEN + SLOT_FIELDS_LEN;

/// What one slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::storage::file) struct Slot {
    /// Strictly increasing over the saves of a directory: the valid slot
    /// with the higher one is the newer state.
    pub(in crate::storage::file) generation: u64,
    /// No save written into the other slot while this one is the newest has
    /// a higher term; never below this slot's own term.
    pub(in crate::storage::file) ceiling: Term,
    pub(in crate::storage::file) record: Record,
}

/// The version-5 encoding of `slot`.
pub(in crate::storage::file) fn encode(slot: &Slot) -> Result<Vec<u8>, EncodeError> {
    let record = encode_payload(&slot.record)?;
    let mut payload = Vec::with_capacity(SLOT_FIELDS_LEN + record.len());
    payload.extend_from_slice(&slot.generation.to_le_bytes());
    payload.extend_from_slice(&slot.ceiling.0.to_le_bytes());
    payload.extend_from_slice(&record);
    Ok(seal(VERSION_5, &payload))
}

/// Decodes a slot file's contents. Bytes after the checksum are left over
/// from a longer state written before and are ignored; everything inside
/// the envelope is checked as strictly as in `hardstate`.
pub(in crate::storage::file) fn decode(bytes: &[u8]) -> Result<Slot, DecodeError> {
    let (version, payload) = open(bytes, MAX_SLOT_LEN, Trailing::Ignored)?;
    match version {
        VERSION_5 => {}
        // An intact single-file version has no business in a slot.
        VERSION_1..=VERSION_4 => return Err(DecodeError::NotASlot(version)),
        other => return Err(DecodeError::UnsupportedVersion(other)),
    }
    let Some((fields, rest)) = payload.split_at_checked(SLOT_FIELDS_LEN) else {
        return Err(DecodeError::PayloadTooShort {
            version,
            len: payload.len(),
            min: SLOT_FIELDS_LEN,
        });
    };
    let mut reader = Reader(fields);
    let generation = u64::from_le_bytes(reader.take()?);
    let ceiling = Term(u64::from_le_bytes(reader.take()?));
    let record = decode_payload(rest)?;
    let term = record.state.unwrap_or_default().term;
    if term > ceiling {
        return Err(DecodeError::TermAboveCeiling { term, ceiling });
    }
    Ok(Slot {
        generation,
        ceiling,
        record,
    })
}

/// What version 5 leaves in `hardstate`: an empty version-5 envelope, which
/// builds that read versions 1 to 4 refuse as a newer version instead of
/// taking the directory for a fresh node's.
pub(in crate::storage::file) fn marker() -> Vec<u8> {
    seal(VERSION_5, &[])
}
