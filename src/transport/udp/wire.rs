//! The datagram format, and nothing else: encoding and decoding, no I/O.
//!
//! ```text
//! offset  len  field
//!      0    3  magic "DDG"
//!      3    1  version (1)
//!      4    1  flags: bit 0 set when the datagram carries a tag (keyed
//!              cluster); other bits zero
//!      5    8  cluster tag: SHA-256(cluster id), first 8 bytes
//!     13    8  sender NodeId            (all integers big-endian)
//!     21    8  receiver NodeId
//!     29    8  sender's boot epoch
//!     37    8  sender's datagram counter
//!     45    n  postcard-encoded Message, then zeros up to MIN_MESSAGE_LEN
//!   45+n   32  keyed clusters only: HMAC-SHA256 over the domain label,
//!              the full cluster id (u8 length first) and bytes 0..45+n
//! ```
//!
//! The decoder checks the cheap fixed fields first, then the tag (before
//! it decodes a single byte of the message), then the ids, then the
//! message and its padding. Padding must be zeros, any number of them, as
//! long as the message region is at least [`MIN_MESSAGE_LEN`]: the region's
//! minimum is the no-amplification rule (see the module docs of `udp`), and
//! requiring zeros leaves no unauthenticated room for smuggled bytes. A
//! message that carries a membership is refused too: senders put those on
//! TCP, so one arriving as a datagram is forged or broken.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::core::{Message, NodeId};

type HmacSha256 = Hmac<Sha256>;

/// The largest datagram sent or accepted, in bytes.
///
/// IPv6 guarantees that a 1,280-byte packet crosses any link without
/// fragmentation; minus 40 bytes of IPv6 header and 8 of UDP header that
/// leaves 1,232, and 1,200 keeps a margin for tunnels and encapsulation.
/// A fragmented datagram is lost whole when any fragment is, which is the
/// very loss this transport exists to avoid. Messages that do not fit go
/// over TCP.
pub const MAX_DATAGRAM_LEN: usize = 1200;

/// "DDG": tells a duckduckgoose datagram from stray traffic.
const MAGIC: [u8; 3] = *b"DDG";
/// The format's version; a datagram of another is refused.
const VERSION: u8 = 1;
/// Flags bit: the datagram ends with an HMAC tag.
const FLAG_KEYED: u8 = 1;
/// Bytes before the message.
pub(crate) const HEADER_LEN: usize = 45;
/// Bytes in the HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;
/// The domain label the tag covers first, so a UDP tag never verifies as
/// any other tag made with the same key (the TCP transport's among them).
const LABEL: &[u8] = b"duckduckgoose/udp/v1";
/// The longest postcard encoding of a `u64` (a varint of 7-bit groups).
const MAX_VARINT_U64_LEN: usize = 10;

/// The smallest message region (message plus zero padding), in bytes:
/// the longest possible encoding of any reply sent over UDP.
///
/// The replies are `PreVoteResponse` and `VoteResponse` (variant index,
/// term, bool: 1 + 10 + 1) and `HeartbeatAck` (variant index, term,
/// sent_tick, membership term and version: 1 + 4 × 10), the largest. Every
/// datagram's region is padded to at least this, and the decoder refuses
/// a shorter one, so no datagram, authenticated or not, can draw a reply
/// larger than itself.
pub(crate) const MIN_MESSAGE_LEN: usize = 1 + 4 * MAX_VARINT_U64_LEN;

/// Who sent a datagram to whom, and where it stands in its sender's
/// sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    /// The sender's boot epoch (see the `replay` module).
    pub(crate) epoch: u64,
    /// The sender's datagram counter within that epoch.
    pub(crate) counter: u64,
}

/// Why a message could not be encoded as a datagram.
#[derive(Debug, Error)]
pub(crate) enum EncodeError {
    /// The datagram would exceed [`MAX_DATAGRAM_LEN`]; send it over TCP.
    #[error("datagram of {len} bytes exceeds {MAX_DATAGRAM_LEN}")]
    Oversized { len: usize },
    #[error("message does not encode: {0}")]
    Encode(#[source] postcard::Error),
}

/// Why a datagram was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum DecodeError {
    #[error("datagram of {len} bytes is shorter than the minimum {min}")]
    TooShort { len: usize, min: usize },
    #[error("datagram of {len} bytes exceeds {MAX_DATAGRAM_LEN}")]
    TooLong { len: usize },
    #[error("not a duckduckgoose datagram")]
    BadMagic,
    #[error("unsupported version {0}")]
    BadVersion(u8),
    #[error("unknown flags {0:#04x}")]
    BadFlags(u8),
    #[error("another cluster's datagram")]
    OtherCluster,
    /// Keyed and unkeyed nodes meet: one side has a key the other lacks.
    #[error("datagram is {}keyed, this node is not", if *.datagram_keyed { "" } else { "not " })]
    KeyMismatch { datagram_keyed: bool },
    #[error("authentication tag does not verify")]
    BadTag,
    #[error("datagram for node {0}")]
    NotForMe(NodeId),
    #[error("datagram claims to come from this node")]
    FromSelf,
    #[error("message does not decode: {0}")]
    Malformed(postcard::Error),
    #[error("padding after the message is not zeros")]
    BadPadding,
    #[error("a {0} message only travels over TCP")]
    TcpOnly(&'static str),
}

/// Whether `msg` must travel over TCP whatever its size: it carries a
/// membership (rare, larger, and it must reach nodes that do not know the
/// sender yet, which TCP's handshake lets in as strangers).
pub(crate) fn tcp_only(msg: &Message) -> bool {
    matches!(
        msg,
        Message::Heartbeat {
            membership: Some(_),
            ..
        } | Message::NewerMembership { .. }
    )
}

/// Encodes and decodes one node's datagrams: its id, its cluster and key.
#[derive(Clone)]
pub(crate) struct Codec {
    local: NodeId,
    cluster_tag: [u8; 8],
    /// The keyed state after the label and the cluster id.
    key: Option<HmacSha256>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("local", &self.local)
            .field("keyed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The first 8 bytes of SHA-256 of the cluster id.
fn cluster_tag(cluster_id: &str) -> [u8; 8] {
    let digest = Sha256::digest(cluster_id.as_bytes());
    let mut tag = [0; 8];
    tag.copy_from_slice(&digest[..8]);
    tag
}

impl Codec {
    /// The codec of node `local` in `cluster_id` (at most 255 bytes, as
    /// `TcpConfig::validate` checks), with the cluster key if any. HMAC
    /// takes keys of any length, so the error is theoretical.
    pub(crate) fn new(
        local: NodeId,
        cluster_id: &str,
        key: Option<&[u8]>,
    ) -> Result<Self, hmac::digest::InvalidLength> {
        let key = match key {
            Some(key) => {
                let mut mac = HmacSha256::new_from_slice(key)?;
                mac.update(LABEL);
                // The id is length-prefixed so that label, id and datagram
                // cannot be re-split into another valid combination.
                let id = cluster_id.as_bytes();
                mac.update(&[u8::try_from(id.len()).unwrap_or(u8::MAX)]);
                mac.update(id);
                Some(mac)
            }
            None => None,
        };
        Ok(Codec {
            local,
            cluster_tag: cluster_tag(cluster_id),
            key,
        })
    }

    /// This node's id.
    pub(crate) fn local(&self) -> NodeId {
        self.local
    }

    /// The shortest datagram this codec accepts.
    pub(crate) fn min_len(&self) -> usize {
        HEADER_LEN + MIN_MESSAGE_LEN + if self.key.is_some() { TAG_LEN } else { 0 }
    }

    /// Writes `msg` from this node under `header` into `buf` (cleared
    /// first). `header.from` is taken as given, so tests can forge.
    pub(crate) fn encode(
        &self,
        header: &Header,
        msg: &Message,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        buf.clear();
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(if self.key.is_some() { FLAG_KEYED } else { 0 });
        buf.extend_from_slice(&self.cluster_tag);
        for field in [header.from.0, header.to.0, header.epoch, header.counter] {
            buf.extend_from_slice(&field.to_be_bytes());
        }
        *buf = postcard::to_extend(msg, std::mem::take(buf)).map_err(EncodeError::Encode)?;
        if buf.len() < HEADER_LEN + MIN_MESSAGE_LEN {
            buf.resize(HEADER_LEN + MIN_MESSAGE_LEN, 0);
        }
        if let Some(mac) = &self.key {
            let mut mac = mac.clone();
            mac.update(buf);
            let tag = mac.finalize().into_bytes();
            buf.extend_from_slice(&tag);
        }
        if buf.len() > MAX_DATAGRAM_LEN {
            return Err(EncodeError::Oversized { len: buf.len() });
        }
        Ok(())
    }

    /// Reads a datagram addressed to this node; see the module docs for
    /// the order of the checks.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
        let len = bytes.len();
        let min = self.min_len();
        if len < HEADER_LEN {
            return Err(DecodeError::TooShort { len, min });
        }
        if bytes[..3] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if bytes[3] != VERSION {
            return Err(DecodeError::BadVersion(bytes[3]));
        }
        if bytes[5..13] != self.cluster_tag {
            return Err(DecodeError::OtherCluster);
        }
        let flags = bytes[4];
        if flags & !FLAG_KEYED != 0 {
            return Err(DecodeError::BadFlags(flags));
        }
        let datagram_keyed = flags & FLAG_KEYED != 0;
        if datagram_keyed != self.key.is_some() {
            return Err(DecodeError::KeyMismatch { datagram_keyed });
        }
        if len > MAX_DATAGRAM_LEN {
            return Err(DecodeError::TooLong { len });
        }
        if len < min {
            return Err(DecodeError::TooShort { len, min });
        }
        let body = match &self.key {
            Some(mac) => {
                let (body, tag) = bytes.split_at(len - TAG_LEN);
                let mut mac = mac.clone();
                mac.update(body);
                mac.verify_slice(tag).map_err(|_| DecodeError::BadTag)?;
                body
            }
            None => bytes,
        };
        let (fixed, region) = body.split_at(HEADER_LEN);
        let field = |at: usize| {
            let mut be = [0; 8];
            be.copy_from_slice(&fixed[at..at + 8]);
            u64::from_be_bytes(be)
        };
        let header = Header {
            from: NodeId(field(13)),
            to: NodeId(field(21)),
            epoch: field(29),
            counter: field(37),
        };
        if header.to != self.local {
            return Err(DecodeError::NotForMe(header.to));
        }
        if header.from == self.local {
            return Err(DecodeError::FromSelf);
        }
        let (msg, rest) =
            postcard::take_from_bytes::<Message>(region).map_err(DecodeError::Malformed)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(DecodeError::BadPadding);
        }
        if tcp_only(&msg) {
            return Err(DecodeError::TcpOnly(msg.kind()));
        }
        Ok((header, msg))
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
