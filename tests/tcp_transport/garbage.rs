//! Garbage on the listener, as a property: random bytes never break a node.
//! proptest comes with the `sim` feature (not as a dev-dependency, so that
//! building an example never compiles it), hence this module's gate.

use std::cell::Cell;

use duckduckgoose::NodeId;
use duckduckgoose::transport::{Inbound, Transport};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::common::{KEY, PATIENCE, cluster, hb};

/// Random bytes written straight to a listener: the connection is closed,
/// nothing is delivered, and real messages still flow afterwards.
#[test]
fn random_bytes_on_the_listener_are_harmless() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // An async lock: the nodes are used across awaits inside `block_on`.
    let nodes = tokio::sync::Mutex::new(runtime.block_on(cluster(2, Some(KEY))));
    let target = nodes.blocking_lock()[1].transport.local_addr();
    let tick = Cell::new(0);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&vec(any::<u8>(), 0..512), |bytes| {
            runtime.block_on(async {
                let mut raw = TcpStream::connect(target).await.expect("connect");
                // The node may close before reading it all: errors are fine.
                let _ = raw.write_all(&bytes).await;
                let _ = raw.shutdown().await;
                let mut answer = Vec::new();
                let closed = timeout(PATIENCE, raw.read_to_end(&mut answer)).await;
                assert!(closed.is_ok(), "the node keeps a garbage connection open");

                let mut nodes = nodes.lock().await;
                tick.set(tick.get() + 1);
                nodes[0].transport.send(NodeId(2), hb(tick.get()));
                let got = nodes[1].recv().await;
                assert_eq!(
                    got,
                    Inbound {
                        from: NodeId(1),
                        msg: hb(tick.get())
                    }
                );
            });
            Ok(())
        })
        .expect("no garbage breaks the node");
    let mut nodes = nodes.into_inner();
    runtime.block_on(async {
        for node in &mut nodes {
            node.transport.shutdown().await;
            node.assert_nothing_received();
        }
    });
    assert_eq!(
        nodes[1].stats().connections_accepted,
        1,
        "{:?}",
        nodes[1].stats()
    );
}
