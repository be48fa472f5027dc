//! The state file's bytes: encoding and decoding of its format versions,
//! pure (no I/O), so every rule about what a valid file is lives here and is
//! tested here. The layout is documented on
//! [`FileStorage`](super::FileStorage#format).

use thiserror::Error;

use crate::core::{
    HardState, LegacyMembership, Membership, MembershipRepr, MetadataError, NodeId, Term,
};
use crate::storage::identity::{MAX_CLUSTER_ID_LEN, NodeIdentity, NodeIdentityError};

const MAGIC: [u8; 4] = *b"DDGS";
/// Magic, version, payload length.
const HEADER_LEN: usize = 4 + 2 + 4;
const CHECKSUM_LEN: usize = 4;
/// Term, vote presence byte, voted-for id: all of a version-1 payload, and
/// the start of every later one.
const HARD_STATE_LEN: usize = 8 + 1 + 8;
/// Version 4's node id and cluster id length fields, before the cluster id.
const IDENTITY_FIXED_LEN: usize = 8 + 1;
/// The membership length field of versions 2 and later.
const MEMBERSHIP_LEN_LEN: usize = 4;
/// The largest encoded membership a state file may hold. A member costs a
/// few bytes plus its address, and all members' metadata together is at
/// most [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN)
/// (16 KiB), so this is room for tens of thousands of members, far more
/// than a heartbeat (64 KiB) carries; a length field above it is damage,
/// and is reported before anything is decoded.
pub(super) const MAX_MEMBERSHIP_LEN: usize = 1 << 20;
/// Anything bigger is not a state file, and reading it whole could exhaust
/// memory.
pub(super) const MAX_FILE_LEN: usize = HEADER_LEN
    + HARD_STATE_LEN
    + IDENTITY_FIXED_LEN
    + MAX_CLUSTER_ID_LEN
    + MEMBERSHIP_LEN_LEN
    + MAX_MEMBERSHIP_LEN
    + CHECKSUM_LEN;

/// The first format: the hard state alone. Still read, never written.
pub(super) const VERSION_1: u16 = 1;
/// The hard state and the membership without metadata. Still read, never
/// written.
pub(super) const VERSION_2: u16 = 2;
/// The hard state and the membership with each member's metadata. Still
/// read, never written.
pub(super) const VERSION_3: u16 = 3;
/// Version 3 with the identity of the node the directory belongs to: the
/// last single-file format. Still read, never written; its payload is the
/// tail of every version-5 slot.
pub(super) const VERSION_4: u16 = 4;
/// The format this build writes: two slots (see [`slot`]). In `hardstate`,
/// an envelope of this version is the marker that sends readers to the
/// slots (and stops builds that only know versions 1 to 4).
pub(super) const VERSION_5: u16 = 5;

const NO_VOTE: u8 = 0;
const VOTE: u8 = 1;

/// The contents of a state file; all `None` when there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Record {
    /// `Some` for every file that exists (versions 2 and later always store
    /// a hard state, term 0 and no vote if none was saved).
    pub(super) state: Option<HardState>,
    pub(super) membership: Option<Membership>,
    /// `None` in files of versions 1 to 3, and in version-4 files written by
    /// a `FileStorage` that was not opened with an identity.
    pub(super) identity: Option<NodeIdentity>,
}

/// Why a [`Record`] has no encoding: only a membership too big for the
/// format.
#[derive(Debug, Error)]
pub(super) enum EncodeError {
    #[error("the membership does not encode: {0}")]
    Membership(postcard::Error),
    #[error(
        "the membership encodes to {len} bytes, more than the {MAX_MEMBERSHIP_LEN} a state file holds"
    )]
    MembershipTooLarge { len: usize },
}

/// Why bytes are not a state this build can use; the caller adds the path.
/// Every variant but `UnsupportedVersion` is damage.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub(super) enum DecodeError {
    #[error("bad magic bytes {found:02x?}, expected {MAGIC:02x?} (not a duckduckgoose state file)")]
    BadMagic { found: Vec<u8> },
    #[error("larger than {max} bytes (not a duckduckgoose state file)")]
    TooLarge { max: usize },
    #[error(
        "truncated: {len} bytes, shorter than the {}-byte header and checksum",
        HEADER_LEN + CHECKSUM_LEN
    )]
    ShorterThanHeader { len: usize },
    /// The length in bytes against the length the header announces; in
    /// `u64` so a damaged length near `u32::MAX` cannot overflow.
    #[error("truncated: {actual} of {expected} bytes")]
    Truncated { actual: u64, expected: u64 },
    #[error("{count} trailing bytes after the checksum")]
    TrailingBytes { count: u64 },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    /// Intact, but written by a format this build does not know.
    #[error("format version {0} is not one this build reads")]
    UnsupportedVersion(u16),
    #[error("payload is {len} bytes, format version {VERSION_1} has {HARD_STATE_LEN}")]
    V1PayloadLength { len: usize },
    #[error(
        "payload is {len} bytes, shorter than the {min} bytes of format version {version}'s fixed fields"
    )]
    PayloadTooShort {
        version: u16,
        len: usize,
        min: usize,
    },
    #[error("cluster id length field says {field} bytes, but the payload has room for {room}")]
    ClusterIdLength { field: u8, room: usize },
    #[error("cluster id is not UTF-8: {0}")]
    ClusterIdNotUtf8(std::str::Utf8Error),
    #[error("cluster id length is 0 (no identity recorded) but the node id is {0}")]
    NodeIdWithoutIdentity(u64),
    /// Only if the length byte's bounds and [`NodeIdentity`]'s disagree: a
    /// bug, still not a panic.
    #[error("identity is invalid: {0}")]
    InvalidIdentity(NodeIdentityError),
    #[error(
        "membership length field says {field} bytes, more than the maximum {MAX_MEMBERSHIP_LEN}"
    )]
    MembershipTooLong { field: u32 },
    #[error("membership length field says {field} bytes, but the payload holds {actual}")]
    MembershipLength { field: u32, actual: usize },
    #[error("membership does not decode: {0}")]
    MembershipUndecodable(postcard::Error),
    #[error("{count} unused bytes after the membership, inside its length")]
    MembershipUnusedBytes { count: usize },
    #[error("membership is not in canonical form (it decodes, but re-encodes differently)")]
    NonCanonicalMembership,
    /// The membership decodes, but a member's metadata breaks a bound.
    #[error("membership holds invalid metadata: {0}")]
    InvalidMetadata(MetadataError),
    /// A version-5 envelope in `hardstate`: the marker of a directory that
    /// keeps its state in slots, read where the slots should be.
    #[error(
        "marks the state as kept in state.0 and state.1 (format version {VERSION_5}), but state.0 is missing"
    )]
    SlotMarker,
    /// `state.1` is missing although `state.0` exists, which is only created
    /// once `state.1` is durable.
    #[error("missing, though state.0 exists")]
    SlotMissing,
    /// An intact envelope of a single-file version where a slot should be.
    #[error("holds format version {0}, but a slot holds version {VERSION_5} only")]
    NotASlot(u16),
    /// A slot's term is above its own ceiling, which no save writes.
    #[error("term {term} is above the slot's term ceiling {ceiling}")]
    TermAboveCeiling { term: Term, ceiling: Term },
    #[error("bad vote presence byte {0:#04x}")]
    BadVotePresence(u8),
    #[error("vote presence byte says no vote but the node id is {0}")]
    IdWithoutVote(u64),
    /// Only if a length check above it is wrong: a bug, still not a panic.
    #[error("truncated inside a field")]
    FieldTruncated,
}

/// The version-4 encoding of `record`, as builds before version 5 wrote
/// it; tests build old files with it.
#[cfg(test)]
pub(super) fn encode(record: &Record) -> Result<Vec<u8>, EncodeError> {
    Ok(seal(VERSION_4, &encode_payload(record)?))
}

/// The version-4 payload of `record`: hard state, identity, membership. A
/// version-5 slot carries it after its generation and term ceiling.
pub(super) fn encode_payload(record: &Record) -> Result<Vec<u8>, EncodeError> {
    let membership = postcard::to_allocvec(&record.membership).map_err(EncodeError::Membership)?;
    if membership.len() > MAX_MEMBERSHIP_LEN {
        return Err(EncodeError::MembershipTooLarge {
            len: membership.len(),
        });
    }
    // No identity is node id 0 and an empty cluster id, which no identity
    // has, so each record has one encoding.
    let (node_id, cluster_id) = match &record.identity {
        Some(identity) => (identity.node_id().0, identity.cluster_id().as_bytes()),
        None => (0, &[][..]),
    };
    let cluster_id_len = u8::try_from(cluster_id.len())
        .expect("NodeIdentity bounds a cluster id to MAX_CLUSTER_ID_LEN, at most u8::MAX");
    let payload_len = HARD_STATE_LEN
        + IDENTITY_FIXED_LEN
        + cluster_id.len()
        + MEMBERSHIP_LEN_LEN
        + membership.len();
    let mut bytes = Vec::with_capacity(payload_len);
    let state = record.state.unwrap_or_default();
    bytes.extend_from_slice(&state.term.0.to_le_bytes());
    match state.voted_for {
        Some(NodeId(id)) => {
            bytes.push(VOTE);
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        None => {
            bytes.push(NO_VOTE);
            bytes.extend_from_slice(&0u64.to_le_bytes());
        }
    }
    bytes.extend_from_slice(&node_id.to_le_bytes());
    bytes.push(cluster_id_len);
    bytes.extend_from_slice(cluster_id);
    bytes.extend_from_slice(&len_u32(membership.len()).to_le_bytes());
    bytes.extend_from_slice(&membership);
    Ok(bytes)
}

/// `payload` in the envelope: magic, `version`, payload length, payload,
/// CRC-32 of all of it.
pub(super) fn seal(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&len_u32(payload.len()).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("lengths are bounded by MAX_FILE_LEN, far below u32::MAX")
}

/// Decodes the contents of `hardstate`. Checks run from the outside in (is
/// it ours, is it whole, is it intact, can this build read it), so the
/// error names the first thing wrong.
pub(super) fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let (version, payload) = open(bytes, MAX_FILE_LEN, Trailing::Refused)?;
    match version {
        VERSION_1 => decode_v1(payload),
        VERSION_2 => decode_with_membership(payload, VERSION_2),
        VERSION_3 => decode_with_membership(payload, VERSION_3),
        VERSION_4 => decode_with_membership(payload, VERSION_4),
        VERSION_5 => Err(DecodeError::SlotMarker),
        other => Err(DecodeError::UnsupportedVersion(other)),
    }
}

/// Decodes a version-4 payload (what follows a slot's generation and
/// ceiling).
pub(super) fn decode_payload(payload: &[u8]) -> Result<Record, DecodeError> {
    decode_with_membership(payload, VERSION_4)
}

/// Whether bytes after the checksum are damage (`hardstate`, replaced
/// whole by every save) or left over from a longer state once written in
/// place (a slot).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Trailing {
    Refused,
    Ignored,
}

/// Checks the envelope of `bytes` (magic, size, length, checksum) and
/// returns its version and payload, without judging the version.
pub(super) fn open(
    bytes: &[u8],
    max_len: usize,
    trailing: Trailing,
) -> Result<(u16, &[u8]), DecodeError> {
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(DecodeError::BadMagic {
            found: bytes[..magic_len].to_vec(),
        });
    }
    if bytes.len() > max_len {
        return Err(DecodeError::TooLarge { max: max_len });
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(DecodeError::ShorterThanHeader { len: bytes.len() });
    }

    let mut header = Reader(&bytes[MAGIC.len()..HEADER_LEN]);
    let version = u16::from_le_bytes(header.take()?);
    let payload_len = u32::from_le_bytes(header.take()?);
    let expected = u64::from(payload_len) + (HEADER_LEN + CHECKSUM_LEN) as u64;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DecodeError::Truncated { actual, expected });
    }
    if actual > expected && trailing == Trailing::Refused {
        return Err(DecodeError::TrailingBytes {
            count: actual - expected,
        });
    }
    // `expected` <= `actual`, a `usize`.
    let bytes = &bytes[..expected as usize];

    let (covered, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes(Reader(stored).take()?);
    let computed = crc32fast::hash(covered);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    Ok((version, &covered[HEADER_LEN..]))
}

/// The hard state alone.
fn decode_v1(payload: &[u8]) -> Result<Record, DecodeError> {
    if payload.len() != HARD_STATE_LEN {
        return Err(DecodeError::V1PayloadLength { len: payload.len() });
    }
    let state = decode_hard_state(&mut Reader(payload))?;
    Ok(Record {
        state: Some(state),
        membership: None,
        identity: None,
    })
}

/// The hard state, in version 4 the identity, then the length-prefixed
/// membership: without metadata in version 2, with it in versions 3 and 4.
fn decode_with_membership(payload: &[u8], version: u16) -> Result<Record, DecodeError> {
    let min = if version >= VERSION_4 {
        HARD_STATE_LEN + IDENTITY_FIXED_LEN + MEMBERSHIP_LEN_LEN
    } else {
        HARD_STATE_LEN + MEMBERSHIP_LEN_LEN
    };
    if payload.len() < min {
        return Err(DecodeError::PayloadTooShort {
            version,
            len: payload.len(),
            min,
        });
    }
    let mut reader = Reader(payload);
    let state = decode_hard_state(&mut reader)?;
    let identity = if version >= VERSION_4 {
        decode_identity(&mut reader)?
    } else {
        None
    };
    let membership = decode_membership(reader, version)?;
    Ok(Record {
        state: Some(state),
        membership,
        identity,
    })
}

/// Node id, cluster id length, cluster id; the caller has checked that the
/// fixed fields and the membership length field are there.
fn decode_identity(reader: &mut Reader<'_>) -> Result<Option<NodeIdentity>, DecodeError> {
    let node_id = u64::from_le_bytes(reader.take()?);
    let [field] = reader.take()?;
    let room = reader.0.len().saturating_sub(MEMBERSHIP_LEN_LEN);
    if usize::from(field) > room {
        return Err(DecodeError::ClusterIdLength { field, room });
    }
    let (cluster_id, rest) = reader
        .0
        .split_at_checked(usize::from(field))
        .ok_or(DecodeError::FieldTruncated)?;
    reader.0 = rest;
    if cluster_id.is_empty() {
        return match node_id {
            0 => Ok(None),
            id => Err(DecodeError::NodeIdWithoutIdentity(id)),
        };
    }
    let cluster_id = std::str::from_utf8(cluster_id).map_err(DecodeError::ClusterIdNotUtf8)?;
    NodeIdentity::new(cluster_id, NodeId(node_id))
        .map(Some)
        .map_err(DecodeError::InvalidIdentity)
}

/// The membership length field and the membership it announces, which end
/// the payload.
fn decode_membership(
    mut reader: Reader<'_>,
    version: u16,
) -> Result<Option<Membership>, DecodeError> {
    let field = u32::from_le_bytes(reader.take()?);
    // Checked before the bytes are touched; the decoder below then works on
    // a slice of the (already bounded) file, never on the length alone.
    if u64::from(field) > MAX_MEMBERSHIP_LEN as u64 {
        return Err(DecodeError::MembershipTooLong { field });
    }
    let encoded = reader.0;
    if encoded.len() as u64 != u64::from(field) {
        return Err(DecodeError::MembershipLength {
            field,
            actual: encoded.len(),
        });
    }
    let (membership, rest) = if version == VERSION_2 {
        let (legacy, rest) = postcard::take_from_bytes::<Option<LegacyMembership>>(encoded)
            .map_err(DecodeError::MembershipUndecodable)?;
        (legacy.map(Membership::from), rest)
    } else {
        // Decoded unchecked first, so a broken bound is named.
        let (repr, rest) = postcard::take_from_bytes::<Option<MembershipRepr>>(encoded)
            .map_err(DecodeError::MembershipUndecodable)?;
        let membership = repr
            .map(Membership::try_from)
            .transpose()
            .map_err(DecodeError::InvalidMetadata)?;
        (membership, rest)
    };
    if !rest.is_empty() {
        return Err(DecodeError::MembershipUnusedBytes { count: rest.len() });
    }
    // One encoding per membership, as for the hard state: sets in ascending
    // order without repeats, minimal varints, no empty metadata.
    let canonical = if version == VERSION_2 {
        postcard::to_allocvec(&membership.as_ref().map(LegacyMembership::from))
    } else {
        postcard::to_allocvec(&membership)
    };
    match canonical {
        Ok(canonical) if canonical == encoded => Ok(membership),
        _ => Err(DecodeError::NonCanonicalMembership),
    }
}

/// Term, vote presence byte, voted-for id; the caller has checked that the
/// bytes are there. The id bytes are zero when there is no vote, so each
/// hard state has one encoding.
fn decode_hard_state(reader: &mut Reader<'_>) -> Result<HardState, DecodeError> {
    let term = Term(u64::from_le_bytes(reader.take()?));
    let [presence] = reader.take()?;
    let id = u64::from_le_bytes(reader.take()?);
    let voted_for = match presence {
        VOTE => Some(NodeId(id)),
        NO_VOTE if id == 0 => None,
        NO_VOTE => return Err(DecodeError::IdWithoutVote(id)),
        other => return Err(DecodeError::BadVotePresence(other)),
    };
    Ok(HardState { term, voted_for })
}

/// Reads fixed-size fields front to back without indexing past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (field, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(DecodeError::FieldTruncated)?;
        self.0 = rest;
        Ok(*field)
    }
}

pub(super) mod slot;

#[cfg(test)]
mod tests;
