//! Real processes: the `node` example binary, started as a cluster on
//! 127.0.0.1, killed with SIGKILL, stopped with SIGTERM, fed garbage and a
//! corrupt state file, and watched through its HTTP `/status` page.
//!
//! The binary is built once per test run with the same profile and features
//! as this test (so under `cargo test --all-features`, which already built
//! the examples, the build is a no-op). Ports are chosen by the OS; each node
//! has its own temporary data directory and a log file there, whose tail is
//! printed when a test fails.
//!
//! # What "never two Geese" can mean from outside
//!
//! A poll asks each node in turn; an answer "Goose" was true at some instant
//! between sending the request and reading the answer, and which instant is
//! unknown. Two Goose answers in one sweep are therefore not by themselves a
//! violation: the first node may have handed over (a graceful stop gives up
//! the lease at once and the target is elected within milliseconds, without
//! waiting for any timeout) between the two requests. What the promises do
//! forbid, and what [`Observer`] asserts over every answer of a test:
//!
//! * two different Geese in one term (election safety);
//! * a Goose answer in a lower term whose request was sent after a Goose
//!   answer in a higher term had been read: then the stale Goose claimed the
//!   role at an instant strictly after the newer Goose held it (lease
//!   safety);
//! * a node's term going backwards, across restarts too (durability).
//!
//! For a failover by lease expiry the guarantee is stronger (the old lease
//! ends at least `election_timeout_min − lease` before anyone is elected,
//! 40 ms with the fast timing here), but handovers void that margin and
//! answer instants are only known to within a round trip, so the assertion
//! keeps to what holds in every case. A sweep that finds two Geese in legal
//! order is counted and reported, not failed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Upper bound on any wait; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(15);

/// Pause between two poll sweeps.
const POLL_GAP: Duration = Duration::from_millis(5);

/// Timing for the crash rounds: elections in a few hundred milliseconds.
/// Lease: 12 ticks · 0.95 / 1.05 → 10 − 2 = 8 ticks = 80 ms, four heartbeats.
const FAST: &[&str] = &["--heartbeat-ms", "20", "--election-timeout-ms", "120..240"];

/// Timing for the hand-over test: any election that waits for a timeout
/// takes more than a second, so a new Goose within [`HANDOVER_BOUND`] can
/// only come from the hand-over.
const SLOW_ELECTIONS: &[&str] = &[
    "--heartbeat-ms",
    "50",
    "--election-timeout-ms",
    "1000..2000",
];

/// A graceful stop must produce a new Goose this fast.
const HANDOVER_BOUND: Duration = Duration::from_millis(300);

const KILL_ROUNDS: usize = 20;

// ----- the binary -------------------------------------------------------------

/// The `node` example, built on first use.
fn node_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_node_binary) {
        Ok(path) => path,
        Err(error) => panic!("cannot build the node example: {error}"),
    }
}

/// `cargo build --example node` with this test's profile and features, so
/// that it reuses the artifacts `cargo test` already built.
fn build_node_binary() -> Result<PathBuf, String> {
    let started = Instant::now();
    let features: Vec<&str> = [
        ("default", cfg!(feature = "default")),
        ("runtime", cfg!(feature = "runtime")),
        ("tcp", cfg!(feature = "tcp")),
        ("http", cfg!(feature = "http")),
        ("sim", cfg!(feature = "sim")),
    ]
    .into_iter()
    .filter_map(|(feature, on)| on.then_some(feature))
    .collect();
    // `cargo test` builds tests with the `test` profile (`bench` with
    // `--release`, whose output lands in the same directory as `release`).
    let profile = if cfg!(debug_assertions) {
        "test"
    } else {
        "release"
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--example", "node", "--profile", profile])
        .args(["--no-default-features", "--features", &features.join(",")])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if let Some(target_dir) = own_target_dir() {
        cargo.arg("--target-dir").arg(target_dir);
    }
    let output = cargo
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Cargo names the file it built; no guessing about target directories.
    let executable = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "node")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or("cargo reported no executable for the node example")?;
    eprintln!(
        "built the node example in {:.1?}: {}",
        started.elapsed(),
        executable.display()
    );
    Ok(executable)
}

/// The target directory this test binary was built into (cargo marks its
/// root with `CACHEDIR.TAG`), so the nested build shares it even when the
/// outer one was given `--target-dir`.
fn own_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

// ----- one node process ---------------------------------------------------------

/// A node process and everything needed to restart it with the same
/// arguments. Dropping it kills the process and waits for it.
struct NodeProcess {
    id: u64,
    http_port: u16,
    cluster_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    /// Signalled to stop: exiting is expected, not a failure.
    stopping: bool,
    /// Stopped with SIGSTOP: it cannot answer, so polls skip it.
    paused: bool,
}

impl NodeProcess {
    fn new(id: u64, ports: (u16, u16), dir: &Path, args: Vec<String>) -> NodeProcess {
        let (cluster_port, http_port) = ports;
        NodeProcess {
            id,
            http_port,
            cluster_port,
            data_dir: dir.join(format!("node-{id}")),
            log: dir.join(format!("node-{id}.log")),
            args,
            child: None,
            stopping: false,
            paused: false,
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file is in a fresh temporary directory");
        let log_too = log.try_clone().expect("a file handle can be duplicated");
        let child = Command::new(node_binary())
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .expect("the node binary was just built");
        self.child = Some(child);
        self.stopping = false;
        self.paused = false;
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Running and not paused: it answers polls.
    fn is_answering(&self) -> bool {
        self.is_running() && !self.paused
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`, `"TERM"`) with `kill`.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("`kill` is on the PATH");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// SIGSTOP: the process freezes, its sockets stay open; to the cluster
    /// it is a node cut off by a partition.
    fn sigstop(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    fn sigcont(&mut self) {
        self.signal("CONT");
        self.paused = false;
    }

    /// SIGKILL: a crash, with no chance to hand over or flush.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM; the process stays ours until [`wait_exit`](Self::wait_exit).
    fn sigterm(&mut self) {
        self.stopping = true;
        self.signal("TERM");
    }

    /// Waits for the process to exit by itself.
    fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        let child = self.child.as_mut().expect("node is running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait on our own child") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "node {} did not exit within {patience:?}\n{}",
                    self.id,
                    self.log_tail()
                );
            }
            sleep(Duration::from_millis(5));
        }
    }

    /// Panics if the process has exited on its own (unless it was told to).
    fn assert_alive(&mut self) {
        if self.stopping {
            return;
        }
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait().expect("try_wait on our own child")
        {
            self.child = None;
            panic!(
                "node {} exited unexpectedly ({status})\n{}",
                self.id,
                self.log_tail()
            );
        }
    }

    /// Waits until the process answers `/status`; `Err` if it exited
    /// because a port was taken, panics if it exited for another reason.
    fn wait_until_serving(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().expect("try_wait on our own child"))
            {
                self.child = None;
                let log = self.log_text();
                if log.contains("already in use") {
                    return Err(format!("node {}: a port was taken", self.id));
                }
                panic!("node {} exited at start ({status})\n{log}", self.id);
            }
            if get_status(self.http_port).is_ok() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not serve /status within {PATIENCE:?}\n{}",
                self.id,
                self.log_tail()
            );
            sleep(Duration::from_millis(10));
        }
    }

    fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        format!("--- node {} log tail ---\n{}", self.id, tail.join("\n"))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ----- a cluster of them ----------------------------------------------------------

/// Node processes sharing one temporary directory. Dropping it kills every
/// process, on every exit path, a failed assertion included (and prints the
/// logs' tails then).
struct Cluster {
    nodes: Vec<NodeProcess>,
    dir: TempDir,
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

/// A port the OS considers free now. Another process may take it before the
/// node binds it; [`Cluster::start`] retries the whole start if so.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0 works")
        .port()
}

impl Cluster {
    /// Starts `size` nodes with `timing` flags, and waits until every one
    /// answers `/status`.
    fn start(size: u64, timing: &[&str]) -> Cluster {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let mut cluster = Cluster::spawn(size, timing);
            match cluster.wait_until_serving() {
                Ok(()) => return cluster,
                Err(port_taken) if attempt < ATTEMPTS => {
                    eprintln!("attempt {attempt}: {port_taken}; retrying with other ports");
                }
                Err(port_taken) => panic!("{port_taken}, {ATTEMPTS} times"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(size: u64, timing: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for id in 1..=size {
            let (cluster_port, http_port) = ports[(id - 1) as usize];
            let data_dir = dir.path().join(format!("node-{id}"));
            let mut args = vec![
                "--id".to_owned(),
                id.to_string(),
                "--listen".to_owned(),
                format!("127.0.0.1:{cluster_port}"),
                "--http".to_owned(),
                format!("127.0.0.1:{http_port}"),
                "--data-dir".to_owned(),
                data_dir.display().to_string(),
            ];
            for peer in (1..=size).filter(|peer| *peer != id) {
                args.push("--peer".to_owned());
                args.push(format!("{peer}=127.0.0.1:{}", ports[(peer - 1) as usize].0));
            }
            args.extend(timing.iter().map(|flag| (*flag).to_owned()));
            let mut node = NodeProcess::new(id, (cluster_port, http_port), dir.path(), args);
            node.spawn();
            nodes.push(node);
        }
        Cluster { nodes, dir }
    }

    /// Waits until every node answers; `Err` if one exited because a port
    /// was taken (the caller retries), panics on anything else.
    fn wait_until_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        for node in &mut self.nodes {
            node.wait_until_serving(deadline)?;
        }
        Ok(())
    }

    /// Starts node `id` (the next id) with `--join` to `via`'s cluster
    /// address and no `--peer`, plus `extra` flags, and waits until it
    /// serves `/status`, which it does once it has joined.
    fn spawn_joiner(&mut self, id: u64, via: u64, extra: &[&str]) {
        assert_eq!(id, self.nodes.len() as u64 + 1, "ids are consecutive");
        let via_port = self.node(via).cluster_port;
        for attempt in 1..=3 {
            let ports = (free_port(), free_port());
            let data_dir = self.dir.path().join(format!("node-{id}"));
            let mut args: Vec<String> = [
                "--id",
                &id.to_string(),
                "--listen",
                &format!("127.0.0.1:{}", ports.0),
                "--http",
                &format!("127.0.0.1:{}", ports.1),
                "--data-dir",
                &data_dir.display().to_string(),
                "--join",
                &format!("127.0.0.1:{via_port}"),
            ]
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect();
            args.extend(extra.iter().map(|flag| (*flag).to_owned()));
            let mut node = NodeProcess::new(id, ports, self.dir.path(), args);
            let spawned = Instant::now();
            node.spawn();
            match node.wait_until_serving(Instant::now() + PATIENCE) {
                Ok(()) => {
                    eprintln!(
                        "node {id} joined through node {via} in {:.1?}",
                        spawned.elapsed()
                    );
                    for line in node
                        .log_text()
                        .lines()
                        .filter(|l| l.contains("join attempt"))
                    {
                        eprintln!("  {line}");
                    }
                    self.nodes.push(node);
                    return;
                }
                Err(port_taken) => eprintln!("attempt {attempt}: {port_taken}; retrying"),
            }
        }
        panic!("node {id}: ports taken three times");
    }
    fn node(&mut self, id: u64) -> &mut NodeProcess {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Asks every running node for its status, one after the other, and
    /// checks the answers in `observer`. Panics if a node died on its own.
    fn sweep(&mut self, observer: &mut Observer) -> Vec<Answer> {
        let mut answers = Vec::new();
        for node in &mut self.nodes {
            if !node.is_answering() {
                continue;
            }
            node.assert_alive();
            let sent = Instant::now();
            let status = get_status(node.http_port).ok();
            let received = Instant::now();
            answers.push(Answer {
                node: node.id,
                status,
                sent,
                received,
            });
        }
        observer.record(&answers);
        answers
    }

    /// Sweeps until `check` accepts a sweep; panics after [`PATIENCE`].
    fn poll_until<T>(
        &mut self,
        observer: &mut Observer,
        what: &str,
        mut check: impl FnMut(&[Answer], &Observer) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answers = self.sweep(observer);
            if let Some(found) = check(&answers, observer) {
                return found;
            }
            if Instant::now() > deadline {
                panic!("waited {PATIENCE:?} for {what}; last sweep: {answers:#?}");
            }
            sleep(POLL_GAP);
        }
    }

    /// Waits until every running node answers, exactly one is the Goose,
    /// and every other one is a Duck in its term following it. Returns the
    /// Goose and its term.
    fn wait_for_agreement(&mut self, observer: &mut Observer) -> (u64, u64) {
        let running = self.nodes.iter().filter(|node| node.is_answering()).count();
        self.poll_until(
            observer,
            "exactly one Goose, followed by all",
            |answers, _| {
                let statuses: Vec<&Status> =
                    answers.iter().filter_map(|a| a.status.as_ref()).collect();
                if statuses.len() != running {
                    return None;
                }
                let mut geese = statuses.iter().filter(|s| s.is_goose());
                let goose = geese.next()?;
                if geese.next().is_some() {
                    // Mid hand-over; the observer has checked it is a legal one.
                    return None;
                }
                statuses
                    .iter()
                    .all(|s| s.term == goose.term && s.leader == Some(goose.id))
                    .then_some((goose.id, goose.term))
            },
        )
    }
}

impl Cluster {
    /// Sends a membership change to the Goose, found by polling, and asks
    /// again (the Goose found again) while the answer says to: not the
    /// Goose, a change in progress, the Goose lost its lease. Returns the
    /// node that answered, the status code and the body.
    fn change_on_goose(
        &mut self,
        observer: &mut Observer,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> (u64, u16, serde_json::Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let goose = self.poll_until(observer, "a Goose", |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| s.id)
            });
            let port = self.node(goose).http_port;
            // The server gives up on a change after 10 s.
            let answer = http_exchange(port, method, path, json, Duration::from_secs(15));
            if let Ok((code, body)) = &answer {
                let body: serde_json::Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"));
                let again = matches!(
                    (code, body["reason"].as_str()),
                    (409, Some("not_goose" | "change_in_progress"))
                        | (503, Some("leadership_lost"))
                );
                if !again {
                    return (goose, *code, body);
                }
            }
            eprintln!("{method} {path} on node {goose}: {answer:?}; trying again");
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer but \"try again\" within {PATIENCE:?}: {answer:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// `DELETE /members/{goose}` on the Goose, found again while the answer
    /// says to try elsewhere or later; returns the Goose that answered, the
    /// status code and the body.
    fn remove_the_goose(&mut self, observer: &mut Observer) -> (u64, u16, serde_json::Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let goose = self.poll_until(observer, "a Goose", |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| s.id)
            });
            let port = self.node(goose).http_port;
            let path = format!("/members/{goose}");
            let answer = http_exchange(port, "DELETE", &path, None, Duration::from_secs(15));
            if let Ok((code, body)) = &answer {
                let body: serde_json::Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("DELETE {path}: {e}: {body}"));
                let again = matches!(
                    (code, body["reason"].as_str()),
                    (409, Some("not_goose" | "change_in_progress"))
                );
                if !again {
                    return (goose, *code, body);
                }
            }
            eprintln!("DELETE {path} on node {goose}: {answer:?}; trying again");
            assert!(Instant::now() < deadline, "DELETE {path}: {answer:?}");
            sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/cluster` on each of `on` until every one of them shows
    /// exactly `voters` as voters and no learner; returns the membership
    /// they show.
    fn wait_for_membership(
        &mut self,
        observer: &mut Observer,
        on: &[u64],
        voters: &[u64],
    ) -> serde_json::Value {
        let ports: Vec<(u64, u16)> = on.iter().map(|&id| (id, self.node(id).http_port)).collect();
        let mut last = BTreeMap::new();
        let what = format!("nodes {on:?} to show the voters {voters:?}");
        self.poll_until(observer, &what, |_, _| {
            let mut membership = None;
            for &(id, port) in &ports {
                let cluster = get_cluster(port).ok()?;
                let seen = voters_and_learners(&cluster);
                if last.insert(id, seen.clone()).as_ref() != Some(&seen) {
                    eprintln!("node {id}: voters {:?}, learners {:?}", seen.0, seen.1);
                }
                if seen != (voters.to_vec(), Vec::new())
                    || membership
                        .as_ref()
                        .is_some_and(|m| *m != cluster["membership"])
                {
                    return None;
                }
                membership = Some(cluster["membership"].clone());
            }
            membership
        })
    }
}

// ----- /status over raw HTTP ---------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Status {
    id: u64,
    role: String,
    term: u64,
    leader: Option<u64>,
    lease_ms: Option<u64>,
}

impl Status {
    fn is_goose(&self) -> bool {
        self.role == "Goose"
    }
}

/// One node's answer to one request, with when it was asked and answered.
#[derive(Debug)]
struct Answer {
    node: u64,
    /// `None` if the node did not answer (not serving yet, or stopping).
    status: Option<Status>,
    sent: Instant,
    received: Instant,
}

/// `GET /status` with a hand-written HTTP/1.1 request.
fn get_status(port: u16) -> io::Result<Status> {
    let (code, body) = http_request(port, "GET", "/status")?;
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    if code != 200 {
        return Err(invalid(format!("/status answered {code}: {body}")));
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| invalid(format!("{e}: {body}")))?;
    let number = |field: &str| json[field].as_u64();
    Ok(Status {
        id: number("id").ok_or_else(|| invalid(format!("no id: {body}")))?,
        role: json["role"]
            .as_str()
            .ok_or_else(|| invalid(format!("no role: {body}")))?
            .to_owned(),
        term: number("term").ok_or_else(|| invalid(format!("no term: {body}")))?,
        leader: number("leader"),
        lease_ms: number("lease_ms"),
    })
}

/// Sends one request with `Connection: close` and returns the status code
/// and the body.
fn http_request(port: u16, method: &str, path: &str) -> io::Result<(u16, String)> {
    http_exchange(port, method, path, None, Duration::from_secs(2))
}

/// `POST`/`DELETE` and friends with an optional JSON body; waits up to
/// `patience` for the answer.
fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    patience: Duration,
) -> io::Result<(u16, String)> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(patience))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let body = json.unwrap_or("");
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status code"))?;
    Ok((code, body.to_owned()))
}

/// `GET /cluster` as JSON.
fn get_cluster(port: u16) -> io::Result<serde_json::Value> {
    let (code, body) = http_request(port, "GET", "/cluster")?;
    if code != 200 {
        return Err(io::Error::other(format!(
            "/cluster answered {code}: {body}"
        )));
    }
    serde_json::from_str(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The voters and the learners of a `/cluster` answer, in id order.
fn voters_and_learners(cluster: &serde_json::Value) -> (Vec<u64>, Vec<u64>) {
    let mut voters = Vec::new();
    let mut learners = Vec::new();
    for member in cluster["members"].as_array().into_iter().flatten() {
        let id = member["id"].as_u64().expect("a member has an id");
        if member["voter"] == serde_json::Value::Bool(true) {
            voters.push(id);
        } else {
            learners.push(id);
        }
    }
    (voters, learners)
}

// ----- the safety observer --------------------------------------------------------------

/// Every Goose answer of a term, as far as the checks need it.
#[derive(Debug)]
struct TermRecord {
    goose: u64,
    /// The latest request that got a Goose answer in this term.
    latest_sent: Instant,
    /// The earliest Goose answer in this term.
    earliest_received: Instant,
}

/// Checks every answer against the promises (see the module docs).
#[derive(Debug, Default)]
struct Observer {
    terms: BTreeMap<u64, TermRecord>,
    /// The highest term each node has reported, across its restarts.
    node_terms: BTreeMap<u64, u64>,
    answers: usize,
    /// Sweeps that saw two Geese in legal order (a hand-over between the
    /// two requests).
    double_goose_sweeps: usize,
}

impl Observer {
    fn record(&mut self, answers: &[Answer]) {
        let geese = answers
            .iter()
            .filter(|a| a.status.as_ref().is_some_and(Status::is_goose))
            .count();
        if geese > 1 {
            self.double_goose_sweeps += 1;
            eprintln!("a sweep saw {geese} Geese (legal only across a hand-over): {answers:#?}");
        }
        for answer in answers {
            let Some(status) = &answer.status else {
                continue;
            };
            self.answers += 1;
            assert_eq!(status.id, answer.node, "node answered with another id");
            let highest = self.node_terms.entry(answer.node).or_default();
            assert!(
                status.term >= *highest,
                "node {}'s term went back from {highest} to {}",
                answer.node,
                status.term
            );
            *highest = status.term;
            if status.is_goose() {
                assert_eq!(
                    status.leader,
                    Some(status.id),
                    "a Goose names itself leader"
                );
                assert!(status.lease_ms.is_some(), "a Goose has a lease: {status:?}");
                self.record_goose(status, answer);
            } else {
                assert_eq!(status.lease_ms, None, "a Duck has no lease: {status:?}");
            }
        }
    }

    fn record_goose(&mut self, status: &Status, answer: &Answer) {
        let term = status.term;
        // A lower term's Goose must not have been asked after a higher term's
        // Goose had answered...
        for (higher, record) in self.terms.range(term + 1..) {
            assert!(
                answer.sent <= record.earliest_received,
                "LEASE SAFETY: node {} answered Goose in term {term} to a request sent {:?} \
                 after node {} had answered Goose in term {higher}",
                status.id,
                answer.sent - record.earliest_received,
                record.goose,
            );
        }
        // ...nor a higher term's Goose have answered before a lower term's
        // Goose was asked.
        for (lower, record) in self.terms.range(..term) {
            assert!(
                record.latest_sent <= answer.received,
                "LEASE SAFETY: node {} answered Goose in term {lower} to a request sent {:?} \
                 after node {} had answered Goose in term {term}",
                record.goose,
                record.latest_sent - answer.received,
                status.id,
            );
        }
        let record = self.terms.entry(term).or_insert(TermRecord {
            goose: status.id,
            latest_sent: answer.sent,
            earliest_received: answer.received,
        });
        assert_eq!(
            record.goose, status.id,
            "ELECTION SAFETY: nodes {} and {} both answered Goose in term {term}",
            record.goose, status.id
        );
        record.latest_sent = record.latest_sent.max(answer.sent);
        record.earliest_received = record.earliest_received.min(answer.received);
    }

    /// The Goose of `term`, if one has answered.
    fn goose_of(&self, term: u64) -> Option<u64> {
        self.terms.get(&term).map(|record| record.goose)
    }
}

// ----- the tests ------------------------------------------------------------------------

/// Five processes; twenty times: SIGKILL the Goose, see another node take
/// over, restart the dead one with the same arguments and see it rejoin as a
/// Duck following the new Goose.
#[test]
fn kill_nine_the_goose_twenty_times() {
    let started = Instant::now();
    let mut cluster = Cluster::start(5, FAST);
    let mut observer = Observer::default();
    let (mut goose, mut term) = cluster.wait_for_agreement(&mut observer);
    let mut failovers = Vec::new();
    for round in 1..=KILL_ROUNDS {
        cluster.node(goose).kill9();
        let killed = Instant::now();
        let (new_goose, new_term) = cluster.poll_until(
            &mut observer,
            &format!("a new Goose after killing node {goose} (round {round})"),
            |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose())
                    .map(|s| (s.id, s.term))
            },
        );
        failovers.push(killed.elapsed());
        assert!(
            new_term > term,
            "node {new_goose} is the Goose in term {new_term}, not after {term}"
        );

        cluster.node(goose).spawn();
        let restarted = goose;
        cluster.poll_until(
            &mut observer,
            &format!("restarted node {restarted} to follow a Goose (round {round})"),
            |answers, observer| {
                let status = answers
                    .iter()
                    .find(|a| a.node == restarted)?
                    .status
                    .as_ref()?;
                // Back as a Duck, following whoever is the Goose of its term.
                let leader = status.leader?;
                (!status.is_goose() && observer.goose_of(status.term) == Some(leader)).then_some(())
            },
        );
        (goose, term) = cluster.wait_for_agreement(&mut observer);
    }
    failovers.sort();
    eprintln!(
        "{KILL_ROUNDS} kill -9 rounds in {:.1?}: failover min {:?}, median {:?}, max {:?}; \
         {} answers checked over {} terms, {} sweeps with two Geese in legal order",
        started.elapsed(),
        failovers[0],
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1],
        observer.answers,
        observer.terms.len(),
        observer.double_goose_sweeps,
    );
}

/// SIGTERM makes the Goose hand over before it exits: a new Goose follows
/// far sooner than any election timeout would allow, and the process exits
/// with status 0.
#[test]
fn sigterm_hands_over_without_an_election_timeout() {
    let mut cluster = Cluster::start(3, SLOW_ELECTIONS);
    let mut observer = Observer::default();
    let (mut goose, _) = cluster.wait_for_agreement(&mut observer);
    for _round in 0..2 {
        let old = goose;
        let signalled = Instant::now();
        cluster.node(old).sigterm();
        let (new_goose, _) = cluster.poll_until(
            &mut observer,
            &format!("a new Goose after SIGTERM to node {old}"),
            |answers, _| {
                answers
                    .iter()
                    .filter_map(|a| a.status.as_ref())
                    .find(|s| s.is_goose() && s.id != old)
                    .map(|s| (s.id, s.term))
            },
        );
        let handover = signalled.elapsed();
        eprintln!("SIGTERM to node {old}: node {new_goose} is the Goose after {handover:?}");
        assert!(
            handover < HANDOVER_BOUND,
            "hand-over took {handover:?}; an election timeout is at least 1 s"
        );
        let exit = cluster.node(old).wait_exit(PATIENCE);
        assert_eq!(exit.code(), Some(0), "a graceful stop exits 0");
        cluster.node(old).spawn();
        (goose, _) = cluster.wait_for_agreement(&mut observer);
    }
}

/// A damaged state file stops the node at start with status 1 and a reason
/// naming the file and the damage; it is never reset silently.
#[test]
fn corrupt_state_file_is_fatal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("node-1");
    fs::create_dir(&data_dir).expect("create the data directory");
    // Format version 1 (see `FileStorage`): term 5, no vote, a wrong CRC.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"DDGS");
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&17u32.to_le_bytes());
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    let state_file = data_dir.join("hardstate");
    File::create(&state_file)
        .and_then(|mut file| file.write_all(&bytes))
        .expect("write the state file");

    let output = run_node_to_exit(&[
        "--id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir.display().to_string(),
    ]);
    assert_eq!(output.code, Some(1), "stderr: {}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    eprintln!("corrupt state file: {reason}");
    assert!(
        reason.starts_with("fatal:")
            && reason.contains("corrupt")
            && reason.contains("checksum mismatch")
            && reason.contains(&state_file.display().to_string()),
        "the last line should say the state file is corrupt: {reason:?}"
    );
    assert_eq!(
        fs::read(&state_file).expect("the state file is still there"),
        bytes,
        "the damaged file is left for a human to inspect"
    );
}

/// A node whose storage fails while it runs stops with status 1 and says
/// why, instead of sending messages that depend on an unsaved term or vote.
#[test]
fn storage_failure_while_running_is_fatal() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    let victim = (1..=3)
        .find(|id| *id != goose)
        .expect("two of three nodes are Ducks");
    // Every save writes a temporary file in the data directory; without the
    // directory, the next save fails.
    fs::remove_dir_all(&cluster.node(victim).data_dir).expect("remove the data directory");
    cluster.node(victim).stopping = true;
    // The next election needs the victim's vote or candidacy, both of
    // which it must save first.
    cluster.node(goose).kill9();
    let exit = cluster.node(victim).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(1), "{}", cluster.node(victim).log_tail());
    let log = cluster.node(victim).log_text();
    let reason = log.lines().last().unwrap_or_default();
    eprintln!("node {victim} stopped: {reason}");
    assert!(
        reason.starts_with("fatal: storage failed:") && reason.contains("hardstate"),
        "the last line should say the storage failed: {reason:?}"
    );
}

/// Random bytes, a huge length prefix and a truncated handshake on the
/// cluster port, and junk on the HTTP port: every node keeps serving and the
/// cluster keeps one Goose.
#[test]
fn garbage_on_the_ports_is_harmless() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    cluster.wait_for_agreement(&mut observer);

    let mut noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    noise[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let cluster_garbage: [&[u8]; 4] = [
        &noise,
        &u32::MAX.to_le_bytes(),
        &[0, 0, 0, 40, 1, 2, 3],
        b"GET /status HTTP/1.1\r\n\r\n",
    ];
    let http_garbage: [&[u8]; 4] = [
        &noise,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /status HTTP/9.9\r\nHost: \xff\xfe\r\n\r\n",
        b"POST /step-down HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nxx",
    ];
    let ports: Vec<(u16, u16)> = cluster
        .nodes
        .iter()
        .map(|node| (node.cluster_port, node.http_port))
        .collect();
    for (cluster_port, http_port) in ports {
        for bytes in cluster_garbage {
            send_garbage(cluster_port, bytes);
        }
        for bytes in http_garbage {
            send_garbage(http_port, bytes);
        }
    }
    for node in &mut cluster.nodes {
        node.assert_alive();
    }
    cluster.wait_for_agreement(&mut observer);
    let (code, body) = http_request(cluster.nodes[0].http_port, "GET", "/health")
        .expect("the node still answers HTTP");
    assert_eq!(code, 200, "{body}");
}

/// Bad arguments exit 2 with a one-line reason; a taken port exits 1.
#[test]
fn bad_arguments_exit_2_and_a_taken_port_exits_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().display().to_string();
    let base = [
        "--id",
        "1",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
    ];
    let usage_errors: [(&[&str], &str); 8] = [
        (&["--peer", "1=127.0.0.1:9"], "own id"),
        (
            &["--join", "127.0.0.1:9", "--peer", "2=127.0.0.1:9"],
            "do not mix",
        ),
        (&["--advertise", "0.0.0.0:7001"], "wildcard"),
        (&["--join", "127.0.0.1"], "HOST:PORT"),
        (
            &["--peer", "2=127.0.0.1:9", "--peer", "2=127.0.0.1:10"],
            "more than once",
        ),
        (&["--peer", "2:127.0.0.1:9"], "ID=HOST:PORT"),
        (&["--election-timeout-ms", "300"], "MIN..MAX"),
        (&["--heartbeat-ms", "15"], "whole number"),
    ];
    for (extra, expected) in usage_errors {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let output = run_node_to_exit(&args);
        assert_eq!(output.code, Some(2), "{extra:?}: {}", output.stderr);
        let first = output.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(expected),
            "{extra:?}: expected a line mentioning {expected:?}, got {:?}",
            output.stderr
        );
    }

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = taken.local_addr().expect("a bound address").port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = base.to_vec();
    args[3] = &listen;
    let output = run_node_to_exit(&args);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let reason = output.stderr.lines().last().unwrap_or_default();
    assert!(
        reason.starts_with("fatal:") && reason.contains(&listen) && reason.contains("in use"),
        "{reason:?}"
    );
}

/// The membership changes from outside: three nodes started with `--peer`
/// grow to five with `--join` through a Duck (forwarded to the Goose),
/// every one a voter; shrink back to three with `DELETE /members` while a
/// node that stays is frozen (SIGSTOP, a partition from the cluster's point
/// of view) and catches up once thawed; the Goose removes itself and the
/// others elect a new one; nodes restarted with their first command line
/// come back in the new membership, and removed ones start as removed
/// nodes that never campaign.
#[test]
fn grow_shrink_and_restart_through_membership_changes() {
    let started = Instant::now();
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    let duck = (1..=3)
        .find(|id| *id != goose)
        .expect("two of three are Ducks");

    // Grow: two nodes join through the Duck, one after the other (the
    // second may meet the first one's promotion in progress, and try
    // again).
    cluster.spawn_joiner(4, duck, FAST);
    cluster.spawn_joiner(5, duck, FAST);
    let all = [1, 2, 3, 4, 5];
    cluster.wait_for_membership(&mut observer, &all, &all);
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: five voters, node {goose} the Goose",
        started.elapsed()
    );

    // Shrink to three: the Goose, a joiner and a node from the start, which
    // is frozen while the other two are removed.
    let joiner = if goose == 5 { 4 } else { 5 };
    let frozen = (1..=3).find(|id| *id != goose).expect("two of three");
    let kept = {
        let mut kept = vec![goose, joiner, frozen];
        kept.sort_unstable();
        kept
    };
    let removed: Vec<u64> = all
        .iter()
        .copied()
        .filter(|id| !kept.contains(id))
        .collect();
    cluster.node(frozen).sigstop();
    for &id in &removed {
        let (_, code, body) =
            cluster.change_on_goose(&mut observer, "DELETE", &format!("/members/{id}"), None);
        assert_eq!(code, 200, "removing node {id}: {body}");
        let (voters, _) = voters_and_learners(&body);
        assert!(!voters.contains(&id), "{body}");
    }
    let awake: Vec<u64> = kept.iter().copied().filter(|id| *id != frozen).collect();
    cluster.wait_for_membership(&mut observer, &awake, &kept);
    // The removed nodes stay up as Ducks outside the cluster until stopped.
    for &id in &removed {
        cluster.node(id).sigterm();
        let exit = cluster.node(id).wait_exit(PATIENCE);
        assert_eq!(exit.code(), Some(0), "{}", cluster.node(id).log_tail());
    }
    cluster.node(frozen).sigcont();
    cluster.wait_for_membership(&mut observer, &kept, &kept);
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: three voters {kept:?}, node {frozen} caught up, node {goose} the Goose",
        started.elapsed()
    );

    // The Goose removes itself, and the other two elect a new one.
    let (answered, code, body) = cluster.remove_the_goose(&mut observer);
    let rest: Vec<u64> = kept.iter().copied().filter(|id| *id != answered).collect();
    // The Ducks keep the Goose they follow reachable (and its heartbeats
    // accepted) after adopting its removal, so their acks commit it and the
    // Goose answers with the committed membership.
    assert_eq!(code, 200, "removing the Goose: {body}");
    assert_eq!(voters_and_learners(&body), (rest.clone(), Vec::new()));
    cluster.poll_until(
        &mut observer,
        &format!("a Goose other than node {answered}"),
        |answers, _| {
            answers
                .iter()
                .filter_map(|a| a.status.as_ref())
                .find(|s| s.is_goose() && s.id != answered)
                .map(|s| s.id)
        },
    );
    cluster.wait_for_membership(&mut observer, &rest, &rest);
    cluster.node(answered).sigterm();
    let exit = cluster.node(answered).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(0));
    cluster.wait_for_agreement(&mut observer);
    eprintln!(
        "{:.1?}: node {answered} removed itself; voters {rest:?}",
        started.elapsed()
    );

    // Restarts with the first command line (a `--join`, or `--peer`s that
    // no longer describe the cluster) come back in the new membership.
    for &id in &rest {
        cluster.node(id).kill9();
        cluster.node(id).spawn();
        cluster.wait_for_membership(&mut observer, &rest, &rest);
        cluster.wait_for_agreement(&mut observer);
        let log = cluster.node(id).log_text();
        assert!(
            log.contains("starting from the membership saved in the data directory"),
            "{}",
            cluster.node(id).log_tail()
        );
    }
    // Removed nodes start anyway, whatever their flags, as removed nodes:
    // Ducks outside the membership that never campaign, so the cluster
    // keeps its Goose in the same term.
    let (goose, term) = cluster.wait_for_agreement(&mut observer);
    for id in removed.into_iter().chain([answered]) {
        let deadline = Instant::now() + PATIENCE;
        cluster.node(id).spawn();
        cluster
            .node(id)
            .wait_until_serving(deadline)
            .unwrap_or_else(|port_taken| panic!("{port_taken}"));
        // Several election timeouts (at most 240 ms each).
        let quiet_until = Instant::now() + Duration::from_secs(1);
        cluster.poll_until(&mut observer, "a second of quiet", |answers, _| {
            let status = answers
                .iter()
                .find(|a| a.node == id)
                .and_then(|a| a.status.as_ref())?;
            assert!(!status.is_goose(), "removed node {id} leads: {status:?}");
            let geese: Vec<(u64, u64)> = answers
                .iter()
                .filter_map(|a| a.status.as_ref())
                .filter(|s| s.is_goose())
                .map(|s| (s.id, s.term))
                .collect();
            assert!(
                geese.iter().all(|found| *found == (goose, term)),
                "the Goose changed: {answers:#?}"
            );
            (Instant::now() >= quiet_until && !geese.is_empty()).then_some(())
        });
        let node = cluster.node(id);
        node.assert_alive();
        let status = get_status(node.http_port).expect("the removed node answers");
        assert_eq!(status.role, "Duck", "{status:?}");
        let view = get_cluster(node.http_port).expect("the removed node answers /cluster");
        assert_eq!(view["member"], serde_json::json!(false), "{view}");
        let (voters, learners) = voters_and_learners(&view);
        assert!(!voters.contains(&id) && !learners.contains(&id), "{view}");
        let log = node.log_text();
        assert!(
            log.contains(&format!("node {id} is not in its stored membership"))
                && log.contains("It will not campaign"),
            "{}",
            node.log_tail()
        );
        eprintln!("removed node {id} restarted as a removed node; node {goose} still leads");
        node.kill9();
    }
    assert_eq!(cluster.wait_for_agreement(&mut observer), (goose, term));
    eprintln!("done in {:.1?}", started.elapsed());
}

/// `--leave-on-shutdown`: SIGTERM makes a node ask to be removed, and it
/// exits 0 once the cluster no longer holds it.
#[test]
fn leave_on_shutdown_removes_the_node() {
    let mut cluster = Cluster::start(3, FAST);
    let mut observer = Observer::default();
    let (goose, _) = cluster.wait_for_agreement(&mut observer);
    cluster.spawn_joiner(4, goose, &[FAST, &["--leave-on-shutdown"]].concat());
    cluster.wait_for_membership(&mut observer, &[1, 2, 3, 4], &[1, 2, 3, 4]);
    cluster.node(4).sigterm();
    let exit = cluster.node(4).wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(0), "{}", cluster.node(4).log_tail());
    assert!(cluster.node(4).log_text().contains("left the cluster"));
    cluster.wait_for_membership(&mut observer, &[1, 2, 3], &[1, 2, 3]);
    cluster.wait_for_agreement(&mut observer);
}

// ----- helpers ---------------------------------------------------------------------------

struct Finished {
    code: Option<i32>,
    stderr: String,
}

/// Runs the node binary with `args` and waits for it to exit by itself,
/// killing it if it does not within [`PATIENCE`].
fn run_node_to_exit(args: &[&str]) -> Finished {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log_path = dir.path().join("stderr.log");
    let log = File::create(&log_path).expect("create the log");
    let child = Command::new(node_binary())
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the node binary was just built");
    let mut node = NodeProcess {
        id: 0,
        http_port: 0,
        cluster_port: 0,
        data_dir: dir.path().to_path_buf(),
        log: log_path,
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        child: Some(child),
        stopping: true,
        paused: false,
    };
    let status = node.wait_exit(PATIENCE);
    Finished {
        code: status.code(),
        stderr: node.log_text(),
    }
}

/// Connects to `port`, writes `bytes`, then reads whatever comes back for a
/// moment and closes. The peer may close first; that is fine.
fn send_garbage(port: u16, bytes: &[u8]) {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        panic!("port {port} refused a connection");
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 1024];
    let _ = stream.read(&mut sink);
}
