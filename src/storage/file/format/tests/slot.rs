//! Version-5 slots: the documented bytes, bytes left over from a longer
//! state ignored, every bit flip, truncation and torn overwrite refused, and
//! each rule only a slot has (its version, its ceiling) named.

use super::*;
use crate::storage::file::format::slot::{self, Slot};

fn sample_slot(generation: u64, ceiling: u64, state: HardState) -> Slot {
    Slot {
        generation,
        ceiling: Term(ceiling),
        record: Record {
            state: Some(state),
            membership: Some(sample_with_metadata()),
            identity: Some(identity("prod-eu", 300)),
        },
    }
}

/// Generation, ceiling, then exactly the version-4 payload.
fn slot_payload(generation: u64, ceiling: u64, record: &Record) -> Vec<u8> {
    let mut payload = generation.to_le_bytes().to_vec();
    payload.extend_from_slice(&ceiling.to_le_bytes());
    payload.extend_from_slice(&encode(record).expect("encodes")[10..][..]);
    payload.truncate(payload.len() - 4);
    payload
}

#[test]
fn a_slot_is_generation_and_ceiling_before_a_version_4_payload() {
    let slot = sample_slot(7, 1033, hs(9, Some(2)));
    let bytes = slot::encode(&slot).expect("encodes");
    let expected = envelope(VERSION_5, &slot_payload(7, 1033, &slot.record));
    assert_eq!(bytes, expected);
    assert_eq!(slot::decode(&bytes), Ok(slot));
}

#[test]
fn bytes_after_the_checksum_are_left_over_and_ignored() {
    let slot = sample_slot(3, 2000, hs(1000, None));
    let bytes = slot::encode(&slot).expect("encodes");
    let longer = slot::encode(&sample_slot(2, 2000, hs(999, Some(1))))
        .map(|mut old| {
            old.extend_from_slice(&[0xee; 300]);
            old
        })
        .expect("encodes");
    // A shorter state written over a longer one.
    let mut file = longer.clone();
    file[..bytes.len()].copy_from_slice(&bytes);
    assert_eq!(slot::decode(&file), Ok(slot));
}

#[test]
fn every_flipped_bit_and_every_truncation_of_a_slot_is_refused() {
    let valid = slot::encode(&sample_slot(5, 1100, hs(77, Some(3)))).expect("encodes");
    for position in 0..valid.len() {
        for bit in 0..8 {
            let mut damaged = valid.clone();
            damaged[position] ^= 1 << bit;
            assert!(
                slot::decode(&damaged).is_err(),
                "byte {position} bit {bit} decoded"
            );
        }
    }
    for len in 0..valid.len() {
        assert!(slot::decode(&valid[..len]).is_err(), "length {len} decoded");
    }
}

/// A write in place torn anywhere (the new state's first bytes over the old
/// state) is refused, whichever of the two is longer, unless the bytes that
/// landed were the old ones anyway: then it is the old state, whole.
#[test]
fn a_torn_overwrite_is_refused() {
    let small = slot::encode(&Slot {
        generation: 8,
        ceiling: Term(1100),
        record: record(hs(78, None), None),
    })
    .expect("encodes");
    let big = slot::encode(&sample_slot(7, 1100, hs(77, Some(3)))).expect("encodes");
    for (old, new) in [(&big, &small), (&small, &big)] {
        let old_slot = slot::decode(old).expect("valid");
        for written in 1..new.len() {
            let mut file = old.clone();
            file.resize(file.len().max(written), 0);
            file[..written].copy_from_slice(&new[..written]);
            match slot::decode(&file) {
                Err(_) => {}
                Ok(decoded) => assert!(
                    decoded == old_slot && new[..written] == old[..written],
                    "{written} of {} bytes decoded as {decoded:?}",
                    new.len()
                ),
            }
        }
        let mut whole = old.clone();
        whole.resize(whole.len().max(new.len()), 0);
        whole[..new.len()].copy_from_slice(new);
        assert_eq!(slot::decode(&whole), slot::decode(new));
    }
}

#[test]
fn slot_only_rules_are_named() {
    let record = record(hs(9, Some(2)), None);
    let cases = [
        (
            envelope(VERSION_4, &slot_payload(1, 1033, &record)[16..]),
            DecodeError::NotASlot(4),
        ),
        (
            envelope(6, &slot_payload(1, 1033, &record)),
            DecodeError::UnsupportedVersion(6),
        ),
        (
            envelope(VERSION_5, &slot_payload(1, 8, &record)),
            DecodeError::TermAboveCeiling {
                term: Term(9),
                ceiling: Term(8),
            },
        ),
        (
            envelope(VERSION_5, &[0; 15]),
            DecodeError::PayloadTooShort {
                version: VERSION_5,
                len: 15,
                min: 16,
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(slot::decode(&bytes), Err(expected));
    }
    // A ceiling equal to the term is valid.
    assert!(slot::decode(&envelope(VERSION_5, &slot_payload(1, 9, &record))).is_ok());
}

#[test]
fn the_marker_is_an_empty_version_5_envelope() {
    assert_eq!(slot::marker(), envelope(VERSION_5, &[]));
    assert_eq!(decode(&slot::marker()), Err(DecodeError::SlotMarker));
}
