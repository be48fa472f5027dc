//! One node process, started inside its namespace with `ip netns exec`
//! (which execs the binary, so the child's pid is the node's), signalled,
//! killed, and its log read.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The `duckduckgoose` binary cargo built for this test target.
pub fn node_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_duckduckgoose"))
}

/// Whether this build of the binary has `--transport`; until it does, the
/// flag is left out (and only tcp exists).
pub fn has_transport_flag() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Command::new(node_binary())
            .args(["run", "--help"])
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("--transport"))
    })
}

/// A node process and what it takes to restart it on the same data
/// directory. Dropping it kills the process and waits for it.
pub struct NodeProcess {
    pub id: u64,
    namespace: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    /// A node that runs `duckduckgoose run args` in `namespace`, logging to
    /// `log`; not started yet.
    pub fn new(id: u64, namespace: String, args: Vec<String>, log: PathBuf) -> NodeProcess {
        NodeProcess {
            id,
            namespace,
            args,
            log,
            child: None,
        }
    }

    /// Starts the process (again, after a kill: same arguments, same data
    /// directory).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log is in our temporary directory");
        let log_too = log.try_clone().expect("a file handle can be duplicated");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.namespace])
            .arg(node_binary())
            .arg("run")
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .expect("`ip` is on the PATH");
        self.child = Some(child);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("`kill` is on the PATH");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// SIGKILL, then reap: a crash, with no chance to hand over or flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Panics if the process exited on its own.
    pub fn assert_alive(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.child = None;
            panic!(
                "node {} exited unexpectedly ({status})\n{}",
                self.id,
                self.log_tail()
            );
        }
    }

    /// The last lines of the node's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        format!("--- node {} log tail ---\n{}", self.id, tail.join("\n"))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // A stopped process still dies of SIGKILL.
        self.kill9();
    }
}
