//! One node process: spawned, signalled, killed, and its log read.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::PATIENCE;
use crate::binary::node_binary;
use crate::http::get_status;

/// A node process and everything needed to restart it with the same
/// arguments. Dropping it kills the process and waits for it.
pub struct NodeProcess {
    pub id: u64,
    pub http_port: u16,
    pub cluster_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub args: Vec<String>,
    pub child: Option<Child>,
    /// Signalled to stop: exiting is expected, not a failure.
    pub stopping: bool,
    /// Stopped with SIGSTOP: it cannot answer, so polls skip it.
    pub paused: bool,
}

impl NodeProcess {
    pub fn new(id: u64, ports: (u16, u16), dir: &Path, args: Vec<String>) -> NodeProcess {
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

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file is in a fresh temporary directory");
        let log_too = log.try_clone().expect("a file handle can be duplicated");
        let child = Command::new(node_binary())
            .arg("run")
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

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Running and not paused: it answers polls.
    pub fn is_answering(&self) -> bool {
        self.is_running() && !self.paused
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`, `"TERM"`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("`kill` is on the PATH");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// SIGSTOP: the process freezes, its sockets stay open; to the cluster
    /// it is a node cut off by a partition.
    pub fn sigstop(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    pub fn sigcont(&mut self) {
        self.signal("CONT");
        self.paused = false;
    }

    /// SIGKILL: a crash, with no chance to hand over or flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM; the process stays ours until [`wait_exit`](Self::wait_exit).
    pub fn sigterm(&mut self) {
        self.stopping = true;
        self.signal("TERM");
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
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
    pub fn assert_alive(&mut self) {
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
    pub fn wait_until_serving(&mut self, deadline: Instant) -> Result<(), String> {
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

    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
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

pub struct Finished {
    pub code: Option<i32>,
    pub stderr: String,
}

/// Runs `duckduckgoose run` with `args` and waits for it to exit by itself,
/// killing it if it does not within [`PATIENCE`].
pub fn run_node_to_exit(args: &[&str]) -> Finished {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log_path = dir.path().join("stderr.log");
    let log = File::create(&log_path).expect("create the log");
    let child = Command::new(node_binary())
        .arg("run")
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
