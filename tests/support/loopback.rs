//! Loopback clusters for the TCP cluster tests and the failover benchmark:
//! every listener is bound (on a port the OS picks) before any transport
//! exists, so every transport starts with the complete address map.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use duckduckgoose::NodeId;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// One listener on 127.0.0.1 per member, and the address map they make.
pub async fn bind_listeners(
    members: &[NodeId],
) -> (BTreeMap<NodeId, TcpListener>, BTreeMap<NodeId, SocketAddr>) {
    let mut listeners = BTreeMap::new();
    for &id in members {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        listeners.insert(id, listener);
    }
    let peers = listeners
        .iter()
        .map(|(id, listener)| (*id, listener.local_addr().expect("a bound address")))
        .collect();
    (listeners, peers)
}

/// Runs `attempt` until it succeeds, for at most two seconds: a node that
/// was just aborted releases its port and its directory lock a moment
/// later, as its task is dropped.
pub async fn retry<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(error) if Instant::now() >= deadline => panic!("cannot {what}: {error:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}
