//! The acceptor task and the reader task of each inbound connection.

use std::mem::{Discriminant, discriminant};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tracing::{Instrument, debug, debug_span, warn};

use super::Shared;
use super::auth::{AuthError, FrameAuth, Nonce};
use super::frame::{FrameError, FrameReader, MAX_FRAME_LEN, ReadError};
use super::handshake::{self, Accepted, HandshakeError, MAX_HANDSHAKE_FRAME_LEN, Purpose};
use super::join;
use super::members::Registration;
use super::quiet::{Loudness, Repeats};
use super::sealed::{self, SealError};
use super::stats::{TaskGuard, bump};
use crate::core::{Message, NodeId};
use crate::transport::Inbound;

/// Pause after a failed `accept` (out of file descriptors, say), so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// The refused inbound handshakes that are worth a warning (a node
/// configured with another key, cluster or version knocks every second),
/// as logged: one run per kind of refusal (see `quiet`), so that two
/// misconfigured nodes do not keep each other's warnings coming. Bounded
/// by the number of kinds.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    runs: Mutex<Vec<(Discriminant<HandshakeError>, Repeats<()>)>>,
}

impl Refusals {
    /// Records `error`, a misconfiguration, and says how to log it.
    fn loudness(&self, error: &HandshakeError) -> Loudness {
        let kind = discriminant(error);
        // Nothing panics under the lock; the runs stay valid.
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match runs.iter().position(|(k, _)| *k == kind) {
            Some(index) => index,
            None => {
                runs.push((kind, Repeats::default()));
                runs.len() - 1
            }
        };
        runs[index].1.failed((), Instant::now())
    }
}

/// Everything the acceptor task owns.
pub(crate) struct Acceptor {
    pub(crate) shared: Arc<Shared>,
    pub(crate) listener: TcpListener,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Draws the connection nonces.
    pub(crate) rng: StdRng,
}

impl Acceptor {
    /// Accepts connections until shutdown, then closes the listener and ends
    /// every reader before returning, so no task outlives it.
    pub(crate) async fn run(mut self) {
        let mut readers = JoinSet::new();
        let slots = Arc::new(Semaphore::new(self.shared.config.max_inbound_connections));
        loop {
            tokio::select! {
                biased;
                changed = self.shutdown.changed() => {
                    if changed.is_err() || *self.shutdown.borrow() {
                        break;
                    }
                }
                // Reap finished readers so the set does not grow.
                Some(_) = readers.join_next(), if !readers.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, addr)) => self.spawn_reader(&mut readers, &slots, stream, addr),
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
            }
        }
        drop(self.listener);
        readers.shutdown().await;
        debug!("acceptor stopped");
    }

    fn spawn_reader(
        &mut self,
        readers: &mut JoinSet<()>,
        slots: &Arc<Semaphore>,
        stream: TcpStream,
        addr: SocketAddr,
    ) {
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            bump(&self.shared.counters.connections_rejected);
            debug!(%addr, "too many inbound connections; closing");
            return;
        };
        let nonce: Nonce = self.rng.random();
        let guard = TaskGuard::new(&self.shared.counters);
        let shared = Arc::clone(&self.shared);
        let inbound = self.inbound.clone();
        readers.spawn(
            async move {
                let _guard = guard;
                let _slot = slot;
                serve(&shared, stream, nonce, &inbound).await;
            }
            .instrument(debug_span!("inbound", %addr)),
        );
    }
}

/// Why an authenticated inbound connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("frame refused: {0}")]
    Auth(#[from] AuthError),
    #[error("frame undecodable: {0}")]
    Decode(#[from] FrameError),
    #[error("a newer connection from the same peer replaced it")]
    Superseded,
    #[error("the peer left the peer set")]
    Removed,
    #[error("the runtime stopped receiving")]
    RuntimeGone,
}

/// Runs one inbound connection: the handshake, then message frames until it
/// ends.
async fn serve(
    shared: &Shared,
    mut stream: TcpStream,
    nonce: Nonce,
    inbound: &mpsc::Sender<Inbound>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME_LEN);
    let handshake = timeout(
        shared.config.handshake_timeout,
        handshake::accept(shared, &mut stream, &mut reader, nonce),
    )
    .await
    .unwrap_or(Err(HandshakeError::Timeout));
    let Accepted {
        from,
        purpose,
        mut auth,
    } = match handshake {
        Ok(accepted) => accepted,
        Err(e) => {
            e.count(&shared.counters);
            // Probes, garbage and dropped connections are not worth a
            // warning each (a scanner could flood the log); a node
            // configured differently is, once per run.
            match e
                .is_misconfiguration()
                .then(|| shared.refusals.loudness(&e))
            {
                Some(Loudness::Warn { repeats }) => warn!(
                    error = %e, refused_since_last_warning = repeats,
                    "inbound handshake refused (further refusals like it are logged at debug level)"
                ),
                _ => debug!(error = %e, "inbound handshake refused"),
            }
            return;
        }
    };
    if purpose == Purpose::Join {
        // Never registered as the peer's connection, never near `inbound`.
        join::serve(shared, &mut stream, &mut reader, from, auth).await;
        return;
    }
    let (close_tx, mut close) = oneshot::channel();
    let Some(Registration {
        generation,
        stranger,
    }) = shared.members.register_inbound(from, close_tx)
    else {
        // Not a peer, and the strangers' slots are all taken. Debug only: a
        // flood of strangers must not flood the log.
        bump(&shared.counters.strangers_refused);
        debug!(peer = %from, "too many connections from outside the peer set; closing");
        return;
    };
    bump(&shared.counters.connections_accepted);
    if stranger {
        bump(&shared.counters.stranger_connections);
    } else {
        // It is up: if we are backing off from it, dial now.
        shared.heard.heard(from);
    }
    reader.set_max_len(MAX_FRAME_LEN);
    debug!(peer = %from, stranger, "inbound connection established");

    let end = receive(
        shared,
        &mut stream,
        &mut reader,
        from,
        auth.as_mut(),
        inbound,
        &mut close,
    )
    .await;
    shared.members.unregister_inbound(from, generation);
    match &end {
        ConnectionEnd::Read(ReadError::Closed | ReadError::Io(_))
        | ConnectionEnd::Superseded
        | ConnectionEnd::Removed
        | ConnectionEnd::RuntimeGone => {
            debug!(peer = %from, reason = %end, "inbound connection closed");
        }
        _ => warn!(peer = %from, reason = %end, "inbound connection closed"),
    }
}

/// Delivers the connection's frames, in order, until one fails.
async fn receive(
    shared: &Shared,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    from: NodeId,
    mut auth: Option<&mut FrameAuth>,
    inbound: &mpsc::Sender<Inbound>,
    close: &mut oneshot::Receiver<()>,
) -> ConnectionEnd {
    let counters = &shared.counters;
    loop {
        let body = tokio::select! {
            biased;
            // See `CloseSignal`: sent means removed, dropped superseded.
            closed = &mut *close => {
                return match closed {
                    Ok(()) => ConnectionEnd::Removed,
                    Err(_) => ConnectionEnd::Superseded,
                };
            }
            read = reader.next_frame(stream) => match read {
                Ok(body) => body,
                Err(e) => {
                    if let ReadError::Frame(e) = &e {
                        handshake::count_frame_error(e, counters);
                    }
                    return e.into();
                }
            },
        };
        let msg: Message = match sealed::decode(body, auth.as_deref_mut()) {
            Ok(msg) => msg,
            Err(SealError::Auth(e)) => {
                bump(&counters.auth_failures);
                return e.into();
            }
            Err(SealError::Frame(e)) => {
                handshake::count_frame_error(&e, counters);
                return e.into();
            }
        };
        // Never waits for room: see `Transport::start` for why a full
        // queue drops the message instead.
        match inbound.try_send(Inbound { from, msg }) {
            Ok(()) => bump(&counters.frames_received),
            Err(TrySendError::Full(dropped)) => {
                bump(&counters.dropped_inbound_full);
                debug!(peer = %from, kind = dropped.msg.kind(), "inbound queue full; message dropped");
            }
            Err(TrySendError::Closed(_)) => return ConnectionEnd::RuntimeGone,
        }
    }
}
