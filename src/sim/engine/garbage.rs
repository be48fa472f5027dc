//! Garbage: messages with arbitrary content, claiming to come from ids
//! outside the cluster, each of which must be dropped, counted and leave
//! its receiver's status unchanged.

use rand::RngExt;
use rand::rngs::StdRng;

use super::Simulation;
use crate::core::{Membership, MembershipId, Message, NodeId, Term};
use crate::sim::checker::{Invariant, Violation, node_id};
use crate::sim::config::FIRST_NON_MEMBER_ID;
use crate::sim::queue::EventKind;
use crate::sim::trace::TraceKind;

impl Simulation {
    /// Sends a random message, claiming to come from a non-member, to a random
    /// live node, and checks that it was dropped, counted and changed nothing.
    pub(super) fn inject_garbage(&mut self) -> Result<(), Violation> {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].election.is_some())
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let index = up[self.rng.random_range(0..up.len())];
        let from =
            NodeId(FIRST_NON_MEMBER_ID + self.rng.random_range(0..=u64::MAX - FIRST_NON_MEMBER_ID));
        let msg = random_message(self.stats.max_term, &mut self.rng);
        self.stats.garbage_injected += 1;
        let node = node_id(index);
        self.recorder.record(
            self.now_us,
            TraceKind::Garbage {
                from,
                to: node,
                msg: msg.clone(),
            },
        );

        let Some(election) = self.nodes[index].election.as_mut() else {
            return Ok(());
        };
        let status_before = election.status();
        let dropped_before = election.counters().dropped_not_member;
        election.handle_message(from, msg);
        let status_after = election.status();
        let dropped_after = election.counters().dropped_not_member;
        self.outputs.clear();
        while let Some(output) = election.poll_output() {
            self.outputs.push(output);
        }
        let outputs = std::mem::take(&mut self.outputs);
        let result = outputs.iter().try_for_each(|output| {
            self.checker.on_output(self.now_us, node, output)?;
            self.handle_output(index, output)
        });
        self.outputs = outputs;
        result?;
        if status_after != status_before {
            return Err(Violation::GarbageChangedState {
                at_us: self.now_us,
                node,
                from,
            });
        }
        if dropped_after != dropped_before + 1 {
            return Err(Violation::GarbageNotCounted {
                at_us: self.now_us,
                node,
                from,
            });
        }
        Ok(())
    }

    pub(super) fn schedule_garbage(&mut self) {
        if let Some(every) = &self.config.faults.garbage_every_us {
            let at_us = self.now_us + self.rng.random_range(every.clone());
            self.queue.push(at_us, EventKind::Garbage);
        }
    }
}

/// Any message at all: terms near the real ones half the time, anywhere in
/// `u64` otherwise; membership ids likewise; a heartbeat carries a random
/// membership a third of the time.
fn random_message(max_term: Term, rng: &mut StdRng) -> Message {
    let term = random_term(max_term, rng);
    let flag = rng.random_bool(0.5);
    let sent_tick = rng.random();
    let membership = random_membership_id(max_term, rng);
    match rng.random_range(0..10) {
        0 => Message::PreVote { term, membership },
        1 => Message::PreVoteResponse {
            term,
            granted: flag,
        },
        2 => Message::Vote {
            term,
            transfer: flag,
            membership,
        },
        3 => Message::VoteResponse {
            term,
            granted: flag,
        },
        4 => Message::Heartbeat {
            term,
            sent_tick,
            membership: rng
                .random_bool(1.0 / 3.0)
                .then(|| Box::new(random_membership(max_term, rng))),
        },
        5 => Message::HeartbeatAck {
            term,
            sent_tick,
            membership,
        },
        6 => Message::Leave { term },
        7 => Message::NewerMembership {
            term,
            membership: Box::new(random_membership(max_term, rng)),
        },
        8 => Message::MembershipProbe { term, membership },
        _ => Message::TimeoutNow { term },
    }
}

fn random_term(max_term: Term, rng: &mut StdRng) -> Term {
    if rng.random_bool(0.5) {
        Term(rng.random_range(0..=max_term.0.saturating_add(2)))
    } else {
        Term(rng.random())
    }
}

fn random_membership_id(max_term: Term, rng: &mut StdRng) -> MembershipId {
    MembershipId {
        term: random_term(max_term, rng),
        version: if rng.random_bool(0.5) {
            rng.random_range(0..=64)
        } else {
            rng.random()
        },
    }
}

/// A membership of small random ids (members or not), which a garbage
/// heartbeat tries to impose.
fn random_membership(max_term: Term, rng: &mut StdRng) -> Membership {
    let ids = |rng: &mut StdRng| -> Vec<NodeId> {
        (0..rng.random_range(0..=4))
            .map(|_| NodeId(rng.random_range(0..=12)))
            .collect()
    };
    let voters = ids(rng);
    let learners = ids(rng);
    let addresses: Vec<(NodeId, String)> = voters
        .iter()
        .map(|id| (*id, format!("10.0.0.{id}:7000")))
        .collect();
    // Issued by a "Goose" of a random term: an id that is often newer than
    // any the cluster holds, the kind a node would adopt from a member.
    Membership::new(voters)
        .with_learners(learners)
        .with_addresses(addresses)
        .reissued(random_term(max_term, rng))
}
