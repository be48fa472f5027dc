//! Members' metadata in versions 3 and 4: the raw encoding, and each bound
//! of `NodeMetadata` enforced on load.

use super::*;
use crate::core::{MAX_MEMBERSHIP_METADATA_LEN, MAX_METADATA_KEY_LEN};

/// Postcard of `Some` membership `1 voter, id 0@t0`, then the metadata
/// entries given as raw (node, key, value) strings, unchecked.
fn raw_v3_membership(metadata: &[(u64, &[(&str, &str)])]) -> Vec<u8> {
    // Some, id term 0 version 0, voters [1], no learners, no joining, no
    // addresses.
    let mut bytes = vec![1, 0, 0, 1, 1, 0, 0, 0];
    bytes.push(metadata.len() as u8);
    for (node, entries) in metadata {
        bytes.push(*node as u8);
        bytes.push(entries.len() as u8);
        for (key, value) in *entries {
            for text in [key, value] {
                bytes.push(text.len() as u8);
                bytes.extend_from_slice(text.as_bytes());
            }
        }
    }
    bytes
}

#[test]
fn the_raw_encoding_is_what_a_save_writes() {
    let membership = Membership::new([NodeId(1)]).with_metadata(NodeId(1), meta(&[("k", "v")]));
    let mut with_identity = record(hs(4, Some(1)), Some(membership));
    let without = encode(&with_identity).unwrap();
    with_identity.identity = Some(identity("ab", 258));
    let with = encode(&with_identity).unwrap();
    let raw = raw_v3_membership(&[(1, &[("k", "v")])]);
    assert_eq!(envelope(VERSION_4, &payload_v4(0, b"", &raw)), without);
    assert_eq!(envelope(VERSION_4, &payload_v4(258, b"ab", &raw)), with);
    // Node id 258 at offset 27, the length 2 at 35, the cluster id at 36.
    assert_eq!(&with[27..38], &[2, 1, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']);
}

#[test]
fn invalid_metadata_is_refused_with_the_bound_it_breaks() {
    let long_key = "k".repeat(MAX_METADATA_KEY_LEN + 1);
    let cases: [(&[(&str, &str)], MetadataError); 3] = [
        (
            &[("Bad", "v")],
            MetadataError::KeyStart { key: "Bad".into() },
        ),
        (
            &[("k", "a\nb")],
            MetadataError::ValueControlCharacter {
                key: "k".into(),
                character: '\n',
            },
        ),
        (
            &[(&long_key, "v")],
            MetadataError::KeyTooLong {
                key: long_key.clone(),
                len: MAX_METADATA_KEY_LEN + 1,
                max: MAX_METADATA_KEY_LEN,
            },
        ),
    ];
    for (entries, error) in cases {
        let raw = raw_v3_membership(&[(1, entries)]);
        assert_eq!(
            decode(&envelope(VERSION_3, &payload_v3(&raw))),
            Err(DecodeError::InvalidMetadata(error))
        );
    }
}

#[test]
fn all_members_metadata_together_is_bounded_on_load() {
    // 17 nodes of 1017 bytes each: over the 16 KiB bound. Built by hand,
    // since no membership holding it can be made.
    let value = "v".repeat(250);
    let full: Vec<(&str, &str)> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| (*k, value.as_str()))
        .collect();
    let nodes: Vec<(u64, &[(&str, &str)])> = (1..=17).map(|n| (n, full.as_slice())).collect();
    let raw = raw_v3_membership(&nodes);
    // The 250-byte values' lengths are two-byte varints, which the one-byte
    // helper cannot write: patch them in.
    let raw = fix_two_byte_lengths(raw, 250);
    assert_eq!(
        decode(&envelope(VERSION_3, &payload_v3(&raw))),
        Err(DecodeError::InvalidMetadata(
            MetadataError::MembershipTooLarge {
                len: 17 * 1017,
                max: MAX_MEMBERSHIP_METADATA_LEN,
            }
        ))
    );
}

/// Replaces each one-byte length `len as u8` written before a run of `len`
/// bytes `v` with its two-byte varint.
fn fix_two_byte_lengths(raw: Vec<u8>, len: usize) -> Vec<u8> {
    let run = vec![b'v'; len];
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == len as u8 && raw[i + 1..].starts_with(&run) {
            out.extend_from_slice(&[(len as u8 & 0x7f) | 0x80, (len >> 7) as u8]);
            out.extend_from_slice(&run);
            i += 1 + len;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn empty_metadata_entries_are_not_canonical() {
    let raw = raw_v3_membership(&[(1, &[])]);
    assert_eq!(
        decode(&envelope(VERSION_3, &payload_v3(&raw))),
        Err(DecodeError::NonCanonicalMembership)
    );
}

#[test]
fn the_largest_membership_metadata_is_far_below_the_file_bound() {
    let value = "v".repeat(250);
    let full = meta(&[("a", &value), ("b", &value), ("c", &value), ("d", &value)]);
    let nodes = (MAX_MEMBERSHIP_METADATA_LEN / full.encoded_len()) as u64;
    let mut membership = Membership::new((1..=nodes).map(NodeId))
        .with_addresses((1..=nodes).map(|n| (NodeId(n), format!("{}:7000", "h".repeat(253)))));
    for n in 1..=nodes {
        membership = membership.with_metadata(NodeId(n), full.clone());
    }
    assert_eq!(membership.check_metadata_len(), Ok(()));
    let bytes = encode(&record(hs(1, None), Some(membership.clone()))).expect("encodes");
    assert!(bytes.len() < MAX_MEMBERSHIP_LEN / 16, "{}", bytes.len());
    assert_eq!(decode(&bytes), Ok(record(hs(1, None), Some(membership))));
}
