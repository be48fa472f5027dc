//! The liveness judgement: once the network has healed, has the cluster
//! settled under one Goose, and if not when the bound runs out, why not.

use super::Simulation;
use crate::core::{Election, Role};
use crate::sim::checker::{DisplayMembership, Violation, node_id};

impl Simulation {
    /// Liveness: some node is the Goose, a voter of the latest committed
    /// membership, and every node its membership names, learners included,
    /// is up, follows it, and is no longer waiting for promotion. (Without
    /// membership changes: a Goose every node follows.) Nodes outside the
    /// Goose's membership (removed) and spares that never joined do not
    /// count.
    pub(super) fn settled(&self) -> bool {
        self.settled_goose().is_some_and(|goose| {
            let membership = goose.membership();
            self.nodes.iter().enumerate().all(|(index, node)| {
                let id = node_id(index);
                match &node.election {
                    _ if !membership.contains(id) => true,
                    Some(election) => {
                        election.leader() == Some(goose.id()) && !membership.is_joining(id)
                    }
                    // A member that is down holds liveness back; one that
                    // never joined has nothing to follow.
                    None => !node.joined,
                }
            })
        })
    }

    /// The Goose, if there is one and it is a voter of the latest committed
    /// membership.
    pub(super) fn settled_goose(&self) -> Option<&Election> {
        self.nodes
            .iter()
            .filter_map(|node| node.election.as_ref())
            .find(|election| election.role() == Role::Goose)
            .filter(|goose| self.checker.latest_committed().is_voter(goose.id()))
    }

    /// Why the cluster has not settled when the liveness bound runs out: a
    /// joined node still waiting for promotion under a Goose every member
    /// follows, or else no such Goose.
    pub(super) fn unsettled(&self, at_us: u64, healed_at_us: u64, bound_us: u64) -> Violation {
        let waiting = self.settled_goose().and_then(|goose| {
            let membership = goose.membership();
            let followed = self.nodes.iter().all(|node| {
                node.election.as_ref().is_none_or(|election| {
                    !membership.contains(election.id()) || election.leader() == Some(goose.id())
                })
            });
            followed
                .then(|| {
                    self.nodes.iter().find_map(|node| {
                        let election = node.election.as_ref()?;
                        membership
                            .is_joining(election.id())
                            .then_some(election.id())
                    })
                })
                .flatten()
        });
        match waiting {
            Some(node) => Violation::JoinerNotPromoted {
                at_us,
                node,
                healed_at_us,
                bound_us,
            },
            None => Violation::NoGooseAfterHeal {
                at_us,
                healed_at_us,
                bound_us,
                cluster: self.snapshot(),
            },
        }
    }

    /// One line per node: whether it is up (and asked to leave), its role,
    /// term and leader, and the membership it holds (joining learners
    /// starred).
    fn snapshot(&self) -> String {
        let mut lines = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let id = node_id(index);
            let line = match &node.election {
                Some(election) => format!(
                    "n{id} up{} {} term {} leader {} holds {}",
                    if node.leaving { " leaving" } else { "" },
                    election.role(),
                    election.term(),
                    election
                        .leader()
                        .map_or("none".to_owned(), |leader| format!("n{leader}")),
                    DisplayMembership(election.membership().clone()),
                ),
                None if !node.joined => format!("n{id} never joined"),
                None => format!(
                    "n{id} down holds {} on disk",
                    DisplayMembership(node.durable_membership.clone()),
                ),
            };
            lines.push(line);
        }
        format!(
            "[{}]; latest committed {}",
            lines.join("; "),
            DisplayMembership(self.checker.latest_committed().clone())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{HardState, NodeId};
    use crate::sim::engine::new_election;
    use crate::sim::{CommandPlan, FaultPlan, SimConfig};

    /// Runs events, with every check, until a Goose followed by every node
    /// exists.
    fn run_until_goose_followed_by_all(simulation: &mut Simulation) {
        for _ in 0..100_000 {
            let event = simulation
                .queue
                .pop()
                .expect("every node always has a tick pending");
            simulation.now_us = event.at_us;
            let checked = simulation
                .handle(event.kind)
                .and_then(|()| simulation.check_cluster());
            if let Err(violation) = checked {
                panic!("{violation}");
            }
            if simulation.settled() {
                return;
            }
        }
        panic!("no Goose followed by every node");
    }

    #[test]
    fn liveness_waits_for_every_learner() {
        let mut simulation =
            Simulation::new(SimConfig::new(3, 5).with_learners(2)).expect("a valid config");
        run_until_goose_followed_by_all(&mut simulation);
        let learner = 4; // n5
        assert!(simulation.checker.is_learner(node_id(learner)));

        // A learner that is down holds liveness back...
        let following = simulation.nodes[learner].election.take();
        assert!(!simulation.settled());
        // ...and so does one that follows nobody (here, just restarted).
        let fresh = new_election(
            &simulation.config,
            &simulation.nodes[learner].config,
            HardState::default(),
            &mut simulation.rng,
        )
        .expect("a valid config");
        assert_eq!(fresh.leader(), None);
        simulation.nodes[learner].election = Some(fresh);
        assert!(!simulation.settled());

        simulation.nodes[learner].election = following;
        assert!(simulation.settled());
    }

    /// A spare that joined holds liveness back until it is promoted, and a
    /// run that ends before then names it.
    #[test]
    fn liveness_waits_for_the_promotion_of_a_joiner() {
        let plan = FaultPlan {
            commands: Some(CommandPlan {
                every_us: 200_000..=200_000,
                campaign: 0,
                step_down: 0,
                transfer: 0,
                add: 1,
                remove: 0,
                leave: 0,
            }),
            ..FaultPlan::none()
        };
        let config = SimConfig::new(3, 1).with_spare_nodes(1).with_faults(plan);
        let mut simulation = Simulation::new(config).expect("a valid config");
        let joiner = 3; // n4
        let follows_goose = |simulation: &Simulation| {
            let goose = simulation.settled_goose().map(Election::id);
            simulation.nodes[joiner]
                .election
                .as_ref()
                .is_some_and(|election| goose.is_some() && election.leader() == goose)
        };
        for _ in 0..100_000 {
            let event = simulation.queue.pop().expect("ticks are always pending");
            simulation.now_us = event.at_us;
            let checked = simulation
                .handle(event.kind)
                .and_then(|()| simulation.check_cluster());
            if let Err(violation) = checked {
                panic!("{violation}");
            }
            if follows_goose(&simulation) {
                break;
            }
        }
        assert!(
            follows_goose(&simulation),
            "n4 joined and follows the Goose"
        );
        assert!(!simulation.settled(), "n4 is not promoted yet");
        assert_eq!(
            simulation.unsettled(9, 1, 8),
            Violation::JoinerNotPromoted {
                at_us: 9,
                node: NodeId(4),
                healed_at_us: 1,
                bound_us: 8,
            }
        );
        run_until_goose_followed_by_all(&mut simulation);
        let goose = simulation.settled_goose().expect("a Goose");
        assert!(goose.membership().is_voter(NodeId(4)), "n4 was promoted");
    }
}
