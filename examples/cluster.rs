//! A local DuckDuckGoose cluster in one process, with a live view: the
//! quickest way to watch leader election happen.
//!
//! ```text
//! cargo run --example cluster --features cli              # 3 nodes
//! cargo run --example cluster --features cli -- --chaos   # kill the Goose every 3 s
//! duckduckgoose status --node 127.0.0.1:4001              # while it runs (or curl /status)
//! ```
//!
//! Each node is a real [`Node`] with its own TCP transport on 127.0.0.1 (the
//! nodes talk over real sockets, not in memory), its own state directory in
//! a temporary directory, and its own HTTP API on port 4001, 4002, ...
//! (`--http-base-port`), the one `duckduckgoose run` serves, so the
//! binary's client subcommands (`status`, `step-down`, `members`) work
//! against it. To run nodes as separate processes, use the binary itself.
//!
//! On a terminal the view is a table redrawn in place; otherwise (piped to
//! a file, say) it is one line per change. Every failover is reported with
//! its duration: from the moment the old Goose stopped being one (its crash,
//! or the end of its lease) to the moment a new Goose holds a lease.
//!
//! `--chaos` crashes the Goose every few seconds (`NodeHandle::abort`: no
//! hand-over, no flush), restarts it a moment later on the same storage and
//! ports, and keeps failover statistics. Ctrl-C stops every node gracefully.
//!
//! Exit codes: 0 after Ctrl-C, 2 for bad arguments, 1 when a port is taken
//! or a node cannot start.

#[path = "../src/bin/duckduckgoose/common.rs"]
mod common;
#[path = "cluster/view.rs"]
mod view;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use duckduckgoose::NodeId;
use duckduckgoose::http::AdminAuth;
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{FileStorage, NodeIdentity};
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use common::MsRange;
use view::View;

/// Runs a local DuckDuckGoose cluster and shows every node's role live.
#[derive(Debug, Parser)]
#[command(name = "cluster", version)]
struct Args {
    /// How many nodes to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=32))]
    nodes: u64,
    /// Crash the Goose every few seconds, restart it on its storage, and
    /// report each failover.
    #[arg(long)]
    chaos: bool,
    /// Time between two crashes with --chaos.
    #[arg(long, value_name = "MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(500..))]
    chaos_interval_ms: u64,
    /// Node i serves its HTTP status pages on port BASE + i - 1.
    #[arg(long, value_name = "BASE", default_value_t = 4001)]
    http_base_port: u16,
    /// Node i listens for its peers on port BASE + i - 1; by default the
    /// OS picks free ports.
    #[arg(long, value_name = "BASE")]
    cluster_port_base: Option<u16>,
    /// How often the Goose sends heartbeats, in milliseconds (a multiple of
    /// the 10 ms tick).
    #[arg(long, value_name = "N", default_value_t = 50)]
    heartbeat_ms: u64,
    /// The randomized election timeout in milliseconds.
    #[arg(long, value_name = "MIN..MAX", default_value = "300..450", value_parser = common::parse_ms_range)]
    election_timeout_ms: MsRange,
}

/// The name every node of this local cluster gives its transport and its
/// data directory.
const CLUSTER_ID: &str = "duckduckgoose-local";

/// Node `id`'s storage, which must be its own (a new directory becomes it).
fn open_storage(id: NodeId, dir: &std::path::Path) -> Result<FileStorage, String> {
    let identity = NodeIdentity::new(CLUSTER_ID, id).map_err(|e| e.to_string())?;
    FileStorage::open_as(dir, identity).map_err(|e| common::describe_storage_error(&e))
}

/// Why the process ends with a non-zero status.
enum Failure {
    /// Bad arguments: exit status 2.
    Usage(String),
    /// Anything else: exit status 1.
    Fatal(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The view owns stdout; only warnings go to stderr unless RUST_LOG says
    // otherwise.
    common::init_tracing("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fatal: cannot start tokio: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Fatal(message)) => {
            eprintln!("fatal: {message}");
            ExitCode::from(1)
        }
    }
}

// ----- the nodes ----------------------------------------------------------------

/// What every node of the cluster shares.
struct Settings {
    members: Vec<NodeId>,
    /// Every member's cluster address: the membership's, handed to each
    /// transport by the runtime.
    addresses: BTreeMap<NodeId, SocketAddr>,
    heartbeat_ms: u64,
    election_timeout: MsRange,
}

impl Settings {
    fn node_config(&self, id: NodeId) -> NodeConfig {
        let mut config = NodeConfig::new(id, self.members.iter().copied());
        common::apply_timing(&mut config, self.heartbeat_ms, self.election_timeout);
        config.addresses = self
            .addresses
            .iter()
            .map(|(id, addr)| (*id, addr.to_string()))
            .collect();
        config
    }
}

/// One member: where it lives, and the running node if it is up.
struct Slot {
    id: NodeId,
    cluster_addr: SocketAddr,
    http_addr: SocketAddr,
    data_dir: PathBuf,
    running: Option<Running>,
}

/// A started node and the task serving its HTTP pages.
struct Running {
    handle: NodeHandle,
    http: JoinHandle<()>,
}

impl Slot {
    /// Starts the node on listeners already bound.
    async fn start(
        &mut self,
        settings: &Settings,
        cluster: TcpListener,
        http: TcpListener,
        storage: FileStorage,
    ) -> Result<(), String> {
        // The runtime hands the transport the members' addresses from the
        // configuration (`Settings::node_config`).
        let tcp = TcpConfig::new(self.id, CLUSTER_ID);
        let transport = TcpTransport::new(tcp, cluster).map_err(|e| e.to_string())?;
        let handle = Node::start(settings.node_config(self.id), transport, storage)
            .await
            .map_err(|e| common::describe_start_error(&e))?;
        // Loopback only: no admin token (the JSON content type is still needed).
        let router = duckduckgoose::http::router(handle.clone(), AdminAuth::Open);
        let http = tokio::spawn(async move {
            if let Err(error) = axum::serve(http, router).await {
                tracing::warn!(%error, "HTTP server failed");
            }
        });
        self.running = Some(Running { handle, http });
        Ok(())
    }

    /// Starts the node again after a crash. The crashed node's sockets and
    /// storage lock are released as its tasks are dropped, which takes a
    /// moment, so binding and opening are retried briefly.
    async fn restart(&mut self, settings: &Settings) -> Result<(), String> {
        let patience = Duration::from_secs(2);
        let storage = retry(patience, || open_storage(self.id, &self.data_dir)).await?;
        let cluster = bind_retrying(self.cluster_addr, "cluster port", patience).await?;
        let http = bind_retrying(self.http_addr, "HTTP port", patience).await?;
        self.start(settings, cluster, http, storage).await
    }

    /// A crash: the node stops on the spot, without handing over.
    fn crash(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.abort();
            running.http.abort();
        }
    }
}

async fn retry<T>(
    patience: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + patience;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn bind_retrying(
    addr: SocketAddr,
    what: &str,
    patience: Duration,
) -> Result<TcpListener, String> {
    let deadline = Instant::now() + patience;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(error) if Instant::now() >= deadline => {
                return Err(common::describe_bind_error(what, addr, &error));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Port `base + index`, if it exists.
fn port(base: u16, index: u64, flag: &str) -> Result<u16, Failure> {
    u16::try_from(u64::from(base) + index)
        .map_err(|_| Failure::Usage(format!("{flag} {base} leaves no room for every node")))
}

// ----- the run ------------------------------------------------------------------

async fn run(args: Args) -> Result<(), Failure> {
    let members: Vec<NodeId> = (1..=args.nodes).map(NodeId).collect();
    let mut check = NodeConfig::new(NodeId(1), members.iter().copied());
    common::apply_timing(&mut check, args.heartbeat_ms, args.election_timeout_ms);
    check
        .validate()
        .map_err(|e| Failure::Usage(format!("invalid timing: {e}")))?;

    // Every port is bound before any node starts, so a taken port stops
    // everything with a clear message instead of leaving a half cluster.
    let mut cluster_listeners = Vec::new();
    let mut http_listeners = Vec::new();
    for (index, id) in (0..).zip(&members) {
        let cluster_port = match args.cluster_port_base {
            Some(base) => port(base, index, "--cluster-port-base")?,
            None => 0,
        };
        let http_port = port(args.http_base_port, index, "--http-base-port")?;
        let cluster_addr = localhost(cluster_port);
        let listener = TcpListener::bind(cluster_addr).await.map_err(|e| {
            Failure::Fatal(format!(
                "{}{}",
                common::describe_bind_error(
                    &format!("cluster port of node {id}"),
                    cluster_addr,
                    &e
                ),
                "; choose another --cluster-port-base, or leave it out to let the OS pick"
            ))
        })?;
        cluster_listeners.push(listener);
        let http_addr = localhost(http_port);
        let listener = TcpListener::bind(http_addr).await.map_err(|e| {
            Failure::Fatal(format!(
                "{}{}",
                common::describe_bind_error(&format!("HTTP status of node {id}"), http_addr, &e),
                "; is another cluster running? choose another --http-base-port"
            ))
        })?;
        http_listeners.push(listener);
    }
    let address = |listener: &TcpListener| {
        listener
            .local_addr()
            .map_err(|e| Failure::Fatal(format!("cannot read a listener's address: {e}")))
    };
    let mut addresses = BTreeMap::new();
    for (id, listener) in members.iter().zip(&cluster_listeners) {
        addresses.insert(*id, address(listener)?);
    }
    let settings = Settings {
        members: members.clone(),
        addresses,
        heartbeat_ms: args.heartbeat_ms,
        election_timeout: args.election_timeout_ms,
    };
    let state_dir = tempfile::Builder::new()
        .prefix("duckduckgoose-cluster-")
        .tempdir()
        .map_err(|e| Failure::Fatal(format!("cannot create a temporary directory: {e}")))?;

    let mut slots = Vec::new();
    for ((id, cluster), http) in members.iter().zip(cluster_listeners).zip(http_listeners) {
        let mut slot = Slot {
            id: *id,
            cluster_addr: address(&cluster)?,
            http_addr: address(&http)?,
            data_dir: state_dir.path().join(format!("node-{id}")),
            running: None,
        };
        let storage = open_storage(slot.id, &slot.data_dir).map_err(Failure::Fatal)?;
        slot.start(&settings, cluster, http, storage)
            .await
            .map_err(|e| Failure::Fatal(format!("node {id}: {e}")))?;
        slots.push(slot);
    }

    let mut view = View::new(std::io::stdout().is_terminal());
    view.header(&args, &slots, &state_dir.path().display().to_string());
    let outcome = watch(&args, &settings, &mut slots, &mut view).await;

    view.event("stopping: every node shuts down gracefully (a Goose hands over first)");
    view.render(&slots);
    let mut stopping = JoinSet::new();
    for slot in &mut slots {
        if let Some(running) = slot.running.take() {
            stopping.spawn(async move {
                running.handle.shutdown().await;
                running.http.abort();
            });
        }
    }
    while stopping.join_next().await.is_some() {}
    view.finish();
    outcome
}

/// Samples every node until Ctrl-C (or SIGTERM), crashing and restarting the
/// Goose on schedule with `--chaos`.
async fn watch(
    args: &Args,
    settings: &Settings,
    slots: &mut [Slot],
    view: &mut View,
) -> Result<(), Failure> {
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Failure::Fatal(format!("cannot handle SIGINT: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Failure::Fatal(format!("cannot handle SIGTERM: {e}")))?;
    // Sampling this often times each failover to within a few milliseconds.
    let mut sample = tokio::time::interval(Duration::from_millis(5));
    sample.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let chaos_interval = Duration::from_millis(args.chaos_interval_ms);
    let restart_delay = chaos_interval / 3;
    let mut next_crash = Instant::now() + chaos_interval;
    let mut restarts: Vec<(Instant, usize)> = Vec::new();
    let mut next_render = Instant::now();
    loop {
        tokio::select! {
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
            _ = sample.tick() => {}
        }
        let now = Instant::now();
        view.sample(slots, now);

        if args.chaos && now >= next_crash {
            match view
                .goose
                .and_then(|(id, term)| Some((slots.iter().position(|s| s.id == id)?, term)))
            {
                Some((index, term)) => {
                    let crashed_at = Instant::now();
                    slots[index].crash();
                    view.crashed(slots[index].id, term, crashed_at);
                    restarts.push((crashed_at + restart_delay, index));
                    next_crash = crashed_at + chaos_interval;
                }
                // No Goose to crash right now; try again shortly.
                None => next_crash = now + Duration::from_millis(100),
            }
        }
        let mut pending = Vec::new();
        for (at, index) in restarts.drain(..) {
            if now < at {
                pending.push((at, index));
                continue;
            }
            let slot = &mut slots[index];
            match slot.restart(settings).await {
                Ok(()) => view.event(&format!("chaos: restarted node {} on its storage", slot.id)),
                Err(error) => {
                    view.event(&format!(
                        "chaos: cannot restart node {} yet: {error}",
                        slot.id
                    ));
                    pending.push((now + Duration::from_secs(1), index));
                }
            }
        }
        restarts = pending;

        if view.has_events() || now >= next_render {
            view.render(slots);
            next_render = now + Duration::from_millis(100);
        }
    }
}
