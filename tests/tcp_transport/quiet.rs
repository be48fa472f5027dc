//! Failures that repeat at every attempt are logged once per run, on both
//! sides, with the counters counting every one: a peer's name that does
//! not resolve yet (a StatefulSet's pod not scheduled yet), and a node
//! configured with another key knocking every second. Once the name
//! resolves, the peer is reached, and that is said once too.
//!
//! Each test captures its thread's log lines (`logs`) on a current-thread
//! runtime, where every task of its transports runs.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use duckduckgoose::NodeId;
use duckduckgoose::transport::tcp::TcpTransport;
use duckduckgoose::transport::{Inbound, Transport};
use tokio::sync::mpsc;

use super::common::*;
use super::logs::Logs;

/// A resolver that knows `name` as `addr` only once `known` is set, and no
/// other name.
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

#[tokio::test]
async fn a_name_that_resolves_late_is_warned_about_once_and_reached_when_it_resolves() {
    let (logs, _capture) = Logs::capture();
    let lb = bind_local().await;
    let b_addr = lb.local_addr().expect("bound");
    let mut b = Node::start(config(2, None), &BTreeMap::<NodeId, String>::new(), lb).await;
    let name = format!("late.test:{}", b_addr.port());
    let known = Arc::new(AtomicBool::new(false));
    let mut transport = TcpTransport::new(config(1, None), bind_local().await)
        .expect("valid config")
        .with_resolver(late_resolver(name.clone(), b_addr, Arc::clone(&known)));
    transport.set_peer_addrs([(NodeId(2), name.as_str())]);
    let (tx, rx) = mpsc::channel(64);
    transport
        .start(tx)
        .await
        .expect("starts, the name unresolved");
    let stats = transport.stats_handle();
    let mut a = Node {
        transport,
        rx,
        stats,
    };
    a.transport.send(NodeId(2), vote(1));

    eventually("several failed resolutions", || {
        a.stats().resolve_failures >= 5
    })
    .await;
    let warned = logs.matching("WARN", &["cannot resolve", "peer=2", &name]);
    assert_eq!(warned.len(), 1, "{:#?}", logs.lines());
    assert!(
        warned[0].contains("name not known (yet)"),
        "the error is in the line: {warned:?}"
    );
    assert_eq!(logs.count("WARN", &[]), 1, "{:#?}", logs.lines());

    // Resolvable: the next attempt reaches B, and delivers what waited.
    known.store(true, Ordering::SeqCst);
    assert_eq!(
        b.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(1)
        }
    );
    let failures = a.stats().resolve_failures;
    assert_eq!(
        logs.count(
            "INFO",
            &[
                "peer reached",
                "peer=2",
                &format!("failed_attempts={failures}")
            ]
        ),
        1,
        "{:#?}",
        logs.lines()
    );
    assert_eq!(logs.count("WARN", &[]), 1, "nothing more to warn about");
    assert_eq!(a.stats().dials, failures + 1);
    shutdown_all([&mut a, &mut b]).await;
}

#[tokio::test]
async fn a_node_with_a_key_knocking_at_one_without_is_warned_about_once_on_each_side() {
    let (logs, _capture) = Logs::capture();
    let lb = bind_local().await;
    let b_addr = lb.local_addr().expect("bound");
    let mut b = Node::start(config(2, Some(KEY)), &BTreeMap::<NodeId, String>::new(), lb).await;
    let mut a = Node::knowing(1, 2, b_addr, None).await;
    a.transport.send(NodeId(2), vote(1));
    eventually("several refused handshakes", || {
        b.stats().auth_failures >= 5 && a.stats().handshake_failures >= 5
    })
    .await;
    // B refuses each hello (one side keyed, the other not); A sees each
    // connection closed in its handshake.
    let refused = ["tcp_transport{node=2}", "inbound handshake refused"];
    assert_eq!(logs.count("WARN", &refused), 1, "{:#?}", logs.lines());
    let failed = ["tcp_transport{node=1}", "handshake with the peer failed"];
    assert_eq!(logs.count("WARN", &failed), 1, "{:#?}", logs.lines());
    assert_eq!(logs.count("WARN", &[]), 2, "{:#?}", logs.lines());
    // Every refusal is still in the debug log.
    assert!(logs.count("DEBUG", &refused) >= 4, "{:#?}", logs.lines());
    shutdown_all([&mut a, &mut b]).await;
}
