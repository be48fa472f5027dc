//! Node metadata through the handle: configured, added with a node,
//! replicated to every member, shown by `goose()` on every node after the
//! Goose changes, dropped with a removed node; conflicts refused.

use duckduckgoose::NodeId;
use duckduckgoose::core::{MembershipError, NodeMetadata};
use duckduckgoose::runtime::{GooseInfo, HandleError, NodeHandle};

use crate::common::{
    Cluster, ELECTION_WAIT, addr, goose_ready_for_a_change, ids, joiner_config, member_config,
    wait_for_membership, wait_until,
};

/// Where node `id`'s application serves.
fn app(id: NodeId) -> NodeMetadata {
    NodeMetadata::new()
        .with("http", format!("http://10.0.0.{}:8080", id.0))
        .expect("valid metadata")
}

/// Waits until every node of `nodes` names `goose` as the Goose, with its
/// address and metadata, and returns what they answered.
async fn all_name_the_goose(nodes: &[NodeHandle], goose: &NodeHandle) -> Vec<GooseInfo> {
    let mut answers = Vec::new();
    let what = format!("every node to name {} as the Goose", goose.id());
    wait_until(nodes, ELECTION_WAIT, &what, |nodes| {
        answers = nodes.iter().filter_map(NodeHandle::goose).collect();
        answers.len() == nodes.len() && answers.iter().all(|info| info.id == goose.id())
    })
    .await;
    answers
}

#[tokio::test(start_paused = true)]
async fn metadata_reaches_every_node_and_goose_names_the_goose_with_it() {
    let voters = ids(3);
    let mut cluster = Cluster::memory(41)
        .voters(3)
        .configure(|config| {
            let mut member = member_config(config.id, &config.members);
            for id in ids(3) {
                member = member.with_metadata(id, app(id));
            }
            *config = member;
        })
        .start()
        .await;

    // The configured metadata is in every node's membership, and every
    // node names the Goose with its address and metadata.
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let term = goose.status().term;
    for info in all_name_the_goose(cluster.nodes(), &goose).await {
        assert_eq!(info.term, term);
        assert_eq!(info.address, Some(addr(goose.id())));
        assert_eq!(info.metadata, app(goose.id()));
    }
    for node in cluster.nodes() {
        for &id in &voters {
            assert_eq!(node.membership().metadata(id), Some(&app(id)));
        }
    }

    // A node added with metadata: replicated with the change.
    let four = NodeId(4);
    let added = goose
        .add_node_with_metadata(four, addr(four), app(four))
        .await
        .expect("added");
    assert_eq!(added.metadata(four), Some(&app(four)));
    // Again with the same metadata: nothing to change; with other, refused.
    let again = goose
        .add_node_with_metadata(four, addr(four), app(four))
        .await
        .expect("the same record");
    assert_eq!(again.id(), added.id());
    for other in [NodeMetadata::new(), app(NodeId(9))] {
        let refused = goose.add_node_with_metadata(four, addr(four), other).await;
        assert!(matches!(
            refused,
            Err(HandleError::Membership(MembershipError::MetadataConflict { id })) if id == four
        ));
    }
    assert_eq!(goose.membership(), added, "the refusals changed nothing");

    cluster
        .start_node(joiner_config(four, added))
        .await
        .expect("the new node starts");
    let membership = wait_for_membership(cluster.nodes(), &[1, 2, 3, 4], &[]).await;
    assert_eq!(membership.metadata(four), Some(&app(four)));
    for node in cluster.nodes() {
        assert_eq!(node.membership(), membership, "node {}", node.id());
    }

    // The Goose changes: every node names the new one, with its metadata.
    goose
        .transfer_leadership(four)
        .await
        .expect("four is a voter");
    let new_goose = cluster.node(four);
    wait_until(cluster.nodes(), ELECTION_WAIT, "four to lead", |_| {
        new_goose.is_goose()
    })
    .await;
    for info in all_name_the_goose(cluster.nodes(), &new_goose).await {
        assert_eq!(info.address, Some(addr(four)));
        assert_eq!(info.metadata, app(four));
        assert!(info.term > term);
    }

    // A removed node's metadata goes with it, everywhere.
    let new_goose = goose_ready_for_a_change(cluster.nodes()).await;
    let removed = new_goose.remove_node(NodeId(3)).await.expect("removed");
    assert_eq!(removed.metadata(NodeId(3)), None);
    let remaining: Vec<NodeHandle> = cluster
        .nodes()
        .iter()
        .filter(|node| node.id() != NodeId(3))
        .cloned()
        .collect();
    wait_for_membership(&remaining, &[1, 2, 4], &[]).await;
    for node in &remaining {
        let membership = node.membership();
        assert_eq!(membership.metadata(NodeId(3)), None);
        assert_eq!(membership.all_metadata().len(), 3, "node {}", node.id());
    }
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn goose_is_none_without_a_goose_and_on_a_stopped_node() {
    let cluster = Cluster::memory(42)
        .voters(3)
        .configure(|config| *config = member_config(config.id, &config.members))
        .start()
        .await;
    // Before any election, nobody is known.
    for node in cluster.nodes() {
        assert_eq!(node.goose(), None);
    }
    let goose = goose_ready_for_a_change(cluster.nodes()).await;
    let info = goose.goose().expect("the Goose names itself");
    assert_eq!(
        (info.id, info.address, info.metadata),
        (goose.id(), Some(addr(goose.id())), NodeMetadata::new()),
        "configured without metadata"
    );
    cluster.shutdown().await;
    for node in cluster.nodes() {
        assert_eq!(node.goose(), None, "node {}", node.id());
    }
}
