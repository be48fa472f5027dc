//! A transport that dials its peers at their addresses (TCP) takes them from
//! the membership alone, so the runtime requires every member's: a node
//! whose membership lacks one does not start, and a Goose whose membership
//! lacks one adds no node until they are recorded. A malformed address is
//! refused whatever the transport. Each refusal changes nothing.
//!
//! In-process, with a transport that says it dials its peers (see
//! `joins.rs`); `tcp_cluster.rs` runs the same rules over real TCP.

use duckduckgoose::core::{Membership, MembershipError};
use duckduckgoose::runtime::{HandleError, MissingAddresses, NodeConfigError, StartError};
use duckduckgoose::transport::JoinReply;
use duckduckgoose::{NodeId, Role};

use crate::common::{
    Cluster, ELECTION_WAIT, addr, config, goose_ready_for_a_change, ids, member_config,
    members_cluster, wait_until,
};
use crate::joins::{JoiningNode, peer_map};

/// The members `ids` lacking an address.
fn missing(ids: &[u64]) -> MissingAddresses {
    MissingAddresses {
        ids: ids.iter().copied().map(NodeId).collect(),
    }
}

/// The error of a start refused for `ids`' addresses, or a panic naming
/// what happened instead.
fn refused_for(started: Result<JoiningNode, StartError>) -> (MissingAddresses, String) {
    match started {
        Err(StartError::Config(NodeConfigError::MissingAddresses(missing))) => {
            let message =
                StartError::Config(NodeConfigError::MissingAddresses(missing.clone())).to_string();
            (missing, message)
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(node) => {
            node.handle.abort();
            panic!("a node without every member's address started");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_whose_membership_lacks_an_address_does_not_start() {
    let mut cluster = Cluster::memory(31).build().await;
    let voters = ids(3);
    let without = |id: NodeId, lacking: &[u64]| {
        let mut config = member_config(id, &voters);
        for gone in lacking {
            config.addresses.remove(&NodeId(*gone));
        }
        config
    };

    let (error, message) =
        refused_for(JoiningNode::try_start(&mut cluster, without(NodeId(1), &[3]), true).await);
    assert_eq!(error, missing(&[3]));
    assert_eq!(
        message,
        "invalid node configuration: the membership has no address for node 3; \
         list every member, this node included, in NodeConfig::addresses"
    );
    // Its own address too: the others need it.
    let (error, _) =
        refused_for(JoiningNode::try_start(&mut cluster, without(NodeId(1), &[1]), true).await);
    assert_eq!(error, missing(&[1]));
    let (error, message) = refused_for(
        JoiningNode::try_start(&mut cluster, without(NodeId(1), &[1, 2, 3]), true).await,
    );
    assert_eq!(error, missing(&[1, 2, 3]));
    assert!(
        message.contains("no address for nodes 1, 2, 3;"),
        "{message}"
    );
    // Learners are members too.
    let learner = member_config(NodeId(1), &voters).with_learners([NodeId(4)]);
    let (error, _) = refused_for(JoiningNode::try_start(&mut cluster, learner, true).await);
    assert_eq!(error, missing(&[4]));

    // A transport that reaches its peers by id alone needs none.
    let plain = JoiningNode::try_start(&mut cluster, without(NodeId(1), &[1, 2, 3]), false)
        .await
        .expect("an in-process transport ignores addresses");
    plain.handle.shutdown().await;
    // With every address, the same node starts and its transport is given
    // the members.
    let node = JoiningNode::try_start(&mut cluster, member_config(NodeId(2), &voters), true)
        .await
        .expect("starts with every address");
    assert_eq!(node.last_peer_set(), Some(peer_map(&[1, 2, 3])));
    node.handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_saved_membership_takes_the_addresses_it_lacks_from_the_configuration() {
    // Three nodes configured without addresses add node 4 with one: every
    // node saves a membership that has node 4's address only.
    let mut cluster = crate::common::cluster(32).voters(3).start().await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let added = goose
        .add_node(NodeId(4), addr(NodeId(4)))
        .await
        .expect("added: the in-process transport needs no address");
    let duck = if goose.id() == NodeId(1) {
        NodeId(2)
    } else {
        NodeId(1)
    };
    wait_until(
        cluster.nodes(),
        ELECTION_WAIT,
        "the Duck to save it",
        |_| cluster.node(duck).membership() == added,
    )
    .await;
    cluster.crash(duck).await;

    // Restarted on a transport that dials its peers, it is refused: the
    // saved membership (with learner 4) lacks the founders' addresses.
    let (error, _) =
        refused_for(JoiningNode::try_start(&mut cluster, config(duck, &ids(3)), true).await);
    assert_eq!(error, missing(&[1, 2, 3]));

    // Configured with them, it starts from the saved membership, which
    // takes them and keeps its own.
    let node = JoiningNode::try_start(&mut cluster, member_config(duck, &ids(3)), true)
        .await
        .expect("starts");
    let membership = node.handle.membership();
    assert_eq!(membership.id(), added.id(), "the saved membership");
    assert!(membership.is_learner(NodeId(4)));
    assert_eq!(membership.addresses(), &peer_map(&[1, 2, 3, 4]));
    assert_eq!(node.last_peer_set(), Some(peer_map(&[1, 2, 3, 4])));
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_goose_whose_membership_lacks_addresses_adds_no_node_until_they_are_recorded() {
    // Nodes 2 and 3 run without addresses (as a build that did not record
    // them would) and elect a Goose, which re-issues its membership without
    // them. Node 1, whose transport dials its peers, starts configured with
    // every address and takes that membership from the Goose.
    let mut cluster = Cluster::memory(33).build().await;
    let voters = ids(3);
    for id in [NodeId(2), NodeId(3)] {
        cluster
            .start_node(config(id, &voters))
            .await
            .expect("starts");
    }
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let one = JoiningNode::try_start(&mut cluster, member_config(NodeId(1), &voters), true)
        .await
        .expect("starts with every address");
    let bare = goose.membership();
    assert!(bare.addresses().is_empty(), "{bare:?}");
    wait_until(cluster.nodes(), ELECTION_WAIT, "node 1 to follow", |_| {
        let status = one.handle.status();
        status.leader == Some(goose.id()) && status.membership == goose.status().membership
    })
    .await;
    assert!(one.handle.membership().addresses().is_empty());

    // Node 1 becomes the Goose; it re-issues what it holds.
    goose
        .transfer_leadership(NodeId(1))
        .await
        .expect("node 1 is a caught-up voter");
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    assert_eq!(goose.id(), NodeId(1));
    let before = goose.membership();
    assert!(before.addresses().is_empty());

    // Adding a node would strand it: refused, through the handle and a join
    // request alike, and nothing changes.
    let refused = goose.add_node(NodeId(4), addr(NodeId(4))).await;
    assert_eq!(
        refused,
        Err(HandleError::MissingAddresses(missing(&[1, 2, 3])))
    );
    assert_eq!(
        refused.expect_err("refused").to_string(),
        "the membership has no address for nodes 1, 2, 3; \
         record every member's address before adding a node"
    );
    let answer = one.ask_to_join(NodeId(4), &addr(NodeId(4))).await;
    assert_eq!(
        answer.await.expect("answered"),
        JoinReply::Refused(
            "the membership has no address for nodes 1, 2, 3; \
             record every member's address before adding a node"
                .to_owned()
        )
    );
    assert_eq!(goose.membership(), before);
    assert_eq!(goose.status().membership, before.id());
    assert_eq!(goose.status().membership_pending, Some(false));

    // Adding a member again records its address; once every member has
    // one, the node is added and node 1's transport dials it.
    for id in voters {
        let recorded = goose.add_node(id, addr(id)).await.expect("recorded");
        assert!(recorded.is_voter(id));
        assert_eq!(recorded.address(id), Some(addr(id).as_str()));
    }
    let added = goose
        .add_node(NodeId(4), addr(NodeId(4)))
        .await
        .expect("added");
    assert!(added.is_joining(NodeId(4)));
    assert_eq!(one.last_peer_set(), Some(peer_map(&[1, 2, 3, 4])));
    assert_eq!(goose.status().role, Role::Goose);
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_malformed_address_is_refused_and_changes_nothing() {
    let cluster = members_cluster(3, 34).await;
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let before: Membership = goose.membership();
    for bad in ["", "10.0.0.4", "10.0.0.4:port", ":7000", "host name:7000"] {
        assert_eq!(
            goose.add_node(NodeId(4), bad).await,
            Err(HandleError::Membership(MembershipError::InvalidAddress(
                bad.to_owned()
            ))),
            "{bad:?}"
        );
        assert_eq!(goose.membership(), before, "{bad:?} changed nothing");
        assert_eq!(goose.status().membership_pending, Some(false));
    }
    cluster.shutdown().await;
}
