//! Whole clusters over real TCP on 127.0.0.1 (the tokio driver, a
//! `TcpTransport` on an OS-chosen port and a `FileStorage` per node, default
//! timing) that must stay quiet: a removed node left running, a removed
//! node that missed its removal, and a member whose name does not resolve
//! yet. Where the promise is "logged once", the lines are counted.
//!
//! Each test runs on a current-thread runtime, where every task of its
//! nodes runs, and captures that thread's log lines (`logs`); the other
//! tests, on other threads, log elsewhere. The lease-safety watchdog
//! samples every node throughout, as in `tcp_cluster`.
#![cfg(all(feature = "runtime", feature = "tcp"))]

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use duckduckgoose::core::{Membership, MembershipError};
use duckduckgoose::runtime::{HandleError, NodeHandle};
use duckduckgoose::storage::{FileStorage, Storage};
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
use duckduckgoose::{NodeId, Role};
use tokio::time::{Instant, sleep};

#[path = "tcp_transport/logs.rs"]
mod logs;
mod support;

use logs::Logs;
use support::cluster::{Cluster, ClusterBuilder, eventually, first_goose, loopback};

const CLUSTER: &str = "tcp-quiet-test";
const KEY: &[u8] = b"the quiet cluster's pre-shared key";

/// Upper bound on waits that no rule fixes: many election timeouts.
const PATIENCE: Duration = Duration::from_secs(10);

/// How long a removed node is watched: 40 of the Goose's heartbeats (50 ms
/// by default), several maximum election timeouts (450 ms).
const WATCHED: Duration = Duration::from_secs(2);

/// Pre-vote rounds of a removed node that missed its removal, as counted on
/// every member, before its lines are counted.
const ROUNDS: u64 = 5;

fn cluster(size: u64) -> ClusterBuilder {
    Cluster::tcp(CLUSTER)
        .voters(size)
        .cluster_key(KEY)
        .watch_geese()
}

/// The span every line of node `id`'s driver carries.
fn driver_of(id: NodeId) -> String {
    format!("duckduckgoose{{node={id}}}")
}

/// The span every line of node `id`'s transport tasks carries.
fn transport_of(id: NodeId) -> String {
    format!("tcp_transport{{node={id}}}")
}

/// Waits until `goose` has committed its membership (its re-issue after
/// the election included), so that it accepts a change.
async fn ready_for_a_change(goose: &NodeHandle) {
    eventually(PATIENCE, "the Goose to commit its membership", || {
        goose.is_goose() && goose.status().membership_pending == Some(false)
    })
    .await;
}

/// Runs a membership change until it commits, retrying while another (a
/// learner's promotion, say) is under way.
async fn change<F: Future<Output = Result<Membership, HandleError>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> Membership {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match attempt().await {
            Ok(membership) => return membership,
            Err(HandleError::Membership(
                MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed,
            )) if Instant::now() < deadline => sleep(Duration::from_millis(20)).await,
            Err(error) => panic!("cannot {what}: {error}"),
        }
    }
}

/// A settled cluster of three whose Goose then removed a Duck while that
/// Duck was down; returns the Goose, the Duck and the membership without
/// it. The Duck's directory still holds the membership naming it.
async fn removed_while_down(cluster: &mut Cluster) -> (NodeHandle, NodeId, Membership) {
    let goose = cluster.settled(PATIENCE).await;
    ready_for_a_change(&goose).await;
    let removed = cluster.others(goose.id())[0].id();
    cluster.crash(removed).await;
    let without = change("remove the Duck", || goose.remove_node(removed)).await;
    assert!(!without.contains(removed), "{without:?}");
    // The Goose's last heartbeat to it, carrying the removal, waits for it
    // only the flush timeout: past that, the node has missed its removal.
    sleep(TcpConfig::DEFAULT_FLUSH_TIMEOUT * 3).await;
    (goose, removed, without)
}

/// Saves `membership` in the directory `dir`, closing it again.
async fn save_membership(dir: &Path, membership: &Membership) {
    let dir = dir.to_path_buf();
    let mut storage = loopback::retry("open the storage", || {
        let dir = dir.clone();
        async move { FileStorage::open(dir) }
    })
    .await;
    storage
        .save_membership(membership)
        .await
        .expect("the membership is saved");
}

#[tokio::test(flavor = "current_thread")]
async fn a_removed_node_says_so_once_dials_nobody_and_follows_when_added_back() {
    let (logs, _capture) = Logs::capture();
    let mut cluster = cluster(3).start().await;
    let (goose, removed, without) = removed_while_down(&mut cluster).await;
    // It heard of its removal before it stopped: its directory holds the
    // membership without it, so it starts as a removed node.
    save_membership(&cluster.dir(removed), &without).await;
    let node = cluster.restart(removed).await;
    assert!(!node.status().member);

    sleep(WATCHED).await;
    let stats = cluster.stats(removed);
    assert_eq!(stats.dials, 0, "nothing to say, no dial: {stats:?}");
    let removal = [
        driver_of(removed),
        "not in its stored membership".to_owned(),
    ];
    let removal: Vec<&str> = removal.iter().map(String::as_str).collect();
    assert_eq!(logs.count("WARN", &removal), 1, "{:#?}", logs.lines());
    assert_eq!(logs.count("WARN", &[]), 1, "{:#?}", logs.lines());
    for member in cluster.others(removed) {
        let status = member.status();
        assert_eq!(status.counters.dropped_not_member, 0, "{status:?}");
    }
    assert!(goose.is_goose());

    // Added back, it hears the Goose (whose heartbeats bring the membership
    // naming it), answers, and is promoted.
    let addr = cluster.addr(removed).to_string();
    change("add it back", || goose.add_node(removed, addr.clone())).await;
    eventually(PATIENCE, "its promotion on every node", || {
        cluster
            .nodes()
            .iter()
            .all(|node| node.membership().is_voter(removed))
    })
    .await;
    let status = node.status();
    assert!(status.member);
    assert_eq!(status.leader, Some(goose.id()));
    assert!(cluster.stats(removed).dials >= 1);
    assert_eq!(
        logs.count("INFO", &[&driver_of(removed), "a member again"]),
        1
    );
    assert!(goose.is_goose(), "the Goose kept its lease throughout");
    cluster.watch().check();
}

/// A node removed while it was down, and back only after the Goose's last
/// heartbeat to it gave up, comes back on its old directory, believes it is
/// a voter, and pre-votes every election timeout. Each member drops every
/// request and says so once. (Nothing tells the node then: a member drops a
/// non-member's messages unanswered, and holds no address for it.)
#[tokio::test(flavor = "current_thread")]
async fn a_removed_node_that_missed_its_removal_is_logged_once_by_each_member() {
    let (logs, _capture) = Logs::capture();
    let mut cluster = cluster(3).start().await;
    let (goose, removed, _) = removed_while_down(&mut cluster).await;
    let term = goose.status().term;
    let node = cluster.restart(removed).await;
    assert!(node.status().member, "it missed its removal");

    let members = cluster.others(removed);
    eventually(
        PATIENCE,
        "rounds of its pre-votes dropped everywhere",
        || {
            members
                .iter()
                .all(|member| member.status().counters.dropped_not_member >= ROUNDS)
        },
    )
    .await;
    for member in &members {
        let line = format!("dropping the messages of node {removed}");
        assert_eq!(
            logs.count("INFO", &[&driver_of(member.id()), &line]),
            1,
            "{:#?}",
            logs.lines()
        );
    }
    assert_eq!(logs.count("WARN", &[]), 0, "{:#?}", logs.lines());
    // Pre-voting into silence, it disturbs nobody.
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term);
    cluster.watch().check();
}

/// A running node removed by a change down to one voter, which commits
/// before any heartbeat carried it, still learns it from the Goose's last
/// heartbeat: it goes quiet instead of campaigning, and nobody drops its
/// messages.
#[tokio::test(flavor = "current_thread")]
async fn a_running_node_removed_down_to_one_voter_learns_it_and_goes_quiet() {
    let (logs, _capture) = Logs::capture();
    let cluster = cluster(2).start().await;
    let goose = cluster.settled(PATIENCE).await;
    ready_for_a_change(&goose).await;
    let removed = cluster.others(goose.id())[0].clone();
    change("remove the Duck", || goose.remove_node(removed.id())).await;
    eventually(PATIENCE, "the removed node to learn it", || {
        !removed.status().member
    })
    .await;
    // Its ack of that last heartbeat may still be on its way.
    sleep(WATCHED / 4).await;
    let dials = cluster.stats(removed.id()).dials;
    let dropped = goose.status().counters.dropped_not_member;
    assert!(
        dropped <= 1,
        "at most its ack of the last heartbeat: {dropped}"
    );
    sleep(WATCHED).await;
    assert_eq!(
        cluster.stats(removed.id()).dials,
        dials,
        "no dial once removed"
    );
    assert_eq!(
        goose.status().counters.dropped_not_member,
        dropped,
        "no campaign once removed"
    );
    let line = format!("dropping the messages of node {}", removed.id());
    assert!(logs.count("INFO", &[&line]) <= 1, "{:#?}", logs.lines());
    assert!(goose.is_goose());
    cluster.watch().check();
}

/// A resolver that knows `name` as `addr` only once `known` is set; every
/// other name fails.
fn late_resolver(
    name: String,
    addr: SocketAddr,
    known: Arc<AtomicBool>,
) -> impl Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
    move |host| {
        if host == name && known.load(Ordering::SeqCst) {
            Ok(vec![addr])
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: name not known (yet)"),
            ))
        }
    }
}

/// A member addressed by a name that does not resolve at first (its pod not
/// scheduled yet): every node starts, the two others elect a Goose, each
/// warns once about the name while retrying, and once it resolves the Goose
/// reaches the member, which follows.
#[tokio::test(flavor = "current_thread")]
async fn a_member_whose_name_resolves_late_delays_only_itself_and_is_warned_about_once() {
    let (logs, _capture) = Logs::capture();
    let mut cluster = cluster(3).build().await;
    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let late = NodeId(3);
    let (mut listeners, addrs) = loopback::bind_listeners(&ids).await;
    let name = format!("node-3.test:{}", addrs[&late].port());
    let known = Arc::new(AtomicBool::new(false));
    let addresses: BTreeMap<NodeId, String> = ids
        .iter()
        .map(|&id| match id == late {
            true => (id, name.clone()),
            false => (id, addrs[&id].to_string()),
        })
        .collect();
    let mut stats = BTreeMap::new();
    for id in ids {
        let mut config = cluster.config(id);
        config.addresses = addresses.clone();
        let listener = listeners.remove(&id).expect("bound");
        let tcp = TcpConfig::new(id, CLUSTER).with_cluster_key(KEY.to_vec());
        let transport = TcpTransport::new(tcp, listener)
            .expect("a valid transport config: nothing resolves a name here")
            .with_resolver(late_resolver(
                name.clone(),
                addrs[&late],
                Arc::clone(&known),
            ));
        stats.insert(id, transport.stats_handle());
        cluster
            .start_node_on(config, transport)
            .await
            .expect("the node starts with a name that does not resolve");
    }

    let pair = [cluster.node(NodeId(1)), cluster.node(NodeId(2))];
    let (goose, _) = first_goose(&pair, PATIENCE).await;
    eventually(PATIENCE, "several failed resolutions on both", || {
        pair.iter()
            .all(|node| stats[&node.id()].snapshot().resolve_failures >= 5)
    })
    .await;
    assert_eq!(cluster.node(late).status().leader, None, "unreachable");
    for node in &pair {
        let warned = [&transport_of(node.id()), "cannot resolve", "peer=3", &name];
        assert_eq!(logs.count("WARN", &warned), 1, "{:#?}", logs.lines());
    }
    assert_eq!(logs.count("WARN", &[]), 2, "{:#?}", logs.lines());

    known.store(true, Ordering::SeqCst);
    let member = cluster.node(late);
    eventually(PATIENCE, "the member to follow the Goose", || {
        let status = member.status();
        status.leader == Some(goose.id()) && status.role == Role::Duck
    })
    .await;
    for node in &pair {
        let reached = [&transport_of(node.id()), "peer reached", "peer=3"];
        eventually(PATIENCE, "the peer reached, said once", || {
            logs.count("INFO", &reached) == 1
        })
        .await;
    }
    // The acks of heartbeats that queued while node 3 was unreachable come
    // back late, and may be warned about; nothing else.
    let late_acks = logs.count("WARN", &["acks from node 3"]);
    assert!(late_acks <= 2, "{:#?}", logs.lines());
    assert_eq!(
        logs.count("WARN", &[]) - late_acks,
        2,
        "nothing more to warn about: {:#?}",
        logs.lines()
    );
    assert!(goose.is_goose(), "the Goose kept its lease throughout");
    cluster.watch().check();
}
