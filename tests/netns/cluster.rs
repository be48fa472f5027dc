//! A cluster: the network, five node processes in it, and the observer.
//! Dropping it kills the processes, stops the pollers, deletes the network
//! and the temporary directory, on every exit path (a panic included).

use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::net::{CLUSTER_PORT, HTTP_PORT, Network};
use crate::node::{NodeProcess, has_transport_flag};
use crate::observer::Watch;
use crate::{NODES, TIMING, Transport};

/// The cluster under test. Fields drop in this order after [`Drop::drop`]
/// killed the processes: pollers, processes, network, directory.
pub struct Cluster {
    pub watch: Watch,
    nodes: Vec<NodeProcess>,
    pub net: Network,
    _dir: TempDir,
    pub transport: Transport,
}

impl Cluster {
    /// Builds the network, starts [`NODES`] nodes on `transport` and waits
    /// until they agree on one Goose.
    pub fn start(transport: Transport) -> Cluster {
        // Named like the network, so that a run killed before its guards
        // ran has its directory removed by the next run.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", crate::net::run_prefix()))
            .tempdir()
            .expect("a temporary directory");
        let net = Network::create(NODES);
        let key_file = dir.path().join("cluster-key");
        // Any bytes do; these differ per run so no stray node of an
        // earlier run could ever be let in.
        let key = format!("netns-test-key-{}-{}\n", std::process::id(), net.prefix);
        std::fs::write(&key_file, key).expect("write the cluster key");
        let peers: Vec<String> = net
            .node_ids()
            .map(|id| format!("{id}={}:{CLUSTER_PORT}", net.ip(id)))
            .collect();
        let mut nodes = Vec::new();
        for id in net.node_ids() {
            let ip = net.ip(id);
            let mut args = vec![
                "--id".to_owned(),
                id.to_string(),
                "--listen".to_owned(),
                format!("{ip}:{CLUSTER_PORT}"),
                "--http".to_owned(),
                format!("{ip}:{HTTP_PORT}"),
                "--data-dir".to_owned(),
                dir.path().join(format!("node-{id}")).display().to_string(),
                "--cluster-key-file".to_owned(),
                key_file.display().to_string(),
            ];
            if has_transport_flag() {
                args.extend(["--transport".to_owned(), transport.name().to_owned()]);
            } else {
                assert_eq!(
                    transport,
                    Transport::Tcp,
                    "this build of duckduckgoose has no --transport flag: only tcp can run"
                );
            }
            for peer in &peers {
                args.extend(["--peer".to_owned(), peer.clone()]);
            }
            args.extend(TIMING.iter().map(|flag| (*flag).to_owned()));
            let log = dir.path().join(format!("node-{id}.log"));
            nodes.push(NodeProcess::new(id, net.namespace(id), args, log));
        }
        let watch = Watch::start(
            &net.node_ids()
                .map(|id| (id, net.ip(id)))
                .collect::<Vec<_>>(),
        );
        let mut cluster = Cluster {
            watch,
            nodes,
            net,
            _dir: dir,
            transport,
        };
        for node in &mut cluster.nodes {
            node.spawn();
        }
        cluster.wait_for_agreement(Instant::now());
        cluster
    }

    /// Every node id.
    pub fn ids(&self) -> Vec<u64> {
        self.net.node_ids().collect()
    }

    /// Every node but `id`.
    pub fn others(&self, id: u64) -> Vec<u64> {
        self.net.node_ids().filter(|&other| other != id).collect()
    }

    pub fn node(&mut self, id: u64) -> &mut NodeProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Panics if a node process exited on its own.
    pub fn assert_alive(&mut self) {
        for node in &mut self.nodes {
            node.assert_alive();
        }
    }

    /// Waits until every node, asked after `since`, agrees on one Goose;
    /// returns it and its term.
    pub fn wait_for_agreement(&mut self, since: Instant) -> (u64, u64) {
        let ids = self.ids();
        self.assert_alive();
        self.watch.wait_for("agreement on one Goose", |observer| {
            observer.agreement(&ids, since)
        })
    }

    /// Waits for a Goose answer in a term above `term`, received after
    /// `since`, from one of `among`; returns the node, its term, and when
    /// the answer came back.
    pub fn wait_for_new_goose(
        &mut self,
        term: u64,
        since: Instant,
        among: &[u64],
    ) -> (u64, u64, Instant) {
        self.watch.wait_for(
            &format!("Goose above term {term} among {among:?}"),
            |observer| {
                observer
                    .goose_answers
                    .iter()
                    .find(|a| a.received >= since && a.term > term && among.contains(&a.node))
                    .map(|a| (a.node, a.term, a.received))
            },
        )
    }

    /// Observes for `pause`, checking that no process died.
    pub fn watch_for(&mut self, pause: Duration) {
        self.watch.watch_for(pause);
        self.assert_alive();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail());
            }
        }
        for node in &mut self.nodes {
            node.kill9();
        }
    }
}
