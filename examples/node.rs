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
//! A fourth node joins the running cluster through any member's cluster
//! address (the request is forwarded to the Goose); it needs no `--peer`:
//!
//! ```text
//! cargo run --example node --features http -- --id 4 --listen 127.0.0.1:7004 --http 127.0.0.1:8004 \
//!     --join 127.0.0.1:7002 --data-dir /tmp/ddg/4
//! curl 127.0.0.1:8004/cluster      # node 4: "voter": false at first, true once it keeps up
//! ```
//!
//! A node is removed with `curl -X DELETE 127.0.0.1:<Goose's http port>/members/4`.
//!
//! `--meta KEY=VALUE` (repeatable) publishes metadata about this node in the
//! membership, such as where its application serves
//! (`--meta http=http://127.0.0.1:9001`); a joining node sends it with its
//! request. Every node's `/status` then names the Goose with its metadata
//! (`"goose": {"id", "term", "addr", "meta"}`), which is where to forward a
//! client.
//!
//! Every flag has an environment fallback (`DDG_ID`, `DDG_LISTEN`, `DDG_HTTP`,
//! `DDG_PEERS` as a comma-separated list, `DDG_JOIN`, `DDG_DATA_DIR`, ...).
//! `RUST_LOG` filters the logs (default `info`), which go to stderr.
//!
//! # Membership on restart
//!
//! The data directory keeps the membership the node last held. A node
//! restarted on it starts from that membership, whatever its `--peer` or
//! `--join` flags say (a node that joined is not joined again), so every
//! node can be restarted with the command line it was first started with.
//! A node whose saved membership no longer holds it was removed, or it
//! stopped while its removal was not committed yet (a new Goose may have
//! undone it since). It starts anyway, as a **removed node**, and warns
//! so: it never campaigns, votes only to let the others undo an
//! uncommitted removal, and takes part again only if the Goose adds it back
//! (`POST /members` with its id and address; its heartbeats then bring the
//! membership naming it). Its `/status` says `"Duck"` and its `/cluster`
//! `"member": false`. To join under the same id instead, stop it, wipe its
//! data directory and start it with `--join`.
//!
//! `--listen` (or `--advertise`, when other nodes reach this one at another
//! address, behind NAT say) is recorded in the membership as this node's
//! cluster address, and every member dials it: it cannot be a wildcard
//! address such as `0.0.0.0`. Port 0 (any free port) is replaced by the port
//! the OS chose.
//!
//! SIGINT or SIGTERM stops the node gracefully: a Goose hands over to a Duck
//! first, so the cluster has a new Goose without waiting for an election
//! timeout. With `--leave-on-shutdown` the node first asks to be removed
//! from the cluster and waits (up to 10 s) until it is.
//!
//! Exit codes: 0 after a clean stop; 2 for bad arguments; 1 for a fatal
//! error (a port in use, a corrupt or unreadable state file, a storage
//! failure while running, a join that did not succeed within a minute, a
//! leave that did not complete), with a one-line reason on stderr.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use duckduckgoose::NodeId;
use duckduckgoose::core::{Membership, NodeMetadata};
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{FileStorage, Storage};
use duckduckgoose::transport::tcp::{JoinError, JoinParams, TcpConfig, TcpTransport, request_join};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal as UnixSignal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::Instant;

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
    /// each. The members are this node and its peers. Not with --join.
    #[arg(
        long = "peer",
        env = "DDG_PEERS",
        value_name = "ID=HOST:PORT",
        value_delimiter = ',',
        value_parser = common::parse_peer
    )]
    peers: Vec<Peer>,
    /// Join a running cluster through this member's cluster address (any
    /// member: a Duck forwards the request to the Goose). The node is added
    /// as a learner and becomes a voter once it keeps up. Ignored when the
    /// data directory already holds a membership with this node.
    #[arg(long, env = "DDG_JOIN", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    join: Option<String>,
    /// The cluster address other nodes dial to reach this one, recorded in
    /// the membership; default: --listen.
    #[arg(long, env = "DDG_ADVERTISE", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    advertise: Option<String>,
    /// Metadata this node publishes in the membership, such as where its
    /// application serves (http=http://10.0.0.5:8080); repeat for each
    /// entry. Sent with --join; ignored when the data directory already
    /// holds a membership.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
    /// On SIGINT or SIGTERM, ask to be removed from the cluster before
    /// stopping (restarted on this data directory, the node is then a
    /// removed node that takes no part unless the Goose adds it back).
    #[arg(long, env = "DDG_LEAVE_ON_SHUTDOWN")]
    leave_on_shutdown: bool,
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

/// What the checked arguments turn into, before anything is bound.
struct Plan {
    id: NodeId,
    /// The other members' cluster addresses, from `--peer`.
    peers: BTreeMap<NodeId, String>,
    /// This node's metadata, from `--meta`.
    metadata: NodeMetadata,
    key: Option<Vec<u8>>,
    listen: SocketAddr,
    http: SocketAddr,
}

/// How long a joining node keeps trying before it gives up.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);

/// The pause after the first failed join attempt; it doubles up to
/// [`JOIN_BACKOFF_MAX`].
const JOIN_BACKOFF_MIN: Duration = Duration::from_millis(200);
const JOIN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long `--leave-on-shutdown` waits for the cluster to remove this node.
const LEAVE_PATIENCE: Duration = Duration::from_secs(10);

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
    let id = plan.id;

    // Before anything is bound: a directory another node holds is a clear
    // error, not a port mystery.
    let mut storage = FileStorage::open(&args.data_dir)
        .map_err(|error| Failure::Fatal(common::describe_storage_error(&error)))?;
    let stored = storage
        .load_membership()
        .await
        .map_err(|error| Failure::Fatal(common::describe_storage_error(&error)))?;
    // A saved membership without this node: it starts as a removed node
    // (the runtime warns), since refusing could leave a small cluster
    // without the vote it needs to undo an uncommitted removal.
    let removed = stored.as_ref().is_some_and(|stored| !stored.contains(id));
    let cluster_listener = TcpListener::bind(plan.listen)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--listen", plan.listen, &e)))?;
    let http_listener = TcpListener::bind(plan.http)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--http", plan.http, &e)))?;
    let http_addr = http_listener.local_addr().unwrap_or(plan.http);
    let listen_addr = cluster_listener.local_addr().unwrap_or(plan.listen);
    let advertise = advertised_address(&args, listen_addr);

    let mut signals = Signals::new()?;
    // Where the members come from: the saved membership, the cluster (by
    // joining it), or the command line.
    let membership = match (stored, &args.join) {
        (Some(stored), _) => {
            if args.join.is_some() || !plan.peers.is_empty() || !plan.metadata.is_empty() {
                tracing::info!(
                    membership = %stored.id(),
                    "starting from the membership saved in the data directory; --join, --peer and --meta are ignored"
                );
            }
            Some(stored)
        }
        (None, Some(target)) => {
            let joining = join(
                JoinParams::new(id, advertise.clone(), args.cluster_id.clone())
                    .with_metadata(plan.metadata.clone()),
                target,
                plan.key.clone(),
            );
            tokio::select! {
                joined = joining => Some(joined?),
                name = signals.recv() => {
                    tracing::info!("{name} while joining: stopping");
                    return Ok(());
                }
            }
        }
        (None, None) => None,
    };
    let mut config = match membership {
        Some(membership) => NodeConfig::from_membership(id, membership),
        None => {
            let members: BTreeSet<NodeId> = plan.peers.keys().copied().chain([id]).collect();
            let mut config = NodeConfig::new(id, members);
            config.addresses = plan.peers.clone();
            config.addresses.insert(id, advertise.clone());
            config.with_metadata(id, plan.metadata.clone())
        }
    };
    common::apply_timing(&mut config, args.heartbeat_ms, args.election_timeout_ms);
    // A removed node's members do not name it, which only a saved membership
    // may do: `Node::start` checks it against that one (`plan` checked the
    // timing).
    if !removed {
        config
            .validate()
            .map_err(|error| Failure::Fatal(format!("invalid configuration: {error}")))?;
    }

    // The transport dials the members at the membership's addresses (the
    // runtime hands them over), resolving names at every dial.
    let mut tcp = TcpConfig::new(id, args.cluster_id.clone());
    tcp.cluster_key = plan.key.clone();
    tcp.validate()
        .map_err(|error| Failure::Usage(format!("invalid cluster settings: {error}")))?;
    let transport = TcpTransport::new(tcp, cluster_listener)
        .map_err(|error| Failure::Fatal(error.to_string()))?;

    let handle = Node::start(config, transport, storage)
        .await
        .map_err(|error| Failure::Fatal(common::describe_start_error(&error)))?;
    let membership = handle.membership();
    println!(
        "duckduckgoose node {id}: cluster {listen_addr} (others dial {advertise}), http http://{http_addr}, \
         membership {}: voters [{}], learners [{}], data {}",
        membership.id(),
        list(membership.voters()),
        list(membership.learners()),
        args.data_dir.display()
    );
    if !handle.status().member {
        println!(
            "duckduckgoose node {id}: removed: not in its stored membership {}; it will not campaign \
             and takes part again only if the Goose adds it back (to join under this id, wipe {} \
             and --join)",
            membership.id(),
            args.data_dir.display()
        );
    }

    let (stop_http, http_stopped) = watch::channel(false);
    let mut http = tokio::spawn(serve_http(http_listener, handle.clone(), http_stopped));
    tokio::spawn(log_changes(handle.clone()));

    let outcome = tokio::select! {
        name = signals.recv() => Signal(name),
        () = handle.stopped() => Stopped,
        served = &mut http => HttpEnded(served.map_err(|e| e.to_string()).and_then(|r| r)),
    };
    use Outcome::*;
    let result = match outcome {
        Signal(name) => {
            let left = if args.leave_on_shutdown {
                tracing::info!("{name}: leaving the cluster");
                leave(&handle).await
            } else {
                Ok(())
            };
            tracing::info!("{name}: shutting down");
            // A Goose hands over inside `shutdown`.
            handle.shutdown().await;
            match handle.fatal_error() {
                Some(error) => Err(Failure::Fatal(describe_fatal(&error))),
                None => left,
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
    let _ = tokio::time::timeout(Duration::from_millis(500), http).await;
    result
}

/// SIGINT and SIGTERM, whichever comes first.
struct Signals {
    interrupt: UnixSignal,
    terminate: UnixSignal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())
                .map_err(|e| Failure::Fatal(format!("cannot handle SIGINT: {e}")))?,
            terminate: signal(SignalKind::terminate())
                .map_err(|e| Failure::Fatal(format!("cannot handle SIGTERM: {e}")))?,
        })
    }

    /// The name of the next signal.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Asks the cluster, through any member, to add this node (as `base` says:
/// its id, address and metadata), until it does or [`JOIN_PATIENCE`] runs
/// out; returns the committed membership holding it.
async fn join(base: JoinParams, target: &str, key: Option<Vec<u8>>) -> Result<Membership, Failure> {
    let id = base.id;
    let deadline = Instant::now() + JOIN_PATIENCE;
    let mut backoff = JOIN_BACKOFF_MIN;
    for attempt in 1.. {
        let mut params = base.clone();
        params.cluster_key = key.clone();
        // The default leaves room for a forward to the Goose; a change
        // commits within a heartbeat round or two, so it is rarely used up.
        params.timeout = JoinParams::DEFAULT_TIMEOUT
            .min(deadline.saturating_duration_since(Instant::now()))
            .max(Duration::from_secs(1));
        let error = match request_join(target, &params).await {
            Ok(membership) if membership.contains(id) => {
                tracing::info!(
                    membership = %membership.id(),
                    "joined the cluster through {target} as a learner; voters [{}]",
                    list(membership.voters())
                );
                return Ok(membership);
            }
            Ok(membership) => format!(
                "the cluster answered with membership {}, which does not hold node {id}",
                membership.id()
            ),
            // Settings that cannot work: trying again will not help.
            Err(error @ (JoinError::InvalidParams(_) | JoinError::Auth { .. })) => {
                return Err(Failure::Fatal(format!(
                    "cannot join the cluster through {target}: {error}"
                )));
            }
            Err(error) => error.to_string(),
        };
        if Instant::now() + backoff >= deadline {
            return Err(Failure::Fatal(format!(
                "cannot join the cluster through {target} (tried {attempt} times in {}s): {error}",
                JOIN_PATIENCE.as_secs()
            )));
        }
        tracing::warn!(
            "join attempt {attempt} through {target} failed: {error}; retrying in {backoff:?}"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(JOIN_BACKOFF_MAX);
    }
    unreachable!("the loop returns")
}

/// `--leave-on-shutdown`: waits until the cluster has removed this node.
async fn leave(handle: &NodeHandle) -> Result<(), Failure> {
    match tokio::time::timeout(LEAVE_PATIENCE, handle.leave()).await {
        Ok(Ok(())) => {
            tracing::info!("left the cluster");
            Ok(())
        }
        Ok(Err(error)) => Err(Failure::Fatal(format!(
            "could not leave the cluster: {error}"
        ))),
        Err(_) => Err(Failure::Fatal(format!(
            "could not leave the cluster within {}s (is there a Goose?)",
            LEAVE_PATIENCE.as_secs()
        ))),
    }
}

/// The cluster address others dial: `--advertise`, or `--listen` with the
/// port the OS chose when it was 0 (a wildcard host was refused by `plan`).
fn advertised_address(args: &Args, bound: SocketAddr) -> String {
    if let Some(advertise) = &args.advertise {
        return advertise.clone();
    }
    match args.listen.rsplit_once(':') {
        Some((host, "0")) => format!("{host}:{}", bound.port()),
        _ => args.listen.clone(),
    }
}

/// Ids as `1, 2, 3`.
fn list(ids: impl Iterator<Item = NodeId>) -> String {
    ids.map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
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

/// One `--meta KEY=VALUE`, checked against the metadata bounds.
fn parse_meta(text: &str) -> Result<(String, String), String> {
    NodeMetadata::parse_entry(text).map_err(|error| error.to_string())
}

/// Checks the arguments beyond their syntax.
fn plan(args: &Args) -> Result<Plan, Failure> {
    let id = NodeId(args.id);
    if args.join.is_some() && !args.peers.is_empty() {
        return Err(Failure::Usage(
            "--join and --peer do not mix: a joining node learns the members from the cluster; \
             drop the --peer flags"
                .to_owned(),
        ));
    }
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
    let mut metadata = NodeMetadata::new();
    for (key, value) in &args.meta {
        let replaced = metadata
            .insert(key.clone(), value.clone())
            .map_err(|error| Failure::Usage(format!("--meta {key}={value}: {error}")))?;
        if replaced.is_some() {
            return Err(Failure::Usage(format!(
                "--meta: key {key} is given more than once"
            )));
        }
    }
    let mut timing = NodeConfig::new(id, [id]);
    common::apply_timing(&mut timing, args.heartbeat_ms, args.election_timeout_ms);
    timing
        .validate()
        .map_err(|error| Failure::Usage(format!("invalid timing: {error}")))?;
    check_dialable(args)?;

    let key = match &args.cluster_key_file {
        Some(path) => Some(read_key(path)?),
        None => None,
    };
    let listen = common::resolve(&args.listen).map_err(Failure::Fatal)?;
    let http = common::resolve(&args.http).map_err(Failure::Fatal)?;
    // The transport's own checks, before anything is bound.
    let mut tcp = TcpConfig::new(id, args.cluster_id.clone());
    tcp.cluster_key = key.clone();
    tcp.validate()
        .map_err(|error| Failure::Usage(format!("invalid cluster settings: {error}")))?;
    Ok(Plan {
        id,
        peers,
        metadata,
        key,
        listen,
        http,
    })
}

/// The address recorded in the membership must be one other nodes can
/// dial: no wildcard host, and no port 0 unless it is `--listen`'s (which
/// becomes the port the OS chose).
fn check_dialable(args: &Args) -> Result<(), Failure> {
    let (flag, address) = match &args.advertise {
        Some(advertise) => ("--advertise", advertise),
        None => ("--listen", &args.listen),
    };
    let Some((host, port)) = address.rsplit_once(':') else {
        return Ok(()); // `parse_host_port` already refused it.
    };
    let bare_host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    if bare_host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        let hint = if args.advertise.is_some() {
            "give the address other nodes reach this node at"
        } else {
            "add --advertise HOST:PORT, the address other nodes reach this node at"
        };
        return Err(Failure::Usage(format!(
            "{flag} {address}: a wildcard address is recorded in the membership as this node's \
             cluster address, and other nodes cannot dial it; {hint}"
        )));
    }
    if args.advertise.is_some() && port == "0" {
        return Err(Failure::Usage(format!(
            "--advertise {address}: port 0 cannot be dialled"
        )));
    }
    Ok(())
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
/// whom it follows, and everyone what the membership is.
async fn log_changes(handle: NodeHandle) {
    let mut status = handle.subscribe();
    let mut leader = None;
    let mut membership = None;
    // Started outside its membership, the runtime has warned already.
    let mut member = handle.status().member;
    loop {
        let (now, term, current) = {
            let status = status.borrow_and_update();
            (status.leader, status.term, status.membership)
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
        if membership != Some(current) {
            let full = handle.membership();
            if membership.is_some() {
                tracing::info!(
                    membership = %full.id(),
                    "membership changed: voters [{}], learners [{}]",
                    list(full.voters()),
                    list(full.learners())
                );
            }
            membership = Some(current);
            let now_member = full.contains(handle.id());
            if member && !now_member {
                tracing::warn!(
                    "this node was removed from the cluster: it no longer campaigns, and takes \
                     part again only if the Goose adds it back; stop it (to join under this id, \
                     wipe the data directory and --join)"
                );
            }
            member = now_member;
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
