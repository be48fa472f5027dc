//! The codec: the size limit at its edge and the largest memberships a
//! frame carries; `props` fuzzes it.

use super::*;
use crate::core::{Membership, Message, NodeId, Term};

// proptest comes with the `sim` feature (not as a dev-dependency, so that
// building an example never compiles it).
#[cfg(feature = "sim")]
mod props;

#[test]
fn frame_at_the_limit_is_accepted_and_one_byte_more_refused() {
    let mut decoder = FrameDecoder::new();
    let mut bytes = (MAX_FRAME_LEN as u32).to_be_bytes().to_vec();
    bytes.resize(LEN_PREFIX_LEN + MAX_FRAME_LEN, 7);
    let mut input = &bytes[..];
    assert!(decoder.decode(&mut input).expect("at the limit"));
    assert_eq!(decoder.frame().len(), MAX_FRAME_LEN);
    assert_eq!(decoder.buffer_capacity(), MAX_FRAME_LEN);

    let over = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
    let mut input = &over[..];
    assert!(matches!(
        FrameDecoder::new().decode(&mut input),
        Err(FrameError::Oversized { .. })
    ));

    let mut buf = Vec::new();
    let huge = vec![0u8; MAX_FRAME_LEN];
    assert!(matches!(
        encode_frame(&huge, &mut buf),
        Err(FrameError::Oversized { .. })
    ));
    assert!(buf.is_empty(), "a refused frame leaves nothing behind");
}

/// A membership of `n` voters, each with an address of `addr_len` bytes.
fn big_membership(n: u64, addr_len: usize) -> Membership {
    Membership::new((1..=n).map(NodeId)).with_addresses((1..=n).map(|id| {
        let port = format!(":{}", 7000 + id % 1000);
        let host = format!("node-{id}.").repeat(addr_len);
        (
            NodeId(id),
            format!("{}{port}", &host[..addr_len - port.len()]),
        )
    }))
}

fn hb_with(membership: Membership) -> Message {
    Message::Heartbeat {
        term: Term(1),
        sent_tick: 0,
        membership: Some(Box::new(membership)),
    }
}

/// The frame limit leaves room for large clusters; the TCP tests send these
/// same memberships over a real connection.
#[test]
fn memberships_of_hundreds_of_members_fit_in_a_frame_and_thousands_do_not() {
    // 500 members with 40-byte addresses, and 200 with the longest DNS
    // names (253 bytes and a port).
    for membership in [big_membership(500, 40), big_membership(200, 259)] {
        let mut buf = Vec::new();
        encode_frame(&hb_with(membership), &mut buf).expect("fits in a frame");
    }
    let mut buf = Vec::new();
    assert!(matches!(
        encode_frame(&hb_with(big_membership(2_000, 60)), &mut buf),
        Err(FrameError::Oversized { .. })
    ));
}
