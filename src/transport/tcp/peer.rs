//! The writer task for one peer: dials it, shakes hands, and writes its
//! queued messages, redialling with backoff whenever the connection drops.
//!
//! A writer serves one address for its whole life: when the peer's address
//! changes or the peer leaves, the transport aborts it (and starts a new
//! one on the same queue for a new address).
//!
//! While this node is removed (see
//! [`Transport::set_removed`](crate::transport::Transport::set_removed)), a
//! writer dials only when a message waits, drops what it could not deliver
//! at the first attempt, and lets its connection go once idle for
//! [`REMOVED_IDLE_CLOSE`].

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep, timeout};
use tracing::{debug, info, warn};

use super::Shared;
use super::addr::{PeerAddr, ResolveError, Resolver};
use super::auth::{AuthError, FrameAuth};
use super::backoff::Backoff;
use super::frame::FrameError;
use super::handshake::{self, HandshakeError, Purpose};
use super::queue::PeerQueue;
use super::quiet::{Loudness, Repeats};
use super::sealed::{self, SealError};
use super::stats::{add, bump};
use crate::core::{Message, NodeId};

/// How long a removed node keeps a connection that carries nothing: long
/// enough for one exchange to reuse it (a pre-vote and its vote a moment
/// apart, a Goose's heartbeats while the removal is pending), short enough
/// to give the member's slot for nodes outside its peer set back soon.
pub(crate) const REMOVED_IDLE_CLOSE: Duration = Duration::from_secs(5);

/// Why an outbound connection could not be set up.
#[derive(Debug, Error)]
enum ConnectError {
    #[error("cannot resolve the address: {0}")]
    Resolve(#[from] ResolveError),
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
}

/// The dial failures worth a warning, each logged once per run (see
/// `quiet`); a peer that refuses connections or does not answer is down or
/// restarting, which is routine and logged at debug level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Resolve,
    Handshake,
}

/// How an established outbound connection ended, when not by an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The transport is shutting down, and the queue was flushed.
    Stopped,
    /// This node is removed and the connection was idle: closed.
    Idle,
}

/// Why an established outbound connection ended.
#[derive(Debug, Error)]
enum PumpError {
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("read failed: {0}")]
    Read(#[source] std::io::Error),
    #[error("peer closed the connection")]
    Closed,
    #[error("peer sent data after the handshake")]
    UnexpectedData,
    #[error("could not encode a frame: {0}")]
    Encode(#[from] FrameError),
    #[error("could not tag a frame: {0}")]
    Seal(#[from] AuthError),
}

/// Everything the writer task for one peer owns.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: NodeId,
    pub(crate) addr: PeerAddr,
    pub(crate) queue: Arc<PeerQueue>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Whether this node is removed: dial only to deliver.
    pub(crate) removed: watch::Receiver<bool>,
    /// Rung when the peer connects in: it is up, dial now.
    pub(crate) heard: Arc<Notify>,
    pub(crate) resolver: Resolver,
    /// Draws the backoff jitter and the hello nonces.
    pub(crate) rng: StdRng,
}

impl Writer {
    /// Whether the transport is shutting down (or gone), or this peer left
    /// the peer set: either way, send what is queued and end.
    fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err() || self.queue.is_retired()
    }

    /// Whether this node is removed now.
    fn removed(&self) -> bool {
        *self.removed.borrow()
    }

    pub(crate) async fn run(mut self) {
        let config = &self.shared.config;
        let mut backoff = Backoff::new(config.reconnect_backoff_min, config.reconnect_backoff_max);
        let mut connected_before = false;
        let mut failures = Repeats::default();
        // Whether the last dial failed.
        let mut retrying = false;
        loop {
            // At shutdown, one last attempt is made only if something waits
            // to be flushed (a hand-over's `TimeoutNow`, say).
            if self.stopping() && self.queue.is_empty() {
                return;
            }
            if self.removed() && self.queue.is_empty() {
                if !self.wait_for_work().await {
                    return;
                }
                continue;
            }
            // A dial can take a while (a peer that accepts but never
            // answers holds it for the handshake timeout); at shutdown with
            // nothing to flush, stop waiting for it.
            let idle_stop = stopped_idle(self.shutdown.clone(), Arc::clone(&self.queue));
            let heard = Arc::clone(&self.heard);
            // A retry may hang on an address the peer no longer has; once
            // the peer connects in, it is up, so dial again (resolving
            // afresh). A first dial is never cut short: two peers dialling
            // each other at once would otherwise cut each other's dials for
            // ever.
            let peer_up = async {
                if retrying {
                    heard.notified().await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            bump(&self.shared.counters.dials);
            let attempt = tokio::select! {
                attempt = self.connect() => attempt,
                () = idle_stop => return,
                () = peer_up => continue,
            };
            retrying = attempt.is_err();
            match attempt {
                Ok((stream, auth)) => {
                    if connected_before {
                        bump(&self.shared.counters.reconnects);
                    }
                    connected_before = true;
                    backoff.reset();
                    match failures.recovered() {
                        Some(failed) => {
                            info!(peer = %self.peer, addr = %self.addr, failed_attempts = failed, "peer reached");
                        }
                        None => debug!(peer = %self.peer, addr = %self.addr, "connected"),
                    }
                    match self.pump(stream, auth).await {
                        Ok(Ended::Stopped) => return,
                        Ok(Ended::Idle) => {
                            debug!(peer = %self.peer, "idle connection closed: this node is removed");
                            continue;
                        }
                        Err(e) => debug!(peer = %self.peer, error = %e, "connection lost"),
                    }
                }
                Err(e) => {
                    self.log_failure(&e, &mut failures);
                    if self.removed() {
                        let dropped = self.queue.clear();
                        add(&self.shared.counters.dropped_write_failed, dropped as u64);
                    }
                }
            }
            if self.stopping() {
                return;
            }
            let delay = backoff.next_delay(&mut self.rng);
            tokio::select! {
                () = sleep(delay) => {}
                _ = self.shutdown.changed() => {}
                // Added back: dial now rather than at the end of a backoff.
                _ = self.removed.changed() => {}
                // The peer connected in: it is up again.
                () = self.heard.notified() => backoff.reset(),
            }
        }
    }

    /// Waits, while removed with nothing queued, until a message is queued,
    /// this node is no longer removed or the transport stops; false when
    /// the transport is gone.
    async fn wait_for_work(&mut self) -> bool {
        tokio::select! {
            () = self.queue.ready() => true,
            changed = self.removed.changed() => changed.is_ok(),
            changed = self.shutdown.changed() => changed.is_ok(),
        }
    }

    /// Logs a failed dial: a name that does not resolve or a refused
    /// handshake as a warning once per run of them (see `quiet`), anything
    /// else at debug level.
    fn log_failure(&self, error: &ConnectError, failures: &mut Repeats<Failure>) {
        let (peer, addr) = (self.peer, &self.addr);
        let failure = match error {
            ConnectError::Resolve(_) => {
                bump(&self.shared.counters.resolve_failures);
                Failure::Resolve
            }
            ConnectError::Handshake(_) => Failure::Handshake,
            ConnectError::Connect(_) | ConnectError::ConnectTimeout => {
                debug!(%peer, %addr, %error, "dial failed");
                return;
            }
        };
        let repeats = match failures.failed(failure, Instant::now()) {
            Loudness::Warn { repeats } => repeats,
            Loudness::Quiet => {
                debug!(%peer, %addr, %error, "dial failed");
                return;
            }
        };
        match failure {
            Failure::Resolve => warn!(
                %peer, %addr, %error, failed_since_last_warning = repeats,
                "cannot resolve the peer's address; retrying with backoff (further failures are logged at debug level)"
            ),
            Failure::Handshake => warn!(
                %peer, %addr, %error, failed_since_last_warning = repeats,
                "handshake with the peer failed; retrying with backoff (further failures are logged at debug level)"
            ),
        }
    }

    async fn connect(&mut self) -> Result<(TcpStream, Option<FrameAuth>), ConnectError> {
        let config = &self.shared.config;
        // Resolved afresh at every dial, so a DNS change shows at the next
        // reconnect.
        let addrs = self
            .addr
            .resolve_with(&self.resolver, config.connect_timeout)
            .await?;
        // Tries each address in the resolver's order.
        let dial = TcpStream::connect(addrs.as_slice());
        let mut stream = match timeout(config.connect_timeout, dial).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ConnectError::Connect(e)),
            Err(_) => return Err(ConnectError::ConnectTimeout),
        };
        stream.set_nodelay(true).map_err(ConnectError::Connect)?;
        let nonce = self.rng.random();
        let result = match timeout(
            config.handshake_timeout,
            handshake::dial(
                self.shared.local(),
                &mut stream,
                Purpose::Messages { to: self.peer },
                nonce,
            ),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(HandshakeError::Timeout),
        };
        match result {
            Ok(auth) => Ok((stream, auth)),
            Err(e) => {
                e.count(&self.shared.counters);
                Err(e.into())
            }
        }
    }

    /// Writes queued messages until the connection breaks (`Err`), the
    /// transport shuts down with the queue flushed, or, on a removed node,
    /// the connection has been idle for [`REMOVED_IDLE_CLOSE`].
    async fn pump(
        &mut self,
        mut stream: TcpStream,
        mut auth: Option<FrameAuth>,
    ) -> Result<Ended, PumpError> {
        let (mut rd, mut wr) = stream.split();
        let mut batch = Vec::with_capacity(self.shared.config.queue_capacity);
        let mut buf = Vec::with_capacity(256);
        let mut probe = [0u8; 1];
        // An oversized membership rides on every heartbeat until acked,
        // which it never will be: warn once per connection, not 20 times a
        // second.
        let mut warned_oversized = false;
        loop {
            batch.clear();
            self.queue.drain_into(&mut batch);
            if batch.is_empty() {
                if self.stopping() {
                    // A clean close; the peer's reader just sees the end.
                    let _ = wr.shutdown().await;
                    return Ok(Ended::Stopped);
                }
                let idle_close = idle_timer(self.removed());
                tokio::select! {
                    () = self.queue.ready() => {}
                    _ = self.shutdown.changed() => {}
                    // Re-armed (or disarmed) with the mode.
                    _ = self.removed.changed() => {}
                    () = idle_close => {
                        let _ = wr.shutdown().await;
                        return Ok(Ended::Idle);
                    }
                    // Nothing flows back after the handshake, so a read
                    // completing means the peer closed (or misbehaves):
                    // redial now rather than lose the next message to a
                    // dead socket.
                    read = rd.read(&mut probe) => {
                        return Err(match read {
                            Ok(0) => PumpError::Closed,
                            Ok(_) => PumpError::UnexpectedData,
                            Err(e) => PumpError::Read(e),
                        });
                    }
                }
                continue;
            }
            buf.clear();
            let mut frames = 0u64;
            for msg in &batch {
                match encode_message(&mut buf, msg, auth.as_mut()) {
                    Ok(()) => frames += 1,
                    // Too big for any peer to accept (a membership with
                    // very many members or very long addresses): drop this
                    // one message, keep the connection and the others.
                    Err(PumpError::Encode(e @ FrameError::Oversized { .. })) => {
                        bump(&self.shared.counters.dropped_oversized);
                        if warned_oversized {
                            debug!(peer = %self.peer, kind = msg.kind(), error = %e, "message too large to send; dropped");
                        } else {
                            warned_oversized = true;
                            warn!(peer = %self.peer, kind = msg.kind(), error = %e, "message too large to send; dropped");
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if frames == 0 {
                continue;
            }
            if let Err(e) = wr.write_all(&buf).await {
                add(&self.shared.counters.dropped_write_failed, frames);
                return Err(PumpError::Write(e));
            }
            add(&self.shared.counters.frames_sent, frames);
        }
    }
}

/// Resolves after [`REMOVED_IDLE_CLOSE`] when `removed`; never otherwise.
async fn idle_timer(removed: bool) {
    if removed {
        sleep(REMOVED_IDLE_CLOSE).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// Resolves once the transport is stopping with `queue` empty; never, while
/// something waits to be flushed (the flush deadline then ends the task).
async fn stopped_idle(mut shutdown: watch::Receiver<bool>, queue: Arc<PeerQueue>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    if queue.is_empty() {
        return;
    }
    std::future::pending::<()>().await;
}

/// Appends one message frame to `buf`, tagged when the cluster has a key.
/// On error `buf` is left as it was, and a frame too large to send
/// ([`FrameError::Oversized`]) consumes no sequence number.
fn encode_message(
    buf: &mut Vec<u8>,
    msg: &Message,
    auth: Option<&mut FrameAuth>,
) -> Result<(), PumpError> {
    sealed::encode(msg, buf, auth).map_err(|e| match e {
        SealError::Frame(e) => PumpError::Encode(e),
        SealError::Auth(e) => PumpError::Seal(e),
    })
}
