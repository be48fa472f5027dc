//! The lease-safety watchdog: a plain thread samples `is_goose()` on every
//! watched node every few hundred microseconds and records the first instant
//! two nodes answered `true` together.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use duckduckgoose::runtime::NodeHandle;

/// Samples `is_goose()` on every watched node from a plain thread (so a busy
/// tokio runtime cannot starve it) and records the first instant two nodes
/// answered `true` together. Dropping it stops the thread.
pub struct GooseWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    nodes: Mutex<Vec<NodeHandle>>,
    violation: Mutex<Option<String>>,
    samples: AtomicU64,
    stop: AtomicBool,
}

impl GooseWatch {
    /// How often every node is sampled.
    const PERIOD: Duration = Duration::from_micros(250);

    /// Starts the sampling thread, watching no node yet.
    pub fn start() -> GooseWatch {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    shared.sample();
                    std::thread::sleep(Self::PERIOD);
                }
            })
        };
        GooseWatch {
            shared,
            thread: Some(thread),
        }
    }

    /// Adds a node to the sample (a restarted node gets a new handle).
    pub fn watch(&self, node: &NodeHandle) {
        lock(&self.shared.nodes).push(node.clone());
    }

    /// Stops watching the node added last.
    pub fn unwatch_last(&self) {
        lock(&self.shared.nodes).pop();
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<String> {
        lock(&self.shared.violation).clone()
    }

    /// Forgets the violation seen (for the test that provokes one).
    pub fn forget_violation(&self) {
        lock(&self.shared.violation).take();
    }

    /// Fails the test if two Geese were ever seen at once.
    pub fn check(&self) {
        if let Some(violation) = self.violation() {
            panic!("lease safety violated: {violation}");
        }
        assert!(
            self.shared.samples.load(Ordering::Relaxed) > 0,
            "the watchdog never sampled"
        );
    }
}

impl Shared {
    fn sample(&self) {
        let nodes = lock(&self.nodes).clone();
        // One pass reads the nodes one after another, not at one instant.
        // A node that says Goose before a later node says Goose, and still
        // says so after it, was the Goose at the later node's instant too:
        // leases do not come and go within microseconds.
        let mut geese: Vec<&NodeHandle> = Vec::new();
        for node in &nodes {
            if node.is_goose() {
                if let Some(earlier) = geese.iter().find(|earlier| earlier.is_goose()) {
                    let mut violation = lock(&self.violation);
                    violation.get_or_insert_with(|| {
                        format!(
                            "{} and {} were both the Goose: {:?} / {:?}",
                            earlier.id(),
                            node.id(),
                            earlier.status(),
                            node.status()
                        )
                    });
                }
                geese.push(node);
            }
        }
        self.samples.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for GooseWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the sampler thread already failed nothing; the
            // result is `check`'s job.
            let _ = thread.join();
        }
    }
}

/// Locks `mutex`, ignoring poisoning: a panicking test is failing anyway.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
