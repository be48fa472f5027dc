//! What the runtime tests share: timing bounds, configurations, cluster
//! builders on the in-process network, and waits that check lease safety at
//! every sample.

use std::time::Duration;

use duckduckgoose::core::Membership;
use duckduckgoose::runtime::{NodeConfig, NodeHandle};
use duckduckgoose::{NodeId, Role};
use tokio::time::Instant;

pub use crate::support::cluster::{Cluster, ClusterBuilder, geese, others, wait_until};

/// Long enough for several election timeouts (300–450 ms each).
pub const ELECTION_WAIT: Duration = Duration::from_secs(10);

/// Far below the 300 ms minimum election timeout: a handover must be this
/// fast, because no node waits for a timeout during one.
pub const HANDOVER_BOUND: Duration = Duration::from_millis(100);

/// Node ids `1..=count`.
pub fn ids(count: u64) -> Vec<NodeId> {
    (1..=count).map(NodeId).collect()
}

/// The voters 1, 2, 3 and the learner 4, the same membership on every node.
pub fn learner_config(id: NodeId) -> NodeConfig {
    let mut config = config(id, &ids(3));
    config.learners = vec![NodeId(4)];
    config
}

/// Fixed seeds: with paused time, the whole run is reproducible.
pub fn seeded(config: &mut NodeConfig) {
    config.rng_seed = Some(1000 + config.id.0);
}

/// Node `id`'s configuration in the cluster `members`, seeded.
pub fn config(id: NodeId, members: &[NodeId]) -> NodeConfig {
    let mut config = NodeConfig::new(id, members.iter().copied());
    seeded(&mut config);
    config
}

/// Seeded nodes on the in-process network of `seed`, each with a
/// `MemStorage`.
pub fn cluster(seed: u64) -> ClusterBuilder {
    Cluster::memory(seed).configure(seeded)
}

/// Voters `1..=size` on the in-process network of `seed`, each started with
/// its [`member_config`], for membership changes.
pub async fn members_cluster(size: u64, seed: u64) -> Cluster {
    Cluster::memory(seed)
        .voters(size)
        .configure(|config| {
            let member = member_config(config.id, &config.members);
            *config = member;
        })
        .start()
        .await
}

/// Waits until exactly one of `nodes` is the Goose and returns it.
pub async fn single_goose(nodes: &[NodeHandle]) -> NodeHandle {
    crate::support::cluster::single_goose(nodes, ELECTION_WAIT).await
}

/// Where node `id` says it can be reached; the in-process network ignores it,
/// but the membership carries it to every node.
pub fn addr(id: NodeId) -> String {
    format!("10.0.0.{}:7000", id.0)
}

/// The configuration of a member of the cluster `voters`, with every
/// voter's address.
pub fn member_config(id: NodeId, voters: &[NodeId]) -> NodeConfig {
    let mut config = config(id, voters);
    config.addresses = voters.iter().map(|&voter| (voter, addr(voter))).collect();
    config
}

/// The configuration of a node joining with the membership it was given.
pub fn joiner_config(id: NodeId, membership: Membership) -> NodeConfig {
    let mut config = NodeConfig::from_membership(id, membership);
    seeded(&mut config);
    config
}

/// Waits until the Goose among `nodes` leads with a committed membership
/// (its re-issue or last change is held by a majority), so that it accepts
/// a change; returns it.
pub async fn goose_ready_for_a_change(nodes: &[NodeHandle]) -> NodeHandle {
    let mut found = None;
    wait_until(
        nodes,
        ELECTION_WAIT,
        "a Goose with nothing pending",
        |nodes| {
            found = geese(nodes)
                .into_iter()
                .find(|goose| goose.status().membership_pending == Some(false));
            found.is_some()
        },
    )
    .await;
    found.expect("found")
}

/// Waits until every node of `nodes` holds the same membership, with these
/// voters and learners, and the Goose among them has committed it.
pub async fn wait_for_membership(
    nodes: &[NodeHandle],
    voters: &[u64],
    learners: &[u64],
) -> Membership {
    let voters: Vec<NodeId> = voters.iter().copied().map(NodeId).collect();
    let learners: Vec<NodeId> = learners.iter().copied().map(NodeId).collect();
    let what = format!("voters {voters:?} and learners {learners:?} everywhere");
    wait_until(nodes, ELECTION_WAIT, &what, |nodes| {
        let first = nodes[0].status().membership;
        nodes.iter().all(|node| {
            let status = node.status();
            status.membership == first
                && status.members.as_ref() == voters.as_slice()
                && status.learners.as_ref() == learners.as_slice()
        }) && geese(nodes)
            .first()
            .is_some_and(|goose| goose.status().membership_pending == Some(false))
    })
    .await;
    nodes[0].membership()
}

/// Samples for `span` (as [`wait_until`] does) that `removed`, a node no
/// longer in the membership, never campaigns and never leads.
pub async fn assert_never_campaigns(nodes: &[NodeHandle], removed: &NodeHandle, span: Duration) {
    let before = removed.status().counters;
    let until = Instant::now() + span;
    wait_until(nodes, span + Duration::from_secs(1), "a while", |_| {
        assert!(!removed.is_goose());
        assert_eq!(removed.status().role, Role::Duck);
        Instant::now() >= until
    })
    .await;
    let after = removed.status().counters;
    assert_eq!(
        after.pre_votes_started, before.pre_votes_started,
        "no pre-vote"
    );
    assert_eq!(
        after.elections_started, before.elections_started,
        "no election"
    );
    assert!(!removed.membership().contains(removed.id()));
}
