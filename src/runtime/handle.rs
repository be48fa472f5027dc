//! What a service holds on to: the node's status and the levers to move it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::Observed;
use super::changes::NewMember;
use super::error::{FatalError, HandleError, WaitError};
use super::events::NodeEvent;
use super::latency::LatencyHistogram;
use super::peers::PeerStatus;
use super::view::StatusView;
use crate::core::{
    CommandError, Counters, Membership, MembershipId, NodeId, NodeMetadata, Role, Term,
};

/// A snapshot of a running node, published by its driver task.
///
/// Which to use for "am I the Goose":
///
/// * Now, once: [`NodeHandle::is_goose`] (or [`NodeHandle::fencing_token`]),
///   or `role` in a snapshot from [`NodeHandle::status`]. Both judge the
///   lease against the monotonic clock at the moment they are called, the
///   same way, so they never disagree at one instant.
/// * To react to every change: [`NodeHandle::leadership`] (a scope that
///   ends at the lease's real-time deadline even if the driver stalls) and
///   [`NodeHandle::events`] (every transition, none coalesced).
///
/// Snapshots from [`NodeHandle::subscribe`] were judged when the driver
/// published them and are never judged again: a lease that runs out while
/// the driver is stalled leaves them saying Goose.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Goose only while this node holds its lease, judged against the
    /// clock: Goose exactly when [`NodeHandle::is_goose`] would say so at
    /// the moment the snapshot was taken (see the type's docs for watch
    /// snapshots). A Goose whose real-time lease deadline has passed is a
    /// Duck here even if its driver has not noticed yet (`core_role`).
    pub role: Role,
    /// The role as the core last reported it, without the real-time lease
    /// check: it stays Goose while a stalled driver has not noticed that its
    /// lease ran out. For diagnostics; act on `role`. Duck once the node has
    /// stopped.
    pub core_role: Role,
    /// The current term; while Goose, the fencing token.
    pub term: Term,
    /// The Goose this node follows (itself when it leads), if known.
    pub leader: Option<NodeId>,
    /// The vote this node cast in `term`.
    pub voted_for: Option<NodeId>,
    /// While Goose with the check-quorum lease: the instant the lease ends
    /// unless a majority acknowledges a newer heartbeat round. It is the
    /// instant the driver processed the lease's starting tick plus the lease
    /// length, so it is never later than the lease the voters granted.
    pub lease_deadline: Option<Instant>,
    /// The voters of the membership in force, in ascending id order
    /// (shared, so snapshots are cheap).
    pub members: Arc<[NodeId]>,
    /// The learners of the membership in force
    /// ([`NodeConfig::learners`](crate::runtime::NodeConfig::learners), and
    /// nodes added but not yet promoted to voters): members that follow the
    /// Goose without voting and never become it, in ascending id order.
    pub learners: Arc<[NodeId]>,
    /// Whether this node is a member (a voter or a learner) of
    /// `membership`: a voter if `members` holds [`id`](Self::id), a learner
    /// if `learners` does. `false` for a **removed node**: one removed
    /// while it ran, or restarted on storage whose membership no longer
    /// holds it (it was removed, or stopped while its removal was not
    /// committed). A removed node stays a Duck and never campaigns; it votes
    /// only to let the others undo an uncommitted removal, and becomes a
    /// member again (this turns `true`) if the Goose adds it back.
    pub member: bool,
    /// Which membership is in force on this node: the newest it holds
    /// durably, committed or not. The full membership, with addresses, is
    /// [`NodeHandle::membership`].
    pub membership: MembershipId,
    /// While this node leads: whether `membership` is still uncommitted
    /// (a change, or a new Goose's re-issue, that a majority does not hold
    /// yet), so that no other change may start. `None` on a Duck.
    pub membership_pending: Option<bool>,
    /// What the node has done so far.
    pub counters: Counters,
    /// Whether the driver task is still running.
    pub running: bool,
    /// Why the node stopped by itself, if it did.
    pub fatal_error: Option<Arc<FatalError>>,
    /// The membership `membership` names, for [`NodeHandle::membership`].
    pub(crate) full_membership: Arc<Membership>,
    /// Which uninterrupted stretch of leadership the node is in: the driver
    /// counts one more each time it publishes a Goose holding its lease
    /// after a status that did not (a new term, or a lease renewed after it
    /// had lapsed in real time), so a [`Leadership`](super::Leadership) that
    /// saw its lease lapse stays lost.
    pub(crate) reign: u64,
}

impl NodeStatus {
    /// Whether this snapshot shows a Goose whose lease still runs at `now`.
    /// Without the check-quorum lease (`lease_checked == false`) the role
    /// alone decides.
    pub(crate) fn holds_lease_at(&self, now: Instant, lease_checked: bool) -> bool {
        self.running && leads_at(self.core_role, self.lease_deadline, now, lease_checked)
    }
}

/// Whether a node whose core says `role`, with this real-time lease
/// `deadline`, is the Goose at `now`: the one judgement behind `is_goose`,
/// the published status and the driver's count of reigns. Without the
/// check-quorum lease (`lease_checked == false`) the role alone decides.
pub(crate) fn leads_at(
    role: Role,
    deadline: Option<Instant>,
    now: Instant,
    lease_checked: bool,
) -> bool {
    role == Role::Goose && (!lease_checked || deadline.is_some_and(|deadline| now < deadline))
}

/// This node's lease as the Goose, from [`NodeHandle::lease`]: the fencing
/// token and the time left, read together at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The term this node leads: the fencing token.
    pub term: Term,
    /// How long the lease still runs unless a majority acknowledges a newer
    /// heartbeat round; `None` without the check-quorum lease, which voids
    /// lease safety.
    pub remaining: Option<Duration>,
}

/// The channels a handle talks to the driver through.
pub(crate) struct HandleChannels {
    pub(crate) commands: mpsc::Sender<Command>,
    /// Set to `true` to ask the driver to stop.
    pub(crate) shutdown: watch::Sender<bool>,
    /// A weak end of the driver's event channel.
    pub(crate) events: broadcast::WeakSender<NodeEvent>,
}

/// A request to the driver task, answered on `reply` once its outputs have
/// been handled.
#[derive(Debug)]
pub(crate) enum Command {
    /// [`NodeHandle::step_down`].
    StepDown {
        reply: oneshot::Sender<Result<Term, CommandError>>,
    },
    /// [`NodeHandle::transfer_leadership`].
    Transfer {
        to: NodeId,
        reply: oneshot::Sender<Result<Term, CommandError>>,
    },
    /// [`NodeHandle::add_node`] and [`NodeHandle::add_node_with_metadata`];
    /// answered when the change commits. `addr` is the node's address with
    /// its metadata.
    AddNode {
        id: NodeId,
        addr: NewMember,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    },
    /// [`NodeHandle::remove_node`]; answered when the change commits.
    RemoveNode {
        id: NodeId,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    },
    /// [`NodeHandle::leave`]; answered once this node is no member.
    Leave {
        reply: oneshot::Sender<Result<(), HandleError>>,
    },
}

/// A handle on a running node: its status, and the commands a service may
/// give it. Cheap to clone; every clone talks to the same node.
///
/// Dropping the last handle shuts the node down gracefully, as
/// [`shutdown`](Self::shutdown) would.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: NodeId,
    /// The published status, judged against the clock.
    view: StatusView,
    commands: mpsc::Sender<Command>,
    /// Set to `true` to ask the driver to stop; dropping it does the same.
    shutdown: watch::Sender<bool>,
    task: AbortHandle,
    /// Contact times and persist latencies, written by the driver.
    observed: Arc<Observed>,
    /// Where the driver sends every transition, for [`NodeHandle::events`];
    /// weak, so that it closes when the driver ends.
    events: broadcast::WeakSender<NodeEvent>,
}

impl NodeHandle {
    pub(crate) fn new(
        id: NodeId,
        lease_checked: bool,
        status: watch::Receiver<NodeStatus>,
        channels: HandleChannels,
        task: AbortHandle,
        observed: Arc<Observed>,
    ) -> Self {
        let aborted = Arc::new(AtomicBool::new(false));
        NodeHandle {
            inner: Arc::new(Inner {
                id,
                view: StatusView::new(status, lease_checked, aborted),
                commands: channels.commands,
                shutdown: channels.shutdown,
                task,
                observed,
                events: channels.events,
            }),
        }
    }

    /// The judging view of the status, for tasks that must not keep the
    /// node running.
    pub(crate) fn view(&self) -> &StatusView {
        &self.inner.view
    }

    /// The driver's event channel, if the driver still runs.
    pub(crate) fn event_sender(&self) -> Option<broadcast::Sender<NodeEvent>> {
        self.inner.events.upgrade()
    }

    // ----- getters ----------------------------------------------------------

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The latest status the driver published, judged now: `role` is Goose
    /// exactly when [`is_goose`](Self::is_goose) is (the core's own answer
    /// is `core_role`), and `running` is `false` once the driver task has
    /// ended, however it ended.
    pub fn status(&self) -> NodeStatus {
        self.inner.view.judged_at(Instant::now())
    }

    /// A receiver that wakes whenever the role, term, leader, vote,
    /// membership (or whether it is pending) or running state changes. The
    /// lease deadline and the counters are refreshed in place without waking
    /// it, so a healthy Goose does not wake every watcher at every heartbeat.
    ///
    /// Changes coalesce: a receiver that looks only now and then sees the
    /// latest value, and may miss a Goose→Duck→Goose flip into a new term.
    /// A snapshot is judged when the driver publishes it and never again,
    /// so one read after a stalled Goose's lease ran out still says Goose.
    /// To react to leadership use [`leadership`](Self::leadership) or
    /// [`run_while_goose`](Self::run_while_goose); to see every transition,
    /// [`events`](Self::events); to ask now, [`is_goose`](Self::is_goose).
    pub fn subscribe(&self) -> watch::Receiver<NodeStatus> {
        self.inner.view.receiver().clone()
    }

    /// Whether this node is the Goose **now**: the core says so and its
    /// lease deadline has not passed on the monotonic clock. The one truth
    /// for "am I the Goose": [`status`](Self::status)`().role` judges the
    /// same way.
    ///
    /// The deadline check is what makes this answer safe even when the
    /// driver task is stalled and has not noticed that its lease ran out
    /// (its tick count lags real time). A pause of the whole process can
    /// still outlast any lease; guard shared resources with the
    /// [fencing token](Self::fencing_token). To run work only while this
    /// node leads, use [`run_while_goose`](Self::run_while_goose) rather than
    /// polling this.
    pub fn is_goose(&self) -> bool {
        self.fencing_token().is_some()
    }

    /// The term to present to guarded resources, only while
    /// [`is_goose`](Self::is_goose): resources that remember the highest
    /// token they have seen reject a Goose that was deposed while paused.
    pub fn fencing_token(&self) -> Option<Term> {
        self.lease().map(|lease| lease.term)
    }

    /// While [`is_goose`](Self::is_goose): the term led and how long the
    /// lease still runs, both read at the same instant (so a status page
    /// never shows a Goose without a lease). `None` for a Duck.
    pub fn lease(&self) -> Option<Lease> {
        let now = Instant::now();
        let reign = self.inner.view.reign_at(now)?;
        Some(Lease {
            term: reign.term,
            remaining: reign
                .deadline
                .map(|deadline| deadline.saturating_duration_since(now)),
        })
    }

    /// Every member as this node sees it, voters and learners, in ascending
    /// id order: whether it votes, its display address
    /// ([`NodeConfig::addresses`](crate::runtime::NodeConfig::addresses)),
    /// when this node last received a message from it and, on a node that
    /// leads (or led) its current term, its heartbeat-ack round trip.
    ///
    /// Read on demand from a table the driver updates in place for every
    /// message, so contacts and round trips do not wake the receivers of
    /// [`subscribe`](Self::subscribe).
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.inner
            .observed
            .peers
            .snapshot(self.inner.id, Instant::now())
    }

    /// The membership in force on this node, with every member's address:
    /// the newest it holds durably, committed or not (see
    /// [`NodeStatus::membership_pending`] on the Goose). Read from the
    /// published status, without asking the driver.
    ///
    /// A node that is not in it was removed ([`NodeStatus::member`] is
    /// `false`): it stays a Duck and never campaigns, unless the Goose adds
    /// it back.
    pub fn membership(&self) -> Membership {
        Membership::clone(&self.inner.view.receiver().borrow().full_membership)
    }

    /// How long the node's `storage.save` calls have taken (every attempt,
    /// failed ones included), as a histogram with fixed buckets.
    pub fn persist_latency(&self) -> LatencyHistogram {
        self.inner.observed.persist_latency.snapshot()
    }

    /// The heartbeat-ack round trips this node measured while it led (every
    /// peer's, one per heartbeat round; see
    /// [`PeerStatus::ack_round_trip`] for each peer's last and smoothed),
    /// as a histogram with the fixed [`ACK_ROUND_TRIP_BUCKETS`]. Mass at or
    /// above the lease means acks come too late to keep it.
    ///
    /// [`ACK_ROUND_TRIP_BUCKETS`]: super::ACK_ROUND_TRIP_BUCKETS
    pub fn ack_round_trips(&self) -> LatencyHistogram {
        self.inner.observed.ack_round_trip.snapshot()
    }

    /// How many heartbeat acks of a term this node led arrived after the
    /// lease they could have extended had run out (each also a
    /// [`NodeEvent::LateAck`]). Growing, it says why this node keeps
    /// losing its lease: the round trip is at least the lease.
    pub fn late_acks(&self) -> u64 {
        self.inner
            .observed
            .late_acks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times the driver task has woken up: for each heartbeat
    /// round it sends as the Goose, each election timeout, and each message,
    /// command or join request it took. An idle Duck wakes only for the
    /// Goose's heartbeats; a count growing much faster than the messages
    /// says something keeps the node busy.
    pub fn driver_wakeups(&self) -> u64 {
        self.inner
            .observed
            .driver_wakeups
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the node stopped by itself, if it did.
    pub fn fatal_error(&self) -> Option<Arc<FatalError>> {
        self.inner.view.receiver().borrow().fatal_error.clone()
    }

    /// Whether the driver task is still running.
    pub fn is_running(&self) -> bool {
        self.inner.view.is_running()
    }

    /// Waits until this node is `role` (for [`Role::Goose`], as
    /// [`is_goose`](Self::is_goose) counts it) and returns the status then
    /// (judged, as [`status`](Self::status) gives it).
    ///
    /// It has no timeout of its own: wrap it in [`tokio::time::timeout`].
    /// A learner never becomes the Goose: waiting for [`Role::Goose`] on one
    /// waits until the node stops, then fails with [`WaitError::Stopped`].
    pub async fn wait_for_role(&self, role: Role) -> Result<NodeStatus, WaitError> {
        self.inner.view.wait_for_role(role).await
    }

    /// Waits until the driver task has ended, however it ends.
    pub async fn stopped(&self) {
        self.inner.view.stopped().await;
    }

    // ----- commands ---------------------------------------------------------

    /// Hands leadership to the most responsive voter (never a learner).
    /// This node is a Duck when the call returns. Returns the term it led and
    /// gave up: the successor is elected in a later one.
    pub async fn step_down(&self) -> Result<Term, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::StepDown { reply }, answer).await
    }

    /// Hands leadership to `to`, which starts an election at once. This node
    /// is a Duck when the call returns. Returns the term it led and gave up.
    ///
    /// `to` must be a voter: a learner (or a non-member) is refused with
    /// [`CommandError::NotAVoter`] and nothing changes.
    pub async fn transfer_leadership(&self, to: NodeId) -> Result<Term, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Transfer { to, reply }, answer).await
    }

    /// Adds node `id`, reachable at `addr` (`"HOST:PORT"`), to the cluster
    /// as a learner; the Goose promotes it to voter by itself once it has
    /// acknowledged heartbeats for a whole election timeout. Returns the
    /// committed membership that holds it, once a majority of the voters
    /// hold it.
    ///
    /// Only the Goose changes the membership, one change at a time. Adding
    /// a member again at the address it has returns the membership in force
    /// at once. Errors (nothing changed unless said otherwise):
    ///
    /// * [`MembershipError::NotGoose`](crate::core::MembershipError::NotGoose):
    ///   this node is a Duck; the Goose it knows of is named.
    /// * [`MembershipError::ChangeInProgress`](crate::core::MembershipError::ChangeInProgress):
    ///   another change (or a new Goose's re-issue of the membership) is
    ///   not committed yet; retry later.
    /// * [`MembershipError::AddressConflict`](crate::core::MembershipError::AddressConflict):
    ///   `id` is a member at another address.
    /// * [`MembershipError::MetadataConflict`](crate::core::MembershipError::MetadataConflict):
    ///   `id` is a member with metadata (see [`add_node_with_metadata`](Self::add_node_with_metadata)).
    /// * [`MembershipError::InvalidAddress`](crate::core::MembershipError::InvalidAddress).
    /// * [`HandleError::MissingAddresses`]: the transport dials its peers and
    ///   some member's address is unknown; record it first.
    /// * [`HandleError::LeadershipLost`]: proposed, but this node stopped
    ///   being the Goose before the change was committed; it may still be.
    /// * [`HandleError::Stopped`].
    ///
    /// There is no timeout of its own: a change commits within a heartbeat
    /// round or two while a majority of the new voters is reachable, and
    /// waits for them otherwise (wrap the call in
    /// [`tokio::time::timeout`] to give up waiting; the change goes on).
    pub async fn add_node(
        &self,
        id: NodeId,
        addr: impl Into<String>,
    ) -> Result<Membership, HandleError> {
        self.add_node_with_metadata(id, addr, NodeMetadata::new())
            .await
    }

    /// Removes node `id`, a voter or a learner, from the cluster. Returns
    /// the committed membership without it, once a majority of its voters
    /// hold it. The removed node stops receiving heartbeats and stays a
    /// Duck that never campaigns until it is shut down (or added back).
    ///
    /// The Goose may remove itself: it leads until the change commits, then
    /// steps down, and the remaining voters elect a new Goose. Errors as for
    /// [`add_node`](Self::add_node), plus
    /// [`MembershipError::NotAMember`](crate::core::MembershipError::NotAMember)
    /// and [`MembershipError::LastVoter`](crate::core::MembershipError::LastVoter)
    /// (a cluster keeps at least one voter).
    pub async fn remove_node(&self, id: NodeId) -> Result<Membership, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.request(Command::RemoveNode { id, reply }, answer)
            .await
    }

    /// Asks the Goose to remove this node, and returns once this node holds
    /// a membership without itself. A Goose hands leadership over first.
    /// The node keeps running as a removed Duck that never campaigns; shut
    /// it down then.
    ///
    /// The request is repeated with every heartbeat until the Goose obliges,
    /// which it does as soon as no other change is in progress. Without a
    /// Goose it can wait forever, and it has no timeout of its own: wrap it
    /// in [`tokio::time::timeout`]. The request is not remembered across
    /// restarts. Fails at once with
    /// [`MembershipError::LastVoter`](crate::core::MembershipError::LastVoter)
    /// for the last voter; a node that is already no member (a removed
    /// node, [`NodeStatus::member`] `false`) returns `Ok` at once.
    pub async fn leave(&self) -> Result<(), HandleError> {
        let (reply, answer) = oneshot::channel();
        self.request(Command::Leave { reply }, answer).await
    }

    /// Stops the node gracefully and returns once its task has ended. A
    /// Goose hands over first (as [`step_down`](Self::step_down)), then the
    /// transport gets to flush, so the cluster has a new Goose without
    /// waiting for an election timeout.
    pub async fn shutdown(&self) {
        // Fails only if the driver has already ended, which is what we want.
        let _ = self.inner.shutdown.send(true);
        self.stopped().await;
    }

    /// Kills the driver task on the spot, with no hand-over and no flush:
    /// a simulated crash, **for tests and chaos experiments**. The saved
    /// state stays as it was, so a node restarted on the same storage
    /// resumes its term and vote. [`is_goose`](Self::is_goose) is `false`
    /// from the moment this returns.
    pub fn abort(&self) {
        self.inner.view.mark_aborted();
        self.inner.task.abort();
    }

    /// Hands `command` to the driver.
    async fn send_command(&self, command: Command) -> Result<(), HandleError> {
        if !self.is_running() {
            return Err(HandleError::Stopped);
        }
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| HandleError::Stopped)
    }

    /// Sends `command` and waits for its answer, which carries its own
    /// [`HandleError`].
    pub(super) async fn request<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<T, HandleError>>,
    ) -> Result<T, HandleError> {
        self.send_command(command).await?;
        answer.await.map_err(|_| HandleError::Stopped)?
    }

    /// Sends `command` and waits for the core's answer.
    async fn command(
        &self,
        command: Command,
        answer: oneshot::Receiver<Result<Term, CommandError>>,
    ) -> Result<Term, HandleError> {
        self.send_command(command).await?;
        answer
            .await
            .map_err(|_| HandleError::Stopped)?
            .map_err(HandleError::Rejected)
    }
}
