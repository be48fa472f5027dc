//! The safety observer: every answer checked against the promises (see
//! the crate docs).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::http::{Answer, Status};

/// Every Goose answer of a term, as far as the checks need it.
#[derive(Debug)]
pub struct TermRecord {
    pub goose: u64,
    /// The latest request that got a Goose answer in this term.
    pub latest_sent: Instant,
    /// The earliest Goose answer in this term.
    pub earliest_received: Instant,
}

/// Checks every answer against the promises (see the module docs).
#[derive(Debug, Default)]
pub struct Observer {
    pub terms: BTreeMap<u64, TermRecord>,
    /// The highest term each node has reported, across its restarts.
    pub node_terms: BTreeMap<u64, u64>,
    pub answers: usize,
    /// Sweeps that saw two Geese in legal order (a hand-over between the
    /// two requests).
    pub double_goose_sweeps: usize,
}

impl Observer {
    pub fn record(&mut self, answers: &[Answer]) {
        let geese = answers
            .iter()
            .filter(|a| a.status.as_ref().is_some_and(Status::is_goose))
            .count();
        if geese > 1 {
            self.double_goose_sweeps += 1;
            eprintln!("a sweep saw {geese} Geese (legal only across a hand-over): {answers:#?}");
        }
        for answer in answers {
            let Some(status) = &answer.status else {
                continue;
            };
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
                assert_eq!(
                    status.leader,
                    Some(status.id),
                    "a Goose names itself leader"
                );
                assert!(status.lease_ms.is_some(), "a Goose has a lease: {status:?}");
                self.record_goose(status, answer);
            } else {
                assert_eq!(status.lease_ms, None, "a Duck has no lease: {status:?}");
            }
        }
    }

    pub fn record_goose(&mut self, status: &Status, answer: &Answer) {
        let term = status.term;
        // A lower term's Goose must not have been asked after a higher term's
        // Goose had answered...
        for (higher, record) in self.terms.range(term + 1..) {
            assert!(
                answer.sent <= record.earliest_received,
                "LEASE SAFETY: node {} answered Goose in term {term} to a request sent {:?} \
                 after node {} had answered Goose in term {higher}",
                status.id,
                answer.sent - record.earliest_received,
                record.goose,
            );
        }
        // ...nor a higher term's Goose have answered before a lower term's
        // Goose was asked.
        for (lower, record) in self.terms.range(..term) {
            assert!(
                record.latest_sent <= answer.received,
                "LEASE SAFETY: node {} answered Goose in term {lower} to a request sent {:?} \
                 after node {} had answered Goose in term {term}",
                record.goose,
                record.latest_sent - answer.received,
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
}
