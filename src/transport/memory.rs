//! An in-process network with fault injection, for tests and examples.
//!
//! A [`MemoryNetwork`] connects any number of [`MemoryTransport`]s, one per
//! node, and lets a test drop, delay and partition their traffic. All of its
//! randomness comes from one seeded RNG, so on a single-threaded runtime
//! with paused time the same seed gives the same run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;

use super::{Inbound, Transport, TransportError};
use crate::core::{Message, NodeId};

/// An in-process network shared by the [`MemoryTransport`]s of a cluster.
/// Cheap to clone; every clone controls the same network.
///
/// Faults apply per message at send time: isolation and one-way blocks drop
/// it, then it is lost with the drop probability, then it is delayed.
/// Links are checked again at delivery, so a message in flight over a link
/// that is cut meanwhile is lost too. Sends never block: a message for a
/// node whose inbound queue is full (counted in
/// [`dropped_inbound_full`](Self::dropped_inbound_full)), or that is not
/// running, is dropped.
///
/// ```
/// use std::time::Duration;
/// use duckduckgoose::NodeId;
/// use duckduckgoose::transport::MemoryTransport;
///
/// let network = MemoryTransport::network(42);
/// let transport = network.transport(NodeId(1));
/// network.set_delay_range(Duration::from_millis(1)..Duration::from_millis(5));
/// network.isolate(NodeId(3));
/// network.block(NodeId(1), NodeId(2)); // 1 → 2 only
/// network.heal_all();
/// # drop(transport);
/// ```
#[derive(Clone)]
pub struct MemoryNetwork {
    inner: Arc<Mutex<Network>>,
}

struct Network {
    rng: StdRng,
    /// Inbound queues of the running nodes.
    nodes: BTreeMap<NodeId, mpsc::Sender<Inbound>>,
    drop_probability: f64,
    /// Delay drawn uniformly from `[min, max)`; `min == max` is a fixed delay.
    delay_min: Duration,
    delay_max: Duration,
    isolated: BTreeSet<NodeId>,
    /// Blocked one-way links, `(from, to)`.
    blocked: BTreeSet<(NodeId, NodeId)>,
    delivered: u64,
    dropped: u64,
    /// Of `dropped`, those a running node's full inbound queue refused.
    dropped_inbound_full: u64,
}

impl Network {
    fn link_open(&self, from: NodeId, to: NodeId) -> bool {
        !self.isolated.contains(&from)
            && !self.isolated.contains(&to)
            && !self.blocked.contains(&(from, to))
    }

    /// Hands `msg` to `to`'s queue if the link is open and the node runs.
    /// Never waits: a full queue drops the message, as the `Transport`
    /// contract says.
    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Message) {
        let queue = match self.nodes.get(&to) {
            Some(queue) if self.link_open(from, to) => queue,
            _ => {
                self.dropped += 1;
                return;
            }
        };
        match queue.try_send(Inbound { from, msg }) {
            Ok(()) => self.delivered += 1,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped += 1;
                self.dropped_inbound_full += 1;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.dropped += 1,
        }
    }

    fn draw_delay(&mut self) -> Duration {
        if self.delay_max <= self.delay_min {
            return self.delay_min;
        }
        // Nanosecond precision up to ~584 years of delay; longer saturates.
        let min_ns = u64::try_from(self.delay_min.as_nanos()).unwrap_or(u64::MAX);
        let max_ns = u64::try_from(self.delay_max.as_nanos()).unwrap_or(u64::MAX);
        if max_ns <= min_ns {
            return self.delay_min;
        }
        Duration::from_nanos(self.rng.random_range(min_ns..max_ns))
    }
}

impl MemoryNetwork {
    /// A network without faults whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        MemoryNetwork {
            inner: Arc::new(Mutex::new(Network {
                rng: StdRng::seed_from_u64(seed),
                nodes: BTreeMap::new(),
                drop_probability: 0.0,
                delay_min: Duration::ZERO,
                delay_max: Duration::ZERO,
                isolated: BTreeSet::new(),
                blocked: BTreeSet::new(),
                delivered: 0,
                dropped: 0,
                dropped_inbound_full: 0,
            })),
        }
    }

    /// The transport of node `id` on this network. It receives once the node
    /// starts it; a new transport for the same id (a restarted node) takes
    /// over from the old one.
    pub fn transport(&self, id: NodeId) -> MemoryTransport {
        MemoryTransport {
            id,
            network: self.clone(),
            inbound: None,
        }
    }

    /// Loses each message with probability `probability` (clamped to
    /// `[0, 1]`; NaN means no loss).
    pub fn set_drop_probability(&self, probability: f64) {
        self.lock().drop_probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
    }

    /// Delays every message by `delay` (zero: delivered at once, in order).
    pub fn set_delay(&self, delay: Duration) {
        let mut network = self.lock();
        network.delay_min = delay;
        network.delay_max = delay;
    }

    /// Delays each message by a time drawn from `range`, so messages may
    /// overtake each other. An empty range delays by `range.start`.
    pub fn set_delay_range(&self, range: Range<Duration>) {
        let mut network = self.lock();
        network.delay_min = range.start;
        network.delay_max = range.end;
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&self, id: NodeId) {
        self.lock().isolated.insert(id);
    }

    /// Undoes [`isolate`](Self::isolate) (links cut one by one stay cut).
    pub fn reconnect(&self, id: NodeId) {
        self.lock().isolated.remove(&id);
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut network = self.lock();
        network.blocked.insert((a, b));
        network.blocked.insert((b, a));
    }

    /// Restores the link between `a` and `b`, both ways.
    pub fn heal(&self, a: NodeId, b: NodeId) {
        let mut network = self.lock();
        network.blocked.remove(&(a, b));
        network.blocked.remove(&(b, a));
    }

    /// Blocks messages from `from` to `to` only; `to` can still reach `from`.
    pub fn block(&self, from: NodeId, to: NodeId) {
        self.lock().blocked.insert((from, to));
    }

    /// Undoes [`block`](Self::block).
    pub fn unblock(&self, from: NodeId, to: NodeId) {
        self.lock().blocked.remove(&(from, to));
    }

    /// Cuts every link between a node of `side_a` and a node of `side_b`.
    pub fn split(&self, side_a: &[NodeId], side_b: &[NodeId]) {
        let mut network = self.lock();
        for &a in side_a {
            for &b in side_b {
                network.blocked.insert((a, b));
                network.blocked.insert((b, a));
            }
        }
    }

    /// Removes every isolation, cut and one-way block. Loss and delay stay
    /// as set.
    pub fn heal_all(&self) {
        let mut network = self.lock();
        network.isolated.clear();
        network.blocked.clear();
    }

    /// Whether a message from `from` to `to` would pass the partitions now
    /// (loss aside).
    pub fn can_reach(&self, from: NodeId, to: NodeId) -> bool {
        self.lock().link_open(from, to)
    }

    /// Messages handed to a node's queue so far.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Messages lost so far: partitioned, dropped at random, or for a node
    /// that was not running or whose queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Of [`dropped`](Self::dropped), the messages dropped because the
    /// receiving node's inbound queue was full (its driver is behind).
    pub fn dropped_inbound_full(&self) -> u64 {
        self.lock().dropped_inbound_full
    }

    fn send(&self, from: NodeId, to: NodeId, msg: Message) {
        let mut network = self.lock();
        if !network.link_open(from, to) {
            network.dropped += 1;
            return;
        }
        let drop_probability = network.drop_probability;
        if drop_probability > 0.0 && network.rng.random_bool(drop_probability) {
            network.dropped += 1;
            return;
        }
        let delay = network.draw_delay();
        if delay.is_zero() {
            return network.deliver(from, to, msg);
        }
        // Outside a runtime there is nothing to deliver later with.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return network.deliver(from, to, msg);
        };
        drop(network);
        let this = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            this.lock().deliver(from, to, msg);
        });
    }

    fn register(&self, id: NodeId, inbound: mpsc::Sender<Inbound>) {
        self.lock().nodes.insert(id, inbound);
    }

    /// Removes `id`'s queue, unless a newer transport for `id` replaced it.
    fn deregister(&self, id: NodeId, inbound: &mpsc::Sender<Inbound>) {
        let mut network = self.lock();
        if network
            .nodes
            .get(&id)
            .is_some_and(|queue| queue.same_channel(inbound))
        {
            network.nodes.remove(&id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Network> {
        // No code that can panic runs under this lock except the RNG and
        // `try_send`; if it ever did, the state is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let network = self.lock();
        f.debug_struct("MemoryNetwork")
            .field("nodes", &network.nodes.keys().collect::<Vec<_>>())
            .field("drop_probability", &network.drop_probability)
            .field("delay", &(network.delay_min..network.delay_max))
            .field("isolated", &network.isolated)
            .field("blocked", &network.blocked)
            .field("delivered", &network.delivered)
            .field("dropped", &network.dropped)
            .field("dropped_inbound_full", &network.dropped_inbound_full)
            .finish()
    }
}

/// One node's end of an in-process `MemoryNetwork`, for tests and examples.
///
/// Build the network with [`MemoryTransport::network`], then get each node's
/// transport from `network.transport(id)`. The network injects faults: loss
/// (`set_drop_probability`), delay (`set_delay`, `set_delay_range`) and
/// partitions (`isolate`, `cut`, `block`, `split`, `heal_all`).
#[derive(Debug)]
pub struct MemoryTransport {
    id: NodeId,
    network: MemoryNetwork,
    /// Our inbound queue once started, to deregister exactly it.
    inbound: Option<mpsc::Sender<Inbound>>,
}

impl MemoryTransport {
    /// A new in-process network without faults, its randomness seeded with
    /// `seed`; the same as `MemoryNetwork::new(seed)`.
    pub fn network(seed: u64) -> MemoryNetwork {
        MemoryNetwork::new(seed)
    }

    /// The node this transport belongs to.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The network this transport is attached to.
    pub fn memory_network(&self) -> &MemoryNetwork {
        &self.network
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        if self.inbound.is_some() {
            return Err(TransportError::AlreadyStarted);
        }
        self.network.register(self.id, inbound.clone());
        self.inbound = Some(inbound);
        Ok(())
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.network.send(self.id, to, msg);
    }

    async fn shutdown(&mut self) {
        // Nothing is queued here: undelayed messages are already in their
        // receivers' queues and delayed ones are delivered by their own tasks.
        if let Some(inbound) = self.inbound.take() {
            self.network.deregister(self.id, &inbound);
        }
    }
}

impl Drop for MemoryTransport {
    /// A crashed (aborted) node stops receiving at once.
    fn drop(&mut self) {
        if let Some(inbound) = self.inbound.take() {
            self.network.deregister(self.id, &inbound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Term;

    const HEARTBEAT: Message = Message::Heartbeat {
        term: Term(1),
        sent_tick: 0,
        membership: None,
    };

    async fn started(
        network: &MemoryNetwork,
        id: u64,
    ) -> (MemoryTransport, mpsc::Receiver<Inbound>) {
        let mut transport = network.transport(NodeId(id));
        let (sender, receiver) = mpsc::channel(8);
        transport.start(sender).await.expect("first start");
        (transport, receiver)
    }

    #[tokio::test]
    async fn delivers_in_order_without_faults() {
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        let (_b, mut b_in) = started(&network, 2).await;
        a.send(NodeId(2), HEARTBEAT);
        a.send(NodeId(2), Message::TimeoutNow { term: Term(1) });
        assert_eq!(b_in.recv().await.map(|m| m.msg), Some(HEARTBEAT));
        assert_eq!(
            b_in.recv().await.map(|m| (m.from, m.msg)),
            Some((NodeId(1), Message::TimeoutNow { term: Term(1) }))
        );
        assert_eq!(network.delivered(), 2);
    }

    #[tokio::test]
    async fn partitions_drop_and_heal() {
        let network = MemoryNetwork::new(1);
        let (mut a, mut a_in) = started(&network, 1).await;
        let (mut b, mut b_in) = started(&network, 2).await;
        network.block(NodeId(1), NodeId(2));
        a.send(NodeId(2), HEARTBEAT);
        b.send(NodeId(1), HEARTBEAT);
        assert!(b_in.try_recv().is_err(), "1 → 2 is blocked");
        assert!(a_in.try_recv().is_ok(), "2 → 1 still works");
        network.isolate(NodeId(2));
        b.send(NodeId(1), HEARTBEAT);
        assert!(a_in.try_recv().is_err());
        network.heal_all();
        a.send(NodeId(2), HEARTBEAT);
        assert!(b_in.try_recv().is_ok());
        assert_eq!(network.dropped(), 2);
    }

    #[tokio::test]
    async fn full_loss_drops_everything() {
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        let (_b, mut b_in) = started(&network, 2).await;
        network.set_drop_probability(1.0);
        for _ in 0..10 {
            a.send(NodeId(2), HEARTBEAT);
        }
        assert!(b_in.try_recv().is_err());
        assert_eq!(network.dropped(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn delay_holds_messages_back() {
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        let (_b, mut b_in) = started(&network, 2).await;
        network.set_delay(Duration::from_millis(20));
        let sent = tokio::time::Instant::now();
        a.send(NodeId(2), HEARTBEAT);
        assert!(b_in.try_recv().is_err());
        assert!(b_in.recv().await.is_some());
        assert_eq!(sent.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_restarted_node_takes_over_and_the_old_transport_cannot_deregister_it() {
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        let (old, _old_in) = started(&network, 2).await;
        let (_new, mut new_in) = started(&network, 2).await;
        drop(old);
        a.send(NodeId(2), HEARTBEAT);
        assert!(new_in.try_recv().is_ok());
    }

    #[tokio::test]
    async fn a_flood_overflows_into_drops_and_traffic_resumes_once_drained() {
        const QUEUE_CAPACITY: usize = 8;
        const FLOOD: usize = 1000;
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        // Node 2's driver does not drain its queue during the flood.
        let (_b, mut b_in) = started(&network, 2).await;
        assert_eq!(b_in.max_capacity(), QUEUE_CAPACITY);
        for _ in 0..FLOOD {
            a.send(NodeId(2), HEARTBEAT);
        }
        let surplus = (FLOOD - QUEUE_CAPACITY) as u64;
        assert_eq!(network.delivered(), QUEUE_CAPACITY as u64);
        assert_eq!(network.dropped_inbound_full(), surplus);
        assert_eq!(network.dropped(), surplus);
        for _ in 0..QUEUE_CAPACITY {
            assert_eq!(b_in.try_recv().map(|m| m.msg), Ok(HEARTBEAT));
        }
        assert!(b_in.try_recv().is_err(), "the surplus was not queued");

        // Drained, node 2 receives again; nothing more is dropped.
        let vote = Message::TimeoutNow { term: Term(2) };
        a.send(NodeId(2), vote.clone());
        assert_eq!(b_in.try_recv().map(|m| m.msg), Ok(vote));
        assert_eq!(network.dropped_inbound_full(), surplus);
    }

    #[tokio::test]
    async fn starting_twice_is_an_error() {
        let network = MemoryNetwork::new(1);
        let (mut a, _a_in) = started(&network, 1).await;
        let (sender, _receiver) = mpsc::channel(1);
        assert!(matches!(
            a.start(sender).await,
            Err(TransportError::AlreadyStarted)
        ));
    }
}
