//! What the `duckduckgoose` binary and the `cluster` example share:
//! argument parsing, timing, logging and one-line error messages. The
//! example includes this file by path, so there is one copy of each rule.

// The binary and the example each use a subset of these helpers.
#![allow(dead_code)]

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::core::NodeMetadata;
use duckduckgoose::runtime::{NodeConfig, StartError};
use duckduckgoose::storage::StorageError;

/// An election timeout range in milliseconds, as `--election-timeout-ms
/// MIN..MAX` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsRange {
    /// The shortest timeout, inclusive.
    pub min_ms: u64,
    /// The longest timeout, exclusive.
    pub max_ms: u64,
}

impl MsRange {
    /// The range as `NodeConfig::election_timeout` takes it.
    pub fn to_durations(self) -> std::ops::Range<Duration> {
        Duration::from_millis(self.min_ms)..Duration::from_millis(self.max_ms)
    }
}

impl std::fmt::Display for MsRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.min_ms, self.max_ms)
    }
}

/// Parses `MIN..MAX` (milliseconds, `MIN < MAX`).
pub fn parse_ms_range(text: &str) -> Result<MsRange, String> {
    let (min, max) = text
        .split_once("..")
        .ok_or_else(|| format!("expected MIN..MAX in milliseconds, e.g. 300..450, got {text:?}"))?;
    let number = |part: &str, what: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} {part:?} is not a whole number of milliseconds"))
    };
    let range = MsRange {
        min_ms: number(min, "MIN")?,
        max_ms: number(max, "MAX")?,
    };
    if range.min_ms == 0 || range.min_ms >= range.max_ms {
        return Err(format!(
            "need 0 < MIN < MAX, got {}..{}",
            range.min_ms, range.max_ms
        ));
    }
    Ok(range)
}

/// Checks that `text` looks like `HOST:PORT` (resolution happens later, so
/// that a syntax error is a usage error and a DNS failure is not).
pub fn parse_host_port(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {text:?}"))?;
    if host.is_empty() {
        return Err(format!("expected HOST:PORT, got {text:?} (no host)"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("port {port:?} in {text:?} is not a number from 0 to 65535"))?;
    Ok(text.to_owned())
}

/// One `--peer ID=HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's node id.
    pub id: NodeId,
    /// Where its cluster port listens, unresolved.
    pub address: String,
}

/// Parses `ID=HOST:PORT`.
pub fn parse_peer(text: &str) -> Result<Peer, String> {
    let (id, address) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ID=HOST:PORT, got {text:?}"))?;
    let id = id
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("node id {id:?} in {text:?} is not a non-negative integer"))?;
    Ok(Peer {
        id: NodeId(id),
        address: parse_host_port(address.trim())?,
    })
}

/// One `--meta KEY=VALUE`, checked against the metadata bounds.
pub fn parse_meta(text: &str) -> Result<(String, String), String> {
    NodeMetadata::parse_entry(text).map_err(|error| error.to_string())
}

/// Ids as `1, 2, 3`.
pub fn list(ids: impl Iterator<Item = NodeId>) -> String {
    ids.map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
}

/// Resolves `HOST:PORT` to its first socket address.
pub fn resolve(address: &str) -> Result<SocketAddr, String> {
    address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {address}: no addresses"))
}

/// Sets the heartbeat and election timeout of `config`, keeping its tick.
pub fn apply_timing(config: &mut NodeConfig, heartbeat_ms: u64, election_timeout: MsRange) {
    config.heartbeat = Duration::from_millis(heartbeat_ms);
    config.election_timeout = election_timeout.to_durations();
}

/// Installs a `fmt` subscriber on stderr, filtered by `RUST_LOG` (or
/// `default_filter` when it is unset or invalid).
pub fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// One line saying why a node could not start, naming a corrupt state file
/// as such.
pub fn describe_start_error(error: &StartError) -> String {
    match error {
        StartError::Storage(storage) => describe_storage_error(storage),
        other => other.to_string(),
    }
}

/// One line saying what went wrong with a node's storage.
pub fn describe_storage_error(error: &StorageError) -> String {
    match error {
        StorageError::Corrupt { path, problem } => {
            format!("state file {} is corrupt: {problem}", path.display())
        }
        StorageError::Io {
            path,
            operation,
            source,
        } if source.kind() == std::io::ErrorKind::WouldBlock && *operation == "lock" => {
            let dir = path.parent().unwrap_or(path);
            format!(
                "data directory {} is in use by another node (lock {} is held)",
                dir.display(),
                path.display()
            )
        }
        other => other.to_string(),
    }
}

/// One line for a failed `bind`, with a hint when the port is taken.
pub fn describe_bind_error(what: &str, addr: SocketAddr, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        format!("cannot listen on {addr} ({what}): the port is already in use")
    } else {
        format!("cannot listen on {addr} ({what}): {error}")
    }
}
