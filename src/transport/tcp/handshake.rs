//! The handshake that opens every connection, and its wire types.
//!
//! ```text
//! dialer                                         acceptor
//!   Hello { magic, version, cluster, from,
//!           purpose, keyed, dialer nonce }  ──▶  checks all of it
//!                                           ◀──  Ack { connection nonce, tag? }
//!   checks the tag (keyed)
//!   Auth { tag }  (keyed only)              ──▶  checks the tag
//! then, for purpose Messages { to } (`to` this node):
//!   message frames                          ──▶  (nothing flows back)
//! or, for purpose Join (any node but this one; see `join`):
//!   one join request                        ──▶
//!                                           ◀──  one join reply, then close
//! ```
//!
//! The purpose is part of the hello, so the key's tags cover it: a join
//! connection can never be turned into a message connection, whose frames
//! alone reach the runtime.
//!
//! The handshake establishes who is talking, not whether they may: a message
//! connection from a node outside the peer set is accepted here, bounded as
//! a stranger's when it registers (see the `members` module), and the core
//! decides what its messages are worth. Without a cluster key the identity
//! is only the hello's claim.
//!
//! With a cluster key, the ack's tag proves the acceptor holds the key and saw
//! this hello (fresh thanks to the dialer's nonce); the auth tag proves the
//! dialer holds the key and answers this connection's challenge, so a
//! recorded handshake cannot be replayed. Any failure closes the connection
//! without a word: a prober learns nothing.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Shared;
use super::auth::{AuthError, ClusterKey, FrameAuth, Nonce, Tag};
use super::frame::{self, FrameError, FrameReader, LEN_PREFIX_LEN, ReadError};
use super::stats::{Counters, bump};
use crate::core::NodeId;

/// Opens every hello, so a stray client is recognised at once.
pub(crate) const MAGIC: [u8; 4] = *b"DDGO";
/// Bumped on any incompatible change of the handshake, the frame format or
/// the messages' encoding, so that nodes of different versions refuse each
/// other at the handshake. Version 2: messages carry membership ids, and
/// heartbeats a whole membership; hellos carry a purpose (join mode).
/// Version 3: memberships carry each node's metadata, and join requests the
/// joiner's.
pub(crate) const PROTOCOL_VERSION: u16 = 3;
/// Handshake frames are a few dozen bytes plus the cluster id; the limit
/// keeps what an unauthenticated client can make us reserve small.
pub(crate) const MAX_HANDSHAKE_FRAME_LEN: usize = 1024;

/// The first fields of every [`Hello`], whatever its version: decoded first,
/// so a peer speaking another version is told apart from garbage.
#[derive(Deserialize)]
struct HelloHead {
    magic: [u8; 4],
    version: u16,
}

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Purpose {
    /// Protocol messages from a member to the member `to`.
    Messages {
        /// The node the dialer believes it reached.
        to: NodeId,
    },
    /// One join request from a node that need not be a member, answered
    /// once.
    Join,
}

/// Who dials or accepts: what every hello says about its sender.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Local<'a> {
    pub(crate) id: NodeId,
    pub(crate) cluster_id: &'a str,
    pub(crate) key: Option<&'a ClusterKey>,
}

#[derive(Serialize, Deserialize)]
struct Hello<'a> {
    magic: [u8; 4],
    version: u16,
    cluster_id: &'a str,
    from: NodeId,
    purpose: Purpose,
    /// Whether the dialer uses a cluster key; a mismatch is refused up front
    /// rather than discovered as a bad tag.
    keyed: bool,
    /// Makes the acceptor's ack tag fresh.
    nonce: Nonce,
}

#[derive(Serialize, Deserialize)]
struct HelloAck {
    /// The connection nonce: keys every frame tag on this connection.
    nonce: Nonce,
    tag: Option<Tag>,
}

#[derive(Serialize, Deserialize)]
struct HelloAuth {
    tag: Tag,
}

/// Why a handshake failed.
#[derive(Debug, Error)]
pub(crate) enum HandshakeError {
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("not a duckduckgoose hello (bad magic)")]
    BadMagic,
    #[error("protocol version {got}, expected {PROTOCOL_VERSION}")]
    Version { got: u16 },
    #[error("hello for another cluster")]
    ClusterMismatch,
    #[error("hello addressed to node {0}, not to this node")]
    WrongTarget(NodeId),
    #[error("hello from this node's own id")]
    FromSelf,
    #[error("hello from node {0}, outside the peer set, while every stranger's slot is taken")]
    StrangersFull(NodeId),
    #[error("one side has a cluster key and the other has not")]
    KeyMismatch,
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    #[error("handshake timed out")]
    Timeout,
}

impl HandshakeError {
    /// Whether the failure looks like two members configured differently
    /// (worth a warning) rather than noise on the port.
    pub(crate) fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            HandshakeError::Version { .. }
                | HandshakeError::ClusterMismatch
                | HandshakeError::WrongTarget(_)
                | HandshakeError::FromSelf
                | HandshakeError::KeyMismatch
                | HandshakeError::Auth(_)
        )
    }

    /// Records this failure in the counters (see `TransportStats`).
    pub(crate) fn count(&self, counters: &Counters) {
        match self {
            HandshakeError::StrangersFull(_) => bump(&counters.strangers_refused),
            HandshakeError::Auth(_) | HandshakeError::KeyMismatch => {
                bump(&counters.auth_failures);
            }
            other => {
                bump(&counters.handshake_failures);
                if let HandshakeError::Frame(e) | HandshakeError::Read(ReadError::Frame(e)) = other
                {
                    count_frame_error(e, counters);
                }
            }
        }
    }
}

/// Records a frame error in its cause counter.
pub(crate) fn count_frame_error(error: &FrameError, counters: &Counters) {
    match error {
        FrameError::Oversized { .. } => bump(&counters.oversized_frames),
        FrameError::Decode(_) | FrameError::TrailingBytes(_) => bump(&counters.decode_errors),
        // Encoding is local; it has its own log line where it happens.
        _ => {}
    }
}

/// Runs the dialer's side on a fresh connection, for `purpose`; on success
/// returns the frame authenticator (keyed clusters) for the frames that
/// follow.
pub(crate) async fn dial(
    local: Local<'_>,
    stream: &mut TcpStream,
    purpose: Purpose,
    nonce: Nonce,
) -> Result<Option<FrameAuth>, HandshakeError> {
    let mut hello_frame = Vec::with_capacity(64 + local.cluster_id.len());
    frame::encode_frame(
        &Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            cluster_id: local.cluster_id,
            from: local.id,
            purpose,
            keyed: local.key.is_some(),
            nonce,
        },
        &mut hello_frame,
    )?;
    stream.write_all(&hello_frame).await?;
    let hello = &hello_frame[LEN_PREFIX_LEN..];

    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME_LEN);
    let ack: HelloAck = frame::decode_body(reader.next_frame(stream).await?)?;
    match (local.key, ack.tag) {
        (None, None) => Ok(None),
        (Some(key), Some(tag)) => {
            key.verify_ack_tag(hello, &ack.nonce, &tag)?;
            let mut auth_frame = Vec::with_capacity(64);
            frame::encode_frame(
                &HelloAuth {
                    tag: key.auth_tag(hello, &ack.nonce),
                },
                &mut auth_frame,
            )?;
            stream.write_all(&auth_frame).await?;
            Ok(Some(key.frames(ack.nonce)))
        }
        _ => Err(HandshakeError::KeyMismatch),
    }
}

/// What an accepted handshake established.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The sender of every frame on the connection, as its hello claims it:
    /// proven to hold the cluster key in a keyed cluster, and never this
    /// node. A peer or not: the handshake does not decide admission.
    pub(crate) from: NodeId,
    /// What the connection is for.
    pub(crate) purpose: Purpose,
    /// Checks frame tags (keyed clusters).
    pub(crate) auth: Option<FrameAuth>,
}

/// Runs the acceptor's side on a fresh inbound connection, answering with the
/// connection nonce `nonce`. `reader` keeps any bytes read past the handshake.
pub(crate) async fn accept(
    shared: &Shared,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    nonce: Nonce,
) -> Result<Accepted, HandshakeError> {
    let body = reader.next_frame(stream).await?;
    let (head, _) = postcard::take_from_bytes::<HelloHead>(body).map_err(FrameError::Decode)?;
    if head.magic != MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    if head.version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version { got: head.version });
    }
    let hello: Hello<'_> = frame::decode_body(body)?;
    if hello.cluster_id != shared.config.cluster_id {
        return Err(HandshakeError::ClusterMismatch);
    }
    if let Purpose::Messages { to } = hello.purpose
        && to != shared.config.id
    {
        return Err(HandshakeError::WrongTarget(to));
    }
    // Any other node may connect, a peer or not: for messages, the core
    // decides whether they count; to join, anyone may ask (a member too: a
    // joiner retrying after it was added), and only the reply flows back.
    if hello.from == shared.config.id {
        return Err(HandshakeError::FromSelf);
    }
    if hello.keyed != shared.key.is_some() {
        return Err(HandshakeError::KeyMismatch);
    }
    // Checked again when the connection registers; asked now, a stranger
    // refused for the cap is told before it sends anything.
    if matches!(hello.purpose, Purpose::Messages { .. }) && !shared.members.has_room_for(hello.from)
    {
        return Err(HandshakeError::StrangersFull(hello.from));
    }
    let from = hello.from;
    let purpose = hello.purpose;

    let mut out = Vec::with_capacity(64);
    let Some(key) = &shared.key else {
        frame::encode_frame(&HelloAck { nonce, tag: None }, &mut out)?;
        stream.write_all(&out).await?;
        return Ok(Accepted {
            from,
            purpose,
            auth: None,
        });
    };
    // The reader reuses its buffer for the next frame: keep the hello
    // (bounded by the handshake frame limit) for the transcript.
    let hello_bytes = body.to_vec();
    frame::encode_frame(
        &HelloAck {
            nonce,
            tag: Some(key.ack_tag(&hello_bytes, &nonce)),
        },
        &mut out,
    )?;
    stream.write_all(&out).await?;
    let auth: HelloAuth = frame::decode_body(reader.next_frame(stream).await?)?;
    key.verify_auth_tag(&hello_bytes, &nonce, &auth.tag)?;
    Ok(Accepted {
        from,
        purpose,
        auth: Some(key.frames(nonce)),
    })
}
