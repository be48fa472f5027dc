//! Version 4's identity fields: each way they can be wrong under an intact
//! checksum is refused by name, and every identity has one encoding.

use super::*;

/// `Option<Membership>::None`, the shortest membership.
const NO_MEMBERSHIP: &[u8] = &[0];

#[test]
fn no_identity_is_node_id_zero_and_an_empty_cluster_id() {
    assert_eq!(
        decode(&envelope(VERSION_4, &payload_v4(0, b"", NO_MEMBERSHIP))),
        Ok(record(hs(4, Some(1)), None))
    );
    // A node id without a cluster id would be a second encoding of "none".
    assert_eq!(
        decode(&envelope(VERSION_4, &payload_v4(3, b"", NO_MEMBERSHIP))),
        Err(DecodeError::NodeIdWithoutIdentity(3))
    );
}

#[test]
fn the_cluster_id_must_be_utf8() {
    let bytes = envelope(VERSION_4, &payload_v4(1, b"a\xffb", NO_MEMBERSHIP));
    match decode(&bytes) {
        Err(DecodeError::ClusterIdNotUtf8(error)) => assert_eq!(error.valid_up_to(), 1),
        other => panic!("expected ClusterIdNotUtf8, got {other:?}"),
    }
}

#[test]
fn the_cluster_id_length_must_leave_room_for_the_membership_length() {
    // After the length byte: the cluster id "ab", the membership length
    // field and the membership, 7 bytes, of which the cluster id may take
    // all but the field's 4.
    let valid = payload_v4(1, b"ab", NO_MEMBERSHIP);
    let length_at = HARD_STATE_LEN + 8;
    for (field, expected) in [
        // 3 takes the first byte of the membership length field, which
        // then reads 0 from the rest and leaves an empty membership.
        (
            3,
            DecodeError::MembershipUndecodable(postcard::Error::DeserializeUnexpectedEnd),
        ),
        (4, DecodeError::ClusterIdLength { field: 4, room: 3 }),
        (6, DecodeError::ClusterIdLength { field: 6, room: 3 }),
        (
            255,
            DecodeError::ClusterIdLength {
                field: 255,
                room: 3,
            },
        ),
    ] {
        let mut payload = valid.clone();
        payload[length_at] = field;
        assert_eq!(
            decode(&envelope(VERSION_4, &payload)),
            Err(expected),
            "length {field}"
        );
    }
}

#[test]
fn the_longest_cluster_id_fits_and_the_file_bound_counts_it() {
    let longest = "x".repeat(255);
    let mut record = record(hs(1, None), None);
    record.identity = Some(identity(&longest, 1));
    let bytes = encode(&record).expect("encodes");
    assert_eq!(bytes[35], 255);
    assert_eq!(bytes.len(), 10 + 30 + 255 + 1 + 4);
    assert_eq!(decode(&bytes), Ok(record));
    assert_eq!(
        MAX_FILE_LEN,
        10 + 17 + 9 + 255 + 4 + MAX_MEMBERSHIP_LEN + 4,
        "header, hard state, identity, membership, checksum"
    );
}

#[test]
fn identity_damage_messages_name_the_field() {
    let not_utf8 = vec![0xff];
    let utf8 = std::str::from_utf8(&not_utf8).unwrap_err();
    let cases = [
        (
            DecodeError::NodeIdWithoutIdentity(3),
            "cluster id length is 0 (no identity recorded) but the node id is 3",
        ),
        (
            DecodeError::ClusterIdLength { field: 9, room: 3 },
            "cluster id length field says 9 bytes, but the payload has room for 3",
        ),
        (
            DecodeError::ClusterIdNotUtf8(utf8),
            "cluster id is not UTF-8: invalid utf-8 sequence of 1 bytes from index 0",
        ),
        (
            DecodeError::PayloadTooShort {
                version: 4,
                len: 22,
                min: 30,
            },
            "payload is 22 bytes, shorter than the 30 bytes of format version 4's fixed fields",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn every_bit_flip_in_the_identity_changes_the_record_or_is_refused() {
    // Under an intact checksum (recomputed), a flip in the identity fields
    // either names another identity, and the caller refuses it, or is
    // damage: never the same record from other bytes.
    let valid = payload_v4(7, b"prod", NO_MEMBERSHIP);
    let original = decode(&envelope(VERSION_4, &valid)).expect("valid");
    for position in HARD_STATE_LEN..HARD_STATE_LEN + 9 + 4 {
        for bit in 0..8 {
            let mut payload = valid.clone();
            payload[position] ^= 1 << bit;
            if let Ok(record) = decode(&envelope(VERSION_4, &payload)) {
                assert_ne!(record, original, "byte {position} bit {bit}");
            }
        }
    }
}
