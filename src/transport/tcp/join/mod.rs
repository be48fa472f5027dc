//! Join mode: how a node outside the membership asks to be added, on both
//! ends of the connection.
//!
//! The joiner ([`request_join`]) dials any member with a hello whose purpose
//! is `Join`, sends one request frame (its id, address and metadata) and reads one
//! reply frame, a [`JoinReply`]. The member ([`serve`]) hands the request to
//! its runtime through the channel of
//! [`Transport::take_join_requests`](crate::transport::Transport::take_join_requests),
//! waits for the answer (at most [`TcpConfig::join_timeout`]), writes it
//! back and closes.
//!
//! When the runtime answers "not the Goose" with the Goose's address, the
//! member forwards the request there itself, marked as forwarded, and relays
//! the Goose's answer. A forwarded request is never forwarded again: a
//! request makes at most one hop, and two members that each believe the
//! other is the Goose cannot bounce it between them.
//!
//! With a cluster key, the request and the reply are tagged like message
//! frames, on one sequence: the request is frame 0 (joiner to member), the
//! reply frame 1 (member to joiner), so neither can be reflected back as
//! the other, and a joiner only believes a reply from a key holder.
//!
//! A join connection carries nothing else. Any other frame, a second frame,
//! bytes that fail the tag or do not decode, close it, counted in
//! [`TransportStats::join_violations`](super::TransportStats::join_violations);
//! nothing on it ever reaches the channel of protocol messages. Requests
//! are limited in number at once ([`TcpConfig::max_join_connections`]) and
//! in rate ([`TcpConfig::join_rate_burst`]); the excess is refused as busy.
//!
//! The code follows the connection: `client` is the joiner's side (and a
//! member's forward to the Goose), `gate` decides which requests are
//! answered at all (one well-formed, authenticated request from the hello's
//! sender, within the number and rate limits), and `server` answers them.

mod client;
mod gate;
mod server;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::TcpConfig;
use super::auth::TAG_LEN;
use crate::core::{MAX_METADATA_LEN, NodeId};

pub use client::{JoinError, JoinParams, request_join};
pub(crate) use gate::JoinGate;
pub(crate) use server::serve;

/// Opens every request frame, so that a protocol message (or anything but a
/// request) on a join connection never decodes as one.
const REQUEST_MAGIC: [u8; 4] = *b"JOIN";

/// The longest joiner address a request carries, in bytes: a DNS name is at
/// most 253, and the request must fit a handshake-sized frame.
pub const MAX_JOIN_ADDR_LEN: usize = 512;

/// The largest request frame a member reads: the magic, the longest id
/// (10 bytes) and address (with its 2-byte length), the largest metadata,
/// the forwarded flag and a tag, rounded up. Larger than a handshake frame,
/// since the metadata alone may take 1 KiB.
const MAX_REQUEST_FRAME_LEN: usize = 2048;
const _: () = assert!(
    REQUEST_MAGIC.len() + 10 + 2 + MAX_JOIN_ADDR_LEN + MAX_METADATA_LEN + 1 + TAG_LEN
        <= MAX_REQUEST_FRAME_LEN
);

/// The request, as it travels. The metadata is a plain map here: the
/// member checks it and refuses invalid metadata with a reason, rather than
/// closing the connection as on a frame that does not decode.
#[derive(Serialize, Deserialize)]
struct RequestFrame<'a> {
    magic: [u8; 4],
    id: NodeId,
    addr: &'a str,
    /// Set by a member that forwards a request to the Goose: the receiver
    /// answers it itself, whatever it is.
    forwarded: bool,
    #[serde(borrow)]
    metadata: BTreeMap<&'a str, &'a str>,
}

/// A request that arrived; its metadata not checked yet.
#[derive(Debug)]
struct Request {
    id: NodeId,
    addr: String,
    forwarded: bool,
    metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::super::auth::ClusterKey;
    use super::super::frame::{LEN_PREFIX_LEN, MAX_FRAME_LEN};
    use super::super::handshake::MAX_HANDSHAKE_FRAME_LEN;
    use super::super::sealed;
    use super::*;
    use crate::core::{MAX_MEMBERSHIP_METADATA_LEN, Membership, Message, NodeMetadata, Term};
    use crate::transport::JoinReply;

    #[test]
    fn the_longest_request_fits_its_frame_limit() {
        let addr = "x".repeat(MAX_JOIN_ADDR_LEN);
        let metadata = largest_metadata();
        assert!(metadata.encoded_len() > MAX_METADATA_LEN - 8);
        let request = RequestFrame {
            magic: REQUEST_MAGIC,
            id: NodeId(u64::MAX),
            addr: &addr,
            forwarded: true,
            metadata: metadata.iter().collect(),
        };
        let key = ClusterKey::new(b"k").expect("HMAC takes any key length");
        let mut auth = key.frames([0; 16]);
        let mut out = Vec::new();
        sealed::encode(&request, &mut out, Some(&mut auth)).expect("fits");
        assert!(
            out.len() - LEN_PREFIX_LEN <= MAX_REQUEST_FRAME_LEN,
            "{}",
            out.len()
        );
        // A request without metadata still fits a handshake-sized frame.
        let request = RequestFrame {
            metadata: BTreeMap::new(),
            ..request
        };
        out.clear();
        let mut auth = key.frames([0; 16]);
        sealed::encode(&request, &mut out, Some(&mut auth)).expect("fits");
        assert!(out.len() <= MAX_HANDSHAKE_FRAME_LEN, "{}", out.len());
    }

    /// Metadata within a few bytes of [`MAX_METADATA_LEN`]: four values of
    /// 250 bytes and one more entry.
    fn largest_metadata() -> NodeMetadata {
        let value = "v".repeat(250);
        ["a", "b", "c", "d"]
            .iter()
            .fold(NodeMetadata::new(), |meta, key| {
                meta.with(*key, &value).expect("within the bounds")
            })
            .with("e", "")
            .expect("within the bounds")
    }

    /// The largest membership metadata there may be
    /// ([`MAX_MEMBERSHIP_METADATA_LEN`]) leaves room in one frame (a
    /// heartbeat, a join reply) for hundreds of members at the longest DNS
    /// names.
    #[test]
    fn the_largest_membership_metadata_leaves_room_in_a_frame() {
        let full = largest_metadata();
        let with_metadata = (MAX_MEMBERSHIP_METADATA_LEN / full.encoded_len()) as u64;
        let members = 160;
        let address = format!("{}:65535", "h".repeat(253));
        let mut membership = Membership::new((1..=members).map(NodeId))
            .with_addresses((1..=members).map(|n| (NodeId(u64::MAX - n), address.clone())));
        for n in 1..=with_metadata {
            membership = membership.with_metadata(NodeId(u64::MAX - n), full.clone());
        }
        assert_eq!(membership.check_metadata_len(), Ok(()));
        assert!(membership.metadata_len() > MAX_MEMBERSHIP_METADATA_LEN - full.encoded_len());
        let key = ClusterKey::new(b"k").expect("HMAC takes any key length");
        let heartbeat = Message::Heartbeat {
            term: Term(u64::MAX),
            sent_tick: u64::MAX,
            membership: Some(Box::new(membership.clone())),
        };
        let mut out = Vec::new();
        sealed::encode(&heartbeat, &mut out, Some(&mut key.frames([0; 16]))).expect("fits");
        let mut reply = Vec::new();
        let accepted = JoinReply::Accepted(membership);
        sealed::encode(&accepted, &mut reply, Some(&mut key.frames([0; 16]))).expect("fits");
        assert!(out.len().max(reply.len()) <= MAX_FRAME_LEN, "{}", out.len());
    }
}
