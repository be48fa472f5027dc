//! Idle CPU of a real 5-node cluster: five `duckduckgoose run` processes on
//! loopback with the default timing (tick 10 ms, heartbeat 50 ms, election
//! timeout 300–450 ms), left to settle, then each process's CPU time over a
//! measurement window, printed per Duck and for the Goose (whoever
//! `/status` names). CPU time is the scheduler's own count, in nanoseconds
//! (`/proc/<pid>/task/*/schedstat`): `/proc/<pid>/stat` counts 10 ms clock
//! ticks, 0.05 % steps over 20 s, too coarse for a figure near 0.1 %.
//!
//! ```text
//! cargo build --release --features cli --bin duckduckgoose
//! cargo bench -p duckduckgoose-benches --bench idle -- [--binary PATH]... [--floor] [--floor-tokio] [--floor-coalesced] [--seconds 20] [--rounds 1]
//! ```
//!
//! Several `--binary` flags measure each binary in turn, alternating when
//! `--rounds` is above 1, so that a before/after comparison runs under the
//! same load (default: `target/release/duckduckgoose`). `--floor` adds, in
//! the same alternation, five processes that exchange the same datagrams and
//! do nothing else (see `floor.rs`): what the traffic alone costs on this
//! machine; `--floor-tokio` the same through a current-thread tokio runtime,
//! one task a process; `--floor-coalesced` the blocking floor with a Goose
//! that wakes once a round and reads its acks then. Every process the bench
//! starts is killed by its pid on every exit path (dropping the cluster kills
//! them, a panic included). Linux only (`/proc`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[path = "idle/floor.rs"]
mod floor;

const CLUSTER_SIZE: u64 = 5;
/// Longest wait for the cluster to serve and elect; reached only when
/// something is broken.
const PATIENCE: Duration = Duration::from_secs(20);
/// After a Goose is first seen: the re-issued membership commits, every
/// connection is up, the start-up logging is over.
const SETTLE: Duration = Duration::from_secs(3);

/// What one measurement runs.
enum Subject {
    /// Five `duckduckgoose run` processes of this binary.
    Binary(PathBuf),
    /// Five processes of the bench's own traffic-only floor.
    Floor(floor::Runtime),
}

impl Subject {
    fn name(&self) -> String {
        match self {
            Subject::Binary(path) => path.display().to_string(),
            Subject::Floor(floor::Runtime::Blocking) => {
                "floor (the same datagrams, nothing else)".to_owned()
            }
            Subject::Floor(floor::Runtime::Tokio) => {
                "tokio floor (the same datagrams through a tokio runtime)".to_owned()
            }
            Subject::Floor(floor::Runtime::Coalesced) => {
                "coalesced floor (blocking, the Goose wakes once a round)".to_owned()
            }
        }
    }
}

struct Options {
    subjects: Vec<Subject>,
    window: Duration,
    rounds: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        subjects: Vec::new(),
        window: Duration::from_secs(20),
        rounds: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--binary" => {
                let path = args.next().ok_or("--binary needs a path")?;
                options.subjects.push(Subject::Binary(PathBuf::from(path)));
            }
            "--floor" => options
                .subjects
                .push(Subject::Floor(floor::Runtime::Blocking)),
            "--floor-tokio" => options.subjects.push(Subject::Floor(floor::Runtime::Tokio)),
            "--floor-coalesced" => options
                .subjects
                .push(Subject::Floor(floor::Runtime::Coalesced)),
            "--seconds" => {
                let seconds: u64 = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("--seconds needs a whole number")?;
                options.window = Duration::from_secs(seconds.max(1));
            }
            "--rounds" => {
                options.rounds = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("--rounds needs a whole number")?;
            }
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !options
        .subjects
        .iter()
        .any(|subject| matches!(subject, Subject::Binary(_)))
    {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = workspace.join("target/release/duckduckgoose");
        options.subjects.insert(0, Subject::Binary(binary));
    }
    Ok(options)
}

/// The node processes of one run. Dropping it kills each by its pid and
/// reaps it, whatever the exit path.
struct Cluster {
    children: Vec<Child>,
    http_ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            // `Child::kill` signals this child's own pid (SIGKILL).
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0 works")
}

impl Cluster {
    /// Five floor processes; the first is the Goose.
    fn start_floor(runtime: floor::Runtime) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<u16> = (0..CLUSTER_SIZE).map(|_| free_port()).collect();
        let bench = std::env::current_exe().expect("the bench's own path");
        let mut cluster = Cluster {
            children: Vec::new(),
            http_ports: Vec::new(),
            _dir: dir,
        };
        for index in 0..ports.len() {
            let child = Command::new(&bench)
                .args(floor::arguments(&ports, index, runtime))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("starting the floor: {error}"));
            cluster.children.push(child);
        }
        cluster
    }

    fn start(binary: &Path) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = (0..CLUSTER_SIZE)
            .map(|_| (free_port(), free_port()))
            .collect();
        let mut cluster = Cluster {
            children: Vec::new(),
            http_ports: ports.iter().map(|(_, http)| *http).collect(),
            _dir: dir,
        };
        for id in 1..=CLUSTER_SIZE {
            let (listen, http) = ports[(id - 1) as usize];
            let data_dir = cluster._dir.path().join(format!("node-{id}"));
            let log = std::fs::File::create(cluster._dir.path().join(format!("node-{id}.log")))
                .expect("a log file in the temporary directory");
            let mut command = Command::new(binary);
            command
                .arg("run")
                .args(["--id", &id.to_string()])
                .args(["--listen", &format!("127.0.0.1:{listen}")])
                .args(["--http", &format!("127.0.0.1:{http}")])
                .arg("--data-dir")
                .arg(&data_dir);
            for peer in (1..=CLUSTER_SIZE).filter(|peer| *peer != id) {
                let port = ports[(peer - 1) as usize].0;
                command.args(["--peer", &format!("{peer}=127.0.0.1:{port}")]);
            }
            let child = command
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
            cluster.children.push(child);
        }
        cluster
    }

    /// The index of the node every answering node names as the Goose, once
    /// they agree.
    fn wait_for_goose(&mut self) -> usize {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            for child in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a node exited at start ({status}); see its log");
                }
            }
            let geese: Vec<usize> = self
                .http_ports
                .iter()
                .enumerate()
                .filter(|(_, port)| {
                    status_body(**port).is_some_and(|body| body.contains("\"role\":\"Goose\""))
                })
                .map(|(index, _)| index)
                .collect();
            if let [goose] = geese[..] {
                return goose;
            }
            sleep(Duration::from_millis(100));
        }
        panic!("no single Goose within {PATIENCE:?}");
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

/// The body of `GET /status` on `port`, if it answers.
fn status_body(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The CPU time of every thread of `pid` so far, in nanoseconds: the first
/// field of each `/proc/<pid>/task/<tid>/schedstat`. (A thread that exits
/// during the window takes its time with it; an idle node starts none.)
fn cpu_nanos(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|error| panic!("/proc/{pid}/task: {error}"));
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rustc = Command::new("pgrep")
        .args(["-c", "rustc"])
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .unwrap_or_default();
    format!(
        "load average {}, rustc processes {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        rustc.trim()
    )
}

/// One measurement: (Goose %, each Duck's %).
fn measure(subject: &Subject, window: Duration) -> (f64, Vec<f64>) {
    let (mut cluster, goose) = match subject {
        Subject::Binary(binary) => {
            let mut cluster = Cluster::start(binary);
            cluster.wait_for_goose();
            sleep(SETTLE);
            let goose = cluster.wait_for_goose();
            (cluster, Some(goose))
        }
        Subject::Floor(runtime) => {
            let cluster = Cluster::start_floor(*runtime);
            sleep(SETTLE);
            (cluster, None)
        }
    };
    let pids = cluster.pids();
    let before: Vec<u64> = pids.iter().map(|pid| cpu_nanos(*pid)).collect();
    let started = Instant::now();
    sleep(window);
    let after: Vec<u64> = pids.iter().map(|pid| cpu_nanos(*pid)).collect();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(goose) = goose {
        let still = cluster.wait_for_goose();
        if still != goose {
            eprintln!(
                "note: the Goose changed during the window (node {} then node {})",
                goose + 1,
                still + 1
            );
        }
    }
    let goose = goose.unwrap_or(0);
    let percent =
        |index: usize| 100.0 * after[index].saturating_sub(before[index]) as f64 / 1e9 / elapsed;
    let ducks = (0..pids.len())
        .filter(|i| *i != goose)
        .map(percent)
        .collect();
    (percent(goose), ducks)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(outcome) = floor::run(&args) {
        if let Err(error) = outcome {
            eprintln!("idle floor: {error}");
            std::process::exit(2);
        }
        return;
    }
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("idle: {error}");
            std::process::exit(2);
        }
    };
    println!(
        "idle CPU, {CLUSTER_SIZE} processes, default timing, {} s windows, CPU time from schedstat",
        options.window.as_secs(),
    );
    for round in 1..=options.rounds {
        for subject in &options.subjects {
            let load_before = load();
            let (goose, ducks) = measure(subject, options.window);
            let mean = ducks.iter().sum::<f64>() / ducks.len().max(1) as f64;
            let max = ducks.iter().copied().fold(0.0, f64::max);
            let each: Vec<String> = ducks.iter().map(|duck| format!("{duck:.3}")).collect();
            println!(
                "round {round} {}: Goose {goose:.3} %, Ducks mean {mean:.3} % max {max:.3} % ({}) [before: {load_before}; after: {}]",
                subject.name(),
                each.join(", "),
                load()
            );
        }
    }
}
