//! One node of a DuckDuckGoose cluster as a process: the TCP transport, a
//! state directory, and HTTP status pages (`/status`, `/cluster`,
//! `/step-down`, `/metrics`, `/health`).
//!
//! A three-node cluster on one machine, one terminal each:
//!
//! ```text
//! cargo run --example node --features http -- --id 1 --listen 127.0.0.1:7001 --http 127.0.0.1:8001 \
//!     --peer 2=127.0.0.1:7002 --peer 3=127.0.0.1:7003 --data-dir /tmp/ddg/1
//! cargo run --example node --features http -- --id 2 --listen 127.0.0.1:7002 --http 127.0.0.1:8002 \
//!     --peer 1=127.0.0.1:7001 --peer 3=127.0.0.1:7003 --data-dir /tmp/ddg/2
//! cargo run --example node --features http -- --id 3 --listen 127.0.0.1:7003 --http 127.0.0.1:8003 \
//!     --peer 1=127.0.0.1:7001 --peer 2=127.0.0.1:7002 --data-dir /tmp/ddg/3
//! curl 127.0.0.1:8001/status
//! ```
//!
//! Every flag has an environment fallback (`DDG_ID`, `DDG_LISTEN`, `DDG_HTTP`,
//! `DDG_PEERS` as a comma-separated list, `DDG_DATA_DIR`, ...). `RUST_LOG`
//! filters the logs (default `info`), which go to stderr.
//!
//! SIGINT or SIGTERM stops the node gracefully: a Goose hands over to a Duck
//! first, so the cluster has a new Goose without waiting for an election
//! timeout.
//!
//! Exit codes: 0 after a clean stop; 2 for bad arguments; 1 for a fatal
//! error (a port in use, a corrupt or unreadable state file, a storage
//! failure while running), with a one-line reason on stderr.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use duckduckgoose::NodeId;
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::FileStorage;
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use common::{MsRange, Peer};

/// Runs one node of a DuckDuckGoose cluster, with HTTP status pages.
#[derive(Debug, Parser)]
#[command(name = "node", version)]
struct Args {
    /// This node's id, unique in the cluster.
    #[arg(long, env = "DDG_ID")]
    id: u64,
    /// Where this node accepts its peers' connections.
    #[arg(long, env = "DDG_LISTEN", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    listen: String,
    /// Where the HTTP status pages are served.
    #[arg(long, env = "DDG_HTTP", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    http: String,
    /// Another member of the cluster and its cluster address; repeat for
    /// each. The members are this node and its peers.
    #[arg(
        long = "peer",
        env = "DDG_PEERS",
        value_name = "ID=HOST:PORT",
        value_delimiter = ',',
        value_parser = common::parse_peer
    )]
    peers: Vec<Peer>,
    /// The directory holding this node's term and vote; one node per
    /// directory.
    #[arg(long, env = "DDG_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// A file holding the cluster's pre-shared key: with it, every
    /// connection and message is authenticated. Every node must use the same
    /// key. A trailing newline is ignored.
    #[arg(long, env = "DDG_CLUSTER_KEY_FILE", value_name = "FILE")]
    cluster_key_file: Option<PathBuf>,
    /// Names the cluster; nodes refuse connections naming another cluster.
    #[arg(long, env = "DDG_CLUSTER_ID", default_value = "duckduckgoose")]
    cluster_id: String,
    /// How often the Goose sends heartbeats, in milliseconds (a multiple of
    /// the 10 ms tick).
    #[arg(long, env = "DDG_HEARTBEAT_MS", value_name = "N", default_value_t = 50)]
    heartbeat_ms: u64,
    /// The randomized election timeout in milliseconds (multiples of the
    /// 10 ms tick). The Goose's lease is derived from MIN.
    #[arg(
        long,
        env = "DDG_ELECTION_TIMEOUT_MS",
        value_name = "MIN..MAX",
        default_value = "300..600",
        value_parser = common::parse_ms_range
    )]
    election_timeout_ms: MsRange,
}

/// Why the process ends with a non-zero status.
enum Failure {
    /// Bad arguments: exit status 2.
    Usage(String),
    /// Anything else: exit status 1.
    Fatal(String),
}

/// What the checked arguments turn into.
struct Plan {
    config: NodeConfig,
    tcp: TcpConfig,
    listen: SocketAddr,
    http: SocketAddr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::init_tracing("info");
    // One thread is plenty for one node and keeps five of them on a laptop
    // (or a two-core CI box) from crowding each other.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(Failure::Fatal(format!("cannot start tokio: {error}"))),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Failure::Fatal(message) => {
            eprintln!("fatal: {message}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let plan = plan(&args)?;
    let id = plan.config.id;

    // Before anything is bound: a directory another node holds is a clear
    // error, not a port mystery.
    let storage = FileStorage::open(&args.data_dir)
        .map_err(|error| Failure::Fatal(common::describe_storage_error(&error)))?;
    let cluster_listener = TcpListener::bind(plan.listen)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--listen", plan.listen, &e)))?;
    let http_listener = TcpListener::bind(plan.http)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--http", plan.http, &e)))?;
    let http_addr = http_listener.local_addr().unwrap_or(plan.http);
    let transport = TcpTransport::new(plan.tcp, cluster_listener)
        .map_err(|error| Failure::Fatal(error.to_string()))?;
    let listen_addr = transport.local_addr();

    let members: Vec<String> = plan
        .config
        .members
        .iter()
        .map(ToString::to_string)
        .collect();
    let handle = Node::start(plan.config, transport, storage)
        .await
        .map_err(|error| Failure::Fatal(common::describe_start_error(&error)))?;
    println!(
        "duckduckgoose node {id}: cluster {listen_addr}, http http://{http_addr}, members [{}], data {}",
        members.join(", "),
        args.data_dir.display()
    );

    let (stop_http, http_stopped) = watch::channel(false);
    let mut http = tokio::spawn(serve_http(http_listener, handle.clone(), http_stopped));
    tokio::spawn(log_leader_changes(handle.clone()));

    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Failure::Fatal(format!("cannot handle SIGINT: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Failure::Fatal(format!("cannot handle SIGTERM: {e}")))?;

    let outcome = tokio::select! {
        _ = sigint.recv() => Signal("SIGINT"),
        _ = sigterm.recv() => Signal("SIGTERM"),
        () = handle.stopped() => Stopped,
        served = &mut http => HttpEnded(served.map_err(|e| e.to_string()).and_then(|r| r)),
    };
    use Outcome::*;
    let result = match outcome {
        Signal(name) => {
            tracing::info!("{name}: shutting down");
            // A Goose hands over inside `shutdown`.
            handle.shutdown().await;
            match handle.fatal_error() {
                Some(error) => Err(Failure::Fatal(describe_fatal(&error))),
                None => Ok(()),
            }
        }
        Stopped => Err(Failure::Fatal(match handle.fatal_error() {
            Some(error) => describe_fatal(&error),
            None => "the node stopped unexpectedly".to_owned(),
        })),
        HttpEnded(result) => {
            handle.shutdown().await;
            Err(Failure::Fatal(match result {
                Ok(()) => "the HTTP server stopped unexpectedly".to_owned(),
                Err(error) => format!("the HTTP server failed: {error}"),
            }))
        }
    };
    let _ = stop_http.send(true);
    // Give in-flight status requests a moment, but never hang the exit.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), http).await;
    result
}

/// Why the main loop ended.
enum Outcome {
    Signal(&'static str),
    Stopped,
    HttpEnded(Result<(), String>),
}

fn describe_fatal(error: &duckduckgoose::runtime::FatalError) -> String {
    match error {
        duckduckgoose::runtime::FatalError::Storage(storage) => {
            format!(
                "storage failed: {}",
                common::describe_storage_error(storage)
            )
        }
        other => other.to_string(),
    }
}

/// Checks the arguments beyond their syntax and builds the configurations.
fn plan(args: &Args) -> Result<Plan, Failure> {
    let id = NodeId(args.id);
    let mut peers = BTreeMap::new();
    for peer in &args.peers {
        if peer.id == id {
            return Err(Failure::Usage(format!(
                "--peer {}={}: {id} is this node's own id (--id); list only the other members",
                peer.id, peer.address
            )));
        }
        if peers.insert(peer.id, peer.address.clone()).is_some() {
            return Err(Failure::Usage(format!(
                "--peer: node {} is given more than once",
                peer.id
            )));
        }
    }
    let members: BTreeSet<NodeId> = peers.keys().copied().chain([id]).collect();

    let mut config = NodeConfig::new(id, members.iter().copied());
    common::apply_timing(&mut config, args.heartbeat_ms, args.election_timeout_ms);
    config
        .validate()
        .map_err(|error| Failure::Usage(format!("invalid timing: {error}")))?;
    config.addresses = peers.clone();
    config.addresses.insert(id, args.listen.clone());

    let key = match &args.cluster_key_file {
        Some(path) => Some(read_key(path)?),
        None => None,
    };
    let listen = common::resolve(&args.listen).map_err(Failure::Fatal)?;
    let http = common::resolve(&args.http).map_err(Failure::Fatal)?;
    let mut resolved = BTreeMap::new();
    for (peer, address) in &peers {
        let addr =
            common::resolve(address).map_err(|e| Failure::Fatal(format!("peer {peer}: {e}")))?;
        resolved.insert(*peer, addr);
    }
    let mut tcp = TcpConfig::new(id, args.cluster_id.clone(), resolved);
    tcp.cluster_key = key;
    tcp.validate()
        .map_err(|error| Failure::Usage(format!("invalid cluster settings: {error}")))?;
    Ok(Plan {
        config,
        tcp,
        listen,
        http,
    })
}

/// The cluster key: the file's bytes without a trailing newline.
fn read_key(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    let mut key = std::fs::read(path).map_err(|e| {
        Failure::Fatal(format!(
            "cannot read cluster key file {}: {e}",
            path.display()
        ))
    })?;
    if key.ends_with(b"\n") {
        key.pop();
        if key.ends_with(b"\r") {
            key.pop();
        }
    }
    if key.is_empty() {
        return Err(Failure::Usage(format!(
            "--cluster-key-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(key)
}

async fn serve_http(
    listener: TcpListener,
    handle: NodeHandle,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    axum::serve(listener, common::status_router(handle))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// The library logs this node's own role changes; a Duck also wants to know
/// whom it follows.
async fn log_leader_changes(handle: NodeHandle) {
    let mut status = handle.subscribe();
    let mut leader = None;
    loop {
        let (now, term) = {
            let status = status.borrow_and_update();
            (status.leader, status.term)
        };
        if now != leader {
            leader = now;
            match now {
                Some(goose) if goose != handle.id() => {
                    tracing::info!(%term, "following the Goose, node {goose}");
                }
                Some(_) => {}
                None => tracing::info!(%term, "no Goose known"),
            }
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
