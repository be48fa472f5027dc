//! The state file layout of every version, written here independently from
//! the `FileStorage` docs, so the tests also check that the docs are true;
//! one membership is spelled out byte by byte, to catch an accidental
//! format change.

use duckduckgoose::core::{Membership, NodeMetadata};
use duckduckgoose::storage::NodeIdentity;
use duckduckgoose::{HardState, NodeId};

use super::hs;

/// An envelope: magic, version, payload length, payload, CRC-32 of it all.
pub(crate) fn envelope(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"DDGS".to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

pub(crate) fn payload_v1(term: u64, presence: u8, id: u64) -> Vec<u8> {
    let mut payload = term.to_le_bytes().to_vec();
    payload.push(presence);
    payload.extend_from_slice(&id.to_le_bytes());
    payload
}

/// The hard state fields: all of a version-1 payload, the start of every
/// later one.
pub(crate) fn hard_state_bytes(state: &HardState) -> Vec<u8> {
    match state.voted_for {
        Some(NodeId(id)) => payload_v1(state.term.0, 1, id),
        None => payload_v1(state.term.0, 0, 0),
    }
}

/// The one valid version-1 encoding of `state`.
pub(crate) fn encode_v1(state: &HardState) -> Vec<u8> {
    envelope(1, &hard_state_bytes(state))
}

/// A version-2 or -3 payload: the hard state fields, a membership length
/// field saying `membership_len`, then `membership` (raw, so tests can lie).
pub(crate) fn payload_v2(state: &HardState, membership_len: u32, membership: &[u8]) -> Vec<u8> {
    let mut payload = hard_state_bytes(state);
    payload.extend_from_slice(&membership_len.to_le_bytes());
    payload.extend_from_slice(membership);
    payload
}

/// The postcard encoding of `Option<Membership>` the docs promise.
pub(crate) fn membership_bytes(membership: Option<&Membership>) -> Vec<u8> {
    postcard::to_allocvec(&membership).unwrap()
}

/// The one valid version-3 encoding of `state` and `membership`.
pub(crate) fn encode_v3(state: &HardState, membership: Option<&Membership>) -> Vec<u8> {
    let encoded = membership_bytes(membership);
    envelope(3, &payload_v2(state, encoded.len() as u32, &encoded))
}

/// The one valid version-4 encoding of `state`, `membership` and
/// `identity`: version 3 with the node id, the cluster id length and the
/// cluster id after the hard state (zeros and nothing for no identity).
pub(crate) fn encode_v4(
    state: &HardState,
    membership: Option<&Membership>,
    identity: Option<&NodeIdentity>,
) -> Vec<u8> {
    let mut payload = hard_state_bytes(state);
    payload.extend_from_slice(&identity_bytes(identity));
    let encoded = membership_bytes(membership);
    payload.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
    payload.extend_from_slice(&encoded);
    envelope(4, &payload)
}

/// Version 4's identity fields: node id, cluster id length, cluster id.
pub(crate) fn identity_bytes(identity: Option<&NodeIdentity>) -> Vec<u8> {
    match identity {
        Some(identity) => {
            let cluster_id = identity.cluster_id().as_bytes();
            let mut bytes = identity.node_id().0.to_le_bytes().to_vec();
            bytes.push(u8::try_from(cluster_id.len()).unwrap());
            bytes.extend_from_slice(cluster_id);
            bytes
        }
        None => vec![0; 9],
    }
}

/// Node `node_id` of cluster `cluster_id`.
pub(crate) fn identity(cluster_id: &str, node_id: u64) -> NodeIdentity {
    NodeIdentity::new(cluster_id, NodeId(node_id)).unwrap()
}

/// The one valid version-2 encoding of `state` and `membership`, which has
/// no metadata: version 3's membership without its metadata count (the
/// last byte, `0`, when there is no metadata).
pub(crate) fn encode_v2(state: &HardState, membership: Option<&Membership>) -> Vec<u8> {
    let mut encoded = membership_bytes(membership);
    if let Some(membership) = membership {
        assert!(membership.all_metadata().is_empty(), "version 2 has none");
        assert_eq!(encoded.pop(), Some(0), "the metadata count");
    }
    envelope(2, &payload_v2(state, encoded.len() as u32, &encoded))
}

/// Membership 7@t5 of voters 1, 2 and 300, learner 4 (joining) and two
/// addresses, without metadata, as version 2 holds it: spelled out in
/// postcard by hand from the `FileStorage` docs. Builders cannot make a
/// joining learner or a non-zero id, so the bytes are the way to get one.
pub(crate) const SAMPLE_V2_MEMBERSHIP_BYTES: &[u8] = &[
    0x01, // Some
    0x05, 0x07, // id: term 5, version 7
    0x03, 0x01, 0x02, 0xac, 0x02, // voters: 3 of them, 1, 2, 300 (LEB128)
    0x01, 0x04, // learners: 4
    0x01, 0x04, // joining: 4
    0x02, // addresses: 2 of them
    0x01, 0x0e, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', b':', b'7', b'0', b'0', b'1',
    0x04, 0x0a, b'[', b':', b':', b'1', b']', b':', b'7', b'0', b'0', b'4',
];

/// The same membership with metadata for nodes 1 and 4, as version 3 holds
/// it: the version-2 bytes, then the metadata.
pub(crate) const SAMPLE_MEMBERSHIP_BYTES: &[u8] = &[
    0x01, // Some
    0x05, 0x07, // id: term 5, version 7
    0x03, 0x01, 0x02, 0xac, 0x02, // voters: 3 of them, 1, 2, 300 (LEB128)
    0x01, 0x04, // learners: 4
    0x01, 0x04, // joining: 4
    0x02, // addresses: 2 of them
    0x01, 0x0e, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', b':', b'7', b'0', b'0', b'1',
    0x04, 0x0a, b'[', b':', b':', b'1', b']', b':', b'7', b'0', b'0', b'4',
    0x02, // metadata: 2 nodes
    0x01, 0x01, // node 1: 1 entry
    0x04, b'h', b't', b't', b'p', // "http"
    0x14, b'h', b't', b't', b'p', b':', b'/', b'/', b'1', b'0', b'.', b'0', b'.', b'0', b'.', b'1',
    b':', b'8', b'0', b'8', b'0', // "http://10.0.0.1:8080"
    0x04, 0x02, // node 4: 2 entries, in key order
    0x04, b'h', b't', b't', b'p', // "http"
    0x11, b'h', b't', b't', b'p', b':', b'/', b'/', b'[', b':', b':', b'1', b']', b':', b'8', b'0',
    b'8', b'4', // "http://[::1]:8084"
    0x04, b'z', b'o', b'n', b'e', 0x01, b'b', // "zone": "b"
];

pub(crate) fn sample_membership() -> Membership {
    let membership: Option<Membership> = postcard::from_bytes(SAMPLE_MEMBERSHIP_BYTES).unwrap();
    membership.unwrap()
}

/// The sample without its metadata (what a version-2 file of it loads as).
pub(crate) fn sample_membership_v2() -> Membership {
    let sample = sample_membership();
    let ids: Vec<NodeId> = sample.all_metadata().keys().copied().collect();
    ids.into_iter().fold(sample, |membership, id| {
        membership.with_metadata(id, NodeMetadata::new())
    })
}

/// Valid files of every version, to damage.
pub(crate) fn valid_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for state in [hs(42, Some(3)), hs(7, None), hs(u64::MAX, Some(u64::MAX))] {
        files.push((format!("v1 {state:?}"), encode_v1(&state)));
        files.push((
            format!("v2 {state:?}, no membership"),
            encode_v2(&state, None),
        ));
        files.push((
            format!("v3 {state:?}, no membership"),
            encode_v3(&state, None),
        ));
        files.push((
            format!("v4 {state:?}, no membership, no identity"),
            encode_v4(&state, None, None),
        ));
        files.push((
            format!("v4 {state:?}, no membership, node 1 of \"a\""),
            encode_v4(&state, None, Some(&identity("a", 1))),
        ));
    }
    files.push((
        "v2 with the sample membership".into(),
        encode_v2(&hs(9, Some(2)), Some(&sample_membership_v2())),
    ));
    files.push((
        "v3 with the sample membership".into(),
        encode_v3(&hs(9, Some(2)), Some(&sample_membership())),
    ));
    files.push((
        "v4 with the sample membership and node 300 of \"prod-eu\"".into(),
        encode_v4(
            &hs(9, Some(2)),
            Some(&sample_membership()),
            Some(&identity("prod-eu", 300)),
        ),
    ));
    files
}

/// A file of the documented version-2 or -3 layout: `version`, state 9
/// voted for 2, and the membership bytes.
pub(crate) fn documented_file(version: u8, membership: &[u8]) -> Vec<u8> {
    // Offsets from the table: hard state at 10, length at 27, membership at 31.
    let mut file = b"DDGS".to_vec();
    file.extend_from_slice(&[version, 0]);
    let membership_len = membership.len() as u32;
    file.extend_from_slice(&(21 + membership_len).to_le_bytes());
    file.extend_from_slice(&9u64.to_le_bytes());
    file.push(1);
    file.extend_from_slice(&2u64.to_le_bytes());
    file.extend_from_slice(&membership_len.to_le_bytes());
    assert_eq!(file.len(), 31);
    file.extend_from_slice(membership);
    let checksum = crc32fast::hash(&file);
    file.extend_from_slice(&checksum.to_le_bytes());
    file
}

/// A file of the documented version-4 layout: state 9 voted for 2, node 300
/// of cluster "prod-eu", and the membership bytes.
pub(crate) fn documented_file_v4(membership: &[u8]) -> Vec<u8> {
    // Offsets from the table: hard state at 10, node id at 27, cluster id
    // length at 35, cluster id at 36, then the membership length and the
    // membership.
    let mut file = b"DDGS".to_vec();
    file.extend_from_slice(&[4, 0]);
    let membership_len = membership.len() as u32;
    file.extend_from_slice(&(30 + 7 + membership_len).to_le_bytes());
    file.extend_from_slice(&9u64.to_le_bytes());
    file.push(1);
    file.extend_from_slice(&2u64.to_le_bytes());
    file.extend_from_slice(&300u64.to_le_bytes());
    file.push(7);
    file.extend_from_slice(b"prod-eu");
    assert_eq!(file.len(), 36 + 7);
    file.extend_from_slice(&membership_len.to_le_bytes());
    file.extend_from_slice(membership);
    let checksum = crc32fast::hash(&file);
    file.extend_from_slice(&checksum.to_le_bytes());
    file
}

/// How far a raised term ceiling goes above the term that raised it.
pub(crate) const CEILING_STEP: u64 = 1024;

/// The one valid version-5 slot of generation `generation` and term ceiling
/// `ceiling`: the two `u64`s, then exactly a version-4 payload.
pub(crate) fn encode_v5(
    generation: u64,
    ceiling: u64,
    state: &HardState,
    membership: Option<&Membership>,
    identity: Option<&NodeIdentity>,
) -> Vec<u8> {
    let v4 = encode_v4(state, membership, identity);
    let mut payload = generation.to_le_bytes().to_vec();
    payload.extend_from_slice(&ceiling.to_le_bytes());
    payload.extend_from_slice(&v4[10..v4.len() - 4]);
    envelope(5, &payload)
}

/// What version 5 leaves in `hardstate`: an empty version-5 envelope.
pub(crate) fn marker() -> Vec<u8> {
    envelope(5, &[])
}

/// `DIR/state.0` or `DIR/state.1`.
pub(crate) fn slot_path(dir: &std::path::Path, index: usize) -> std::path::PathBuf {
    dir.join(format!("state.{index}"))
}

/// The envelope in a slot file (bytes left over after it cut off), by the
/// length in its header.
pub(crate) fn slot_bytes(dir: &std::path::Path, index: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(slot_path(dir, index)).unwrap();
    let payload_len = u32::from_le_bytes(bytes[6..10].try_into().unwrap()) as usize;
    bytes.truncate(10 + payload_len + 4);
    bytes
}

/// A slot's generation, at offset 10.
pub(crate) fn generation_of(slot: &[u8]) -> u64 {
    u64::from_le_bytes(slot[10..18].try_into().unwrap())
}

/// The index and envelope of the slot with the higher generation (both
/// must be valid).
pub(crate) fn newest_slot(dir: &std::path::Path) -> (usize, Vec<u8>) {
    let slots = [slot_bytes(dir, 0), slot_bytes(dir, 1)];
    let newest = usize::from(generation_of(&slots[1]) > generation_of(&slots[0]));
    (newest, slots[newest].clone())
}

/// The generation and ceiling of the newest slot after each save of a hard
/// state with term `term`, as the documented rule says: the first save
/// creates generations 0 and 1 with ceiling `term` + 1024; a term above the
/// ceiling costs one more generation, which raises it to `term` + 1024.
#[derive(Debug, Default)]
pub(crate) struct SlotModel {
    pub(crate) generation: Option<u64>,
    pub(crate) ceiling: u64,
}

impl SlotModel {
    pub(crate) fn save(&mut self, term: u64, copies: u64) -> (u64, u64) {
        match self.generation {
            None => {
                self.generation = Some(1);
                self.ceiling = term.saturating_add(CEILING_STEP);
            }
            Some(generation) => {
                let raise = u64::from(term > self.ceiling);
                if raise == 1 {
                    self.ceiling = term.saturating_add(CEILING_STEP);
                }
                self.generation = Some(generation + raise + copies);
            }
        }
        (self.generation.unwrap(), self.ceiling)
    }
}

/// A slot of the documented version-5 layout: generation 4, ceiling 1024,
/// state 9 voted for 2, node 300 of cluster "prod-eu", and the membership
/// bytes.
pub(crate) fn documented_slot_v5(membership: &[u8]) -> Vec<u8> {
    // Offsets from the table: generation at 10, ceiling at 18, then the
    // version-4 payload from 26 on.
    let mut file = b"DDGS".to_vec();
    file.extend_from_slice(&[5, 0]);
    let membership_len = membership.len() as u32;
    file.extend_from_slice(&(16 + 30 + 7 + membership_len).to_le_bytes());
    file.extend_from_slice(&4u64.to_le_bytes());
    file.extend_from_slice(&1024u64.to_le_bytes());
    assert_eq!(file.len(), 26);
    file.extend_from_slice(&9u64.to_le_bytes());
    file.push(1);
    file.extend_from_slice(&2u64.to_le_bytes());
    file.extend_from_slice(&300u64.to_le_bytes());
    file.push(7);
    file.extend_from_slice(b"prod-eu");
    assert_eq!(file.len(), 52 + 7);
    file.extend_from_slice(&membership_len.to_le_bytes());
    file.extend_from_slice(membership);
    let checksum = crc32fast::hash(&file);
    file.extend_from_slice(&checksum.to_le_bytes());
    file
}
