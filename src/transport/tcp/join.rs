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

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::{Instant, timeout};
use tracing::{debug, info, warn};

use super::addr::PeerAddr;
use super::auth::{AuthError, ClusterKey, FrameAuth, Nonce};
use super::config::{MAX_CLUSTER_ID_LEN, TcpConfig};
use super::frame::{FrameError, FrameReader, MAX_FRAME_LEN, ReadError};
use super::handshake::{self, HandshakeError, Local, Purpose};
use super::sealed::{self, SealError};
use super::stats::{Counters, bump};
use super::{Shared, fresh_rng};
use crate::core::{Membership, NodeId};
use crate::transport::{JoinReply, JoinRequest};

/// Opens every request frame, so that a protocol message (or anything but a
/// request) on a join connection never decodes as one.
const REQUEST_MAGIC: [u8; 4] = *b"JOIN";

/// The longest joiner address a request carries, in bytes: a DNS name is at
/// most 253, and the request must fit a handshake-sized frame.
pub const MAX_JOIN_ADDR_LEN: usize = 512;

/// Reasons the transport gives when it refuses a request itself.
const NOT_ACCEPTING: &str = "not accepting joins";
const BUSY_AT_ONCE: &str = "busy: too many join requests at once; retry later";
const BUSY_RATE: &str = "busy: too many join requests; retry later";
const BUSY_QUEUE: &str = "busy: too many join requests waiting for an answer; retry later";

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

// ---------------------------------------------------------------------------
// The joiner's side.
// ---------------------------------------------------------------------------

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
            cluster_id: cluster_id.into(),
            cluster_key: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
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
/// the membership in force, as long as the address is the same.
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
struct Ask<'a> {
    /// The joiner's id (also the hello's sender), the cluster and its key.
    local: Local<'a>,
    addr: &'a str,
    forwarded: bool,
    timeout: Duration,
}

impl Ask<'_> {
    /// Makes the request at `target` and returns the reply.
    async fn send(&self, target: &str) -> Result<JoinReply, JoinError> {
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

        let mut out = Vec::with_capacity(64 + self.addr.len());
        let request = RequestFrame {
            magic: REQUEST_MAGIC,
            id: self.local.id,
            addr: self.addr,
            forwarded: self.forwarded,
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

// ---------------------------------------------------------------------------
// The member's side.
// ---------------------------------------------------------------------------

/// Limits join requests: how many at once, and how fast.
#[derive(Debug)]
pub(crate) struct JoinGate {
    slots: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
}

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug)]
struct Bucket {
    tokens: u32,
    burst: u32,
    interval: Duration,
    refilled_at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        // The interval is validated non-zero; `max` only keeps the division
        // defined whatever it holds.
        let earned = elapsed.as_nanos() / self.interval.as_nanos().max(1);
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            // Keep the part of an interval already waited, unless full.
            self.refilled_at = match self.interval.checked_mul(earned) {
                Some(used) if self.tokens < self.burst => self.refilled_at + used,
                _ => now,
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

impl JoinGate {
    pub(crate) fn new(config: &TcpConfig) -> Self {
        JoinGate {
            slots: Arc::new(Semaphore::new(config.max_join_connections)),
            bucket: Mutex::new(Bucket {
                tokens: config.join_rate_burst,
                burst: config.join_rate_burst,
                interval: config.join_rate_interval,
                refilled_at: Instant::now(),
            }),
        }
    }

    fn bucket(&self) -> MutexGuard<'_, Bucket> {
        // Nothing panics while holding the lock, and the bucket is valid
        // between any two operations, so a poisoned lock is still safe.
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot to answer one request in, or why there is none.
    fn admit(&self) -> Result<OwnedSemaphorePermit, &'static str> {
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| BUSY_AT_ONCE)?;
        if self.bucket().take(Instant::now()) {
            Ok(slot)
        } else {
            Err(BUSY_RATE)
        }
    }
}

/// Why a join connection was closed without an answer.
#[derive(Debug, Error)]
enum Violation {
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("request refused: {0}")]
    Auth(#[from] AuthError),
    #[error("request undecodable: {0}")]
    Decode(#[from] FrameError),
    #[error("a frame that is not a join request")]
    NotARequest,
    #[error("a request for node {request} on a hello from node {hello}")]
    IdMismatch { request: NodeId, hello: NodeId },
    #[error("a second frame after the request")]
    SecondFrame,
    #[error("no request within the handshake timeout")]
    Timeout,
}

impl From<SealError> for Violation {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Auth(e) => e.into(),
            SealError::Frame(e) => e.into(),
        }
    }
}

impl Violation {
    fn count(&self, counters: &Counters) {
        bump(&counters.join_violations);
        match self {
            Violation::Auth(_) => bump(&counters.auth_failures),
            Violation::Decode(e) | Violation::Read(ReadError::Frame(e)) => {
                handshake::count_frame_error(e, counters);
            }
            Violation::NotARequest => bump(&counters.decode_errors),
            _ => {}
        }
    }
}

/// Serves one join connection after its handshake: reads the request,
/// answers it (see the module docs), writes the reply and returns, which
/// closes the connection.
pub(crate) async fn serve(
    shared: &Shared,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    from: NodeId,
    mut auth: Option<FrameAuth>,
) {
    let counters = &shared.counters;
    let read = timeout(
        shared.config.handshake_timeout,
        read_request(stream, reader, auth.as_mut()),
    )
    .await
    .unwrap_or(Err(Violation::Timeout));
    let request = match read {
        Ok(request) if request.id != from => Err(Violation::IdMismatch {
            request: request.id,
            hello: from,
        }),
        // Frames the joiner sent at once with its request are read already.
        Ok(_) if reader.has_buffered() => Err(Violation::SecondFrame),
        other => other,
    };
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            e.count(counters);
            warn!(joiner = %from, reason = %e, "join connection closed");
            return;
        }
    };
    bump(&counters.join_requests);
    // Debug only: a flood of requests must not flood the log; the answers
    // to admitted ones are logged at info.
    debug!(joiner = %request.id, addr = %request.addr, forwarded = request.forwarded, "join request");

    let admitted = shared.join.admit();
    let reply = match &admitted {
        Err(busy) => {
            debug!(joiner = %request.id, reason = busy, "join request refused");
            JoinReply::Refused((*busy).to_owned())
        }
        Ok(_slot) => {
            tokio::select! {
                reply = answer(shared, &request) => reply,
                // Nothing may follow the request; the joiner hanging up
                // ends the wait too.
                read = reader.next_frame(stream) => {
                    match read {
                        Err(ReadError::Closed) => {
                            debug!(joiner = %request.id, "joiner hung up before the answer");
                        }
                        _ => {
                            let e = Violation::SecondFrame;
                            e.count(counters);
                            warn!(joiner = %request.id, reason = %e, "join connection closed");
                        }
                    }
                    return;
                }
            }
        }
    };
    if admitted.is_ok() {
        info!(joiner = %request.id, addr = %request.addr, ?reply, "join request answered");
    }
    drop(admitted);
    write_reply(shared, stream, &request, reply, auth.as_mut()).await;
}

async fn read_request(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    auth: Option<&mut FrameAuth>,
) -> Result<Request, Violation> {
    let body = reader.next_frame(stream).await?;
    let frame: RequestFrame<'_> = sealed::decode(body, auth).map_err(|e| match e {
        // Decodes as garbage or as another type: either way not a request.
        SealError::Frame(FrameError::Decode(_) | FrameError::TrailingBytes(_)) => {
            Violation::NotARequest
        }
        other => other.into(),
    })?;
    if frame.magic != REQUEST_MAGIC {
        return Err(Violation::NotARequest);
    }
    Ok(Request {
        id: frame.id,
        addr: frame.addr.to_owned(),
        forwarded: frame.forwarded,
    })
}

/// The answer: the runtime's, or, when it names the Goose's address for a
/// request not forwarded yet, the Goose's.
async fn answer(shared: &Shared, request: &Request) -> JoinReply {
    let reply = ask_runtime(shared, request).await;
    match reply {
        JoinReply::NotGoose {
            leader,
            leader_addr: Some(goose),
        } if !request.forwarded => forward(shared, request, leader, goose).await,
        other => other,
    }
}

async fn ask_runtime(shared: &Shared, request: &Request) -> JoinReply {
    let Some(requests) = shared.join_requests.get() else {
        return JoinReply::Refused(NOT_ACCEPTING.to_owned());
    };
    let (reply, answer) = oneshot::channel();
    let sent = requests.try_send(JoinRequest {
        id: request.id,
        addr: request.addr.clone(),
        reply,
    });
    match sent {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return JoinReply::Refused(BUSY_QUEUE.to_owned()),
        Err(TrySendError::Closed(_)) => return JoinReply::Refused(NOT_ACCEPTING.to_owned()),
    }
    match timeout(shared.config.join_timeout, answer).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => JoinReply::Refused("the node dropped the request unanswered".to_owned()),
        Err(_) => {
            warn!(joiner = %request.id, timeout = ?shared.config.join_timeout, "join request unanswered");
            JoinReply::Refused(format!(
                "no answer within {:?}; retry",
                shared.config.join_timeout
            ))
        }
    }
}

/// Makes the request at the Goose, as forwarded, and returns its answer;
/// when the Goose cannot be asked, "not the Goose" with its address.
async fn forward(
    shared: &Shared,
    request: &Request,
    leader: Option<NodeId>,
    goose: String,
) -> JoinReply {
    bump(&shared.counters.join_forwarded);
    info!(joiner = %request.id, goose = ?leader, addr = %goose, "forwarding join request to the Goose");
    let ask = Ask {
        local: Local {
            id: request.id,
            cluster_id: &shared.config.cluster_id,
            key: shared.key.as_ref(),
        },
        addr: &request.addr,
        forwarded: true,
        timeout: shared.config.join_timeout,
    };
    match ask.send(&goose).await {
        Ok(reply) => reply,
        Err(e) => {
            bump(&shared.counters.join_forward_failures);
            warn!(joiner = %request.id, error = %e, "cannot forward join request to the Goose");
            JoinReply::NotGoose {
                leader,
                leader_addr: Some(goose),
            }
        }
    }
}

async fn write_reply(
    shared: &Shared,
    stream: &mut TcpStream,
    request: &Request,
    mut reply: JoinReply,
    mut auth: Option<&mut FrameAuth>,
) {
    let mut out = Vec::with_capacity(256);
    if let Err(e) = sealed::encode(&reply, &mut out, auth.as_deref_mut()) {
        // Only a membership too large for a frame; the sequence number was
        // not used, so a refusal can go in its place.
        warn!(joiner = %request.id, error = %e, "join reply too large to send");
        reply = JoinReply::Refused("the membership is too large to send".to_owned());
        if let Err(e) = sealed::encode(&reply, &mut out, auth) {
            warn!(joiner = %request.id, error = %e, "cannot encode a join refusal");
            return;
        }
    }
    let counters = &shared.counters;
    match &reply {
        JoinReply::Accepted(_) => bump(&counters.join_accepted),
        JoinReply::NotGoose { .. } => bump(&counters.join_not_goose),
        JoinReply::Refused(_) => bump(&counters.join_refused),
    }
    let written = timeout(shared.config.handshake_timeout, async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(joiner = %request.id, error = %e, "cannot write the join reply"),
        Err(_) => debug!(joiner = %request.id, "join reply not read in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::handshake::MAX_HANDSHAKE_FRAME_LEN;
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut bucket = Bucket {
            tokens: 3,
            burst: 3,
            interval,
            refilled_at: start,
        };
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(!bucket.take(start + interval / 2));
        assert!(bucket.take(start + interval));
        assert!(!bucket.take(start + interval + interval / 2));
        // Half an interval was kept: one more at two intervals.
        assert!(bucket.take(start + interval * 2));
        // A long pause refills up to the burst, no more.
        let later = start + interval * 1000;
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }

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
