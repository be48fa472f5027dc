//! Failover: SIGKILL the Goose again and again; SIGTERM hands over.

use std::time::Instant;

use crate::cluster::Cluster;
use crate::observer::Observer;
use crate::{FAST, HANDOVER_BOUND, KILL_ROUNDS, PATIENCE, SLOW_ELECTIONS};

/// Five processes; twenty times: SIGKILL the Goose, see another node take
/// over, restart the dead one with the same arguments and see it rejoin as a
/// Duck following the new Goose.
#[test]
fn kill_nine_the_goose_twenty_times() {
    let started = Instant::now();
    let mut cluster = Cluster::start(5, FAST);
    let mut observer = Observer::default();
    let (mut goose, mut term) = cluster.wait_for_agreement(&mut observer);
    let mut failovers = Vec::new();
    for round in 1..=KILL_ROUNDS {
        cluster.node(goose).kill9();
        let killed = Instant::now();
        let (new_goose, new_term) = cluster.poll_until(
            &mut observer,
            &format!("a new Goose after killing node {goose} (round {round})"),
            |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| (s.id, s.term))
            },
        );
        failovers.push(killed.elapsed());
        assert!(
            new_term > term,
            "node {new_goose} is the Goose in term {new_term}, not after {term}"
        );

        cluster.node(goose).spawn();
        let restarted = goose;
        cluster.poll_until(
            &mut observer,
            &format!("restarted node {restarted} to follow a Goose (round {round})"),
            |answers, observer| {
                let status = answers
                    .iter()
                    .find(|a| a.node == restarted)?
                    .status
                    .as_ref()?;
                // Back as a Duck, following whoever is the Goose of its term.
                let leader = status.leader?;
                (!status.is_goose() && observer.goose_of(status.term) == Some(leader)).then_some(())
            },
        );
        (goose, term) = cluster.wait_for_agreement(&mut observer);
    }
    failovers.sort();
    eprintln!(
        "{KILL_ROUNDS} kill -9 rounds in {:.1?}: failover min {:?}, median {:?}, max {:?}; \
         {} answers checked over {} terms, {} sweeps with two Geese in legal order",
        started.elapsed(),
        failovers[0],
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1],
        observer.answers,
        observer.terms.len(),
        observer.double_goose_sweeps,
    );
}

/// SIGTERM makes the Goose hand over before it exits: a new Goose follows
/// far sooner than any election timeout would allow, and the process exits
/// with status 0.
#[test]
fn sigterm_hands_over_without_an_election_timeout() {
    let mut cluster = Cluster::start(3, SLOW_ELECTIONS);
    let mut observer = Observer::default();
    let (mut goose, _) = cluster.wait_for_agreement(&mut observer);
    for _round in 0..2 {
        let old = goose;
        let signalled = Instant::now();
        cluster.node(old).sigterm();
        let (new_goose, _) = cluster.poll_until(
            &mut observer,
            &format!("a new Goose after SIGTERM to node {old}"),
            |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose() && s.id != old)
                    .map(|s| (s.id, s.term))
            },
        );
        let handover = signalled.elapsed();
        eprintln!("SIGTERM to node {old}: node {new_goose} is the Goose after {handover:?}");
        assert!(
            handover < HANDOVER_BOUND,
            "hand-over took {handover:?}; an election timeout is at least 1 s"
        );
        let exit = cluster.node(old).wait_exit(PATIENCE);
        assert_eq!(exit.code(), Some(0), "a graceful stop exits 0");
        cluster.node(old).spawn();
        (goose, _) = cluster.wait_for_agreement(&mut observer);
    }
}
