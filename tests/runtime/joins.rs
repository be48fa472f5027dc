//! Join requests a transport hands the runtime, and the peer sets the
//! runtime gives its transport. [`JoiningNode`] serves `addresses.rs` too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use duckduckgoose::core::NodeMetadata;
use duckduckgoose::runtime::{NodeConfig, NodeHandle, StartError};
use duckduckgoose::transport::{
    Inbound, JoinReply, JoinRequest, MemoryTransport, Transport, TransportError,
};
use duckduckgoose::{Message, NodeId};
use tokio::sync::{mpsc, oneshot};

use crate::common::{
    Cluster, ELECTION_WAIT, addr, config, goose_ready_for_a_change, ids, joiner_config,
    member_config, wait_for_membership, wait_until,
};

/// A `MemoryTransport` that also hands the runtime join requests (which
/// the in-process transport does not take) and records every peer set the
/// runtime gives it; when `addressing`, it says it dials its peers at their
/// addresses, as TCP does (it still delivers by id).
struct JoiningTransport {
    inner: MemoryTransport,
    joins: Option<mpsc::Receiver<JoinRequest>>,
    peer_sets: Arc<Mutex<Vec<BTreeMap<NodeId, String>>>>,
    addressing: bool,
}

#[async_trait]
impl Transport for JoiningTransport {
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        self.inner.start(inbound).await
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.inner.send(to, msg);
    }

    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }

    fn needs_peer_addresses(&self) -> bool {
        self.addressing
    }

    fn set_peers(&mut self, peers: &BTreeMap<NodeId, String>) {
        self.peer_sets
            .lock()
            .expect("no test panics while holding it")
            .push(peers.clone());
    }

    fn take_join_requests(&mut self) -> Option<mpsc::Receiver<JoinRequest>> {
        self.joins.take()
    }
}

/// One node on a [`JoiningTransport`]: its handle, where to send join
/// requests, and the peer sets its transport was given.
pub struct JoiningNode {
    pub handle: NodeHandle,
    joins: mpsc::Sender<JoinRequest>,
    peer_sets: Arc<Mutex<Vec<BTreeMap<NodeId, String>>>>,
}

impl JoiningNode {
    /// Starts the node of `config` in `cluster`, on its own storage.
    async fn start(cluster: &mut Cluster, config: NodeConfig) -> Self {
        Self::try_start(cluster, config, false)
            .await
            .expect("starts")
    }

    /// Starts the node of `config` in `cluster`, on its own storage, with a
    /// transport that says it dials its peers at their addresses if
    /// `addressing`.
    pub async fn try_start(
        cluster: &mut Cluster,
        config: NodeConfig,
        addressing: bool,
    ) -> Result<Self, StartError> {
        let (joins, receiver) = mpsc::channel(8);
        let peer_sets = Arc::default();
        let transport = JoiningTransport {
            inner: cluster.network().transport(config.id),
            joins: Some(receiver),
            peer_sets: Arc::clone(&peer_sets),
            addressing,
        };
        let handle = cluster.start_node_on(config, transport).await?;
        Ok(JoiningNode {
            handle,
            joins,
            peer_sets,
        })
    }

    /// Sends a join request for `id` at `addr`, with its [`app_url`]
    /// metadata, and returns where the answer will come.
    pub async fn ask_to_join(&self, id: NodeId, addr: &str) -> oneshot::Receiver<JoinReply> {
        self.ask_to_join_with(id, addr, app_url(id)).await
    }

    /// Sends a join request for `id` at `addr` with `metadata`.
    async fn ask_to_join_with(
        &self,
        id: NodeId,
        addr: &str,
        metadata: NodeMetadata,
    ) -> oneshot::Receiver<JoinReply> {
        let (reply, answer) = oneshot::channel();
        let request = JoinRequest {
            id,
            addr: addr.to_owned(),
            metadata,
            reply,
        };
        self.joins
            .send(request)
            .await
            .expect("the driver takes joins");
        answer
    }

    pub fn last_peer_set(&self) -> Option<BTreeMap<NodeId, String>> {
        self.peer_sets
            .lock()
            .expect("no test panics while holding it")
            .last()
            .cloned()
    }
}

/// What joiner `id` says about itself: where its application serves.
fn app_url(id: NodeId) -> NodeMetadata {
    NodeMetadata::new()
        .with("http", format!("http://n{id}.test:8080"))
        .expect("valid metadata")
}

/// The peer map of the members `ids`: the membership's addresses, as the
/// runtime hands them over (with the node's own, which transports ignore).
pub fn peer_map(ids: &[u64]) -> BTreeMap<NodeId, String> {
    ids.iter()
        .map(|&id| (NodeId(id), addr(NodeId(id))))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn join_requests_are_answered_by_the_goose_at_the_commit_and_pointed_there_by_ducks() {
    let mut cluster = Cluster::memory(29).build().await;
    let voters = ids(3);
    let mut nodes = Vec::new();
    for &id in &voters {
        nodes.push(JoiningNode::start(&mut cluster, member_config(id, &voters)).await);
    }
    let handles = |nodes: &[JoiningNode]| {
        nodes
            .iter()
            .map(|node| node.handle.clone())
            .collect::<Vec<_>>()
    };
    let goose = goose_ready_for_a_change(&handles(&nodes)).await;
    let goose_index = nodes
        .iter()
        .position(|node| node.handle.id() == goose.id())
        .expect("one of them");
    let duck_index = (goose_index + 1) % nodes.len();
    wait_until(
        &handles(&nodes),
        ELECTION_WAIT,
        "the Duck to follow",
        |_| nodes[duck_index].handle.status().leader == Some(goose.id()),
    )
    .await;
    // Every transport was given its peers at start: the membership knows
    // every address.
    for node in &nodes {
        assert_eq!(node.last_peer_set(), Some(peer_map(&[1, 2, 3])));
    }

    // A Duck names the Goose and its address.
    let (four, five) = (NodeId(4), NodeId(5));
    let answer = nodes[duck_index].ask_to_join(four, &addr(four)).await;
    assert_eq!(
        answer.await.expect("answered"),
        JoinReply::NotGoose {
            leader: Some(goose.id()),
            leader_addr: Some(addr(goose.id())),
        }
    );

    // The Goose takes two joins at once: the second waits for the first to
    // commit, and both are accepted.
    let first = nodes[goose_index].ask_to_join(four, &addr(four)).await;
    let second = nodes[goose_index].ask_to_join(five, &addr(five)).await;
    let JoinReply::Accepted(with_four) = first.await.expect("answered") else {
        panic!("the first join was not accepted");
    };
    assert!(with_four.is_joining(four));
    assert_eq!(with_four.metadata(four), Some(&app_url(four)));
    let JoinReply::Accepted(with_five) = second.await.expect("answered") else {
        panic!("the second join was not accepted");
    };
    assert!(with_five.is_joining(five) && with_five.contains(four));
    assert_eq!(with_five.metadata(four), Some(&app_url(four)));
    assert_eq!(with_five.metadata(five), Some(&app_url(five)));
    assert!(with_five.id() > with_four.id());
    // The Goose's transport now reaches both.
    assert_eq!(
        nodes[goose_index].last_peer_set(),
        Some(peer_map(&[1, 2, 3, 4, 5]))
    );

    // The same id at another address is refused with the reason.
    let conflict = nodes[goose_index].ask_to_join(four, "10.9.9.9:7000").await;
    let JoinReply::Refused(reason) = conflict.await.expect("answered") else {
        panic!("a conflicting join was accepted");
    };
    assert!(reason.contains("already a member"), "{reason}");
    // So is the same id at its address with other metadata.
    let conflict = nodes[goose_index]
        .ask_to_join_with(four, &addr(four), NodeMetadata::new())
        .await;
    assert_eq!(
        conflict.await.expect("answered"),
        JoinReply::Refused(
            "node 4 is already a member with other metadata; remove it and add it again to \
             change it"
                .to_owned()
        )
    );

    // The joiners start from the membership they were given and are
    // promoted.
    nodes.push(JoiningNode::start(&mut cluster, joiner_config(four, with_four)).await);
    nodes.push(JoiningNode::start(&mut cluster, joiner_config(five, with_five)).await);
    wait_for_membership(&handles(&nodes), &[1, 2, 3, 4, 5], &[]).await;
    for node in &nodes {
        let id = node.handle.id();
        assert_eq!(
            node.last_peer_set(),
            Some(peer_map(&[1, 2, 3, 4, 5])),
            "node {id}"
        );
    }

    // A removal reaches every transport once committed.
    let membership = goose.remove_node(five).await.expect("removed");
    assert!(!membership.contains(five));
    wait_until(
        &handles(&nodes),
        ELECTION_WAIT,
        "the transports to drop 5",
        |_| {
            nodes[..4]
                .iter()
                .all(|node| node.last_peer_set() == Some(peer_map(&[1, 2, 3, 4])))
        },
    )
    .await;
    // The removed node keeps talking to the others (it asks nothing of them).
    assert_eq!(nodes[4].last_peer_set(), Some(peer_map(&[1, 2, 3, 4])));
    for node in &nodes {
        node.handle.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_transport_is_not_given_peers_whose_addresses_are_unknown() {
    // No addresses configured (the transport has its own): set_peers is
    // never called, even after a node is added with an address.
    let mut cluster = Cluster::memory(30).build().await;
    let voters = ids(3);
    let mut nodes = Vec::new();
    for &id in &voters {
        nodes.push(JoiningNode::start(&mut cluster, config(id, &voters)).await);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(|node| node.handle.clone()).collect();
    let goose = goose_ready_for_a_change(&handles).await;
    goose
        .add_node(NodeId(4), addr(NodeId(4)))
        .await
        .expect("added");
    for node in &nodes {
        assert_eq!(node.last_peer_set(), None);
    }
    let peers = goose.peers();
    assert_eq!(peers.len(), 4);
    assert_eq!(peers[3].address, Some(addr(NodeId(4))));
    assert!(!peers[3].voter, "a learner until promoted");
    for node in &handles {
        node.shutdown().await;
    }
}
