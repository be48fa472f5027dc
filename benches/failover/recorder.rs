//! The failover bench's event recorder: a tracing layer that timestamps the
//! election's own events (pre-votes, candidacies, votes, leases), so each
//! trial can be split into phases.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The election's own milestones, from its tracing events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Milestone {
    /// Driver, after draining: a pre-vote round started (the election timer
    /// fired).
    PreVote,
    /// Driver, after draining: a candidacy started; logged after the
    /// candidate's term and vote were saved.
    Candidate,
    /// Core: a candidate counted a majority of votes.
    Won,
    /// Core: the new Goose's first lease (a majority acked its first round).
    Leased,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    pub(crate) at: Instant,
    pub(crate) milestone: Milestone,
    pub(crate) node: u64,
    pub(crate) term: u64,
}

/// A tracing layer that timestamps the milestones of every node.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    records: Arc<Mutex<Vec<Record>>>,
}

impl Recorder {
    pub(crate) fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *lock(&self.records))
    }
}

fn interesting(metadata: &Metadata<'_>) -> bool {
    metadata.is_event()
        && metadata.target().starts_with("duckduckgoose")
        && *metadata.level() <= Level::DEBUG
}

#[derive(Default)]
struct Fields {
    message: String,
    id: Option<u64>,
    term: Option<u64>,
    pre_vote: Option<bool>,
    role: String,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "pre_vote" {
            self.pre_vote = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "id" => self.id = format!("{value:?}").parse().ok(),
            "term" => self.term = format!("{value:?}").parse().ok(),
            "role" => self.role = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn register_callsite(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if interesting(metadata) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        interesting(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let milestone = match (fields.message.as_str(), fields.pre_vote) {
            ("election started", Some(true)) => Milestone::PreVote,
            ("election started", Some(false)) => Milestone::Candidate,
            ("won the election", _) => Milestone::Won,
            // The core's own line (debug), at the instant of the change; the
            // driver repeats it at info once the outputs are drained.
            ("role changed", _) if level == Level::DEBUG && fields.role == "Goose" => {
                Milestone::Leased
            }
            _ => return,
        };
        let (Some(node), Some(term)) = (fields.id, fields.term) else {
            return;
        };
        lock(&self.records).push(Record {
            at,
            milestone,
            node,
            term,
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
