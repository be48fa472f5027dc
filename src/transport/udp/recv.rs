//! The receiving task: every datagram checked in order (source, format,
//! tag, ids, replay) and delivered, or dropped and counted.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tracing::{debug, trace};

use super::peers::Peers;
use super::replay::{Replay, Verdict};
use super::stats::{Counters, bump};
use super::wire::{Codec, DecodeError, MAX_DATAGRAM_LEN};
use crate::transport::Inbound;

/// What a datagram came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    Dropped,
    /// The runtime stopped: nobody takes messages any more.
    Closed,
}

/// Receives this node's datagrams until shutdown or until `inbound` closes.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) codec: Codec,
    pub(crate) keyed: bool,
    pub(crate) peers: Arc<Peers>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) replay: Replay,
}

impl Receiver {
    pub(crate) async fn run(mut self) {
        // One byte more than the bound, so a datagram over it is seen as
        // such rather than silently truncated to a valid length.
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        let mut shutdown = self.shutdown.clone();
        loop {
            let received = tokio::select! {
                received = self.socket.recv_from(&mut buf) => received,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match received {
                Ok((len, source)) => {
                    let datagram = buf.get(..len).unwrap_or(&buf);
                    if self.handle(datagram, source) == Outcome::Closed {
                        debug!("inbound closed; udp receiver stops");
                        return;
                    }
                }
                // Errors of an unconnected socket (an ICMP error reported
                // by some systems) concern one datagram, not the socket.
                Err(e) => debug!(error = %e, "udp receive failed"),
            }
        }
    }

    /// Checks one datagram from `source` and delivers it if it passes.
    pub(crate) fn handle(&mut self, datagram: &[u8], source: SocketAddr) -> Outcome {
        let c = &self.counters;
        if !self.keyed && !self.peers.knows_ip(source.ip()) {
            bump(&c.foreign_address);
            trace!(%source, "datagram from an address that is no peer's; dropped");
            return Outcome::Dropped;
        }
        let (header, msg) = match self.codec.decode(datagram) {
            Ok(decoded) => decoded,
            Err(e) => {
                bump(match e {
                    DecodeError::OtherCluster => &c.other_cluster,
                    DecodeError::KeyMismatch { .. } | DecodeError::BadTag => &c.auth_failures,
                    DecodeError::NotForMe(_) | DecodeError::FromSelf => &c.reflections,
                    DecodeError::TooShort { .. }
                    | DecodeError::TooLong { .. }
                    | DecodeError::BadMagic
                    | DecodeError::BadVersion(_)
                    | DecodeError::BadFlags(_)
                    | DecodeError::Malformed(_)
                    | DecodeError::BadPadding
                    | DecodeError::TcpOnly(_) => &c.decode_errors,
                });
                trace!(%source, error = %e, "datagram refused");
                return Outcome::Dropped;
            }
        };
        match self.replay.check(header.from, header.epoch, header.counter) {
            Verdict::Fresh => {}
            Verdict::Replay | Verdict::BelowWindow => {
                bump(&c.replays);
                trace!(%source, from = %header.from, counter = header.counter, "replayed datagram dropped");
                return Outcome::Dropped;
            }
            Verdict::StaleEpoch => {
                bump(&c.stale_epochs);
                trace!(%source, from = %header.from, epoch = header.epoch, "datagram of an older boot dropped");
                return Outcome::Dropped;
            }
        }
        match self.inbound.try_send(Inbound {
            from: header.from,
            msg,
        }) {
            Ok(()) => {
                bump(&c.datagrams_received);
                Outcome::Delivered
            }
            Err(TrySendError::Full(_)) => {
                bump(&c.dropped_inbound_full);
                Outcome::Dropped
            }
            Err(TrySendError::Closed(_)) => Outcome::Closed,
        }
    }
}
