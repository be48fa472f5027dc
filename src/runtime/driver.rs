//! The driver task: the only place where the election meets time, storage
//! and the network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::Observed;
use super::changes::Waiters;
use super::error::FatalError;
use super::events::EventSender;
use super::handle::{Command, NodeStatus};
use super::peers::Outsiders;
use super::round_trip::{self, AckArrival, RoundTrips};
use crate::core::{
    CommandError, DropReason, Election, Event, Membership, Message, NodeId, Output, Role, Term,
};
use crate::storage::Storage;
use crate::tick_clock::TickClock;
use crate::transport::{Inbound, JoinRequest, Transport};

mod membership;
mod published;
mod schedule;

use published::Published;
pub(crate) use published::initial_status;
use schedule::TickSchedule;

/// What woke the driver, which says when the ticks it catches up on were
/// processed.
#[derive(Clone, Copy, Debug)]
enum Woken {
    /// The core's next deadline fell due.
    ByTimer,
    /// A message, command or join request arrived.
    ByInput,
}

/// Where a command's answer goes: the term the node led and handed over.
type Reply = oneshot::Sender<Result<Term, CommandError>>;

/// One task owns the [`Election`], the storage and the transport; every
/// input goes through [`Driver::run`]'s loop, one at a time, and its outputs
/// are handled before the next input is taken.
pub(crate) struct Driver<T, S> {
    election: Election,
    storage: S,
    transport: T,
    inbound: mpsc::Receiver<Inbound>,
    commands: mpsc::Receiver<Command>,
    /// Join requests from the transport, if it takes any.
    joins: Option<mpsc::Receiver<JoinRequest>>,
    shutdown: watch::Receiver<bool>,
    status: watch::Sender<NodeStatus>,
    tick: Duration,
    /// When each recent tick was processed, to place the lease in real time
    /// and to time heartbeat acks.
    clock: TickClock<Instant>,
    /// The lease length in real time; `None` without the check-quorum lease.
    lease: Option<Duration>,
    /// What was last written into `status`, so that an input that changed
    /// nothing does not even take the watch's lock.
    published: Published,
    /// Contact times and persist latencies, shared with the handles.
    observed: Arc<Observed>,
    /// The membership in force as far as it is durable: the last one saved
    /// (or the one the node started with). What the status and the peers
    /// table follow.
    held: Arc<Membership>,
    /// Whether `held` holds this node, as of the last membership change:
    /// leaving it and coming back are both logged, and the transport told.
    member: bool,
    /// Non-members whose dropped messages were logged.
    outsiders: Outsiders,
    /// The membership of the last `MembershipCommitted` event of the current
    /// drain.
    committed: Option<Arc<Membership>>,
    /// What the transport was last given with `set_peers` (the peers the
    /// core admits, with their addresses); `None` if the membership never
    /// knew every member's address. Where a departing peer's address comes
    /// from once the membership no longer has it.
    transport_peers: Option<BTreeMap<NodeId, String>>,
    /// A peer the core no longer admits stays the transport's until the
    /// drain that dropped it ends, so that what the same step sent it (the
    /// last heartbeat telling a removed node of its removal) still leaves.
    removals_deferred: bool,
    /// Inside [`drain`](Self::drain).
    draining: bool,
    /// Membership requests not answered yet.
    waiters: Waiters,
    /// Every role and Goose change, to the handles' event streams.
    events: EventSender,
    /// Whether the lease is checked in real time (check-quorum on): as the
    /// handles judge it, to count reigns the same way.
    lease_checked: bool,
    /// Heartbeat-ack round trips and late acks.
    round_trips: RoundTrips,
}

/// Everything [`Driver::new`] needs besides the election, storage and
/// transport.
pub(crate) struct Channels {
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) joins: Option<mpsc::Receiver<JoinRequest>>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) status: watch::Sender<NodeStatus>,
    pub(crate) events: EventSender,
    pub(crate) observed: Arc<Observed>,
    /// The peers `Node::start` gave the transport, if any.
    pub(crate) transport_peers: Option<BTreeMap<NodeId, String>>,
}

impl<T: Transport, S: Storage> Driver<T, S> {
    /// A driver for `election`, whose tick 0 is `started`.
    pub(crate) fn new(
        election: Election,
        storage: S,
        transport: T,
        channels: Channels,
        tick: Duration,
        started: Instant,
    ) -> Self {
        let lease_ticks = election.lease_ticks();
        // A lease too long to express as a Duration cannot be placed in real
        // time; `None` then makes `is_goose` answer false, the safe side.
        let lease = u32::try_from(lease_ticks)
            .ok()
            .and_then(|ticks| tick.checked_mul(ticks))
            .filter(|_| election.config().check_quorum);
        let published = Published {
            role: election.role(),
            term: election.term(),
            leader: election.leader(),
            voted_for: election.hard_state().voted_for,
            lease_deadline: None,
            counters: *election.counters(),
            membership: election.membership().id(),
            membership_pending: election.membership_pending(),
            reign: 0,
        };
        // `Node::start` told the transport before starting it; the driver
        // tells it of every change after.
        let member = election.membership().contains(election.id());
        Driver {
            round_trips: RoundTrips::new(
                election.id(),
                lease,
                election.config().heartbeat_interval_ticks,
            ),
            lease_checked: election.config().check_quorum,
            events: channels.events,
            held: Arc::new(election.membership().clone()),
            member,
            outsiders: Outsiders::default(),
            committed: None,
            transport_peers: channels.transport_peers,
            removals_deferred: false,
            draining: false,
            waiters: Waiters::new(transport.needs_peer_addresses()),
            joins: channels.joins,
            clock: TickClock::new(started, round_trip::clock_span_ticks(lease_ticks, tick)),
            election,
            storage,
            transport,
            inbound: channels.inbound,
            commands: channels.commands,
            shutdown: channels.shutdown,
            status: channels.status,
            tick,
            lease,
            published,
            observed: channels.observed,
        }
    }

    /// Runs the node until it is shut down or a fatal error stops it.
    ///
    /// Tickless: the driver sleeps until the instant of the core's next
    /// deadline (see `schedule`), or until a message, command, join request
    /// or shutdown, and then advances the core to the tick the clock says
    /// before handling what woke it. An idle Duck wakes only for messages
    /// and its election timeout, the Goose for its heartbeat rounds and
    /// acks; [`NodeHandle::driver_wakeups`](super::NodeHandle::driver_wakeups)
    /// counts the wake-ups.
    pub(crate) async fn run(mut self) {
        let mut schedule = TickSchedule::new(Instant::now(), self.tick);
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut inbound_open = true;
        let mut reply: Option<(Reply, Result<Term, CommandError>)> = None;

        let fatal = loop {
            let wake_at = self
                .election
                .next_deadline_tick()
                .and_then(|tick| schedule.instant_of(tick));
            if let Some(at) = wake_at
                && timer.deadline() != at
            {
                timer.as_mut().reset(at);
            }
            tokio::select! {
                biased;
                // A change (to `true`) or every handle dropped: stop either way.
                _ = self.shutdown.changed() => break None,
                () = &mut timer, if wake_at.is_some() => {
                    self.catch_up(&schedule, Woken::ByTimer);
                }
                inbound = self.inbound.recv(), if inbound_open => match inbound {
                    Some(Inbound { from, msg }) => {
                        self.catch_up(&schedule, Woken::ByInput);
                        let now = Instant::now();
                        self.observed.peers.record(from, now);
                        if let Message::HeartbeatAck { term, sent_tick, .. } = msg {
                            let ack = AckArrival { from, term, sent_tick, at: now };
                            let now_tick = self.election.now_tick();
                            self.round_trips
                                .ack(ack, &self.clock, now_tick, &self.observed, &self.events);
                        }
                        self.election.handle_message(from, msg);
                    }
                    None => {
                        tracing::warn!("the transport closed its inbound channel; no more messages will arrive");
                        inbound_open = false;
                    }
                },
                command = self.commands.recv() => match self.caught_up(command, &schedule) {
                    // The term is read before any other input can move it:
                    // it is the term this node led and gave up.
                    Some(Command::StepDown { reply: to }) => {
                        let result = self.election.step_down().map(|()| self.election.term());
                        reply = Some((to, result));
                    }
                    Some(Command::Transfer { to: target, reply: to }) => {
                        let result = self
                            .election
                            .transfer_leadership(target)
                            .map(|()| self.election.term());
                        reply = Some((to, result));
                    }
                    Some(Command::AddNode { id, addr, reply: to }) => {
                        self.waiters.add_node(&mut self.election, id, &addr, to);
                    }
                    Some(Command::RemoveNode { id, reply: to }) => {
                        self.waiters.remove_node(&mut self.election, id, to);
                    }
                    Some(Command::Leave { reply: to }) => {
                        self.waiters.leave(&mut self.election, to);
                    }
                    // Every handle is gone; nobody can ask for anything again.
                    None => break None,
                },
                join = next_join(&mut self.joins) => match self.caught_up(join, &schedule) {
                    Some(request) => self.waiters.join(&mut self.election, request),
                    None => {
                        tracing::debug!("the transport stopped taking join requests");
                        self.joins = None;
                    }
                },
            }
            self.waiters.propose_waiting(&mut self.election);
            if let Err(error) = self.drain().await {
                break Some(error);
            }
            self.publish();
            self.round_trips
                .follow_term(self.election.term(), &self.observed);
            // Answered only now, so that when the caller hears "done" a
            // handover's `TimeoutNow` is with the transport and the status no
            // longer says Goose.
            if let Some((to, result)) = reply.take() {
                // The caller may have stopped waiting; that is its business.
                let _ = to.send(result);
            }
            // Likewise, a committed change is answered once the status shows
            // the membership.
            let committed = self.committed.take();
            self.waiters.settle(&self.election, committed.as_deref());
            self.observed.driver_wakeups.fetch_add(1, Ordering::Relaxed);
            schedule.after_busy(self.election.now_tick(), Instant::now());
        };
        self.finish(fatal).await;
    }

    /// Advances the core to the tick due now, dating the ticks it crosses
    /// for the lease and the round trips: a timer wake-up processes them
    /// now; any other input finds them due since their scheduled instant,
    /// when a driver ticking every tick would have processed them. Either
    /// instant is no later than anything the core sends for them leaves.
    fn catch_up(&mut self, schedule: &TickSchedule, woken: Woken) {
        let now = Instant::now();
        let target = schedule.tick_at(now);
        if target <= self.election.now_tick() {
            return;
        }
        let at = match woken {
            Woken::ByTimer => now,
            Woken::ByInput => schedule.instant_of(target).map_or(now, |due| due.min(now)),
        };
        self.clock.record_through(target, at);
        self.election.advance_to(target);
    }

    /// `input`, after advancing the core to the tick due now if it is one.
    fn caught_up<I>(&mut self, input: Option<I>, schedule: &TickSchedule) -> Option<I> {
        if input.is_some() {
            self.catch_up(schedule, Woken::ByInput);
        }
        input
    }

    /// Handles every pending output in order. A `Persist` is durable before
    /// the next output is even polled (the persist barrier); if it fails, the
    /// remaining outputs are never handled.
    async fn drain(&mut self) -> Result<(), FatalError> {
        // A node that just stopped being the Goose (a handover, a higher
        // term) says so before anything leaves: otherwise its `TimeoutNow`
        // could elect a successor while its own status still showed a valid
        // lease, or a slow `save` could keep the stale status up.
        if self.published.role == Role::Goose && self.election.role() != Role::Goose {
            self.publish();
        }
        self.draining = true;
        let drained = self.drain_outputs().await;
        self.draining = false;
        if std::mem::take(&mut self.removals_deferred) {
            self.sync_transport_peers();
        }
        drained
    }

    /// [`drain`](Self::drain)'s loop; peers leaving the transport wait for
    /// its end (see `removals_deferred`).
    async fn drain_outputs(&mut self) -> Result<(), FatalError> {
        while let Some(output) = self.election.poll_output() {
            match output {
                Output::Persist(hard_state) => {
                    // The disk's own time, on the real clock even when a
                    // test pauses tokio's; failed saves count too.
                    let started = std::time::Instant::now();
                    let saved = self.storage.save(&hard_state).await;
                    self.observed.persist_latency.record(started.elapsed());
                    saved.map_err(FatalError::Storage)?;
                }
                Output::PersistMembership(membership) => {
                    let started = std::time::Instant::now();
                    let saved = self.storage.save_membership(&membership).await;
                    self.observed.persist_latency.record(started.elapsed());
                    saved.map_err(FatalError::Storage)?;
                    self.held = Arc::from(membership);
                }
                Output::Send { to, msg } => self.transport.send(to, msg),
                Output::Event(
                    event @ Event::RoleChanged {
                        role: Role::Goose,
                        term,
                        reason,
                    },
                ) => {
                    // Said at once: the term is durable (the core announces a
                    // Goose only after its `Persist`), and the lease holds,
                    // whatever is written after (a new Goose's re-issued
                    // membership follows its lease).
                    self.log_event(event);
                    self.publish();
                    self.events.role_changed(term, Role::Goose, reason);
                }
                Output::Event(event @ Event::RoleChanged { role, term, reason }) => {
                    // A Goose that steps down no longer answers for the
                    // peers its change was removing.
                    self.log_event(event);
                    self.events.role_changed(term, role, reason);
                    self.sync_transport_peers();
                }
                Output::Event(Event::MembershipChanged { .. }) => self.membership_changed(),
                Output::Event(event @ Event::LeaderChanged { leader, term }) => {
                    if leader == Some(self.election.id()) {
                        let tick = self.election.now_tick();
                        self.round_trips.elected(term, tick, &self.observed);
                    }
                    // A Duck admits the Goose it follows, member or not.
                    self.log_event(event);
                    self.events.goose_changed(leader, term);
                    self.sync_transport_peers();
                }
                Output::Event(Event::MembershipCommitted { id }) => {
                    // The core commits the membership in force, which it
                    // persisted before announcing it.
                    debug_assert_eq!(id, self.held.id());
                    let held = &self.held;
                    tracing::info!(
                        id = %self.election.id(),
                        membership = %id,
                        voters = ?id_list(held.voters()),
                        learners = ?id_list(held.learners()),
                        "membership committed"
                    );
                    self.committed = Some(Arc::clone(held));
                    // A Goose that removed a member stops talking to it now.
                    self.sync_transport_peers();
                }
                Output::Event(event) => self.log_event(event),
            }
        }
        Ok(())
    }

    fn log_event(&mut self, event: Event) {
        let id = self.election.id();
        match event {
            Event::RoleChanged { role, term, reason } => {
                tracing::info!(%id, %term, %role, ?reason, "role changed");
            }
            Event::LeaderChanged { leader, term } => {
                tracing::debug!(%id, %term, ?leader, "leader changed");
            }
            Event::ElectionStarted { term, pre_vote } => {
                tracing::debug!(%id, %term, pre_vote, "election started");
            }
            // Handled by `drain`.
            Event::MembershipChanged { .. } | Event::MembershipCommitted { .. } => {}
            Event::MessageDropped {
                from,
                reason: DropReason::NotMember,
            } if self.outsiders.dropped(from) => {
                tracing::info!(
                    %id,
                    %from,
                    membership = %self.election.membership().id(),
                    "dropping the messages of node {from}, which is not a member here (logged once per \
                     node; a removed node that missed its removal keeps campaigning until it is \
                     stopped or added back)"
                );
            }
            Event::MessageDropped { from, reason } => {
                tracing::debug!(%id, %from, ?reason, "message dropped");
            }
        }
    }

    /// The real-time end of the current lease: the instant the lease's
    /// starting tick was processed, plus the lease length.
    fn lease_deadline(&self) -> Option<Instant> {
        let lease = self.lease?;
        if self.election.role() != Role::Goose {
            return None;
        }
        let start_tick = self.election.lease_start_tick()?;
        self.clock.instant_of(start_tick)?.checked_add(lease)
    }

    /// Brings the watched status up to date; wakes watchers only for a
    /// notable change.
    fn publish(&mut self) {
        let mut next = Published {
            role: self.election.role(),
            term: self.election.term(),
            leader: self.election.leader(),
            voted_for: self.election.hard_state().voted_for,
            lease_deadline: self.lease_deadline(),
            counters: *self.election.counters(),
            membership: self.held.id(),
            membership_pending: self.election.membership_pending(),
            reign: self.published.reign,
        };
        if next == self.published {
            return;
        }
        // A new reign whenever the node goes from not leading to leading as
        // the handles judge it, now: a new term, or a lease renewed after
        // it lapsed in real time (a stalled driver that caught up), which a
        // `Leadership` of the lapsed reign must not take for its own.
        let now = Instant::now();
        let holds = next.holds_lease_at(now, self.lease_checked);
        if holds && !self.published.holds_lease_at(now, self.lease_checked) {
            next.reign += 1;
        }
        let notify = self.published.notable_change(&next);
        let membership_changed = self.published.membership != next.membership;
        self.published = next;
        let held = &self.held;
        let id = self.election.id();
        self.status.send_if_modified(|status| {
            if membership_changed {
                status.members = held.voters().collect();
                status.learners = held.learners().collect();
                status.member = held.contains(id);
                status.full_membership = Arc::clone(held);
            }
            status.membership = next.membership;
            status.membership_pending = next.membership_pending;
            // Judged now, as the handles judge it; read later, a snapshot
            // is not judged again.
            status.role = if holds { Role::Goose } else { Role::Duck };
            status.core_role = next.role;
            status.reign = next.reign;
            status.term = next.term;
            status.leader = next.leader;
            status.voted_for = next.voted_for;
            status.lease_deadline = next.lease_deadline;
            status.counters = next.counters;
            notify
        });
    }

    /// Stops the node: a graceful stop hands over first; every stop lets the
    /// transport flush and publishes the final status.
    async fn finish(mut self, mut fatal: Option<FatalError>) {
        let id = self.election.id();
        let term = self.election.term();
        if fatal.is_none() {
            // Only a Goose (or a newly elected node awaiting its first acks)
            // has anything to hand over; for everyone else this is `NotGoose`.
            if self.election.step_down().is_ok() {
                tracing::info!(%id, %term, "handing over before shutting down");
                if let Err(error) = self.drain().await {
                    fatal = Some(error);
                }
            }
        }
        self.transport.shutdown().await;
        match &fatal {
            Some(error) => tracing::error!(%id, %term, %error, "node stopped"),
            None => tracing::info!(%id, %term, "node shut down"),
        }
        let counters = *self.election.counters();
        let fatal = fatal.map(Arc::new);
        self.events.stopped();
        self.status.send_modify(|status| {
            status.role = Role::Duck;
            status.core_role = Role::Duck;
            status.lease_deadline = None;
            status.counters = counters;
            status.running = false;
            status.fatal_error = fatal;
        });
        // Dropping `self.status` as the task ends tells every handle that
        // the driver is gone.
    }
}

/// The next join request, or never when the transport takes none.
async fn next_join(joins: &mut Option<mpsc::Receiver<JoinRequest>>) -> Option<JoinRequest> {
    match joins {
        Some(joins) => joins.recv().await,
        None => std::future::pending().await,
    }
}

/// Node ids for logs, as plain numbers: `[1, 2, 3]`.
pub(crate) fn id_list(ids: impl Iterator<Item = NodeId>) -> Vec<u64> {
    ids.map(|id| id.0).collect()
}
