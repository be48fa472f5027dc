//! The network: one namespace per node, a bridge in a "switch" namespace,
//! and one veth into the root namespace for the observer. [`Network`] is
//! the guard that deletes all of it.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Everything this suite creates starts with this, then the test process's
/// pid: `ddg<pid>s<scenario>...`.
const PREFIX: &str = "ddg";

/// The port every node's cluster transport listens on (in its own
/// namespace, so one number serves all); the only port faults touch.
pub const CLUSTER_PORT: u16 = 7100;

/// The port every node's HTTP API listens on; faults never touch it.
pub const HTTP_PORT: u16 = 8100;

/// The root namespace's end of the observer veth: `10.251.X.254`.
const HOST_OCTET: u8 = 254;

/// Numbers scenarios within one test process, so names never repeat even
/// while the kernel is still tearing down a previous scenario's namespace.
static SCENARIO: AtomicU32 = AtomicU32::new(0);

/// `ddg<pid>`: this test process's names start with it.
pub fn run_prefix() -> String {
    format!("{PREFIX}{}", std::process::id())
}

/// What the suite needs and this machine lacks, if anything.
pub fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(2))
        .is_some_and(|effective| effective == "0");
    if !root {
        return Some("not running as root".to_owned());
    }
    for (tool, flag) in [("ip", "-V"), ("iptables", "-V")] {
        let works = Command::new(tool)
            .arg(flag)
            .output()
            .is_ok_and(|output| output.status.success());
        if !works {
            return Some(format!("`{tool} {flag}` does not run (install it)"));
        }
    }
    None
}

/// Runs `program args`; `Err` with its stderr if it fails.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program} {}: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `program args`, panicking with its stderr if it fails (setup
/// steps: nothing can be measured without them).
fn must(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|error| panic!("network setup failed: {error}"))
}

/// The pid in a name this suite made, if `name` is one:
/// `ddg<pid>s<k>` followed by `sw`, `n<i>` or `h`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let pid = rest[..digits].parse().ok()?;
    let rest = rest[digits..].strip_prefix('s')?;
    let tail = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let ours = tail == "sw"
        || tail == "h"
        || tail
            .strip_prefix('n')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    (tail.len() < rest.len() && ours).then_some(pid)
}

/// Deletes namespaces, root-namespace links and temporary directories that
/// earlier runs left behind (their test process is gone), killing any
/// process still in such a namespace.
pub fn remove_leftovers() {
    let dead = |name: &str| {
        owner_pid(name).is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    let namespaces = run("ip", &["netns", "list"]).unwrap_or_default();
    for name in namespaces
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        if dead(name) {
            eprintln!("removing namespace {name}, left behind by an earlier run");
            kill_everything_in(name);
            let _ = run("ip", &["netns", "delete", name]);
        }
    }
    // Temporary directories: `ddg<pid>-XXXXXX` (see `Cluster::start`).
    let temp = std::env::temp_dir();
    for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let dead = pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if dead && entry.path().is_dir() {
            eprintln!(
                "removing {}, left behind by an earlier run",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let links = run("ip", &["-o", "link", "show"]).unwrap_or_default();
    for line in links.lines() {
        // "7: ddg123s0h@if6: <...>"
        let Some(name) = line.split(": ").nth(1).and_then(|n| n.split('@').next()) else {
            continue;
        };
        if dead(name) {
            eprintln!("removing link {name}, left behind by an earlier run");
            let _ = run("ip", &["link", "delete", name]);
        }
    }
}

/// SIGKILLs every process in namespace `name` (only ever one of ours).
fn kill_everything_in(name: &str) {
    let pids = run("ip", &["netns", "pids", name]).unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = run("kill", &["-KILL", pid]);
    }
}

/// A switch namespace with a bridge, `nodes` node namespaces each with an
/// `eth0` on the bridge, and a veth from the root namespace to the bridge.
/// Dropping it deletes all of them, whatever state the setup reached.
pub struct Network {
    /// `ddg<pid>s<k>`: the start of every name here.
    pub prefix: String,
    /// `X` in `10.251.X.0/24`.
    subnet: u8,
    nodes: u64,
}

impl Network {
    /// Builds the network for nodes `1..=nodes`.
    pub fn create(nodes: u64) -> Network {
        let scenario = SCENARIO.fetch_add(1, Ordering::Relaxed);
        let network = Network {
            prefix: format!("{}s{scenario}", run_prefix()),
            subnet: free_subnet(std::process::id() + scenario),
            nodes,
        };
        // From here on, a failed step panics and the guard deletes what
        // was made.
        let switch = network.switch();
        must("ip", &["netns", "add", &switch]);
        must("ip", &["-n", &switch, "link", "set", "lo", "up"]);
        must(
            "ip",
            &["-n", &switch, "link", "add", "br0", "type", "bridge"],
        );
        must("ip", &["-n", &switch, "link", "set", "br0", "up"]);
        for node in 1..=nodes {
            let ns = network.namespace(node);
            let port = format!("n{node}");
            must("ip", &["netns", "add", &ns]);
            must("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            must(
                "ip",
                &[
                    "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                    "netns", &switch,
                ],
            );
            must(
                "ip",
                &["-n", &switch, "link", "set", &port, "master", "br0"],
            );
            must("ip", &["-n", &switch, "link", "set", &port, "up"]);
            let address = format!("{}/24", network.ip(node));
            must("ip", &["-n", &ns, "addr", "add", &address, "dev", "eth0"]);
            must("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        }
        let host = network.host_link();
        must(
            "ip",
            &[
                "link", "add", &host, "type", "veth", "peer", "name", "host", "netns", &switch,
            ],
        );
        must(
            "ip",
            &["-n", &switch, "link", "set", "host", "master", "br0"],
        );
        must("ip", &["-n", &switch, "link", "set", "host", "up"]);
        let address = format!("10.251.{}.{HOST_OCTET}/24", network.subnet);
        must("ip", &["addr", "add", &address, "dev", &host]);
        must("ip", &["link", "set", &host, "up"]);
        network
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }

    fn host_link(&self) -> String {
        format!("{}h", self.prefix)
    }

    /// Node `node`'s namespace.
    pub fn namespace(&self, node: u64) -> String {
        format!("{}n{node}", self.prefix)
    }

    /// Node `node`'s address on the bridge.
    pub fn ip(&self, node: u64) -> Ipv4Addr {
        Ipv4Addr::new(10, 251, self.subnet, node as u8)
    }

    /// Runs `iptables -w args` in node `node`'s namespace.
    pub fn iptables(&self, node: u64, args: &[&str]) {
        self.iptables_output(node, args);
    }

    /// Runs `iptables -w args` in node `node`'s namespace; its output.
    pub fn iptables_output(&self, node: u64, args: &[&str]) -> String {
        let ns = self.namespace(node);
        let mut full = vec!["netns", "exec", &ns, "iptables", "-w"];
        full.extend_from_slice(args);
        must("ip", &full)
    }

    /// Every node id.
    pub fn node_ids(&self) -> impl Iterator<Item = u64> + use<> {
        1..=self.nodes
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // The root end first: deleting a namespace frees its veths only
        // later, in the background, and the root namespace must be clean
        // when this returns.
        let _ = run("ip", &["link", "delete", &self.host_link()]);
        for node in 1..=self.nodes {
            let ns = self.namespace(node);
            kill_everything_in(&ns);
            let _ = run("ip", &["netns", "delete", &ns]);
        }
        let _ = run("ip", &["netns", "delete", &self.switch()]);
    }
}

/// A `10.251.X.0/24` the root namespace has no route into, starting the
/// search at `seed`.
fn free_subnet(seed: u32) -> u8 {
    let routes = must("ip", &["-4", "route", "show"]);
    (0..250u32)
        .map(|step| ((seed + step) % 250) as u8)
        .find(|x| !routes.contains(&format!("10.251.{x}.")))
        .expect("some 10.251.X.0/24 is free")
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn only_our_names_are_recognised() {
        assert_eq!(owner_pid("ddg123s0sw"), Some(123));
        assert_eq!(owner_pid("ddg123s12n5"), Some(123));
        assert_eq!(owner_pid("ddg9s1h"), Some(9));
        assert_eq!(owner_pid("ddg123s0"), None);
        assert_eq!(owner_pid("ddg123sw"), None);
        assert_eq!(owner_pid("ddgci123"), None);
        assert_eq!(owner_pid("ddg123s0n"), None);
        assert_eq!(owner_pid("docker0"), None);
    }
}
