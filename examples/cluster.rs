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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use duckduckgoose::core::MembershipId;
use duckduckgoose::http::AdminAuth;
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{FileStorage, NodeIdentity};
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
use duckduckgoose::{NodeId, Term};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use common::MsRange;

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
    #[arg(long, value_name = "MIN..MAX", default_value = "300..600", value_parser = common::parse_ms_range)]
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

// ----- the view -----------------------------------------------------------------

/// One node as the last sample saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Down,
    Goose { term: Term, lease: Option<Duration> },
    Duck { term: Term, leader: Option<NodeId> },
}

impl Seen {
    fn of(slot: &Slot) -> Seen {
        let Some(running) = &slot.running else {
            return Seen::Down;
        };
        if let Some(lease) = running.handle.lease() {
            return Seen::Goose {
                term: lease.term,
                lease: lease.remaining,
            };
        }
        let status = running.handle.status();
        if !status.running {
            return Seen::Down;
        }
        Seen::Duck {
            term: status.term,
            leader: status.leader.filter(|leader| *leader != slot.id),
        }
    }

    /// The line worth printing when a node goes from `old` to `self`, in
    /// the line-per-change view. Becoming the Goose has its own line (with
    /// the failover time), and the moments between a Goose's loss and the
    /// next one are noise; what is left is a node going down and whom each
    /// Duck follows.
    fn change_line(self, old: Seen, id: NodeId) -> Option<String> {
        match (old, self) {
            (Seen::Down, Seen::Down) => None,
            (_, Seen::Down) => Some(format!("node {id}: down")),
            (
                Seen::Duck {
                    term: old_term,
                    leader: old_leader,
                },
                Seen::Duck {
                    term,
                    leader: Some(leader),
                },
            ) if old_term == term && old_leader == Some(leader) => None,
            (
                _,
                Seen::Duck {
                    term,
                    leader: Some(leader),
                },
            ) => Some(format!(
                "node {id}: Duck following node {leader} (term {term})"
            )),
            _ => None,
        }
    }
}

/// The live view: tracks the Goose, times failovers, and draws.
struct View {
    started: Instant,
    /// Redraw a table in place (a terminal) or print one line per change.
    table: bool,
    color: bool,
    /// Lines of the table currently on screen, to move back over.
    drawn_lines: usize,
    seen: Vec<Seen>,
    /// The Goose now, if any.
    goose: Option<(NodeId, Term)>,
    /// The last Goose, and the end of its lease as last seen.
    last_goose: Option<NodeId>,
    last_lease_end: Option<Instant>,
    /// Since when the cluster has had no Goose, if it had one before.
    leaderless_since: Option<Instant>,
    /// Whether any Goose has been seen yet.
    had_goose: bool,
    failovers: Vec<Duration>,
    events: Vec<String>,
}

impl View {
    fn new(terminal: bool) -> View {
        View {
            started: Instant::now(),
            table: terminal,
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
            drawn_lines: 0,
            seen: Vec::new(),
            goose: None,
            last_goose: None,
            last_lease_end: None,
            leaderless_since: None,
            had_goose: false,
            failovers: Vec::new(),
            events: Vec::new(),
        }
    }

    fn header(&mut self, args: &Args, slots: &[Slot], state_dir: &str) {
        let first = slots.first().map(|slot| slot.http_addr.port()).unwrap_or(0);
        let cluster_ports: Vec<String> = slots
            .iter()
            .map(|slot| slot.cluster_addr.port().to_string())
            .collect();
        println!(
            "DuckDuckGoose: {} nodes on 127.0.0.1 talking over TCP (cluster ports {}), state in {state_dir}",
            slots.len(),
            cluster_ports.join(", ")
        );
        println!(
            "Try the binary's client (cargo install duckduckgoose --features cli, or cargo run --features cli --):\n  \
             duckduckgoose status --node 127.0.0.1:{first}\n  \
             duckduckgoose step-down --node 127.0.0.1:<the Goose's port>\n  \
             duckduckgoose members remove <id> --node 127.0.0.1:<the Goose's port>"
        );
        if args.chaos {
            println!(
                "Chaos: the Goose crashes every {} ms and restarts {} ms later. Ctrl-C stops every node.",
                args.chaos_interval_ms,
                args.chaos_interval_ms / 3
            );
        } else {
            println!("Ctrl-C stops every node gracefully.");
        }
        println!();
    }

    fn event(&mut self, text: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.events.push(format!("[{elapsed:7.2}s] {text}"));
    }

    fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Records that `id`, the Goose of `term`, was crashed at `at`.
    fn crashed(&mut self, id: NodeId, term: Term, at: Instant) {
        self.event(&format!(
            "chaos: crashed node {id}, the Goose of term {term}"
        ));
        self.goose = None;
        self.last_goose = Some(id);
        self.leaderless_since = Some(at);
    }

    fn sample(&mut self, slots: &[Slot], now: Instant) {
        let seen: Vec<Seen> = slots.iter().map(Seen::of).collect();
        if !self.table {
            let changes: Vec<String> = slots
                .iter()
                .zip(seen.iter().zip(&self.seen))
                .filter_map(|(slot, (new, old))| new.change_line(*old, slot.id))
                .collect();
            for change in changes {
                self.event(&change);
            }
        }
        let geese: Vec<(NodeId, Term, Option<Duration>)> = slots
            .iter()
            .zip(&seen)
            .filter_map(|(slot, seen)| match *seen {
                Seen::Goose { term, lease } => Some((slot.id, term, lease)),
                _ => None,
            })
            .collect();
        if geese.len() > 1 {
            // Lease safety says this cannot happen; say so loudly if it does.
            let list: Vec<String> = geese
                .iter()
                .map(|(id, term, _)| format!("node {id} (term {term})"))
                .collect();
            self.event(&format!("!!! two Geese at once: {}", list.join(", ")));
        }
        match geese.first() {
            Some(&(id, term, lease)) => {
                self.last_lease_end = lease.map(|left| now + left);
                if self.goose != Some((id, term)) {
                    self.new_goose(id, term, now);
                }
            }
            None => {
                if let Some((id, _)) = self.goose.take() {
                    // The lease may have run out before this sample noticed.
                    let since = self.last_lease_end.map_or(now, |end| end.min(now));
                    self.leaderless_since = Some(since);
                    self.last_goose = Some(id);
                    self.event(&format!("node {id} is no longer the Goose"));
                }
            }
        }
        self.seen = seen;
    }

    fn new_goose(&mut self, id: NodeId, term: Term, now: Instant) {
        let took = self.leaderless_since.take().map(|since| now - since);
        self.goose = Some((id, term));
        let text = match (self.had_goose, took) {
            (false, _) => format!(
                "node {id} is the Goose (term {term}), elected {} after start",
                millis(now - self.started)
            ),
            (true, Some(took)) => {
                self.failovers.push(took);
                let from = self
                    .last_goose
                    .map_or(String::new(), |old| format!(" from node {old}"));
                format!(
                    "node {id} is the Goose (term {term}): failover{from} took {}{}",
                    millis(took),
                    self.stats()
                        .map_or(String::new(), |stats| format!("  [{stats}]"))
                )
            }
            // A hand-over completed between two samples.
            (true, None) => format!("node {id} is the Goose (term {term}), handed over"),
        };
        self.had_goose = true;
        self.last_goose = Some(id);
        self.event(&text);
    }

    fn stats(&self) -> Option<String> {
        let mut sorted = self.failovers.clone();
        sorted.sort();
        let (first, last) = (sorted.first()?, sorted.last()?);
        Some(format!(
            "{} failover{}: min {}, median {}, max {}",
            sorted.len(),
            if sorted.len() == 1 { "" } else { "s" },
            millis(*first),
            millis(sorted[sorted.len() / 2]),
            millis(*last)
        ))
    }

    /// Prints pending events and, on a terminal, redraws the table below
    /// them.
    fn render(&mut self, slots: &[Slot]) {
        let mut out = String::new();
        if self.drawn_lines > 0 {
            // Back to the table's first line, and clear from there down.
            let _ = write!(out, "\r\x1b[{}A\x1b[J", self.drawn_lines);
        }
        for event in self.events.drain(..) {
            out.push_str(&event);
            out.push('\n');
        }
        if self.table {
            let lines = self.table_lines(slots);
            self.drawn_lines = lines.len();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    fn table_lines(&self, slots: &[Slot]) -> Vec<String> {
        let mut lines = vec![row(
            "node",
            "role",
            "term",
            "leader",
            "lease",
            "member",
            "status page",
        )];
        for (slot, seen) in slots.iter().zip(&self.seen) {
            let id = slot.id.to_string();
            let page = format!("http://{}/status", slot.http_addr);
            let member = Member::of(slot).map_or("-".to_owned(), |member| member.to_string());
            let line = match *seen {
                Seen::Down => self.paint("2", &row(&id, "down", "-", "-", "", "-", &page)),
                Seen::Goose { term, lease } => {
                    let lease = lease.map_or("-".to_owned(), millis);
                    let term = term.to_string();
                    self.paint(
                        "1;33",
                        &row(&id, "Goose", &term, &id, &lease, &member, &page),
                    )
                }
                Seen::Duck { term, leader } => {
                    let leader = leader.map_or("-".to_owned(), |leader| leader.to_string());
                    row(&id, "Duck", &term.to_string(), &leader, "", &member, &page)
                }
            };
            lines.push(line);
        }
        lines.push(match self.stats() {
            Some(stats) => format!("  {stats}"),
            None => "  no failovers yet".to_owned(),
        });
        lines
    }

    /// `text` in the ANSI style `style`, when colors are on.
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Prints the statistics below the last table, which stays on screen.
    fn finish(&mut self) {
        let summary = match self.stats() {
            Some(stats) => format!("stopped cleanly. {stats}"),
            None => "stopped cleanly.".to_owned(),
        };
        self.event(&summary);
        for event in self.events.drain(..) {
            println!("{event}");
        }
    }
}

/// One line of the table, columns aligned.
fn row(
    id: &str,
    role: &str,
    term: &str,
    leader: &str,
    lease: &str,
    member: &str,
    page: &str,
) -> String {
    format!("  {id:>4}  {role:<5}  {term:>5}  {leader:>6}  {lease:>8}  {member:<13}  {page}")
}

/// What a node is in the membership it holds, with that membership's id:
/// `DELETE /members/{id}` on the Goose shows here as the node turning
/// `removed` and the others moving to a newer membership.
struct Member {
    kind: &'static str,
    membership: MembershipId,
}

impl Member {
    /// `None` for a node that is down.
    fn of(slot: &Slot) -> Option<Member> {
        let membership = slot.running.as_ref()?.handle.membership();
        let kind = if membership.is_voter(slot.id) {
            "voter"
        } else if membership.is_joining(slot.id) {
            "joining"
        } else if membership.is_learner(slot.id) {
            "learner"
        } else {
            "removed"
        };
        Some(Member {
            kind,
            membership: membership.id(),
        })
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.membership)
    }
}

fn millis(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}
