//! A service that does Goose-only work: three nodes over TCP in one process
//! (one per host in production), each publishing its application URL as
//! metadata. Whichever node is the Goose runs the work, guarded by its
//! fencing token, and stops the moment its leadership is lost; every node
//! knows where to forward writes.
//!
//! ```text
//! cargo run --example embed
//! ```

use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::core::NodeMetadata;
use duckduckgoose::runtime::{Node, NodeConfig};
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
use tokio::net::TcpListener;
use tokio::time::{interval, sleep};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    // Every member's cluster address and application URL, given to every node.
    let (mut listeners, mut config) = (Vec::new(), NodeConfig::new(ids[0], ids));
    for id in ids {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let app = NodeMetadata::new().with("http", format!("http://app-{id}.internal:8080"))?;
        config = config
            .with_addresses([(id, listener.local_addr()?.to_string())])
            .with_metadata(id, app);
        listeners.push(listener);
    }
    let mut nodes = Vec::new();
    for (id, listener) in ids.into_iter().zip(listeners) {
        let mut config = config.clone();
        config.id = id;
        let transport = TcpTransport::new(TcpConfig::new(id, "orders"), listener)?;
        // FileStorage::open(dir) keeps term and vote across restarts.
        nodes.push(Node::start(config, transport, MemStorage::new()).await?);
    }

    // Started on a node each time it becomes the Goose; cancelled when that
    // leadership ends (lease run out, step-down, higher term, shutdown).
    let mut workers = Vec::new();
    for node in &nodes {
        let id = node.id();
        workers.push(node.run_while_goose(move |leadership| async move {
            let token = leadership.fencing_token();
            // The token is for tasks of your own; this run itself is dropped on loss.
            let over = leadership.cancellation_token();
            tokio::spawn(async move {
                over.cancelled().await;
                println!("node {id}: term {token} is over, its work stopped");
            });
            let mut every = interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                println!("node {id}: batch written with fencing token {token}");
            }
        }));
    }

    // Any node tells a client where the Goose's application listens.
    let goose = loop {
        match nodes[2].goose() {
            Some(goose) => break goose,
            None => sleep(Duration::from_millis(20)).await,
        }
    };
    println!(
        "forward writes to node {} at {}",
        goose.id,
        goose.metadata.get("http").unwrap_or("?")
    );

    // A hand-over: the old Goose's work stops, the new Goose's starts.
    sleep(Duration::from_millis(300)).await;
    let old = nodes.iter().find(|node| node.id() == goose.id);
    old.expect("a member").step_down().await?;
    sleep(Duration::from_millis(500)).await;

    for worker in workers {
        worker.stop().await;
    }
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(())
}
