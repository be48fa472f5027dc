//! The observer: one thread per node asks its `/status` every
//! [`POLL_GAP`]; every answer is checked against the promises, and the
//! record answers availability and failover questions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant};

use crate::http::{Status, get_status};
use crate::{PATIENCE, POLL_GAP};

/// One node's answer to one poll, with when it was asked and answered.
#[derive(Clone, Debug)]
pub struct Answer {
    pub node: u64,
    /// `None` if the node did not answer (killed, stopped, starting).
    pub status: Option<Status>,
    pub sent: Instant,
    pub received: Instant,
}

/// The pollers, and the checked record of what they saw. Dropping it stops
/// and joins the pollers.
pub struct Watch {
    stop: Arc<AtomicBool>,
    inbox: Arc<Mutex<Vec<Answer>>>,
    pollers: Vec<JoinHandle<()>>,
    pub observer: Observer,
}

impl Watch {
    /// Starts polling each `(node id, address)`.
    pub fn start(nodes: &[(u64, Ipv4Addr)]) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let pollers = nodes
            .iter()
            .map(|&(node, ip)| {
                let (stop, inbox) = (stop.clone(), inbox.clone());
                std::thread::spawn(move || poll(node, ip, &stop, &inbox))
            })
            .collect();
        Watch {
            stop,
            inbox,
            pollers,
            observer: Observer::default(),
        }
    }

    /// Checks every answer that came in since the last call.
    pub fn drain(&mut self) {
        let mut answers = std::mem::take(&mut *self.inbox.lock().expect("a poller panicked"));
        answers.sort_by_key(|answer| answer.received);
        for answer in answers {
            self.observer.record(answer);
        }
    }

    /// Drains until `done` finds what it waits for; panics after
    /// [`PATIENCE`] naming `what`.
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

    /// Drains (and checks) for `pause`.
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

/// One node's poller.
fn poll(node: u64, ip: Ipv4Addr, stop: &AtomicBool, inbox: &Mutex<Vec<Answer>>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let status = get_status(ip).ok();
        let received = Instant::now();
        if let Ok(mut inbox) = inbox.lock() {
            inbox.push(Answer {
                node,
                status,
                sent,
                received,
            });
        }
        sleep(POLL_GAP);
    }
}

/// Every Goose answer of a term, as far as the checks need it.
#[derive(Debug)]
pub struct TermRecord {
    pub goose: u64,
    /// The latest request that got a Goose answer in this term.
    pub latest_sent: Instant,
    /// The earliest Goose answer in this term.
    pub earliest_received: Instant,
}

/// A Goose answer, reduced to what the measurements need.
#[derive(Clone, Copy, Debug)]
pub struct GooseAnswer {
    pub node: u64,
    pub term: u64,
    pub received: Instant,
}

/// Checks every answer against the promises, counting (not panicking on)
/// what it refutes, so a scenario can print its figures before it fails:
///
/// * two different Geese in one term (election safety);
/// * an overlap: a Goose answer of a lower term to a request sent after a
///   Goose answer of a higher term had been received, or the other way
///   round: the lower term's Goose held the role at an instant after the
///   higher term's Goose held it (lease safety);
/// * a node's term going back, across restarts too (durability).
#[derive(Debug, Default)]
pub struct Observer {
    pub terms: BTreeMap<u64, TermRecord>,
    node_terms: BTreeMap<u64, u64>,
    /// Each node's latest answer, answered or not.
    pub latest: BTreeMap<u64, Answer>,
    pub goose_answers: Vec<GooseAnswer>,
    /// When each answer of any node came back: where the observer could see.
    pub received: Vec<Instant>,
    pub answers: usize,
    pub overlaps: usize,
    /// Terms in which two nodes answered Goose.
    pub two_geese_terms: BTreeSet<u64>,
    /// Every refutation, in words (the first few are printed).
    pub violations: Vec<String>,
}

impl Observer {
    pub fn record(&mut self, answer: Answer) {
        self.received.push(answer.received);
        if let Some(status) = &answer.status {
            self.answers += 1;
            if status.id != answer.node {
                self.refute(format!(
                    "node {} answered as node {}",
                    answer.node, status.id
                ));
            }
            let highest = self.node_terms.entry(answer.node).or_default();
            if status.term < *highest {
                let message = format!(
                    "node {}'s term went back from {highest} to {}",
                    answer.node, status.term
                );
                self.refute(message);
            }
            let highest = self.node_terms.entry(answer.node).or_default();
            *highest = (*highest).max(status.term);
            if status.is_goose() {
                if status.leader != Some(status.id) || status.lease_ms.is_none() {
                    self.refute(format!(
                        "a Goose without itself as leader or a lease: {status:?}"
                    ));
                }
                self.record_goose(status, &answer);
            } else if status.lease_ms.is_some() {
                self.refute(format!("a Duck with a lease: {status:?}"));
            }
        }
        self.latest.insert(answer.node, answer);
    }

    fn refute(&mut self, message: String) {
        if self.violations.len() < 20 {
            eprintln!("VIOLATION: {message}");
        }
        self.violations.push(message);
    }

    fn record_goose(&mut self, status: &Status, answer: &Answer) {
        let term = status.term;
        let mut overlaps = Vec::new();
        for (higher, record) in self.terms.range(term + 1..) {
            if answer.sent > record.earliest_received {
                overlaps.push(format!(
                    "OVERLAP: node {} answered Goose in term {term} to a request sent {:?} after \
                     node {} had answered Goose in term {higher}",
                    status.id,
                    answer.sent - record.earliest_received,
                    record.goose,
                ));
            }
        }
        for (lower, record) in self.terms.range(..term) {
            if record.latest_sent > answer.received {
                overlaps.push(format!(
                    "OVERLAP: node {} answered Goose in term {lower} to a request sent {:?} after \
                     node {} had answered Goose in term {term}",
                    record.goose,
                    record.latest_sent - answer.received,
                    status.id,
                ));
            }
        }
        self.overlaps += overlaps.len();
        for overlap in overlaps {
            self.refute(overlap);
        }
        let record = self.terms.entry(term).or_insert(TermRecord {
            goose: status.id,
            latest_sent: answer.sent,
            earliest_received: answer.received,
        });
        if record.goose != status.id {
            let message = format!(
                "TWO GEESE: nodes {} and {} both answered Goose in term {term}",
                record.goose, status.id
            );
            self.two_geese_terms.insert(term);
            self.refute(message);
            return;
        }
        record.latest_sent = record.latest_sent.max(answer.sent);
        record.earliest_received = record.earliest_received.min(answer.received);
        self.goose_answers.push(GooseAnswer {
            node: status.id,
            term,
            received: answer.received,
        });
    }

    /// Panics with the first refutations if there were any.
    pub fn assert_safe(&self) {
        assert!(
            self.violations.is_empty(),
            "{} violations ({} overlaps, {} terms with two Geese); the first: {:#?}",
            self.violations.len(),
            self.overlaps,
            self.two_geese_terms.len(),
            &self.violations[..self.violations.len().min(5)]
        );
    }

    /// The latest answer of `node` if it was asked after `since`.
    pub fn status_since(&self, node: u64, since: Instant) -> Option<&Status> {
        self.latest
            .get(&node)
            .filter(|answer| answer.sent >= since)?
            .status
            .as_ref()
    }

    /// One Goose among `nodes`, every other following it in its term, all
    /// answering requests sent after `since`: the Goose and its term.
    pub fn agreement(&self, nodes: &[u64], since: Instant) -> Option<(u64, u64)> {
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

    /// Availability between `from` and `to`: of the [`SLOT`]s in which some
    /// answer came back (the observer could see), the share in which a Goose
    /// answer came back. Also the slots the observer could not see at all.
    pub fn availability(&self, from: Instant, to: Instant) -> Availability {
        let slots = ((to - from).as_nanos() / SLOT.as_nanos()) as usize;
        let slot_of = |at: Instant| -> Option<usize> {
            let index = (at.checked_duration_since(from)?.as_nanos() / SLOT.as_nanos()) as usize;
            (at <= to && index < slots).then_some(index)
        };
        let mut seen = vec![false; slots];
        let mut goose = vec![false; slots];
        for index in self.received.iter().filter_map(|&at| slot_of(at)) {
            seen[index] = true;
        }
        for index in self
            .goose_answers
            .iter()
            .filter_map(|a| slot_of(a.received))
        {
            goose[index] = true;
        }
        let observed = seen.iter().filter(|&&s| s).count();
        let available = goose.iter().filter(|&&g| g).count();
        Availability {
            observed_slots: observed,
            blind_slots: slots - observed,
            available_slots: available,
        }
    }

    /// How often the Goose changed between `from` and `to`: consecutive
    /// Goose answers (by answer time) of different terms.
    pub fn goose_changes(&self, from: Instant, to: Instant) -> usize {
        let mut answers: Vec<&GooseAnswer> = self
            .goose_answers
            .iter()
            .filter(|answer| answer.received >= from && answer.received <= to)
            .collect();
        answers.sort_by_key(|answer| answer.received);
        answers
            .windows(2)
            .filter(|pair| pair[0].term != pair[1].term)
            .count()
    }
}

/// The availability grain: a slot is available if some node answered Goose
/// in it.
pub const SLOT: Duration = Duration::from_millis(50);

/// Availability over a window, in [`SLOT`]s.
#[derive(Clone, Copy, Debug)]
pub struct Availability {
    /// Slots in which some answer came back.
    pub observed_slots: usize,
    /// Slots in which no answer came back at all (the observer stalled);
    /// left out of the share.
    pub blind_slots: usize,
    /// Slots in which a Goose answer came back.
    pub available_slots: usize,
}

impl Availability {
    /// The available share of the observed slots, in percent.
    pub fn percent(&self) -> f64 {
        if self.observed_slots == 0 {
            return 0.0;
        }
        100.0 * self.available_slots as f64 / self.observed_slots as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Answer, Observer};
    use crate::http::Status;

    /// An answer of `node` in `term`, asked `sent_ms` and answered
    /// `received_ms` after `zero`.
    fn answer(zero: Instant, node: u64, goose: bool, term: u64, ms: (u64, u64)) -> Answer {
        let at = |ms: u64| zero + Duration::from_millis(ms);
        Answer {
            node,
            status: Some(Status {
                id: node,
                role: if goose { "Goose" } else { "Duck" }.to_owned(),
                term,
                leader: goose.then_some(node),
                lease_ms: goose.then_some(100),
            }),
            sent: at(ms.0),
            received: at(ms.1),
        }
    }

    #[test]
    fn a_hand_over_between_request_and_answer_is_no_overlap() {
        let zero = Instant::now();
        let mut observer = Observer::default();
        observer.record(answer(zero, 2, true, 3, (1, 2)));
        // Asked before node 2's answer came back: it may have been true then.
        observer.record(answer(zero, 1, true, 2, (0, 5)));
        assert_eq!(observer.overlaps, 0);
        assert!(observer.violations.is_empty());
    }

    #[test]
    fn a_stale_goose_asked_after_a_newer_goose_answered_is_an_overlap() {
        let zero = Instant::now();
        let mut observer = Observer::default();
        observer.record(answer(zero, 1, true, 2, (0, 1)));
        observer.record(answer(zero, 2, true, 3, (2, 3)));
        observer.record(answer(zero, 1, true, 2, (4, 5)));
        assert_eq!(observer.overlaps, 1);
        assert_eq!(observer.two_geese_terms.len(), 0);
        assert_eq!(observer.violations.len(), 1);
    }

    #[test]
    fn two_geese_in_one_term_and_a_term_going_back_are_refuted() {
        let zero = Instant::now();
        let mut observer = Observer::default();
        observer.record(answer(zero, 1, true, 3, (0, 1)));
        observer.record(answer(zero, 2, true, 3, (0, 1)));
        observer.record(answer(zero, 1, false, 2, (2, 3)));
        assert_eq!(
            observer.two_geese_terms.iter().copied().collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(observer.violations.len(), 2);
    }

    #[test]
    fn availability_counts_goose_slots_among_observed_ones() {
        let zero = Instant::now();
        let mut observer = Observer::default();
        observer.record(answer(zero, 1, true, 1, (5, 10)));
        observer.record(answer(zero, 2, false, 1, (55, 60)));
        // Nothing comes back between 100 and 150 ms: a blind slot.
        observer.record(answer(zero, 3, true, 2, (155, 160)));
        let availability = observer.availability(zero, zero + Duration::from_millis(200));
        assert_eq!(
            (
                availability.observed_slots,
                availability.blind_slots,
                availability.available_slots
            ),
            (3, 1, 2)
        );
        assert_eq!(format!("{:.2}", availability.percent()), "66.67");
        assert_eq!(
            observer.goose_changes(zero, zero + Duration::from_secs(1)),
            1
        );
    }
}
