//! The tokio runtime that embeds an [`Election`] in a service.
//!
//! [`Node::start`] loads the saved state, starts the transport and spawns a
//! driver task that owns the election, the storage and the transport. The
//! service keeps a [`NodeHandle`] to ask "am I the Goose?", watch the
//! status, hand leadership over and shut down.
//!
//! Leader-only work belongs in [`NodeHandle::run_while_goose`] (or a
//! [`Leadership`] from [`NodeHandle::leadership`]): it is cancelled when the
//! leadership ends, at the lease's real-time deadline at the latest, even if
//! the driver task is stalled. [`NodeHandle::events`] reports every role and
//! Goose change, none coalesced.
//!
//! The membership can change while the cluster runs: on the Goose,
//! [`NodeHandle::add_node`] adds a node (a learner, promoted to voter once it
//! keeps up; [`NodeHandle::add_node_with_metadata`] with what it says about
//! itself, such as its application URL) and [`NodeHandle::remove_node`]
//! removes one; any member can
//! [`leave`](NodeHandle::leave). Each node keeps the newest membership it
//! holds in its storage and restarts with it; a node that joins starts from
//! [`NodeConfig::from_membership`].
//!
//! ```
//! use std::time::Duration;
//! use duckduckgoose::{NodeId, Role};
//! use duckduckgoose::runtime::{Node, NodeConfig};
//! use duckduckgoose::storage::MemStorage;
//! use duckduckgoose::transport::MemoryTransport;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // A one-node cluster elects itself after one election timeout.
//! let network = MemoryTransport::network(7);
//! let config = NodeConfig::new(NodeId(1), [NodeId(1)]);
//! let node = Node::start(config, network.transport(NodeId(1)), MemStorage::new())
//!     .await
//!     .unwrap();
//! tokio::time::timeout(Duration::from_secs(5), node.wait_for_role(Role::Goose))
//!     .await
//!     .expect("elected within 5 s")
//!     .unwrap();
//! // Present the fencing token to whatever the Goose guards.
//! assert_eq!(node.fencing_token(), Some(node.status().term));
//! node.shutdown().await;
//! assert!(!node.is_goose());
//! # }
//! ```

mod admission;
mod changes;
mod config;
mod driver;
mod error;
mod events;
mod goose;
mod handle;
mod latency;
mod leadership;
mod peers;
mod round_trip;
mod view;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

pub use config::{NodeConfig, NodeConfigError};
pub use error::{FatalError, HandleError, MissingAddresses, StartError, WaitError};
pub use events::{EVENTS_CAPACITY, Events, EventsError, NodeEvent, RoleReason};
pub use goose::GooseInfo;
pub use handle::{Lease, NodeHandle, NodeStatus};
pub use latency::{ACK_ROUND_TRIP_BUCKETS, LatencyHistogram, PERSIST_LATENCY_BUCKETS};
pub use leadership::{GooseTask, Leadership};
pub use peers::PeerStatus;
pub use round_trip::{AckRoundTrip, LATE_ACK_WARNING_INTERVAL};
pub use view::LOSS_LEAD;

use crate::core::Election;
use crate::storage::Storage;
use crate::transport::Transport;
use driver::{Channels, Driver};
use latency::LatencyRecorder;
use peers::Peers;

/// Messages waiting for the driver. A tick's worth of traffic is a few
/// messages per peer, so this absorbs long bursts; being bounded, a flood
/// makes the transport drop messages instead of growing memory.
const INBOUND_QUEUE_CAPACITY: usize = 1024;

/// Commands waiting for the driver; callers wait when it is full.
const COMMAND_QUEUE_CAPACITY: usize = 16;

/// What the driver observes for status pages and metrics, read by handles
/// on demand: written without allocating and without waking watchers.
#[derive(Debug)]
pub(crate) struct Observed {
    /// When each member was last heard from.
    pub(crate) peers: Peers,
    /// How long each `storage.save` took.
    pub(crate) persist_latency: LatencyRecorder,
    /// The heartbeat-ack round trips measured while leading.
    pub(crate) ack_round_trip: LatencyRecorder,
    /// Acks that arrived after the lease they could have extended ran out.
    pub(crate) late_acks: AtomicU64,
    /// How many times the driver woke up (see `NodeHandle::driver_wakeups`).
    pub(crate) driver_wakeups: AtomicU64,
}

/// Starts nodes; see [`Node::start`].
#[derive(Debug)]
pub struct Node {
    _not_constructible: (),
}

impl Node {
    /// Starts a node: validates `config`, loads its saved state from
    /// `storage`, starts `transport` and spawns the driver task on the
    /// current tokio runtime.
    ///
    /// The node starts as a Duck with its saved term and vote. A storage that
    /// cannot be read is an error: the node refuses to start rather than
    /// reset its vote (a reset could vote twice in one term).
    ///
    /// A membership saved in `storage` (the node has run before, and the
    /// membership changed or a Goose re-issued it) replaces the configured
    /// members, learners and addresses: the cluster may have changed since
    /// the configuration was written. Only the addresses it lacks are taken
    /// from [`NodeConfig::addresses`].
    ///
    /// A saved membership may not hold this node: it was removed, or it
    /// stopped while its removal was not committed yet (and a new Goose may
    /// since have undone it). Such a node starts anyway, as a **removed
    /// node**, and logs a warning saying so: it never campaigns and never
    /// becomes the Goose, votes only to let the others undo an uncommitted
    /// removal, and becomes a member again if the Goose adds it back (its
    /// heartbeats then bring the membership naming it). Refusing to start
    /// it could deadlock a small cluster whose majority needs that vote.
    /// [`NodeStatus::member`] (and the `http` feature's `/cluster`) tells
    /// whether a node is a member. To join again under the same id
    /// otherwise, wipe its storage and join as a new node.
    ///
    /// A transport that dials its peers
    /// ([`Transport::needs_peer_addresses`], such as TCP) needs every
    /// member's address, this node's included: a membership that lacks one
    /// (configured in [`NodeConfig::addresses`], or saved, which takes the
    /// addresses it lacks from there) is refused with
    /// [`NodeConfigError::MissingAddresses`] naming every member without
    /// one, before the transport starts.
    ///
    /// When the membership knows every other member's address, the
    /// transport is given the peers the election admits
    /// ([`Election::admitted_peers`](crate::core::Election::admitted_peers):
    /// the members, and departing peers still owed answers) with their
    /// addresses ([`Transport::set_peers`]) before it starts, and again
    /// whenever that set changes. Join requests the transport
    /// receives ([`Transport::take_join_requests`]) are answered by the
    /// driver: on the Goose the node is added and the joiner told once the
    /// change commits; a Duck names the Goose.
    pub async fn start(
        config: NodeConfig,
        mut transport: impl Transport,
        mut storage: impl Storage,
    ) -> Result<NodeHandle, StartError> {
        let mut core_config = config.to_core_config()?;
        let hard_state = storage
            .load()
            .await
            .map_err(StartError::Storage)?
            .unwrap_or_default();
        let stored_membership = storage
            .load_membership()
            .await
            .map_err(StartError::Storage)?;
        if let Some(membership) = stored_membership {
            // The core accepts a saved (version > 0) membership without this
            // node: it starts as a removed node.
            core_config.membership = admission::fill_addresses(membership, &config.addresses);
        }
        core_config.validate().map_err(NodeConfigError::from)?;
        if transport.needs_peer_addresses()
            && let Some(missing) = admission::missing_addresses(&core_config.membership)
        {
            return Err(NodeConfigError::MissingAddresses(missing).into());
        }
        let election = Election::new(core_config, hard_state, config.seed())
            .map_err(|error| StartError::Config(error.into()))?;
        let started = Instant::now();

        let transport_peers = admission::peer_addresses(
            &election.admitted_peers(),
            election.membership(),
            config.id,
            None,
        );
        if let Some(peers) = &transport_peers {
            transport.set_peers(peers);
        }
        // Before its writers run: a removed node must not dial the members
        // even once.
        transport.set_removed(!election.membership().contains(config.id));
        let joins = transport.take_join_requests();
        let (inbound_sender, inbound) = mpsc::channel(INBOUND_QUEUE_CAPACITY);
        transport
            .start(inbound_sender)
            .await
            .map_err(StartError::Transport)?;
        let (command_sender, commands) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
        let (shutdown_sender, shutdown) = watch::channel(false);
        let (status_sender, status) = watch::channel(driver::initial_status(&election));
        let (events, weak_events) = events::EventSender::new();

        let id = config.id;
        let span = tracing::info_span!("duckduckgoose", node = %id);
        span.in_scope(|| {
            let membership = election.membership();
            tracing::info!(
                %id,
                term = %hard_state.term,
                voted_for = ?hard_state.voted_for,
                membership = %membership.id(),
                voters = ?driver::id_list(membership.voters()),
                learners = ?driver::id_list(membership.learners()),
                "node started"
            );
            if !membership.contains(id) {
                tracing::warn!(
                    %id,
                    membership = %membership.id(),
                    "node {id} is not in its stored membership {}: it was removed (or its removal \
                     had not committed when it stopped). It will not campaign; it takes part again \
                     only if the Goose adds it back. To join under this id, wipe the data directory \
                     and --join.",
                    membership.id()
                );
            }
        });
        let observed = Arc::new(Observed {
            peers: Peers::new(started, election.membership()),
            persist_latency: LatencyRecorder::default(),
            ack_round_trip: LatencyRecorder::with_bounds(&latency::ACK_ROUND_TRIP_BUCKETS),
            late_acks: AtomicU64::new(0),
            driver_wakeups: AtomicU64::new(0),
        });
        let channels = Channels {
            inbound,
            commands,
            joins,
            shutdown,
            status: status_sender,
            events,
            observed: Arc::clone(&observed),
            transport_peers,
        };
        let driver = Driver::new(election, storage, transport, channels, config.tick, started);
        let task = tokio::spawn(driver.run().instrument(span));
        Ok(NodeHandle::new(
            id,
            config.check_quorum,
            status,
            handle::HandleChannels {
                commands: command_sender,
                shutdown: shutdown_sender,
                events: weak_events,
            },
            task.abort_handle(),
            observed,
        ))
    }
}
