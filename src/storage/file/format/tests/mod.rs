//! Round trips of every format version, and each kind of damage the decoder
//! must refuse, named by its typed error. The envelope is rebuilt here by
//! hand, so a valid checksum lets each test reach the check it is after.
//! Members' metadata and version 4's identity have their own modules.

use super::*;
use crate::core::NodeMetadata;

mod identity;
mod metadata;
mod slot;

fn hs(term: u64, voted_for: Option<u64>) -> HardState {
    HardState {
        term: Term(term),
        voted_for: voted_for.map(NodeId),
    }
}

fn record(state: HardState, membership: Option<Membership>) -> Record {
    Record {
        state: Some(state),
        membership,
        identity: None,
    }
}

fn identity(cluster_id: &str, node_id: u64) -> NodeIdentity {
    NodeIdentity::new(cluster_id, NodeId(node_id)).expect("a valid identity")
}

fn sample_membership() -> Membership {
    Membership::new([NodeId(1), NodeId(2), NodeId(300)])
        .with_learners([NodeId(4)])
        .with_addresses([(NodeId(1), "127.0.0.1:7001"), (NodeId(4), "[::1]:7004")])
}

fn meta(entries: &[(&str, &str)]) -> NodeMetadata {
    entries.iter().fold(NodeMetadata::new(), |meta, (k, v)| {
        meta.with(*k, *v).expect("valid metadata")
    })
}

/// The sample with metadata for two members.
fn sample_with_metadata() -> Membership {
    sample_membership()
        .with_metadata(NodeId(1), meta(&[("http", "http://10.0.0.1:8080")]))
        .with_metadata(
            NodeId(4),
            meta(&[("http", "http://[::1]:8084"), ("zone", "b")]),
        )
}

/// A version-2 file of `state` and `membership` (its metadata left out), as
/// builds before version 3 wrote it.
fn encode_v2(state: HardState, membership: Option<&Membership>) -> Vec<u8> {
    let legacy = membership.map(LegacyMembership::from);
    let encoded = postcard::to_allocvec(&legacy).expect("encodes");
    envelope(VERSION_2, &state_and_membership(state, &encoded))
}

/// A version-3 file of `state` and `membership`, as builds before version 4
/// wrote it.
fn encode_v3(state: HardState, membership: Option<&Membership>) -> Vec<u8> {
    let encoded = postcard::to_allocvec(&membership).expect("encodes");
    envelope(VERSION_3, &state_and_membership(state, &encoded))
}

/// A version-2 or -3 payload: the hard state, then `membership` with its
/// length.
fn state_and_membership(state: HardState, membership: &[u8]) -> Vec<u8> {
    let (presence, id) = match state.voted_for {
        Some(NodeId(id)) => (VOTE, id),
        None => (NO_VOTE, 0),
    };
    let mut payload = hard_state_payload(state.term.0, presence, id);
    payload.extend_from_slice(&(membership.len() as u32).to_le_bytes());
    payload.extend_from_slice(membership);
    payload
}

/// Magic, version, payload length, payload, CRC-32 of all of it.
fn envelope(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

fn hard_state_payload(term: u64, presence: u8, id: u64) -> Vec<u8> {
    let mut payload = term.to_le_bytes().to_vec();
    payload.push(presence);
    payload.extend_from_slice(&id.to_le_bytes());
    payload
}

/// A version-2 payload whose length field says `field`, whatever follows.
fn payload_v2(field: u32, membership: &[u8]) -> Vec<u8> {
    let mut payload = hard_state_payload(4, VOTE, 1);
    payload.extend_from_slice(&field.to_le_bytes());
    payload.extend_from_slice(membership);
    payload
}

fn valid_v3() -> Vec<u8> {
    encode_v3(hs(9, Some(2)), Some(&sample_with_metadata()))
}

/// A version-4 file with an identity and a membership with metadata.
fn valid_v4() -> Vec<u8> {
    let mut record = record(hs(9, Some(2)), Some(sample_with_metadata()));
    record.identity = Some(identity("prod-eu", 2));
    encode(&record).expect("encodes")
}

#[test]
fn version_4_round_trips() {
    let records = [
        record(hs(0, None), None),
        record(hs(42, Some(3)), None),
        record(hs(u64::MAX, Some(u64::MAX)), None),
        record(hs(u64::MAX, None), Some(Membership::new([NodeId(1)]))),
        record(hs(1 << 40, Some(0)), Some(sample_membership())),
        record(hs(7, Some(1)), Some(sample_with_metadata())),
    ];
    let identities = [
        None,
        Some(identity("a", 1)),
        Some(identity("prod-eu", 0)),
        Some(identity("zoné ☃", u64::MAX)),
        Some(identity(&"c".repeat(255), 3)),
    ];
    for record in records {
        for identity in identities.clone() {
            let record = Record {
                identity,
                ..record.clone()
            };
            let bytes = encode(&record).expect("encodes");
            assert_eq!(&bytes[4..6], &VERSION_4.to_le_bytes());
            assert_eq!(decode(&bytes), Ok(record.clone()), "{record:?}");
        }
    }
}

#[test]
fn version_3_files_load_without_an_identity_and_upgrade() {
    for (state, membership) in [
        (hs(0, None), None),
        (hs(42, Some(3)), Some(sample_membership())),
        (hs(u64::MAX, Some(1)), Some(sample_with_metadata())),
    ] {
        let bytes = encode_v3(state, membership.as_ref());
        assert_eq!(&bytes[4..6], &VERSION_3.to_le_bytes());
        let loaded = decode(&bytes);
        assert_eq!(loaded, Ok(record(state, membership.clone())));
        // What it held is what the next save writes, as version 4, and an
        // identity recorded with it changes nothing else.
        let mut upgraded = loaded.unwrap();
        upgraded.identity = Some(identity("a", 1));
        let bytes = encode(&upgraded).unwrap();
        assert_eq!(&bytes[4..6], &VERSION_4.to_le_bytes());
        let reloaded = decode(&bytes).unwrap();
        assert_eq!(
            (reloaded.state, reloaded.membership, reloaded.identity),
            (Some(state), membership, Some(identity("a", 1)))
        );
    }
}

#[test]
fn version_2_files_load_without_metadata() {
    for (state, membership) in [
        (hs(0, None), None),
        (hs(42, Some(3)), Some(sample_membership())),
        (hs(5, None), Some(Membership::new([NodeId(1)]))),
    ] {
        let bytes = encode_v2(state, membership.as_ref());
        assert_eq!(&bytes[4..6], &VERSION_2.to_le_bytes());
        assert_eq!(decode(&bytes), Ok(record(state, membership)));
    }
    // What a version-2 file held is what the next save writes, as version 4.
    let upgraded = decode(&encode_v2(hs(3, Some(1)), Some(&sample_membership()))).unwrap();
    let bytes = encode(&upgraded).unwrap();
    assert_eq!(&bytes[4..6], &VERSION_4.to_le_bytes());
    assert_eq!(decode(&bytes), Ok(upgraded));
}

#[test]
fn a_version_3_membership_in_a_version_2_file_is_refused() {
    // The version-3 bytes with metadata, under version 2: the metadata is
    // left over after the addresses.
    let v3 = valid_v3();
    let payload = &v3[HEADER_LEN..v3.len() - CHECKSUM_LEN];
    assert!(matches!(
        decode(&envelope(VERSION_2, payload)),
        Err(DecodeError::MembershipUnusedBytes { .. })
    ));
}

fn payload_v3(membership: &[u8]) -> Vec<u8> {
    payload_v2(membership.len() as u32, membership)
}

/// A version-4 payload: term 4 voted for 1, node id `node_id`, the raw
/// cluster id with its length, then `membership` with its length.
fn payload_v4(node_id: u64, cluster_id: &[u8], membership: &[u8]) -> Vec<u8> {
    let mut payload = hard_state_payload(4, VOTE, 1);
    payload.extend_from_slice(&node_id.to_le_bytes());
    payload.push(cluster_id.len() as u8);
    payload.extend_from_slice(cluster_id);
    payload.extend_from_slice(&(membership.len() as u32).to_le_bytes());
    payload.extend_from_slice(membership);
    payload
}

#[test]
fn a_record_without_a_hard_state_decodes_as_term_zero_without_a_vote() {
    let membership = Some(sample_membership());
    let bytes = encode(&Record {
        state: None,
        membership: membership.clone(),
        identity: None,
    })
    .expect("encodes");
    assert_eq!(decode(&bytes), Ok(record(HardState::default(), membership)));
}

#[test]
fn version_1_decodes_without_a_membership() {
    for (term, presence, id, expected) in [
        (42, VOTE, 3, hs(42, Some(3))),
        (7, NO_VOTE, 0, hs(7, None)),
        (u64::MAX, VOTE, u64::MAX, hs(u64::MAX, Some(u64::MAX))),
    ] {
        let bytes = envelope(VERSION_1, &hard_state_payload(term, presence, id));
        assert_eq!(bytes.len(), 31);
        assert_eq!(decode(&bytes), Ok(record(expected, None)));
    }
}

#[test]
fn a_membership_too_large_for_the_format_does_not_encode() {
    let address = "a".repeat(MAX_MEMBERSHIP_LEN);
    let huge = Membership::new([NodeId(1)]).with_addresses([(NodeId(1), address)]);
    assert!(matches!(
        encode(&record(hs(1, None), Some(huge))),
        Err(EncodeError::MembershipTooLarge { len }) if len > MAX_MEMBERSHIP_LEN
    ));
}

#[test]
fn the_envelope_checks_name_what_is_wrong() {
    let valid = envelope(VERSION_1, &hard_state_payload(42, VOTE, 3));
    let mut bad_magic = valid.clone();
    bad_magic[..4].copy_from_slice(b"RAFT");
    let mut trailing = valid.clone();
    trailing.push(0);
    let mut bad_checksum = valid.clone();
    *bad_checksum.last_mut().expect("not empty") ^= 0xff;
    let stored = u32::from_le_bytes(valid[27..].try_into().expect("4 bytes"));
    let mut long_length = valid.clone();
    long_length[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    let huge = [valid.clone(), vec![0; MAX_FILE_LEN]].concat();

    let cases = [
        (
            b"RAFT".to_vec(),
            DecodeError::BadMagic {
                found: b"RAFT".to_vec(),
            },
        ),
        (
            bad_magic,
            DecodeError::BadMagic {
                found: b"RAFT".to_vec(),
            },
        ),
        // A prefix of the magic is not bad magic, only short.
        (Vec::new(), DecodeError::ShorterThanHeader { len: 0 }),
        (b"DD".to_vec(), DecodeError::ShorterThanHeader { len: 2 }),
        (
            valid[..7].to_vec(),
            DecodeError::ShorterThanHeader { len: 7 },
        ),
        (
            valid[..20].to_vec(),
            DecodeError::Truncated {
                actual: 20,
                expected: 31,
            },
        ),
        (
            long_length,
            DecodeError::Truncated {
                actual: 31,
                expected: u64::from(u32::MAX) + 14,
            },
        ),
        (trailing, DecodeError::TrailingBytes { count: 1 }),
        (
            bad_checksum,
            DecodeError::ChecksumMismatch {
                stored: stored ^ 0xff00_0000,
                computed: stored,
            },
        ),
        (huge, DecodeError::TooLarge { max: MAX_FILE_LEN }),
    ];
    for (bytes, expected) in cases {
        assert_eq!(decode(&bytes), Err(expected));
    }
}

#[test]
fn unknown_versions_are_reported_as_such_not_as_damage() {
    for version in [0, 6, u16::MAX] {
        assert_eq!(
            decode(&envelope(version, &payload_v2(1, &[0]))),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
    // Version 5 in `hardstate` is the slots' marker, whatever its payload.
    for payload in [&[][..], &payload_v2(1, &[0])] {
        assert_eq!(
            decode(&envelope(VERSION_5, payload)),
            Err(DecodeError::SlotMarker)
        );
    }
}

#[test]
fn the_hard_state_has_one_encoding() {
    for (payload, expected) in [
        (hard_state_payload(4, 2, 1), DecodeError::BadVotePresence(2)),
        (
            hard_state_payload(4, NO_VOTE, 1),
            DecodeError::IdWithoutVote(1),
        ),
    ] {
        assert_eq!(
            decode(&envelope(VERSION_1, &payload)),
            Err(expected.clone())
        );
        let mut v4 = payload.clone();
        v4.extend_from_slice(&[0; 9]);
        v4.extend_from_slice(&1u32.to_le_bytes());
        v4.push(0);
        let mut v2 = payload;
        v2.extend_from_slice(&1u32.to_le_bytes());
        v2.push(0);
        assert_eq!(decode(&envelope(VERSION_2, &v2)), Err(expected.clone()));
        assert_eq!(decode(&envelope(VERSION_3, &v2)), Err(expected.clone()));
        assert_eq!(decode(&envelope(VERSION_4, &v4)), Err(expected));
    }
}

#[test]
fn payload_lengths_are_checked_per_version() {
    let v1 = hard_state_payload(4, VOTE, 1);
    assert_eq!(
        decode(&envelope(VERSION_1, &v1[..9])),
        Err(DecodeError::V1PayloadLength { len: 9 })
    );
    assert_eq!(
        decode(&envelope(VERSION_1, &[v1.clone(), vec![0]].concat())),
        Err(DecodeError::V1PayloadLength { len: 18 })
    );
    for version in [VERSION_2, VERSION_3] {
        assert_eq!(
            decode(&envelope(version, &v1)),
            Err(DecodeError::PayloadTooShort {
                version,
                len: 17,
                min: 21
            })
        );
    }
    // A version-3 payload is too short for version 4's identity fields.
    let v3 = payload_v3(&[0]);
    assert_eq!(
        decode(&envelope(VERSION_4, &v3)),
        Err(DecodeError::PayloadTooShort {
            version: VERSION_4,
            len: 22,
            min: 30
        })
    );
}

#[test]
fn the_membership_field_is_checked_before_it_is_decoded() {
    let none = [0u8];
    let cases = [
        (
            payload_v2(u32::MAX, &none),
            DecodeError::MembershipTooLong { field: u32::MAX },
        ),
        (
            payload_v2(MAX_MEMBERSHIP_LEN as u32 + 1, &none),
            DecodeError::MembershipTooLong {
                field: MAX_MEMBERSHIP_LEN as u32 + 1,
            },
        ),
        (
            payload_v2(2, &none),
            DecodeError::MembershipLength {
                field: 2,
                actual: 1,
            },
        ),
        (
            payload_v2(0, &none),
            DecodeError::MembershipLength {
                field: 0,
                actual: 1,
            },
        ),
        (
            payload_v2(2, &[0, 0]),
            DecodeError::MembershipUnusedBytes { count: 1 },
        ),
        // Some, id 0@t0, voters 2 then 1, no learners, joining or
        // addresses: decodes, but is not how the set encodes.
        (
            payload_v2(9, &[1, 0, 0, 2, 2, 1, 0, 0, 0]),
            DecodeError::NonCanonicalMembership,
        ),
    ];
    for (payload, expected) in cases {
        assert_eq!(decode(&envelope(VERSION_2, &payload)), Err(expected));
    }
    // Version 3 the same, its membership ending with the metadata count.
    assert_eq!(
        decode(&envelope(
            VERSION_3,
            &payload_v2(10, &[1, 0, 0, 2, 2, 1, 0, 0, 0, 0])
        )),
        Err(DecodeError::NonCanonicalMembership)
    );
    assert_eq!(
        decode(&envelope(
            VERSION_3,
            &payload_v2(9, &[1, 0, 0, 1, 1, 0, 0, 0, 0])
        ))
        .map(|r| r.membership),
        Ok(Some(Membership::new([NodeId(1)])))
    );
    // A tag byte that is neither none nor some.
    assert!(matches!(
        decode(&envelope(VERSION_2, &payload_v2(1, &[7]))),
        Err(DecodeError::MembershipUndecodable(_))
    ));
}

#[test]
fn every_truncation_and_bit_flip_is_refused() {
    let files = [
        envelope(VERSION_1, &hard_state_payload(42, VOTE, 3)),
        encode(&record(hs(7, None), None)).expect("encodes"),
        encode_v2(hs(9, Some(2)), Some(&sample_membership())),
        valid_v3(),
        valid_v4(),
    ];
    for valid in files {
        for len in 0..valid.len() {
            assert!(decode(&valid[..len]).is_err(), "length {len}");
        }
        for position in 0..valid.len() {
            for bit in 0..8 {
                let mut damaged = valid.clone();
                damaged[position] ^= 1 << bit;
                assert!(
                    decode(&damaged).is_err(),
                    "byte {position} bit {bit} of {valid:02x?}"
                );
            }
        }
    }
}

#[test]
fn damage_messages_keep_their_wording() {
    // `StorageError::Corrupt` carries these as text; users and tests match
    // on the wording.
    let cases = [
        (DecodeError::TrailingBytes { count: 1 }, "1 trailing bytes"),
        (DecodeError::TooLarge { max: MAX_FILE_LEN }, "larger than"),
        (
            DecodeError::V1PayloadLength { len: 9 },
            "payload is 9 bytes",
        ),
        (DecodeError::BadVotePresence(2), "presence byte"),
        (DecodeError::IdWithoutVote(1), "no vote"),
        (
            DecodeError::ChecksumMismatch {
                stored: 1,
                computed: 2,
            },
            "checksum mismatch",
        ),
    ];
    for (error, expected) in cases {
        assert!(error.to_string().contains(expected), "{error}");
    }
}
