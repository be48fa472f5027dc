//! The writer task for one peer: dials it, shakes hands, and writes its
//! queued messages, redialling with backoff whenever the connection drops.
//!
//! A writer serves one address for its whole life: when the peer's address
//! changes or the peer leaves, the transport aborts it (and starts a new
//! one on the same queue for a new address).

use std::sync::Arc;

use rand::RngExt;
use rand::rngs::StdRng;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout};
use tracing::{debug, warn};

use super::Shared;
use super::addr::{PeerAddr, ResolveError};
use super::auth::{AuthError, FrameAuth};
use super::backoff::Backoff;
use super::frame::FrameError;
use super::handshake::{self, HandshakeError, Purpose};
use super::queue::PeerQueue;
use super::sealed::{self, SealError};
use super::stats::{add, bump};
use crate::core::{Message, NodeId};

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
    /// Draws the backoff jitter and the hello nonces.
    pub(crate) rng: StdRng,
}

impl Writer {
    /// Whether the transport is shutting down (or gone).
    fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    pub(crate) async fn run(mut self) {
        let config = &self.shared.config;
        let mut backoff = Backoff::new(config.reconnect_backoff_min, config.reconnect_backoff_max);
        let mut connected_before = false;
        // Warn when resolution starts failing, not at every retry.
        let mut resolve_failing = false;
        loop {
            // At shutdown, one last attempt is made only if something waits
            // to be flushed (a hand-over's `TimeoutNow`, say).
            if self.stopping() && self.queue.is_empty() {
                return;
            }
            // A dial can take a while (a peer that accepts but never
            // answers holds it for the handshake timeout); at shutdown with
            // nothing to flush, stop waiting for it.
            let idle_stop = stopped_idle(self.shutdown.clone(), Arc::clone(&self.queue));
            let attempt = tokio::select! {
                attempt = self.connect() => attempt,
                () = idle_stop => return,
            };
            let unresolved = matches!(attempt, Err(ConnectError::Resolve(_)));
            match attempt {
                Ok((stream, auth)) => {
                    if connected_before {
                        bump(&self.shared.counters.reconnects);
                    }
                    connected_before = true;
                    backoff.reset();
                    debug!(peer = %self.peer, addr = %self.addr, "connected");
                    match self.pump(stream, auth).await {
                        Ok(()) => return,
                        Err(e) => debug!(peer = %self.peer, error = %e, "connection lost"),
                    }
                }
                Err(ConnectError::Handshake(e)) => {
                    warn!(peer = %self.peer, addr = %self.addr, error = %e, "handshake failed");
                }
                Err(ConnectError::Resolve(e)) => {
                    bump(&self.shared.counters.resolve_failures);
                    if resolve_failing {
                        debug!(peer = %self.peer, addr = %self.addr, error = %e, "cannot resolve");
                    } else {
                        warn!(peer = %self.peer, addr = %self.addr, error = %e, "cannot resolve; retrying");
                    }
                }
                Err(e) => debug!(peer = %self.peer, addr = %self.addr, error = %e, "dial failed"),
            }
            resolve_failing = unresolved;
            if self.stopping() {
                return;
            }
            let delay = backoff.next_delay(&mut self.rng);
            tokio::select! {
                () = sleep(delay) => {}
                _ = self.shutdown.changed() => {}
            }
        }
    }

    async fn connect(&mut self) -> Result<(TcpStream, Option<FrameAuth>), ConnectError> {
        let config = &self.shared.config;
        // Resolved afresh at every dial, so a DNS change shows at the next
        // reconnect.
        let addrs = self.addr.resolve(config.connect_timeout).await?;
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

    /// Writes queued messages until the connection breaks (`Err`) or the
    /// transport shuts down with the queue flushed (`Ok`).
    async fn pump(
        &mut self,
        mut stream: TcpStream,
        mut auth: Option<FrameAuth>,
    ) -> Result<(), PumpError> {
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
                    return Ok(());
                }
                tokio::select! {
                    () = self.queue.ready() => {}
                    _ = self.shutdown.changed() => {}
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
