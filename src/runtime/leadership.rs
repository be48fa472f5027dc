//! Leadership as a scope: a value that exists while this node is the
//! Goose, with a future and a cancellation token that fire when it ends,
//! at the lease's real-time deadline at the latest.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::WaitError;
use super::handle::NodeHandle;
use super::view::{LOSS_LEAD, Reign, StatusView};
use crate::core::Term;

/// One stretch of leadership of this node, from [`NodeHandle::leadership`]:
/// it starts when the node becomes the Goose (as
/// [`NodeHandle::is_goose`] judges it) and ends, once and for good, at the
/// first of:
///
/// * the lease's real-time deadline, **even if the driver task is stalled**
///   (a blocked thread, a starved runtime) and never noticed. It is aimed 2 ms
///   early (a sleep wakes a millisecond or two late), so that the loss is
///   seen at most about a millisecond after the deadline, and usually up to
///   2 ms before it: the safe side;
/// * a step-down, a hand-over, the Goose removing itself, a higher term;
/// * the node stopping: shutdown, [`abort`](NodeHandle::abort), a fatal
///   error.
///
/// Once lost it stays lost: if the node leads again, even in the same term
/// (a stalled Goose whose lease lapsed and was then renewed), that is a new
/// `Leadership`, from a new call.
///
/// Without check-quorum there is no lease: the leadership then ends only
/// when the role or term changes or the node stops, and a Goose cut off
/// from the others keeps it until it hears of a higher term.
///
/// Clones share the same state: they are lost together.
#[derive(Clone, Debug)]
pub struct Leadership {
    view: StatusView,
    reign: Reign,
    /// Cancelled the moment the leadership is found lost: the lost flag.
    lost: CancellationToken,
    /// What [`cancellation_token`](Self::cancellation_token) hands out:
    /// `lost` itself, or a child of it that [`GooseTask`] may also cancel.
    token: CancellationToken,
}

impl Leadership {
    /// A leadership for `reign`, with a task that cancels its token when the
    /// reign ends, driven by the lease deadline as well as by the status.
    fn start(view: StatusView, reign: Reign) -> Self {
        let lost = CancellationToken::new();
        let leadership = Leadership {
            token: lost.clone(),
            view,
            reign,
            lost,
        };
        let watcher = leadership.clone();
        // Ends when the reign does (at the latest when the node stops), so
        // it needs no handle of its own.
        tokio::spawn(async move { watcher.lost().await });
        leadership
    }

    /// The same leadership with a token of its own, cancelled when the
    /// leadership is lost or by whoever holds `self.token`.
    fn with_child_token(&self) -> Self {
        Leadership {
            token: self.lost.child_token(),
            ..self.clone()
        }
    }

    /// The term led: the fencing token to present to guarded resources,
    /// which reject any token lower than the highest they have seen.
    pub fn fencing_token(&self) -> Term {
        self.reign.term
    }

    /// Completes when this leadership is lost (see the type's docs for
    /// when), and at once if it already is. At the lease's deadline it
    /// completes on the clock alone, without waiting for the driver.
    pub async fn lost(&self) {
        tokio::select! {
            () = self.view.reign_ended(&self.reign) => self.lost.cancel(),
            () = self.lost.cancelled() => {}
        }
    }

    /// Whether this leadership is lost, now, without waiting.
    pub fn is_lost(&self) -> bool {
        if self.lost.is_cancelled() {
            return true;
        }
        if self
            .view
            .continuing(&self.reign, Instant::now() + LOSS_LEAD)
            .is_none()
        {
            self.lost.cancel();
            return true;
        }
        false
    }

    /// The lease's real-time deadline as it stands now (a healthy Goose
    /// pushes it later at every heartbeat round): past it, the leadership
    /// is lost. `None` once lost, and without check-quorum.
    pub fn lease_deadline(&self) -> Option<Instant> {
        if self.lost.is_cancelled() {
            return None;
        }
        match self
            .view
            .continuing(&self.reign, Instant::now() + LOSS_LEAD)
        {
            Some(reign) => reign.deadline,
            None => {
                self.lost.cancel();
                None
            }
        }
    }

    /// A token cancelled when this leadership is lost, to hand to work that
    /// must stop then. A task watches the lease deadline for it, so it is
    /// cancelled on time even while the driver is stalled, and even if
    /// this `Leadership` has been dropped.
    ///
    /// In a run of [`NodeHandle::run_while_goose`] it is also cancelled
    /// when the run is stopped.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.token.clone()
    }
}

impl NodeHandle {
    /// Waits until this node is the Goose (as [`is_goose`](Self::is_goose)
    /// judges it: the core says so and the lease deadline has not passed)
    /// and returns that leadership, or at once if it already leads.
    ///
    /// Use [`Leadership::lost`] or [`Leadership::cancellation_token`] to
    /// stop leader-only work on time, and call this again for the next
    /// leadership. [`run_while_goose`](Self::run_while_goose) does both.
    ///
    /// Fails with [`WaitError::Stopped`] when the node stops. A learner (or
    /// a removed node) never becomes the Goose: on one this waits until the
    /// node stops or is promoted and elected. It has no timeout of its own:
    /// wrap it in [`tokio::time::timeout`].
    pub async fn leadership(&self) -> Result<Leadership, WaitError> {
        let view = self.view().clone();
        let reign = view.next_reign().await?;
        Ok(Leadership::start(view, reign))
    }

    /// Runs `work` each time this node becomes the Goose, for as long as it
    /// leads: in a task of its own, given the [`Leadership`], and aborted
    /// (dropped at its next `.await`) when that leadership is lost, after
    /// its [cancellation token](Leadership::cancellation_token) is
    /// cancelled. A run that ends by itself is not run again until the
    /// next leadership; one that panics is logged, and the next leadership
    /// runs `work` again. Two runs never overlap: the next starts only once
    /// the last has been dropped.
    ///
    /// A lost lease ends the run at the lease's real-time deadline even if
    /// the driver is stalled; a step-down or hand-over ends it as soon as
    /// the node publishes it (before the command returns).
    ///
    /// The returned [`GooseTask`] keeps it going until the node stops;
    /// [`GooseTask::stop`] (or dropping it) stops it sooner. It does not
    /// keep the node running.
    ///
    /// ```
    /// # use duckduckgoose::runtime::NodeHandle;
    /// # async fn example(node: NodeHandle) {
    /// let task = node.run_while_goose(|leadership| async move {
    ///     let token = leadership.fencing_token();
    ///     // ... leader-only work, presenting `token` to what it guards ...
    ///     # let _ = token;
    /// });
    /// // ...
    /// task.stop().await;
    /// # }
    /// ```
    pub fn run_while_goose<F, Fut>(&self, work: F) -> GooseTask
    where
        F: FnMut(Leadership) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_reigns(self.view().clone(), work, stop.clone()));
        GooseTask { task, stop }
    }
}

/// The task behind [`NodeHandle::run_while_goose`]: one run of `work` per
/// leadership, until the node stops or `stop` is cancelled.
async fn run_reigns<F, Fut>(view: StatusView, mut work: F, stop: CancellationToken)
where
    F: FnMut(Leadership) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let reign = tokio::select! {
            reign = view.next_reign() => match reign {
                Ok(reign) => reign,
                Err(WaitError::Stopped) => return,
            },
            () = stop.cancelled() => return,
        };
        let leadership = Leadership::start(view.clone(), reign).with_child_token();
        let mut run = Run {
            task: tokio::spawn(work(leadership.clone())),
            token: leadership.cancellation_token(),
        };
        let stopped = tokio::select! {
            () = leadership.lost() => false,
            () = stop.cancelled() => true,
            ended = &mut run.task => {
                if let Err(error) = ended
                    && error.is_panic()
                {
                    tracing::error!(term = %reign.term, "a run of run_while_goose panicked");
                }
                // Not again in this leadership.
                tokio::select! {
                    () = leadership.lost() => false,
                    () = stop.cancelled() => true,
                }
            }
        };
        run.end().await;
        if stopped {
            return;
        }
    }
}

/// One run of the work, aborted (and its token cancelled) when dropped, so
/// that aborting the loop's task stops the run too.
struct Run {
    task: tokio::task::JoinHandle<()>,
    token: CancellationToken,
}

impl Run {
    /// Cancels the run and waits until its future has been dropped.
    async fn end(&mut self) {
        self.token.cancel();
        self.task.abort();
        // A cancelled or panicked run is what ending it means.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.token.cancel();
        self.task.abort();
    }
}

/// The task of [`NodeHandle::run_while_goose`]. Dropping it stops the task
/// (and any run in progress, whose token is cancelled) without waiting;
/// [`stop`](Self::stop) also waits until the run has been dropped.
#[derive(Debug)]
#[must_use = "dropping a GooseTask stops it at once"]
pub struct GooseTask {
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
}

impl GooseTask {
    /// Stops the task: the run in progress, if any, has its token cancelled
    /// and is dropped, and no new run starts. Returns once it has been
    /// dropped.
    pub async fn stop(mut self) {
        self.stop.cancel();
        // Ends by itself once told; a panic in the loop is already over.
        let _ = (&mut self.task).await;
    }

    /// Whether the task has ended: the node stopped, or it was stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for GooseTask {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}
