//! One judge of "is this node the Goose now": the published status read
//! against the monotonic clock, shared by the handle, its leaderships and
//! their watcher tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::error::WaitError;
use super::handle::NodeStatus;
use crate::core::{Role, Term};

/// How long before the lease's real-time deadline a
/// [`Leadership`](crate::runtime::Leadership) counts as lost (its `lost()`
/// completes, its token is cancelled), and a node about to lose its lease
/// this soon is given no new one. A sleep wakes late by up to a millisecond from tokio's timer wheel
/// and up to another from the OS's millisecond wait; aiming this far ahead
/// makes `Leadership::lost` complete no later than about a millisecond after
/// the deadline and usually before it (measured by
/// `benches/leadership_lost.rs`): ending leader-only work a little early is
/// the safe side.
pub const LOSS_LEAD: Duration = Duration::from_millis(2);

/// A read-only view of a node's published status that judges the lease in
/// real time. Holding one does not keep the node running (only a
/// [`NodeHandle`](super::NodeHandle) does), so background tasks hold this.
#[derive(Clone, Debug)]
pub(crate) struct StatusView {
    status: watch::Receiver<NodeStatus>,
    /// With check-quorum off there is no lease, and the role alone decides.
    lease_checked: bool,
    /// Set by `NodeHandle::abort`: the task may take a moment to be dropped,
    /// but the node must stop answering "Goose" at once.
    aborted: Arc<AtomicBool>,
}

/// What [`StatusView::reign`] found: the reign this node holds now, and when
/// it ends unless renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reign {
    /// The term led: the fencing token.
    pub(crate) term: Term,
    /// Which uninterrupted stretch of leadership this is (see
    /// [`NodeStatus::reign`]).
    pub(crate) number: u64,
    /// The real-time end of the lease as published; `None` without
    /// check-quorum.
    pub(crate) deadline: Option<Instant>,
}

impl StatusView {
    pub(crate) fn new(
        status: watch::Receiver<NodeStatus>,
        lease_checked: bool,
        aborted: Arc<AtomicBool>,
    ) -> Self {
        StatusView {
            status,
            lease_checked,
            aborted,
        }
    }

    /// Whether the driver task is still running.
    pub(crate) fn is_running(&self) -> bool {
        !self.aborted.load(Ordering::Acquire)
            && self.status.has_changed().is_ok()
            && self.status.borrow().running
    }

    /// Marks the node aborted: it answers "Duck" from now on.
    pub(crate) fn mark_aborted(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// The latest published status, judged at `now`: `running` false once
    /// the task has ended, and `role` Goose only while the lease holds.
    pub(crate) fn judged_at(&self, now: Instant) -> NodeStatus {
        let running = self.is_running();
        let mut status = self.status.borrow().clone();
        status.running &= running;
        status.role = if status.holds_lease_at(now, self.lease_checked) {
            Role::Goose
        } else {
            Role::Duck
        };
        status
    }

    /// The reign this node holds at `now`, if it is the Goose then.
    pub(crate) fn reign_at(&self, now: Instant) -> Option<Reign> {
        if !self.is_running() {
            return None;
        }
        let status = self.status.borrow();
        reign_of(&status, now, self.lease_checked)
    }

    /// Reign `held` as it stands at `now`, if it still runs: the same
    /// stretch of leadership, its lease not yet run out. Its deadline is
    /// re-read each time: the driver refreshes it in place without waking
    /// watchers.
    pub(crate) fn continuing(&self, held: &Reign, now: Instant) -> Option<Reign> {
        self.reign_at(now)
            .filter(|reign| reign.number == held.number && reign.term == held.term)
    }

    /// Waits until this node is the Goose (as `is_goose` judges it) and
    /// returns that reign; a learner never is. Fails once the node stops.
    pub(crate) async fn next_reign(&self) -> Result<Reign, WaitError> {
        let mut receiver = self.status.clone();
        loop {
            if !self.is_running() {
                return Err(WaitError::Stopped);
            }
            receiver.borrow_and_update();
            let now = Instant::now();
            // A reign within `LOSS_LEAD` of its deadline is one its
            // leadership would count as lost at once: wait until its lease
            // is renewed or runs out.
            if let Some(reign) = self.reign_at(now + LOSS_LEAD) {
                return Ok(reign);
            }
            let ending = self.reign_at(now).and_then(|reign| reign.deadline);
            // A lease that lapsed and is renewed starts a new reign, which
            // the driver announces: waiting for a change is enough then.
            if !changed_or_until(&mut receiver, ending).await {
                return Err(WaitError::Stopped);
            }
        }
    }

    /// Completes when reign `held` ends: at its lease's real-time deadline
    /// (even if the driver is stalled and publishes nothing), or when the
    /// published status shows another role, term or reign, or the node
    /// stopped.
    ///
    /// It aims [`LOSS_LEAD`] ahead of the deadline: a sleep never wakes
    /// early but often a millisecond or two late, so aiming at the deadline
    /// itself would leave leader-only work running past the lease.
    pub(crate) async fn reign_ended(&self, held: &Reign) {
        let mut receiver = self.status.clone();
        loop {
            receiver.borrow_and_update();
            let Some(reign) = self.continuing(held, Instant::now() + LOSS_LEAD) else {
                return;
            };
            let wake_at = reign.deadline.map(|deadline| deadline - LOSS_LEAD);
            // The deadline may have moved later meanwhile: the loop re-reads
            // it.
            if !changed_or_until(&mut receiver, wake_at).await {
                return;
            }
        }
    }

    /// Waits until this node is `role` (Goose as `is_goose` judges it) and
    /// returns the judged status then.
    pub(crate) async fn wait_for_role(&self, role: Role) -> Result<NodeStatus, WaitError> {
        let mut receiver = self.status.clone();
        loop {
            if !self.is_running() {
                return Err(WaitError::Stopped);
            }
            receiver.borrow_and_update();
            let now = Instant::now();
            let reign = self.reign_at(now);
            if (role == Role::Goose) == reign.is_some() {
                return Ok(self.judged_at(now));
            }
            // A stalled Goose's status does not change when its lease runs
            // out, so waiting for a Duck also wakes at the deadline.
            let deadline = reign.and_then(|reign| reign.deadline);
            if !changed_or_until(&mut receiver, deadline).await {
                return Err(WaitError::Stopped);
            }
        }
    }

    /// Completes once the driver task has ended, however it ends.
    pub(crate) async fn stopped(&self) {
        let mut receiver = self.status.clone();
        // `changed` fails once the driver has dropped its sender, which it
        // does as the task ends (or is aborted).
        while receiver.changed().await.is_ok() {}
    }

    /// The raw watch, for `subscribe` and reading what needs no judging.
    pub(crate) fn receiver(&self) -> &watch::Receiver<NodeStatus> {
        &self.status
    }
}

/// The reign `status` shows at `now`, if it shows a Goose holding its lease.
fn reign_of(status: &NodeStatus, now: Instant, lease_checked: bool) -> Option<Reign> {
    if !status.holds_lease_at(now, lease_checked) {
        return None;
    }
    Some(Reign {
        term: status.term,
        number: status.reign,
        deadline: status.lease_deadline.filter(|_| lease_checked),
    })
}

/// Waits until the published status changes or `deadline` (if any)
/// passes, whichever comes first; `false` once the driver has ended (its
/// sender is gone), so nothing will change again.
async fn changed_or_until(
    receiver: &mut watch::Receiver<NodeStatus>,
    deadline: Option<Instant>,
) -> bool {
    tokio::select! {
        changed = receiver.changed() => changed.is_ok(),
        () = sleep_until_some(deadline) => true,
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
