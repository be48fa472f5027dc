//! The joiner's side of a join connection: dial a member, send the request,
//! read the reply. A member forwarding a request to the Goose makes the
//! same exchange ([`Ask`]), marked as forwarded.

use std::fmt;
use std::io;
use std::time::Duration;

use rand::RngExt;
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use super::super::addr::PeerAddr;
use super::super::auth::{ClusterKey, Nonce};
use super::super::config::MAX_CLUSTER_ID_LEN;
#[cfg(doc)]
use super::super::config::TcpConfig;
use super::super::frame::{FrameReader, MAX_FRAME_LEN, ReadError};
use super::super::fresh_rng;
use super::super::handshake::{self, HandshakeError, Local, Purpose};
use super::super::sealed::{self, SealError};
use super::{MAX_JOIN_ADDR_LEN, REQUEST_MAGIC, RequestFrame};
use crate::core::{Membership, NodeId, NodeMetadata};
use crate::transport::JoinReply;

/// What [`request_join`] needs: who the joiner is, where it listens, and the
/// cluster's id and key.
#[derive(Clone)]
pub struct JoinParams {
    /// The id the joining node will use; no member may hold it at another
    /// address.
    pub id: NodeId,
    /// Where the members will reach the joining node's transport
    /// (`"HOST:PORT"`, a DNS name or an IP address).
    pub addr: String,
    /// What the joining node says about itself (its application URL, ...),
    /// recorded in the membership with its address. Empty by default.
    pub metadata: NodeMetadata,
    /// The cluster's id, as in [`TcpConfig::cluster_id`].
    pub cluster_id: String,
    /// The cluster's pre-shared key, as in [`TcpConfig::cluster_key`];
    /// `None` for a cluster without one.
    pub cluster_key: Option<Vec<u8>>,
    /// Longest wait for the whole exchange: resolving, connecting, the
    /// handshake and the answer, which comes once the change is committed
    /// (and may take a forward to the Goose). Keep it above the members'
    /// [`TcpConfig::join_timeout`], twice it when asking a Duck.
    pub timeout: Duration,
}

impl fmt::Debug for JoinParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinParams")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("metadata", &self.metadata)
            .field("cluster_id", &self.cluster_id)
            .field(
                "cluster_key",
                &self.cluster_key.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl JoinParams {
    /// Default [`timeout`](Self::timeout): room for a forward to the Goose
    /// with the default [`TcpConfig::join_timeout`] at each hop.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Parameters for node `id`, reachable at `addr`, joining the cluster
    /// `cluster_id`, without a cluster key, with the default timeout.
    pub fn new(id: NodeId, addr: impl Into<String>, cluster_id: impl Into<String>) -> Self {
        JoinParams {
            id,
            addr: addr.into(),
            metadata: NodeMetadata::new(),
            cluster_id: cluster_id.into(),
            cluster_key: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the joining node's metadata (see [`metadata`](Self::metadata)).
    #[must_use]
    pub fn with_metadata(mut self, metadata: NodeMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the cluster's pre-shared key.
    #[must_use]
    pub fn with_cluster_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.cluster_key = Some(key.into());
        self
    }

    /// Checks the parameters; returns the prepared key.
    fn validate(&self) -> Result<Option<ClusterKey>, JoinError> {
        let invalid = |what: String| Err(JoinError::InvalidParams(what));
        if self.cluster_id.is_empty() {
            return invalid("cluster_id must not be empty".to_owned());
        }
        if self.cluster_id.len() > MAX_CLUSTER_ID_LEN {
            return invalid(format!(
                "cluster_id is {} bytes, more than the maximum of {MAX_CLUSTER_ID_LEN}",
                self.cluster_id.len()
            ));
        }
        if self.addr.trim().is_empty() {
            return invalid("addr must not be empty".to_owned());
        }
        if self.addr.len() > MAX_JOIN_ADDR_LEN {
            return invalid(format!(
                "addr is {} bytes, more than the maximum of {MAX_JOIN_ADDR_LEN}",
                self.addr.len()
            ));
        }
        if self.timeout.is_zero() {
            return invalid("timeout must be greater than zero".to_owned());
        }
        match &self.cluster_key {
            None => Ok(None),
            Some(key) if key.is_empty() => {
                invalid("cluster_key must not be empty when set".to_owned())
            }
            Some(key) => ClusterKey::new(key)
                .map(Some)
                .map_err(|e| JoinError::InvalidParams(format!("cluster_key: {e}"))),
        }
    }
}

/// Why [`request_join`] did not return a membership.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The parameters cannot make a request (an empty cluster id, ...).
    #[error("invalid join parameters: {0}")]
    InvalidParams(String),
    /// `target` gave no address to dial.
    #[error("cannot resolve {target}: {source}")]
    Resolve {
        /// The `HOST:PORT` asked.
        target: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No connection to `target` could be opened.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The `HOST:PORT` asked.
        target: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The connection to `target` failed after it opened.
    #[error("connection to {target} failed: {source}")]
    Io {
        /// The `HOST:PORT` asked.
        target: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `target` closed the connection during the handshake: it refused the
    /// hello, which it does without a word.
    #[error(
        "{target} refused the join handshake: check the cluster id, whether both sides use a \
         cluster key, and that both run the same duckduckgoose protocol version"
    )]
    HandshakeRefused {
        /// The `HOST:PORT` asked.
        target: String,
    },
    /// `target`'s handshake or reply did not verify with the cluster key.
    #[error("{target} failed authentication ({reason}): check the cluster key")]
    Auth {
        /// The `HOST:PORT` asked.
        target: String,
        /// What failed.
        reason: String,
    },
    /// `target` answered something that is not a join reply.
    #[error("{target} broke the join protocol: {reason}")]
    Protocol {
        /// The `HOST:PORT` asked.
        target: String,
        /// What was wrong.
        reason: String,
    },
    /// `target` closed the connection without answering the request.
    #[error("{target} closed the connection without answering the join request")]
    Closed {
        /// The `HOST:PORT` asked.
        target: String,
    },
    /// No answer from `target` within [`JoinParams::timeout`].
    #[error("no answer from {target} within {timeout:?}")]
    Timeout {
        /// The `HOST:PORT` asked.
        target: String,
        /// The timeout in force.
        timeout: Duration,
    },
    /// The cluster refused the request; nothing changed. The reason says
    /// why: the id is in use at another address, another change is in
    /// progress, the node is busy or does not accept joins, ...
    #[error("join refused: {0}")]
    Refused(String),
    /// There is no Goose to add the node now (an election is under way), or
    /// the node asked could not reach it. Worth retrying, at the Goose's
    /// address when given.
    #[error("{}", no_goose(*leader, leader_addr.as_deref()))]
    NoGoose {
        /// The Goose the cluster knows of, if any.
        leader: Option<NodeId>,
        /// Its address, if known: the node asked could not forward the
        /// request there.
        leader_addr: Option<String>,
    },
}

fn no_goose(leader: Option<NodeId>, leader_addr: Option<&str>) -> String {
    match (leader, leader_addr) {
        (None, _) => "no Goose to join through (an election may be under way); retry".to_owned(),
        (Some(leader), None) => {
            format!("not the Goose, and the Goose (node {leader}) has no known address; retry")
        }
        (Some(leader), Some(addr)) => {
            format!("the Goose (node {leader} at {addr}) could not be reached; retry")
        }
    }
}

/// Asks the member at `target` (`"HOST:PORT"`, a DNS name or an IP address)
/// to add this node to its cluster, and returns the membership that holds
/// it once the change is committed.
///
/// Any member will do: a Duck forwards the request to the Goose. The node
/// joins as a learner and is promoted to voter once it has kept up with the
/// Goose for an election timeout. Build the node from the membership
/// returned (its addresses included). Asking again after a success returns
/// the membership in force, as long as the address and the metadata are the
/// same.
///
/// Errors are typed: [`JoinError::Refused`] and [`JoinError::NoGoose`] are
/// the cluster's answers; the others are about reaching `target`, and name
/// it.
pub async fn request_join(target: &str, params: &JoinParams) -> Result<Membership, JoinError> {
    let key = params.validate()?;
    let ask = Ask {
        local: Local {
            id: params.id,
            cluster_id: &params.cluster_id,
            key: key.as_ref(),
        },
        addr: &params.addr,
        metadata: &params.metadata,
        forwarded: false,
        timeout: params.timeout,
    };
    match ask.send(target).await? {
        JoinReply::Accepted(membership) => Ok(membership),
        JoinReply::NotGoose {
            leader,
            leader_addr,
        } => Err(JoinError::NoGoose {
            leader,
            leader_addr,
        }),
        JoinReply::Refused(reason) => Err(JoinError::Refused(reason)),
    }
}

/// One join request to make, by a joiner or by a member forwarding one.
pub(super) struct Ask<'a> {
    /// The joiner's id (also the hello's sender), the cluster and its key.
    pub(super) local: Local<'a>,
    pub(super) addr: &'a str,
    pub(super) metadata: &'a NodeMetadata,
    pub(super) forwarded: bool,
    pub(super) timeout: Duration,
}

impl Ask<'_> {
    /// Makes the request at `target` and returns the reply.
    pub(super) async fn send(&self, target: &str) -> Result<JoinReply, JoinError> {
        match timeout(self.timeout, self.exchange(target)).await {
            Ok(result) => result,
            Err(_) => Err(JoinError::Timeout {
                target: target.to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(&self, target: &str) -> Result<JoinReply, JoinError> {
        let named = || target.to_owned();
        let addrs = PeerAddr::parse(target)
            .resolve(self.timeout)
            .await
            .map_err(|e| JoinError::Resolve {
                target: named(),
                source: e.into_io(),
            })?;
        // Tries each address in the resolver's order.
        let mut stream = TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|source| JoinError::Connect {
                target: named(),
                source,
            })?;
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let nonce: Nonce = fresh_rng().random();
        let mut auth = handshake::dial(self.local, &mut stream, Purpose::Join, nonce)
            .await
            .map_err(|e| handshake_error(target, e))?;

        let mut out = Vec::with_capacity(64 + self.addr.len() + self.metadata.encoded_len());
        let request = RequestFrame {
            magic: REQUEST_MAGIC,
            id: self.local.id,
            addr: self.addr,
            forwarded: self.forwarded,
            metadata: self.metadata.iter().collect(),
        };
        sealed::encode(&request, &mut out, auth.as_mut()).map_err(|e| JoinError::Protocol {
            target: named(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        stream
            .write_all(&out)
            .await
            .map_err(|source| JoinError::Io {
                target: named(),
                source,
            })?;

        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        let body = reader.next_frame(&mut stream).await.map_err(|e| match e {
            ReadError::Closed => JoinError::Closed { target: named() },
            ReadError::Io(source) => JoinError::Io {
                target: named(),
                source,
            },
            ReadError::Frame(e) => JoinError::Protocol {
                target: named(),
                reason: e.to_string(),
            },
        })?;
        sealed::decode(body, auth.as_mut()).map_err(|e| match e {
            SealError::Auth(e) => JoinError::Auth {
                target: named(),
                reason: format!("reply: {e}"),
            },
            SealError::Frame(e) => JoinError::Protocol {
                target: named(),
                reason: format!("reply: {e}"),
            },
        })
    }
}

/// The joiner's view of a failed handshake.
fn handshake_error(target: &str, error: HandshakeError) -> JoinError {
    let target = target.to_owned();
    match error {
        // The acceptor refuses a hello by closing the connection.
        HandshakeError::Read(ReadError::Closed) => JoinError::HandshakeRefused { target },
        HandshakeError::Read(ReadError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
            JoinError::HandshakeRefused { target }
        }
        HandshakeError::Read(ReadError::Io(source)) | HandshakeError::Write(source) => {
            JoinError::Io { target, source }
        }
        HandshakeError::Auth(e) => JoinError::Auth {
            target,
            reason: format!("handshake: {e}"),
        },
        HandshakeError::KeyMismatch => JoinError::Auth {
            target,
            reason: "only one side has a cluster key".to_owned(),
        },
        other => JoinError::Protocol {
            target,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked_and_the_key_never_shows() {
        let params = JoinParams::new(NodeId(4), "10.0.0.4:7000", "c").with_cluster_key("horse");
        assert!(params.validate().is_ok());
        assert!(!format!("{params:?}").contains("horse"));
        for bad in [
            JoinParams::new(NodeId(4), "10.0.0.4:7000", ""),
            JoinParams::new(NodeId(4), "10.0.0.4:7000", "x".repeat(256)),
            JoinParams::new(NodeId(4), "", "c"),
            JoinParams::new(NodeId(4), "x".repeat(MAX_JOIN_ADDR_LEN + 1), "c"),
            JoinParams::new(NodeId(4), "10.0.0.4:7000", "c").with_cluster_key(Vec::new()),
            JoinParams {
                timeout: Duration::ZERO,
                ..JoinParams::new(NodeId(4), "10.0.0.4:7000", "c")
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(JoinError::InvalidParams(_))),
                "{bad:?}"
            );
        }
    }
}
