//! Learners: they follow the Goose and never lead, vote or hold up a lease.

use std::time::Duration;

use duckduckgoose::core::CommandError;
use duckduckgoose::runtime::{HandleError, NodeHandle};
use duckduckgoose::{NodeId, Role};
use tokio::time::Instant;

use crate::common::{ELECTION_WAIT, cluster, geese, ids, others, single_goose, wait_until};

/// Waits as [`wait_until`] does, also asserting at every sample that
/// `learner` never answers `is_goose()`.
async fn wait_until_learner_stays_a_duck(
    nodes: &[NodeHandle],
    learner: &NodeHandle,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[NodeHandle]) -> bool,
) {
    wait_until(nodes, timeout, what, |nodes| {
        assert!(!learner.is_goose(), "the learner answered Goose");
        assert_eq!(learner.status().role, Role::Duck, "the learner's core led");
        done(nodes)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_learner_follows_the_goose_and_never_leads_even_when_the_voters_cannot_agree() {
    // Nodes 1 to 4 of `learner_config`; node 4 (the learner) is last.
    let cluster = cluster(13).learners(1).start().await;
    let nodes = cluster.nodes().to_vec();
    let learner = nodes[3].clone();
    let voters = &nodes[..3];

    // Healthy: one Goose among the voters, and the learner follows it.
    let goose = single_goose(&nodes).await;
    assert_ne!(goose.id(), learner.id());
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(goose.id()),
    )
    .await;
    let status = learner.status();
    assert_eq!(status.term, goose.status().term);
    assert_eq!(status.voted_for, None, "a learner never votes");
    assert_eq!(status.members.as_ref(), ids(3).as_slice());
    assert_eq!(status.learners.as_ref(), &[NodeId(4)]);
    assert_eq!(goose.status().learners.as_ref(), &[NodeId(4)]);
    assert_eq!(learner.lease(), None);

    // Every node lists the learner as a non-voting member, and the Goose
    // hears its acks.
    let peers = goose.peers();
    assert_eq!(
        peers
            .iter()
            .map(|peer| (peer.id, peer.voter))
            .collect::<Vec<_>>(),
        [
            (NodeId(1), true),
            (NodeId(2), true),
            (NodeId(3), true),
            (NodeId(4), false)
        ]
    );
    assert!(
        peers[3].last_contact.is_some(),
        "the learner acks heartbeats"
    );
    assert!(
        learner
            .peers()
            .iter()
            .all(|peer| peer.voter == (peer.id != learner.id()))
    );

    // Leadership cannot be handed to a learner; nothing changes.
    let term = goose.status().term;
    assert_eq!(
        goose.transfer_leadership(learner.id()).await,
        Err(HandleError::Rejected(CommandError::NotAVoter(learner.id())))
    );
    assert!(goose.is_goose());
    assert_eq!(goose.fencing_token(), Some(term));
    // Nor can a learner lead a handover: it is not the Goose.
    assert_eq!(
        learner.step_down().await,
        Err(HandleError::Rejected(CommandError::NotGoose))
    );

    // The Goose cut off from everyone, the learner included: the learner
    // hears no heartbeat any more but does not campaign; the two remaining
    // voters elect one of themselves, and the learner follows it.
    cluster.network().isolate(goose.id());
    let majority = others(voters, goose.id());
    let new = {
        let mut found = None;
        wait_until_learner_stays_a_duck(&nodes, &learner, ELECTION_WAIT, "a new Goose", |_| {
            found = geese(&majority).pop();
            found.is_some()
        })
        .await;
        found.expect("a new Goose")
    };
    assert!(new.status().term > term);
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(new.id()),
    )
    .await;
    cluster.network().heal_all();
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the old Goose to follow",
        |_| {
            nodes
                .iter()
                .all(|node| node.status().leader == Some(new.id()))
        },
    )
    .await;

    // The voters cut off from each other, each still reaching the learner:
    // no majority, so no Goose once the lease ends, and the learner, which
    // hears everyone, still never campaigns or leads.
    let voter_ids = ids(3);
    for (index, &a) in voter_ids.iter().enumerate() {
        for &b in &voter_ids[index + 1..] {
            cluster.network().cut(a, b);
        }
    }
    let lease_deadline = new.status().lease_deadline.expect("a Goose has a lease");
    let counters_before = learner.status().counters;
    let waited =
        tokio::time::timeout(Duration::from_secs(5), learner.wait_for_role(Role::Goose)).await;
    assert!(
        waited.is_err(),
        "a learner never becomes the Goose: {waited:?}"
    );
    assert!(Instant::now() > lease_deadline);
    wait_until_learner_stays_a_duck(&nodes, &learner, Duration::from_secs(3), "3 s of split", {
        let until = Instant::now() + Duration::from_secs(2);
        move |nodes| {
            assert!(geese(nodes).is_empty(), "no majority, no Goose");
            Instant::now() >= until
        }
    })
    .await;
    let counters = learner.status().counters;
    assert_eq!(counters.pre_votes_started, 0);
    assert_eq!(counters.elections_started, 0);
    assert_eq!(counters_before.elections_started, 0);
    assert_eq!(learner.status().voted_for, None);

    // Healed, the voters elect a Goose again, and the learner follows it.
    cluster.network().heal_all();
    let last = single_goose(&nodes).await;
    assert_ne!(last.id(), learner.id());
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(last.id()),
    )
    .await;
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_lone_voter_leads_a_learner_and_has_nobody_to_step_down_to() {
    // Voter 1 and learner 2.
    let cluster = cluster(14).voters(1).learners(1).start().await;
    let nodes = cluster.nodes().to_vec();
    let (voter, learner) = (nodes[0].clone(), nodes[1].clone());

    // One voter is a majority on its own; the learner's acks do not count,
    // but they do not get in the way either.
    tokio::time::timeout(ELECTION_WAIT, voter.wait_for_role(Role::Goose))
        .await
        .expect("a lone voter elects itself")
        .expect("the voter runs");
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(voter.id()),
    )
    .await;

    // `step_down` picks among voters only: the learner is no candidate.
    assert_eq!(
        voter.step_down().await,
        Err(HandleError::Rejected(CommandError::NoTransferTarget))
    );
    assert!(voter.is_goose());

    // The voter's lease does not depend on the learner: cut it off, and
    // the voter stays the Goose.
    cluster.network().isolate(learner.id());
    let term = voter.status().term;
    wait_until_learner_stays_a_duck(&nodes, &learner, Duration::from_secs(3), "2 s apart", {
        let until = Instant::now() + Duration::from_secs(2);
        move |_| {
            assert!(voter.is_goose(), "the learner holds up no lease");
            Instant::now() >= until
        }
    })
    .await;
    assert_eq!(nodes[0].fencing_token(), Some(term));
    for node in &nodes {
        node.shutdown().await;
    }
}
