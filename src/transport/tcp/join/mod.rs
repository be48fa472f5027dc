//! Join mode: how a node outside the membership asks to be added, on both
//! ends of the connection.
//!
//! The joiner ([`request_join`]) dials any member with a hello whose purpose
//! is `Join`, sends one request frame (its id and address) and reads one
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

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::TcpConfig;
use crate::core::NodeId;

pub use client::{JoinError, JoinParams, request_join};
pub(crate) use gate::JoinGate;
pub(crate) use server::serve;

/// Opens every request frame, so that a protocol message (or anything but a
/// request) on a join connection never decodes as one.
const REQUEST_MAGIC: [u8; 4] = *b"JOIN";

/// The longest joiner address a request carries, in bytes: a DNS name is at
/// most 253, and the request must fit a handshake-sized frame.
pub const MAX_JOIN_ADDR_LEN: usize = 512;

/// The request, as it travels.
#[derive(Serialize, Deserialize)]
struct RequestFrame<'a> {
    magic: [u8; 4],
    id: NodeId,
    addr: &'a str,
    /// Set by a member that forwards a request to the Goose: the receiver
    /// answers it itself, whatever it is.
    forwarded: bool,
}

/// A request that arrived.
#[derive(Debug)]
struct Request {
    id: NodeId,
    addr: String,
    forwarded: bool,
}

#[cfg(test)]
mod tests {
    use super::super::auth::ClusterKey;
    use super::super::handshake::MAX_HANDSHAKE_FRAME_LEN;
    use super::super::sealed;
    use super::*;

    #[test]
    fn the_longest_request_fits_its_frame_limit() {
        let addr = "x".repeat(MAX_JOIN_ADDR_LEN);
        let request = RequestFrame {
            magic: REQUEST_MAGIC,
            id: NodeId(u64::MAX),
            addr: &addr,
            forwarded: true,
        };
        let key = ClusterKey::new(b"k").expect("HMAC takes any key length");
        let mut auth = key.frames([0; 16]);
        let mut out = Vec::new();
        sealed::encode(&request, &mut out, Some(&mut auth)).expect("fits");
        assert!(out.len() <= MAX_HANDSHAKE_FRAME_LEN, "{}", out.len());
    }
}
