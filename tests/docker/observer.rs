//! The observer: one thread per node container asks its `/status` every
//! [`POLL_GAP`], and every answer is checked against the promises.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use crate::clock::{Ns, ms, now_ns};
use crate::docker::container_ip;
use crate::http::{Status, get_status};
use crate::{PATIENCE, POLL_GAP};

/// One node's answer to one poll, with when it was asked and answered.
#[derive(Clone, Debug)]
pub struct Answer {
    pub node: u64,
    /// `None` if the node did not answer (stopped, frozen, cut off).
    pub status: Option<Status>,
    pub sent: Ns,
    pub received: Ns,
}

/// How often a poller that gets no answer looks up its container's address
/// again (a container that restarts or reconnects may get a new one).
const RELOOKUP_GAP: Duration = Duration::from_millis(300);

/// The pollers, and the checked record of what they saw.
pub struct Watch {
    stop: Arc<AtomicBool>,
    inbox: Arc<Mutex<Vec<Answer>>>,
    pollers: Vec<JoinHandle<()>>,
    pub observer: Observer,
}

impl Watch {
    /// Starts polling each `(node id, container)`.
    pub fn start(nodes: &[(u64, String)]) -> Watch {
        let mut watch = Watch {
            stop: Arc::new(AtomicBool::new(false)),
            inbox: Arc::new(Mutex::new(Vec::new())),
            pollers: Vec::new(),
            observer: Observer::default(),
        };
        for (node, container) in nodes {
            watch.add(*node, container);
        }
        watch
    }

    /// Starts polling one more node's container (one that was started
    /// later).
    pub fn add(&mut self, node: u64, container: &str) {
        let container = container.to_owned();
        let (stop, inbox) = (self.stop.clone(), self.inbox.clone());
        self.pollers.push(std::thread::spawn(move || {
            poll(node, &container, &stop, &inbox)
        }));
    }

    /// Checks every answer that came in since the last call.
    pub fn drain(&mut self) {
        let mut answers = std::mem::take(&mut *self.inbox.lock().expect("a poller panicked"));
        answers.sort_by_key(|answer| answer.received);
        for answer in answers {
            self.observer.record(answer);
        }
    }

    /// Polls until `done` finds what it waits for in the record; panics
    /// after [`PATIENCE`] naming `what`.
    pub fn wait_for<T>(&mut self, what: &str, mut done: impl FnMut(&Observer) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.drain();
            if let Some(found) = done(&self.observer) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {PATIENCE:?}; latest answers: {:#?}",
                self.observer.latest
            );
            sleep(POLL_GAP);
        }
    }

    /// Waits until every node of `nodes` answers after `since` and they
    /// agree: one Goose, the others Ducks following it, all in its term.
    /// Returns the Goose and its term.
    pub fn wait_for_agreement(&mut self, nodes: &[u64], since: Ns) -> (u64, u64) {
        self.wait_for("agreement on one Goose", |observer| {
            observer.agreement(nodes, since)
        })
    }

    /// Polls (and checks) for `pause`.
    pub fn watch_for(&mut self, pause: Duration) {
        let until = Instant::now() + pause;
        while Instant::now() < until {
            self.drain();
            sleep(POLL_GAP);
        }
        self.drain();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for poller in self.pollers.drain(..) {
            let _ = poller.join();
        }
    }
}

/// One container's poller: asks its `/status` every [`POLL_GAP`] while it
/// knows the container's address, and looks the address up again (at most
/// every [`RELOOKUP_GAP`]) while it gets no answer.
fn poll(node: u64, container: &str, stop: &AtomicBool, inbox: &Mutex<Vec<Answer>>) {
    let mut ip: Option<IpAddr> = None;
    let mut looked_up: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut answered = false;
        if let Some(ip) = ip {
            let sent = now_ns();
            let status = get_status(ip).ok();
            let received = now_ns();
            answered = status.is_some();
            if let Ok(mut inbox) = inbox.lock() {
                inbox.push(Answer {
                    node,
                    status,
                    sent,
                    received,
                });
            }
        }
        if !answered && looked_up.is_none_or(|at| at.elapsed() >= RELOOKUP_GAP) {
            ip = container_ip(container);
            looked_up = Some(Instant::now());
        }
        sleep(POLL_GAP);
    }
}

/// Every Goose answer of a term, as far as the checks need it.
#[derive(Debug)]
pub struct TermRecord {
    pub goose: u64,
    /// The latest request that got a Goose answer in this term.
    pub latest_sent: Ns,
    /// The earliest Goose answer in this term.
    pub earliest_received: Ns,
}

/// Checks every answer against the promises:
///
/// * two different Geese in one term (election safety);
/// * a Goose answer in a lower term to a request sent after a Goose answer
///   in a higher term had been received, or the other way round: then two
///   Geese held the role at one instant (lease safety);
/// * a node's term going back, across restarts too (durability).
#[derive(Debug, Default)]
pub struct Observer {
    pub terms: BTreeMap<u64, TermRecord>,
    /// The highest term each node has reported.
    node_terms: BTreeMap<u64, u64>,
    /// Each node's latest answer, answered or not.
    pub latest: BTreeMap<u64, Answer>,
    /// Every Goose answer, in the order received.
    pub goose_answers: Vec<Answer>,
    pub answers: usize,
}

impl Observer {
    pub fn record(&mut self, answer: Answer) {
        if let Some(status) = &answer.status {
            self.answers += 1;
            assert_eq!(status.id, answer.node, "node answered with another id");
            let highest = self.node_terms.entry(answer.node).or_default();
            assert!(
                status.term >= *highest,
                "node {}'s term went back from {highest} to {}",
                answer.node,
                status.term
            );
            *highest = status.term;
            if status.is_goose() {
                assert_eq!(status.leader, Some(status.id), "a Goose names itself");
                assert!(status.lease_ms.is_some(), "a Goose has a lease: {status:?}");
                self.record_goose(status, &answer);
                self.goose_answers.push(answer.clone());
            } else {
                assert_eq!(status.lease_ms, None, "a Duck has no lease: {status:?}");
            }
        }
        self.latest.insert(answer.node, answer);
    }

    fn record_goose(&mut self, status: &Status, answer: &Answer) {
        let term = status.term;
        for (higher, record) in self.terms.range(term + 1..) {
            assert!(
                answer.sent <= record.earliest_received,
                "LEASE SAFETY: node {} answered Goose in term {term} to a request sent {:.1} ms \
                 after node {} had answered Goose in term {higher}",
                status.id,
                ms(record.earliest_received, answer.sent),
                record.goose,
            );
        }
        for (lower, record) in self.terms.range(..term) {
            assert!(
                record.latest_sent <= answer.received,
                "LEASE SAFETY: node {} answered Goose in term {lower} to a request sent {:.1} ms \
                 after node {} had answered Goose in term {term}",
                record.goose,
                ms(answer.received, record.latest_sent),
                status.id,
            );
        }
        let record = self.terms.entry(term).or_insert(TermRecord {
            goose: status.id,
            latest_sent: answer.sent,
            earliest_received: answer.received,
        });
        assert_eq!(
            record.goose, status.id,
            "ELECTION SAFETY: nodes {} and {} both answered Goose in term {term}",
            record.goose, status.id
        );
        record.latest_sent = record.latest_sent.max(answer.sent);
        record.earliest_received = record.earliest_received.min(answer.received);
    }

    /// The Goose of `term`, if one has answered.
    pub fn goose_of(&self, term: u64) -> Option<u64> {
        self.terms.get(&term).map(|record| record.goose)
    }

    /// The latest answer of `node` if it was asked after `since` and
    /// answered.
    pub fn status_since(&self, node: u64, since: Ns) -> Option<&Status> {
        self.latest
            .get(&node)
            .filter(|answer| answer.sent >= since)?
            .status
            .as_ref()
    }

    /// One Goose among `nodes` and every other following it in its term,
    /// all answering requests sent after `since`.
    pub fn agreement(&self, nodes: &[u64], since: Ns) -> Option<(u64, u64)> {
        let statuses: Vec<&Status> = nodes
            .iter()
            .map(|&node| self.status_since(node, since))
            .collect::<Option<_>>()?;
        let mut geese = statuses.iter().filter(|status| status.is_goose());
        let goose = geese.next()?;
        let follow = statuses
            .iter()
            .all(|status| status.term == goose.term && status.leader == Some(goose.id));
        (geese.next().is_none() && follow).then_some((goose.id, goose.term))
    }

    /// The first Goose answer received after `since` in a term above
    /// `term`.
    pub fn goose_after(&self, term: u64, since: Ns) -> Option<&Answer> {
        self.goose_answers.iter().find(|answer| {
            answer.received >= since && answer.status.as_ref().is_some_and(|s| s.term > term)
        })
    }

    /// The last Goose answer of term `term` (its request's send time bounds
    /// when that Goose was last known to lead).
    pub fn last_goose_of(&self, term: u64) -> Option<&Answer> {
        self.goose_answers
            .iter()
            .rev()
            .find(|answer| answer.status.as_ref().is_some_and(|s| s.term == term))
    }

    /// The longest stretch between `from` and `to` with no Goose answer: of
    /// two Goose answers in a row (by request time), the later one's answer
    /// time minus the earlier one's request time, an upper bound on the
    /// time without a Goose between them.
    pub fn longest_without_goose(&self, from: Ns, to: Ns) -> Duration {
        let mut proofs: Vec<(Ns, Ns)> = self
            .goose_answers
            .iter()
            .filter(|answer| answer.sent >= from && answer.received <= to)
            .map(|answer| (answer.sent, answer.received))
            .collect();
        proofs.sort();
        let longest = proofs
            .windows(2)
            .map(|pair| pair[1].1.saturating_sub(pair[0].0))
            .max()
            .unwrap_or(to.saturating_sub(from));
        Duration::from_nanos(longest)
    }
}
