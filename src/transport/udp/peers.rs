//! Where each peer's datagrams go, and which source addresses a node
//! without a key accepts: the peers' names, resolved in a background task.
//!
//! `set_peers` and `send` never resolve: an IP address given as one is
//! usable at once, a name only once the resolver task has resolved it (a
//! Kubernetes pod's name may resolve only after the pod is scheduled). The
//! task resolves an unresolved name every [`RETRY_UNRESOLVED`] and a
//! resolved one again every [`REFRESH_RESOLVED`] (a pod that moves keeps
//! its name, not its address); a failure is counted every time and logged
//! as a warning once per run of failures.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::stats::{Counters, bump};
use crate::core::NodeId;
use crate::transport::tcp::addr::{PeerAddr, Resolver};
use crate::transport::tcp::quiet::{Loudness, Repeats};

/// How soon a name that did not resolve is tried again.
pub(crate) const RETRY_UNRESOLVED: Duration = Duration::from_secs(2);
/// How soon a name that resolved is resolved again.
pub(crate) const REFRESH_RESOLVED: Duration = Duration::from_secs(30);
/// Longest wait for one resolution.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// One peer: its address as given, and what it resolved to.
#[derive(Debug)]
struct Entry {
    addr: PeerAddr,
    /// Empty until resolved; kept through later failures (the last known
    /// address beats none).
    resolved: Vec<SocketAddr>,
}

/// The peers and their resolved addresses, shared by the transport (send),
/// its receiver (source check) and its resolver task.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    entries: RwLock<BTreeMap<NodeId, Entry>>,
    /// Wakes the resolver task when the set changes.
    changed: Notify,
}

impl Peers {
    fn read<R>(&self, f: impl FnOnce(&BTreeMap<NodeId, Entry>) -> R) -> R {
        f(&self.entries.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<R>(&self, f: impl FnOnce(&mut BTreeMap<NodeId, Entry>) -> R) -> R {
        f(&mut self.entries.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the peer set; a peer whose address is unchanged keeps what
    /// it resolved to. Never resolves a name.
    pub(crate) fn replace(&self, peers: BTreeMap<NodeId, PeerAddr>) {
        self.write(|entries| {
            let mut old = std::mem::take(entries);
            for (id, addr) in peers {
                let resolved = match (old.remove(&id), &addr) {
                    (Some(entry), _) if entry.addr == addr => entry.resolved,
                    (_, PeerAddr::Socket(socket)) => vec![*socket],
                    (_, PeerAddr::Host(_)) => Vec::new(),
                };
                entries.insert(id, Entry { addr, resolved });
            }
        });
        self.changed.notify_one();
    }

    /// Where to send `id`'s datagrams: its first resolved address.
    pub(crate) fn target(&self, id: NodeId) -> Option<SocketAddr> {
        self.read(|entries| entries.get(&id)?.resolved.first().copied())
    }

    /// Whether `ip` is a resolved address of some peer (an IPv4 address
    /// seen on a dual-stack socket as IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn knows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.read(|entries| {
            entries
                .values()
                .flat_map(|entry| &entry.resolved)
                .any(|addr| addr.ip().to_canonical() == ip)
        })
    }

    /// The peers given by name, to resolve.
    fn names(&self) -> Vec<(NodeId, PeerAddr)> {
        self.read(|entries| {
            entries
                .iter()
                .filter(|(_, entry)| matches!(entry.addr, PeerAddr::Host(_)))
                .map(|(id, entry)| (*id, entry.addr.clone()))
                .collect()
        })
    }

    /// Records what `id`'s `addr` resolved to, unless it changed meanwhile.
    fn set_resolved(&self, id: NodeId, addr: &PeerAddr, resolved: Vec<SocketAddr>) {
        self.write(|entries| {
            if let Some(entry) = entries.get_mut(&id)
                && entry.addr == *addr
            {
                entry.resolved = resolved;
            }
        });
    }
}

/// The resolver task's memory of one name.
struct Schedule {
    addr: PeerAddr,
    due: Instant,
    repeats: Repeats<()>,
}

/// Resolves the peers' names until shutdown; see the module docs.
pub(crate) async fn resolve_names(
    peers: Arc<Peers>,
    resolver: Resolver,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut schedules: BTreeMap<NodeId, Schedule> = BTreeMap::new();
    loop {
        let now = Instant::now();
        let names = peers.names();
        schedules.retain(|id, s| names.iter().any(|(n, a)| n == id && *a == s.addr));
        for (id, addr) in names {
            schedules.entry(id).or_insert(Schedule {
                addr,
                due: now,
                repeats: Repeats::default(),
            });
        }
        for (id, schedule) in schedules.iter_mut().filter(|(_, s)| s.due <= now) {
            match schedule.addr.resolve_with(&resolver, RESOLVE_TIMEOUT).await {
                Ok(resolved) => {
                    debug!(peer = %id, addr = %schedule.addr, ?resolved, "peer name resolved");
                    peers.set_resolved(*id, &schedule.addr, resolved);
                    schedule.due = Instant::now() + REFRESH_RESOLVED;
                    if let Some(failures) = schedule.repeats.recovered() {
                        info!(peer = %id, addr = %schedule.addr, failures, "peer name resolves again");
                    }
                }
                Err(e) => {
                    bump(&counters.resolve_failures);
                    schedule.due = Instant::now() + RETRY_UNRESOLVED;
                    match schedule.repeats.failed((), Instant::now()) {
                        Loudness::Warn { repeats } => warn!(
                            peer = %id, addr = %schedule.addr, error = %e, repeats,
                            "cannot resolve the peer's address; its datagrams are dropped until it does (further failures are logged at debug level)"
                        ),
                        Loudness::Quiet => {
                            debug!(peer = %id, addr = %schedule.addr, error = %e, "cannot resolve the peer's address")
                        }
                    }
                }
            }
        }
        let next = schedules.values().map(|s| s.due).min();
        let sleep = async {
            match next {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = peers.changed.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_at_once_and_names_only_once_resolved() {
        let peers = Peers::default();
        let ip: SocketAddr = "10.0.0.7:7000".parse().expect("valid");
        let named = PeerAddr::parse("db-3.internal:7000");
        peers.replace(BTreeMap::from([
            (NodeId(2), PeerAddr::Socket(ip)),
            (NodeId(3), named.clone()),
        ]));
        assert_eq!(peers.target(NodeId(2)), Some(ip));
        assert_eq!(peers.target(NodeId(3)), None);
        assert_eq!(peers.names(), vec![(NodeId(3), named.clone())]);
        let db3: SocketAddr = "10.0.0.9:7000".parse().expect("valid");
        peers.set_resolved(NodeId(3), &named, vec![db3]);
        assert_eq!(peers.target(NodeId(3)), Some(db3));
        assert!(peers.knows_ip("10.0.0.9".parse().expect("valid")));
        assert!(peers.knows_ip("::ffff:10.0.0.7".parse().expect("valid")));
        assert!(!peers.knows_ip("10.0.0.8".parse().expect("valid")));
        // The same set again keeps the resolution; a moved peer loses it.
        peers.replace(BTreeMap::from([(NodeId(3), named.clone())]));
        assert_eq!(peers.target(NodeId(3)), Some(db3));
        assert_eq!(peers.target(NodeId(2)), None);
        peers.replace(BTreeMap::from([(NodeId(3), PeerAddr::parse("db-4:7000"))]));
        assert_eq!(peers.target(NodeId(3)), None);
        // A stale resolution (the address changed meanwhile) is ignored.
        peers.set_resolved(NodeId(3), &named, vec![db3]);
        assert_eq!(peers.target(NodeId(3)), None);
    }
}
