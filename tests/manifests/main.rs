//! Kubernetes cannot run here, so this checks what it would run: every
//! `duckduckgoose run` container in `deploy/kubernetes/` is started as a
//! real process with the manifest's own arguments and environment (ports,
//! data directory and secret paths mapped to free ones on this machine),
//! and then every flag must have been accepted, every probe must pass
//! (HTTP paths answer 200, exec probes exit 0), the named container ports
//! must be the ports the flags serve, and every executable a manifest names
//! must be one the image ships.

mod yaml;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use yaml::Container;

const BINARY: &str = env!("CARGO_BIN_EXE_duckduckgoose");
const PATIENCE: Duration = Duration::from_secs(15);

/// The manifests' containers that run a node, by file.
fn node_containers() -> Vec<(PathBuf, Container)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable manifest");
        let containers = yaml::containers(&text);
        assert!(
            !containers.is_empty(),
            "{}: no containers found",
            file.display()
        );
        for container in containers {
            if container.args.first().map(String::as_str) == Some("run") {
                found.push((file.clone(), container));
            }
        }
    }
    found
}

/// The value of `--flag=value` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|arg| arg.strip_prefix(name)?.strip_prefix('='))
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("HOST:PORT, got {address}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A started node, killed on drop (a failed assertion included).
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code.
fn get(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn manifests_name_only_what_the_binary_has() {
    let containers = node_containers();
    assert!(
        containers.len() >= 2,
        "the StatefulSet and the sidecar pattern"
    );
    for (file, container) in containers {
        let name = format!("{} ({})", file.display(), container.name);
        check_container(&name, &container);
    }
}

/// Every executable a manifest names (a command or an exec probe) is one
/// the image ships.
#[test]
fn manifest_executables_are_in_the_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile =
        std::fs::read_to_string(root.join("deploy/Dockerfile")).expect("deploy/Dockerfile");
    let dir = root.join("deploy/kubernetes");
    for entry in std::fs::read_dir(dir).expect("deploy/kubernetes") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a manifest");
        for container in yaml::containers(&text) {
            let executables = container.command.first().into_iter().chain(
                container
                    .exec_probes
                    .iter()
                    .filter_map(|probe| probe.first()),
            );
            for executable in executables {
                assert!(
                    dockerfile.contains(executable.as_str()),
                    "{} ({}): {executable} is not in deploy/Dockerfile",
                    path.display(),
                    container.name
                );
            }
        }
    }
}

fn check_container(name: &str, container: &Container) {
    let args = &container.args;
    let listen = flag(args, "--listen").unwrap_or_else(|| panic!("{name}: --listen"));
    let http = flag(args, "--http").unwrap_or_else(|| panic!("{name}: --http"));
    let (cluster_port, http_port) = (port_of(listen), port_of(http));
    assert_eq!(
        container.ports.get("cluster"),
        Some(&cluster_port),
        "{name}: the `cluster` containerPort is --listen's"
    );
    // The default transport is UDP beside TCP, on the same port.
    let udp_default = flag(args, "--transport").is_none_or(|kind| kind == "udp");
    if udp_default {
        assert_eq!(
            container.ports.get("cluster-udp"),
            Some(&cluster_port),
            "{name}: the `cluster-udp` containerPort (UDP) is --listen's"
        );
    }
    if let Some(port) = container.ports.get("http") {
        assert_eq!(
            *port, http_port,
            "{name}: the `http` containerPort is --http's"
        );
    }
    assert!(
        container.env.iter().any(|env| env == "DDG_ID") || flag(args, "--id").is_some(),
        "{name}: the node id comes from --id or DDG_ID"
    );

    // The same arguments, mapped onto this machine.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (local_cluster, local_http) = (free_port(), free_port());
    let mapped: Vec<String> = args
        .iter()
        .map(|arg| {
            let arg = arg
                .replace(&format!(":{cluster_port}"), &format!(":{local_cluster}"))
                .replace(&format!(":{http_port}"), &format!(":{local_http}"));
            map_paths(&arg, dir.path())
        })
        .collect();
    let log = std::fs::File::create(dir.path().join("log")).expect("a log file");
    let child = Command::new(BINARY)
        .args(&mapped)
        .env("DDG_ID", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a file handle"))
        .stderr(log)
        .spawn()
        .expect("the binary runs");
    let mut node = Node(child);
    let log_text = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    let deadline = Instant::now() + PATIENCE;
    while get(local_http, "/health") != Some(200) {
        if let Ok(Some(status)) = node.0.try_wait() {
            panic!(
                "{name}: the node exited ({status}) with the manifest's arguments\n{mapped:?}\n{}",
                log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no /health within {PATIENCE:?}\n{}",
            log_text()
        );
        sleep(Duration::from_millis(50));
    }
    for (path, port) in &container.http_probes {
        assert_eq!(port, "http", "{name}: probes use the named http port");
        assert_eq!(get(local_http, path), Some(200), "{name}: probe {path}");
    }
    for probe in &container.exec_probes {
        let (program, rest) = probe.split_first().expect("a command");
        assert_eq!(
            program, "/duckduckgoose",
            "{name}: exec probes run the binary"
        );
        let rest: Vec<String> = rest
            .iter()
            .map(|arg| arg.replace(&format!(":{http_port}"), &format!(":{local_http}")))
            .collect();
        let status = Command::new(BINARY)
            .args(&rest)
            .output()
            .expect("the probe runs");
        assert!(
            status.status.success(),
            "{name}: probe {probe:?}: {status:?}"
        );
    }
    // Nothing it said at start was a complaint about its arguments.
    let log = log_text();
    assert!(
        !log.contains("error:") && !log.contains("fatal:"),
        "{name}:\n{log}"
    );
}

/// The data directory and the secret files, moved under `dir` (the secrets
/// created with some content, as Kubernetes would mount them).
fn map_paths(arg: &str, dir: &Path) -> String {
    if let Some(path) = arg.strip_prefix("--data-dir=") {
        return format!(
            "--data-dir={}",
            dir.join(path.trim_start_matches('/')).display()
        );
    }
    for secret in ["--cluster-key-file=", "--admin-token-file="] {
        if let Some(path) = arg.strip_prefix(secret) {
            let local = dir.join(Path::new(path).file_name().expect("a file name"));
            std::fs::write(&local, "a-secret-for-the-manifest-check\n").expect("write the secret");
            return format!("{secret}{}", local.display());
        }
    }
    arg.to_owned()
}
