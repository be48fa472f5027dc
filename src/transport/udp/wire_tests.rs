//! Rule tests of the datagram format, with exact outputs.

use super::*;
use crate::core::{Membership, MembershipId, Term};

const CLUSTER: &str = "wire-test";
const KEY: &[u8] = b"the wire test's key";

fn codec(local: u64, key: Option<&[u8]>) -> Codec {
    Codec::new(NodeId(local), CLUSTER, key).expect("HMAC takes any key")
}

fn header(from: u64, to: u64) -> Header {
    Header {
        from: NodeId(from),
        to: NodeId(to),
        epoch: 0x0102_0304_0506_0708,
        counter: 9,
    }
}

fn pre_vote() -> Message {
    Message::PreVote {
        term: Term(7),
        membership: MembershipId {
            term: Term(0),
            version: 0,
        },
    }
}

fn encoded(sender: &Codec, header: &Header, msg: &Message) -> Vec<u8> {
    let mut buf = Vec::new();
    sender.encode(header, msg, &mut buf).expect("encodes");
    buf
}

#[test]
fn the_reply_minimum_is_the_longest_reply_encoding() {
    let max_id = MembershipId {
        term: Term(u64::MAX),
        version: u64::MAX,
    };
    let replies = [
        Message::PreVoteResponse {
            term: Term(u64::MAX),
            granted: true,
        },
        Message::VoteResponse {
            term: Term(u64::MAX),
            granted: true,
        },
        Message::HeartbeatAck {
            term: Term(u64::MAX),
            sent_tick: u64::MAX,
            membership: max_id,
        },
    ];
    let lens: Vec<usize> = replies
        .iter()
        .map(|m| postcard::to_allocvec(m).expect("encodes").len())
        .collect();
    assert_eq!(lens, vec![12, 12, 41]);
    assert_eq!(MIN_MESSAGE_LEN, 41);
    // So every reply datagram has exactly the minimum length.
    for reply in &replies {
        for key in [None, Some(KEY)] {
            let sender = codec(1, key);
            let len = encoded(&sender, &header(1, 2), reply).len();
            assert_eq!(len, sender.min_len());
        }
    }
}

#[test]
fn a_datagram_has_the_documented_layout() {
    let bytes = encoded(&codec(1, None), &header(0x11, 0x22), &pre_vote());
    assert_eq!(bytes.len(), HEADER_LEN + MIN_MESSAGE_LEN);
    assert_eq!(&bytes[..5], b"DDG\x01\x00");
    assert_eq!(&bytes[5..13], &cluster_tag(CLUSTER));
    assert_eq!(&bytes[13..21], &0x11u64.to_be_bytes());
    assert_eq!(&bytes[21..29], &0x22u64.to_be_bytes());
    assert_eq!(&bytes[29..37], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&bytes[37..45], &9u64.to_be_bytes());
    // PreVote is variant 0: term 7, membership term 0, version 0; zeros after.
    assert_eq!(&bytes[45..49], &[0, 7, 0, 0]);
    assert!(bytes[49..].iter().all(|&b| b == 0));

    let keyed = encoded(&codec(1, Some(KEY)), &header(0x11, 0x22), &pre_vote());
    assert_eq!(keyed.len(), HEADER_LEN + MIN_MESSAGE_LEN + TAG_LEN);
    assert_eq!(keyed[4], FLAG_KEYED);
}

#[test]
fn datagrams_round_trip_with_and_without_a_key() {
    for key in [None, Some(KEY)] {
        let msg = Message::Heartbeat {
            term: Term(u64::MAX),
            sent_tick: 123_456,
            membership: None,
        };
        let bytes = encoded(&codec(1, key), &header(1, 2), &msg);
        assert_eq!(codec(2, key).decode(&bytes), Ok((header(1, 2), msg)));
    }
}

/// Decodes `bytes` at node 2 of the test cluster.
fn decode_at_2(key: Option<&[u8]>, bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    codec(2, key).decode(bytes)
}

#[test]
fn each_broken_field_gives_its_own_error() {
    let good = encoded(&codec(1, None), &header(1, 2), &pre_vote());
    let with = |at: usize, byte: u8| {
        let mut bytes = good.clone();
        bytes[at] = byte;
        decode_at_2(None, &bytes)
    };
    assert_eq!(
        decode_at_2(None, &good[..44]),
        Err(DecodeError::TooShort { len: 44, min: 86 })
    );
    assert_eq!(
        decode_at_2(None, &good[..85]),
        Err(DecodeError::TooShort { len: 85, min: 86 })
    );
    assert_eq!(with(0, b'X'), Err(DecodeError::BadMagic));
    assert_eq!(with(3, 2), Err(DecodeError::BadVersion(2)));
    assert_eq!(with(4, 0x82), Err(DecodeError::BadFlags(0x82)));
    assert_eq!(with(5, good[5] ^ 1), Err(DecodeError::OtherCluster));
    assert_eq!(
        with(4, FLAG_KEYED),
        Err(DecodeError::KeyMismatch {
            datagram_keyed: true
        })
    );
    assert_eq!(with(28, 3), Err(DecodeError::NotForMe(NodeId(3))));
    assert_eq!(with(20, 2), Err(DecodeError::FromSelf));
    assert_eq!(
        with(45, 200).map_err(|e| e.to_string()),
        Err("message does not decode: Serde Deserialization Error".to_owned())
    );
    assert_eq!(with(85, 1), Err(DecodeError::BadPadding));
    let mut long = good.clone();
    long.resize(MAX_DATAGRAM_LEN, 0);
    assert_eq!(decode_at_2(None, &long).map(|(h, _)| h), Ok(header(1, 2)));
    long.push(0);
    assert_eq!(
        decode_at_2(None, &long),
        Err(DecodeError::TooLong { len: 1201 })
    );
    let other = Codec::new(NodeId(1), "another-cluster", None).expect("no key");
    assert_eq!(
        decode_at_2(None, &encoded(&other, &header(1, 2), &pre_vote())),
        Err(DecodeError::OtherCluster)
    );
}

#[test]
fn the_tag_covers_every_byte_and_the_key_and_cluster_id() {
    let sender = codec(1, Some(KEY));
    let good = encoded(&sender, &header(1, 2), &pre_vote());
    assert_eq!(
        decode_at_2(Some(KEY), &good),
        Ok((header(1, 2), pre_vote()))
    );
    // Every byte after the fixed checks (ids, epoch, counter, message,
    // padding, tag) is covered.
    for at in 13..good.len() {
        let mut bytes = good.clone();
        bytes[at] ^= 0x40;
        assert_eq!(
            decode_at_2(Some(KEY), &bytes),
            Err(DecodeError::BadTag),
            "byte {at}"
        );
    }
    assert_eq!(
        decode_at_2(Some(b"another key"), &good),
        Err(DecodeError::BadTag)
    );
    assert_eq!(
        decode_at_2(None, &good),
        Err(DecodeError::KeyMismatch {
            datagram_keyed: true
        })
    );
    assert_eq!(
        decode_at_2(
            Some(KEY),
            &encoded(&codec(1, None), &header(1, 2), &pre_vote())
        ),
        Err(DecodeError::KeyMismatch {
            datagram_keyed: false
        })
    );
    // Extended: the tag is then read from the wrong place.
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(decode_at_2(Some(KEY), &longer), Err(DecodeError::BadTag));
}

#[test]
fn messages_that_carry_a_membership_only_travel_over_tcp() {
    let membership = Box::new(Membership::new([NodeId(1), NodeId(2)]));
    let heartbeat = Message::Heartbeat {
        term: Term(3),
        sent_tick: 1,
        membership: Some(membership.clone()),
    };
    let newer = Message::NewerMembership {
        term: Term(3),
        membership,
    };
    assert!(tcp_only(&heartbeat) && tcp_only(&newer));
    assert!(!tcp_only(&pre_vote()));
    assert_eq!(
        decode_at_2(None, &encoded(&codec(1, None), &header(1, 2), &heartbeat)),
        Err(DecodeError::TcpOnly("heartbeat"))
    );
    assert_eq!(
        decode_at_2(None, &encoded(&codec(1, None), &header(1, 2), &newer)),
        Err(DecodeError::TcpOnly("newer_membership"))
    );
}

#[test]
fn a_message_too_large_for_a_datagram_is_refused_at_encoding() {
    let voters = (0..200).map(NodeId);
    let addresses = (0..200).map(|i| (NodeId(i), format!("node-{i}.example.internal:7000")));
    let membership = Box::new(Membership::new(voters).with_addresses(addresses));
    let msg = Message::NewerMembership {
        term: Term(3),
        membership,
    };
    let mut buf = Vec::new();
    let refused = codec(1, None).encode(&header(1, 2), &msg, &mut buf);
    assert!(
        matches!(refused, Err(EncodeError::Oversized { len }) if len > MAX_DATAGRAM_LEN),
        "{refused:?}"
    );
}
