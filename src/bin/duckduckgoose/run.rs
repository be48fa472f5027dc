//! `duckduckgoose run`: one node as a process, from its flags to a clean
//! exit.
//!
//! The order matters: every usage error is found before anything is
//! touched ([`Plan::new`]); the data directory is opened (and its identity
//! checked) before a port is bound, so a wrong directory is a clear error
//! rather than a port mystery; the membership is chosen before the node
//! starts. SIGINT or SIGTERM stops the node gracefully: a Goose hands over
//! to a Duck first, so the cluster has a new Goose without waiting for an
//! election timeout.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::runtime::{FatalError, Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{FileStorage, NodeIdentity, Storage};
use duckduckgoose::transport::tcp::{JoinParams, TcpConfig, TcpTransport};
use duckduckgoose::transport::udp::UdpTransport;
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{Signal as UnixSignal, SignalKind, signal};
use tokio::sync::watch;

use crate::Failure;
use crate::common::{self, list};
use crate::join::{join, leave};
pub use crate::plan::RunArgs;
use crate::plan::{Intent, Plan, Source, TransportKind, advertised_address};
use crate::saved::differences;

/// Runs the node until a signal, a fatal error or the HTTP server's end.
pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let plan = Plan::new(&args)?;
    let id = plan.id;

    // The directory must be this node's of this cluster (a new one becomes
    // it): another node's term and vote would let this one vote twice.
    let identity = NodeIdentity::new(args.cluster_id.clone(), id)
        .map_err(|error| Failure::Usage(format!("--cluster-id: {error}")))?;
    let mut storage = FileStorage::open_as(&args.data_dir, identity)
        .map_err(|error| Failure::Fatal(common::describe_storage_error(&error)))?;
    let saved = storage
        .load_membership()
        .await
        .map_err(|error| Failure::Fatal(common::describe_storage_error(&error)))?;
    let source = plan.source(saved, &args.data_dir)?;

    let cluster_listener = TcpListener::bind(plan.listen)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--listen", plan.listen, &e)))?;
    let http_listener = TcpListener::bind(plan.http)
        .await
        .map_err(|e| Failure::Fatal(common::describe_bind_error("--http", plan.http, &e)))?;
    let http_addr = http_listener.local_addr().unwrap_or(plan.http);
    let listen_addr = cluster_listener.local_addr().unwrap_or(plan.listen);
    let advertise = advertised_address(&args, plan.own_peer.as_deref(), listen_addr);
    warn_if_exposed(&args, http_addr);

    let mut signals = Signals::new()?;
    let mut config = match source {
        Source::Saved(saved) => {
            let lines = differences(&plan, &advertise, &saved);
            if !lines.is_empty() {
                tracing::warn!(
                    membership = %saved.id(),
                    "starting from the membership saved in {}, which the flags disagree with \
                     (change members with `duckduckgoose members add|remove`):\n  {}",
                    args.data_dir.display(),
                    lines.join("\n  ")
                );
            } else if plan.intent != Intent::Unspecified {
                // A restart with its first command line: expected, but say
                // why --join or --bootstrap did nothing.
                tracing::info!(
                    membership = %saved.id(),
                    "starting from the membership saved in {}; --peer, --join and --bootstrap \
                     only matter for a node's first start",
                    args.data_dir.display()
                );
            }
            NodeConfig::from_membership(id, saved)
        }
        Source::Join(target) => {
            let joining = join(
                JoinParams::new(id, advertise.clone(), args.cluster_id.clone())
                    .with_metadata(plan.metadata.clone()),
                &target,
                plan.key.clone(),
            );
            tokio::select! {
                joined = joining => NodeConfig::from_membership(id, joined?),
                name = signals.recv() => {
                    tracing::info!("{name} while joining: stopping");
                    return Ok(());
                }
            }
        }
        Source::Flags => {
            let members: BTreeSet<NodeId> = plan.peers.keys().copied().chain([id]).collect();
            let mut config = NodeConfig::new(id, members);
            config.addresses = plan.peers.clone();
            config.addresses.insert(id, advertise.clone());
            config.with_metadata(id, plan.metadata.clone())
        }
    };
    common::apply_timing(&mut config, args.heartbeat_ms, args.election_timeout_ms);

    // The transport dials the members at the membership's addresses (the
    // runtime hands them over), resolving names at every dial.
    let mut tcp = TcpConfig::new(id, args.cluster_id.clone());
    tcp.cluster_key = plan.key.clone();
    let started = match args.transport {
        TransportKind::Udp => {
            // The node's one address serves both: UDP on the port TCP got.
            let socket = UdpSocket::bind(listen_addr).await.map_err(|e| {
                Failure::Fatal(common::describe_bind_error(
                    "--listen (UDP)",
                    listen_addr,
                    &e,
                ))
            })?;
            let transport = UdpTransport::new(tcp, cluster_listener, socket)
                .map_err(|error| Failure::Fatal(error.to_string()))?;
            Node::start(config, transport, storage).await
        }
        TransportKind::Tcp => {
            let transport = TcpTransport::new(tcp, cluster_listener)
                .map_err(|error| Failure::Fatal(error.to_string()))?;
            Node::start(config, transport, storage).await
        }
    };
    let handle = started.map_err(|error| Failure::Fatal(common::describe_start_error(&error)))?;
    announce(&handle, listen_addr, &advertise, http_addr, &args);

    let (stop_http, http_stopped) = watch::channel(false);
    let router = duckduckgoose::http::router(handle.clone(), plan.admin.clone());
    let mut http = tokio::spawn(serve_http(http_listener, router, http_stopped));
    tokio::spawn(log_changes(handle.clone()));

    let outcome = tokio::select! {
        name = signals.recv() => Outcome::Signal(name),
        () = handle.stopped() => Outcome::Stopped,
        served = &mut http => Outcome::HttpEnded(served.map_err(|e| e.to_string()).and_then(|r| r)),
    };
    let result = finish(outcome, &handle, args.leave_on_shutdown).await;
    let _ = stop_http.send(true);
    // Give in-flight requests a moment, but never hang the exit.
    let _ = tokio::time::timeout(Duration::from_millis(500), http).await;
    result
}

/// Why the main loop ended.
enum Outcome {
    Signal(&'static str),
    Stopped,
    HttpEnded(Result<(), String>),
}

/// Stops the node as `outcome` requires and says how the process ends.
async fn finish(outcome: Outcome, handle: &NodeHandle, leave_first: bool) -> Result<(), Failure> {
    match outcome {
        Outcome::Signal(name) => {
            let left = if leave_first {
                tracing::info!("{name}: leaving the cluster");
                leave(handle).await
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
        Outcome::Stopped => Err(Failure::Fatal(match handle.fatal_error() {
            Some(error) => describe_fatal(&error),
            None => "the node stopped unexpectedly".to_owned(),
        })),
        Outcome::HttpEnded(result) => {
            handle.shutdown().await;
            Err(Failure::Fatal(match result {
                Ok(()) => "the HTTP server stopped unexpectedly".to_owned(),
                Err(error) => format!("the HTTP server failed: {error}"),
            }))
        }
    }
}

/// Without an admin token, anyone who reaches the HTTP address can step
/// the Goose down or change the membership: fine on loopback, worth a
/// warning anywhere else.
fn warn_if_exposed(args: &RunArgs, http: SocketAddr) {
    if args.admin_token_file.is_none() && !http.ip().is_loopback() {
        tracing::warn!(
            "--http {http} is reachable from other hosts and no --admin-token-file is set: \
             anyone who reaches it can step the Goose down and change the membership"
        );
    }
}

/// The one line saying what started, where.
fn announce(
    handle: &NodeHandle,
    listen: SocketAddr,
    advertise: &str,
    http: SocketAddr,
    args: &RunArgs,
) {
    let id = handle.id();
    let membership = handle.membership();
    let transport = match args.transport {
        TransportKind::Udp => "udp+tcp",
        TransportKind::Tcp => "tcp",
    };
    println!(
        "duckduckgoose node {id}: cluster {listen} {transport} (others reach {advertise}), http \
         http://{http}, membership {}: voters [{}], learners [{}], data {}",
        membership.id(),
        list(membership.voters()),
        list(membership.learners()),
        args.data_dir.display()
    );
    if !handle.status().member {
        println!(
            "duckduckgoose node {id}: removed: not in its saved membership {}; it will not \
             campaign and takes part again only if the Goose adds it back (to join under this \
             id, wipe {} and --join)",
            membership.id(),
            args.data_dir.display()
        );
    }
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

fn describe_fatal(error: &FatalError) -> String {
    match error {
        FatalError::Storage(storage) => {
            format!(
                "storage failed: {}",
                common::describe_storage_error(storage)
            )
        }
        other => other.to_string(),
    }
}

async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    axum::serve(listener, router)
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
