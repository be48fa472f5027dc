//! The `docker` command line: the image under test, containers' addresses
//! and states, and names unique to this test process.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Runs `docker args…`; its trimmed stdout, or why it failed.
pub fn docker(args: &[&str]) -> Result<String, String> {
    run(Command::new("docker").args(args))
}

/// Runs `docker args…` and panics if it fails: for steps a test cannot do
/// without.
pub fn docker_ok(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|why| panic!("docker {}: {why}", args.join(" ")))
}

/// Runs `command`; its trimmed stdout, or its stderr and status.
pub fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The repository's root (where `deploy/` is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The image under test: `DDG_IMAGE`, built with `deploy/build-image` if it
/// does not exist yet (once per test process).
pub fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let image = std::env::var("DDG_IMAGE").unwrap_or_else(|_| "duckduckgoose:latest".into());
        if docker(&["image", "inspect", "--format", "{{.Id}}", &image]).is_err() {
            eprintln!("image {image} does not exist: running deploy/build-image");
            let script: PathBuf = repo_root().join("deploy/build-image");
            let status = Command::new(&script)
                .env("IMAGE", &image)
                .status()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(status.success(), "deploy/build-image failed ({status})");
        }
        image
    })
}

/// A name no other test process uses: `<prefix><pid>x<n><what>`, lower
/// case as compose project names must be. The prefix is `DDG_TEST_PREFIX`
/// (default `ddgt`): `.ci/run` sets its own, to find anything a test left.
pub fn unique_name(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = std::env::var("DDG_TEST_PREFIX").unwrap_or_else(|_| "ddgt".to_owned());
    format!(
        "{prefix}{}x{}{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The container's address on its (only) network, if it has one.
pub fn container_ip(container: &str) -> Option<IpAddr> {
    let text = docker(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        container,
    ])
    .ok()?;
    text.split_whitespace().find_map(|ip| ip.parse().ok())
}

/// What `docker inspect` says of a container's state.
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub status: String,
    pub exit_code: i32,
    pub restart_count: u32,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck.
    pub health: String,
}

pub fn state(container: &str) -> State {
    let text = docker_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} \
         {{if .State.Health}}{{.State.Health.Status}}{{end}}",
        container,
    ]);
    let mut fields = text.split_whitespace();
    let mut next = || fields.next().unwrap_or("").to_owned();
    State {
        status: next(),
        exit_code: next().parse().expect("an exit code"),
        restart_count: next().parse().expect("a restart count"),
        health: next(),
    }
}

/// Waits until the container has exited by itself; panics after `patience`.
pub fn wait_exit(container: &str, patience: Duration) -> State {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let state = state(container);
        if state.status == "exited" {
            return state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "container {container} still {} after {patience:?}\n{}",
            state.status,
            logs(container)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stdout and stderr of a container, interleaved as the engine keeps them.
pub fn logs(container: &str) -> String {
    let output = Command::new("docker")
        .args(["logs", container])
        .output()
        .expect("docker is on the PATH");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Only the stdout of a container (the sidecar's work log).
pub fn stdout(container: &str) -> String {
    let output = Command::new("docker")
        .args(["logs", container])
        .output()
        .expect("docker is on the PATH");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
