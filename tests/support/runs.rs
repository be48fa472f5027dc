//! A probe for `NodeHandle::run_while_goose`: each run records its term,
//! when it started, and when its future was dropped (which is how a run is
//! cancelled) with whether its token was cancelled by then.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use duckduckgoose::Term;
use duckduckgoose::runtime::{GooseTask, Leadership, NodeHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The leadership's fencing token.
    pub term: Term,
    /// When the run's future was first polled.
    pub started: Instant,
    /// When its future was dropped, if it has been.
    pub ended: Option<Instant>,
    /// Whether its cancellation token was cancelled when it was dropped.
    pub token_cancelled: bool,
}

/// Every run of one [`Runs::start`], in order; clones share the record.
#[derive(Clone, Debug, Default)]
pub struct Runs(Arc<Mutex<Vec<RunRecord>>>);

impl Runs {
    /// Runs on `node`, each waiting forever until it is cancelled.
    pub fn start(&self, node: &NodeHandle) -> GooseTask {
        let runs = self.clone();
        node.run_while_goose(move |leadership| {
            let runs = runs.clone();
            async move {
                let _end = runs.begin(&leadership);
                std::future::pending::<()>().await;
            }
        })
    }

    /// How many runs have started.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Run `index` (from 0).
    pub fn get(&self, index: usize) -> RunRecord {
        self.lock()[index]
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RunRecord>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn begin(&self, leadership: &Leadership) -> EndGuard {
        let mut runs = self.lock();
        runs.push(RunRecord {
            term: leadership.fencing_token(),
            started: Instant::now(),
            ended: None,
            token_cancelled: false,
        });
        EndGuard {
            runs: self.clone(),
            index: runs.len() - 1,
            token: leadership.cancellation_token(),
        }
    }
}

/// Records the end of its run when the run's future drops it.
struct EndGuard {
    runs: Runs,
    index: usize,
    token: CancellationToken,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let mut runs = self.runs.lock();
        let run = &mut runs[self.index];
        run.ended = Some(Instant::now());
        run.token_cancelled = self.token.is_cancelled();
    }
}
