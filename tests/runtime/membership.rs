//! Membership changes through the handle: grow, shrink, remove the Goose,
//! leave, restart on a changed membership, and the changes refused.

use std::time::Duration;

use duckduckgoose::core::{Membership, MembershipError};
use duckduckgoose::runtime::{HandleError, NodeHandle};
use duckduckgoose::{NodeId, Role};
use tokio::time::Instant;

use crate::common::{
    ELECTION_WAIT, addr, assert_never_campaigns, goose_ready_for_a_change, ids, joiner_config,
    member_config, members_cluster, others, single_goose, wait_for_membership, wait_until,
};

#[tokio::test(start_paused = true)]
async fn grow_three_to_five_the_new_nodes_are_promoted_to_voters() {
    let mut cluster = members_cluster(3, 21).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let term = goose.status().term;

    for new in [NodeId(4), NodeId(5)] {
        // Wait for the previous node's promotion to commit.
        let goose = goose_ready_for_a_change(cluster.nodes()).await;
        let added = goose.add_node(new, addr(new)).await.expect("added");
        assert!(added.is_learner(new) && added.is_joining(new));
        assert!(!added.is_voter(new));
        assert_eq!(added.address(new), Some(addr(new).as_str()));
        assert_eq!(goose.membership(), added, "committed, nothing newer yet");
        assert_eq!(goose.status().membership, added.id());
        assert_eq!(goose.status().membership_pending, Some(false));

        let node = cluster
            .start_node(joiner_config(new, added))
            .await
            .expect("the new node starts");
        wait_until(cluster.nodes(), ELECTION_WAIT, "the promotion", |nodes| {
            nodes
                .iter()
                .all(|node| node.status().members.contains(&new))
                && goose.status().membership_pending == Some(false)
        })
        .await;
        assert_eq!(node.status().leader, Some(goose.id()));
    }

    let membership = wait_for_membership(cluster.nodes(), &[1, 2, 3, 4, 5], &[]).await;
    assert_eq!(membership.joining().len(), 0);
    for node in cluster.nodes() {
        let status = node.status();
        assert_eq!(
            status.members.as_ref(),
            ids(5).as_slice(),
            "node {}",
            node.id()
        );
        assert!(status.learners.is_empty());
        assert_eq!(status.membership, membership.id());
        assert_eq!(status.leader, Some(goose.id()));
        assert_eq!(status.term, term, "growing the cluster took no election");
        assert_eq!(node.membership(), membership);
        let peers = node.peers();
        assert_eq!(peers.iter().map(|peer| peer.id).collect::<Vec<_>>(), ids(5));
        for peer in &peers {
            assert!(peer.voter);
            assert_eq!(peer.address, Some(addr(peer.id)));
        }
    }
    assert!(goose.is_goose());
    // The new voters count: with two of the old voters gone, the other three
    // are still a majority of five.
    let ducks: Vec<NodeId> = others(cluster.nodes(), goose.id())
        .iter()
        .map(NodeHandle::id)
        .filter(|id| id.0 <= 3)
        .collect();
    for duck in ducks {
        cluster.network().isolate(duck);
    }
    let steady = Instant::now() + Duration::from_secs(2);
    wait_until(cluster.nodes(), Duration::from_secs(3), "2 s", |_| {
        Instant::now() >= steady
    })
    .await;
    assert!(
        goose.is_goose(),
        "the Goose, 4 and 5 are a majority of five"
    );
    assert_eq!(goose.status().term, term);
}

#[tokio::test(start_paused = true)]
async fn shrink_five_to_three_while_a_remaining_node_is_cut_off() {
    let cluster = members_cluster(5, 22).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let ducks: Vec<NodeHandle> = others(cluster.nodes(), goose.id());
    let (cut_off, removed, stays) = (&ducks[0], &ducks[1..3], &ducks[3]);

    cluster.network().isolate(cut_off.id());
    for node in removed {
        let membership = goose.remove_node(node.id()).await.expect("removed");
        assert!(!membership.contains(node.id()));
        assert_eq!(membership.address(node.id()), None);
    }
    let expected: Vec<NodeId> = {
        let mut ids = vec![goose.id(), cut_off.id(), stays.id()];
        ids.sort();
        ids
    };
    assert_eq!(goose.status().members.as_ref(), expected.as_slice());
    assert_eq!(
        goose.peers().iter().map(|peer| peer.id).collect::<Vec<_>>(),
        expected
    );
    // The removed nodes heard of their removal and stay quiet.
    for node in removed {
        wait_until(
            cluster.nodes(),
            ELECTION_WAIT,
            "the removal to arrive",
            |_| !node.membership().contains(node.id()),
        )
        .await;
    }
    // The cut-off node missed both changes; once back, it catches up
    // without disturbing the Goose (its old membership wins no vote).
    assert_eq!(cut_off.status().members.len(), 5);
    cluster.network().heal_all();
    let remaining: Vec<NodeHandle> = cluster
        .nodes()
        .iter()
        .filter(|node| expected.contains(&node.id()))
        .cloned()
        .collect();
    let voters: Vec<u64> = expected.iter().map(|id| id.0).collect();
    let membership = wait_for_membership(&remaining, &voters, &[]).await;
    assert_eq!(cut_off.membership(), membership);
    assert!(goose.is_goose());
    for node in removed {
        assert_never_campaigns(cluster.nodes(), node, Duration::from_secs(3)).await;
    }
    assert!(goose.is_goose());
}

#[tokio::test(start_paused = true)]
async fn removing_the_goose_elects_a_new_one_and_the_old_one_never_campaigns() {
    let cluster = members_cluster(3, 23).await;
    let old = goose_ready_for_a_change(cluster.nodes()).await;
    let term = old.status().term;

    let membership = old.remove_node(old.id()).await.expect("removed itself");
    assert!(!membership.contains(old.id()));
    assert_eq!(membership.voter_count(), 2);
    assert!(!old.is_goose(), "a removed Goose steps down at the commit");
    assert_eq!(old.membership(), membership);

    let rest = others(cluster.nodes(), old.id());
    let new = single_goose(&rest).await;
    assert!(new.status().term > term);
    let voters: Vec<u64> = rest.iter().map(|node| node.id().0).collect();
    let held = wait_for_membership(&rest, &voters, &[]).await;
    assert!(held.id() > membership.id(), "the new Goose re-issued it");
    assert_never_campaigns(cluster.nodes(), &old, Duration::from_secs(3)).await;
    assert!(new.is_goose());
}

#[tokio::test(start_paused = true)]
async fn leave_from_a_duck_and_from_the_goose() {
    let cluster = members_cluster(5, 24).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;

    // A Duck asks the Goose to remove it; `leave` has no timeout of its own.
    let duck = others(cluster.nodes(), goose.id()).remove(0);
    tokio::time::timeout(ELECTION_WAIT, duck.leave())
        .await
        .expect("left in time")
        .expect("left");
    assert!(!duck.membership().contains(duck.id()));
    assert!(duck.is_running(), "a removed node runs until shut down");
    let four = cluster.members_of(&goose.membership());
    let voters: Vec<u64> = four.iter().map(|node| node.id().0).collect();
    wait_for_membership(&four, &voters, &[]).await;
    assert_eq!(duck.leave().await, Ok(()), "already out");

    // The Goose hands over first, then the next Goose removes it.
    let term = goose.status().term;
    tokio::time::timeout(ELECTION_WAIT, goose.leave())
        .await
        .expect("left in time")
        .expect("left");
    assert!(!goose.is_goose());
    assert!(!goose.membership().contains(goose.id()));
    let three = others(&four, goose.id());
    let new = single_goose(&three).await;
    assert!(new.status().term > term);
    let voters: Vec<u64> = three.iter().map(|node| node.id().0).collect();
    wait_for_membership(&three, &voters, &[]).await;
    assert_never_campaigns(cluster.nodes(), &goose, Duration::from_secs(2)).await;
    assert_never_campaigns(cluster.nodes(), &duck, Duration::from_secs(1)).await;
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_node_finds_the_new_membership_and_a_removed_one_starts_as_a_removed_node() {
    let mut cluster = members_cluster(3, 25).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let four = NodeId(4);
    let added = goose.add_node(four, addr(four)).await.expect("added");
    cluster
        .start_node(joiner_config(four, added))
        .await
        .expect("starts");
    let membership = wait_for_membership(cluster.nodes(), &[1, 2, 3, 4], &[]).await;

    // A Duck restarts with its original configuration (three voters): the
    // stored membership wins.
    let duck = others(cluster.nodes(), goose.id()).remove(0);
    duck.shutdown().await;
    let restarted = cluster
        .start_node(member_config(duck.id(), &ids(3)))
        .await
        .expect("restarts");
    let status = restarted.status();
    assert_eq!(status.members.as_ref(), ids(4).as_slice());
    assert_eq!(status.membership, membership.id());
    assert_eq!(restarted.membership(), membership);
    assert_eq!(restarted.peers().len(), 4);
    wait_until(
        cluster.nodes(),
        ELECTION_WAIT,
        "the restarted node to follow",
        |_| restarted.status().leader == Some(goose.id()),
    )
    .await;

    // So does the joiner, restarted with no configuration of its own but
    // the membership it first joined with.
    let joiner = cluster.node(four);
    joiner.shutdown().await;
    let stale = Membership::new(ids(3))
        .with_learners([four])
        .with_addresses(ids(4).into_iter().map(|id| (id, addr(id))));
    let joiner = cluster
        .start_node(joiner_config(four, stale))
        .await
        .expect("restarts");
    assert_eq!(joiner.status().members.as_ref(), ids(4).as_slice());
    assert!(joiner.status().learners.is_empty());

    // A removed node: its stored membership does not hold it.
    let removed = restarted.id();
    goose.remove_node(removed).await.expect("removed");
    wait_until(
        cluster.nodes(),
        ELECTION_WAIT,
        "the removal to arrive",
        |_| !restarted.membership().contains(removed),
    )
    .await;
    let held = restarted.membership();
    restarted.shutdown().await;

    // Restarted on its storage, whatever its configuration says, it starts
    // as a removed node: a Duck outside its membership that never
    // campaigns, while the cluster keeps its Goose.
    let term = goose.status().term;
    let removed_node = cluster
        .start_node(member_config(removed, &ids(3)))
        .await
        .expect("a removed node starts");
    let status = removed_node.status();
    assert!(!status.member, "{status:?}");
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.membership, held.id());
    assert!(!status.members.contains(&removed) && !status.learners.contains(&removed));
    assert_eq!(removed_node.membership(), held);
    assert_eq!(removed_node.leave().await, Ok(()), "already out");
    assert_never_campaigns(cluster.nodes(), &removed_node, Duration::from_secs(5)).await;
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term, "no election");
    let rest = cluster.members_of(&goose.membership());
    for node in &rest {
        assert_eq!(node.status().leader, Some(goose.id()), "node {}", node.id());
    }
    cluster.shutdown().await;
}

/// A node removed (or whose removal a new Goose undid) while it was down
/// comes back: restarted on storage whose membership lacks it, it starts as
/// a removed node; once the Goose has added it back, the Goose's heartbeats
/// bring the membership naming it, and it is promoted to voter again.
#[tokio::test(start_paused = true)]
async fn a_removed_node_added_back_while_down_rejoins_on_its_old_storage() {
    let mut cluster = members_cluster(3, 27).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let term = goose.status().term;
    let node = others(cluster.nodes(), goose.id()).remove(0);
    let id = node.id();

    goose.remove_node(id).await.expect("removed");
    wait_until(
        cluster.nodes(),
        ELECTION_WAIT,
        "the removal to arrive",
        |_| !node.status().member,
    )
    .await;
    // A crash: the storage keeps the membership without it.
    node.abort();
    node.stopped().await;
    let without = node.membership();
    assert!(!without.contains(id));

    let goose = goose_ready_for_a_change(&cluster.members_of(&goose.membership())).await;
    let added = goose.add_node(id, addr(id)).await.expect("added back");
    assert!(added.is_learner(id) && added.is_joining(id));

    let restarted = cluster
        .start_node(member_config(id, &ids(3)))
        .await
        .expect("starts");
    assert!(!restarted.status().member, "its storage does not hold it");
    assert_eq!(restarted.membership(), without);
    let voters: Vec<u64> = ids(3).iter().map(|id| id.0).collect();
    let membership = wait_for_membership(cluster.nodes(), &voters, &[]).await;
    assert!(membership.id() > added.id(), "promoted after being added");
    let status = restarted.status();
    assert!(status.member);
    assert!(status.members.contains(&id));
    assert_eq!(status.membership, membership.id());
    assert_eq!(status.leader, Some(goose.id()));
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term, "no election on the way");
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bad_membership_changes_are_refused_and_change_nothing() {
    let cluster = members_cluster(3, 26).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let duck = others(cluster.nodes(), goose.id()).remove(0);
    wait_until(cluster.nodes(), ELECTION_WAIT, "the Duck to follow", |_| {
        duck.status().leader == Some(goose.id())
    })
    .await;
    let before = goose.membership();

    // Only the Goose changes the membership; a Duck names it.
    let not_goose = HandleError::Membership(MembershipError::NotGoose {
        leader: Some(goose.id()),
    });
    assert_eq!(
        duck.add_node(NodeId(4), addr(NodeId(4))).await,
        Err(not_goose.clone())
    );
    assert_eq!(duck.remove_node(goose.id()).await, Err(not_goose));

    // An existing id at another address.
    assert_eq!(
        goose.add_node(NodeId(2), "10.9.9.9:7000").await,
        Err(HandleError::Membership(MembershipError::AddressConflict {
            id: NodeId(2),
            existing: addr(NodeId(2)),
            requested: "10.9.9.9:7000".to_owned(),
        }))
    );
    // At its own address: nothing to do, answered at once.
    assert_eq!(
        goose.add_node(NodeId(2), addr(NodeId(2))).await,
        Ok(before.clone())
    );
    assert!(matches!(
        goose.add_node(NodeId(4), "no port").await,
        Err(HandleError::Membership(MembershipError::InvalidAddress(_)))
    ));
    assert_eq!(
        goose.remove_node(NodeId(9)).await,
        Err(HandleError::Membership(MembershipError::NotAMember(
            NodeId(9)
        )))
    );
    assert_eq!(goose.membership(), before, "nothing changed");

    // One change at a time: the second is refused while the first is pending.
    let (first, second) = tokio::join!(
        goose.add_node(NodeId(4), addr(NodeId(4))),
        goose.add_node(NodeId(5), addr(NodeId(5))),
    );
    let first = first.expect("the first change commits");
    assert_eq!(
        second,
        Err(HandleError::Membership(MembershipError::ChangeInProgress {
            pending: first.id()
        }))
    );
    assert!(first.contains(NodeId(4)) && !first.contains(NodeId(5)));
    assert_eq!(goose.membership(), first);
    cluster.shutdown().await;

    // The last voter can neither be removed nor leave.
    let lone = members_cluster(1, 27).await;
    let node = goose_ready_for_a_change(lone.nodes()).await;
    let last_voter = HandleError::Membership(MembershipError::LastVoter(node.id()));
    assert_eq!(node.remove_node(node.id()).await, Err(last_voter.clone()));
    assert_eq!(node.leave().await, Err(last_voter));
    assert!(node.is_goose());
    // A lone voter commits a change on its own.
    let added = node
        .add_node(NodeId(2), addr(NodeId(2)))
        .await
        .expect("added");
    assert!(added.is_learner(NodeId(2)));
    let removed = node.remove_node(NodeId(2)).await.expect("removed");
    assert!(!removed.contains(NodeId(2)));
    node.shutdown().await;
    assert_eq!(
        node.add_node(NodeId(3), addr(NodeId(3))).await,
        Err(HandleError::Stopped)
    );
}

#[tokio::test(start_paused = true)]
async fn a_goose_that_loses_its_lease_before_the_commit_reports_leadership_lost() {
    let cluster = members_cluster(3, 28).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    cluster.network().isolate(goose.id());
    assert_eq!(
        goose.add_node(NodeId(4), addr(NodeId(4))).await,
        Err(HandleError::LeadershipLost)
    );
    assert!(!goose.is_goose());
    // The change never reached anyone: the others elect a Goose among the
    // three voters they know.
    let rest = others(cluster.nodes(), goose.id());
    let new = single_goose(&rest).await;
    assert!(!new.membership().contains(NodeId(4)));
    cluster.network().heal_all();
    let membership = wait_for_membership(cluster.nodes(), &[1, 2, 3], &[]).await;
    assert!(
        !membership.contains(NodeId(4)),
        "the new Goose's membership wins"
    );
}
