//! The `node` example binary, built once per test run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The `node` example, built on first use.
pub fn node_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_node_binary) {
        Ok(path) => path,
        Err(error) => panic!("cannot build the node example: {error}"),
    }
}

/// `cargo build --example node` with this test's profile and features, so
/// that it reuses the artifacts `cargo test` already built.
pub fn build_node_binary() -> Result<PathBuf, String> {
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
pub fn own_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}
