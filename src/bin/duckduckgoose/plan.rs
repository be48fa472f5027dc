//! `run`'s flags, and what they turn into once checked: every usage error
//! is found here, before a file is opened or a port bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use duckduckgoose::NodeId;
use duckduckgoose::core::{Membership, NodeMetadata};
use duckduckgoose::http::{AdminAuth, AdminTokenFileError};
use duckduckgoose::runtime::NodeConfig;
use duckduckgoose::transport::tcp::TcpConfig;

use crate::Failure;
use crate::common::{self, MsRange, Peer};
use crate::secret::read_secret_file;

/// Runs one node of a DuckDuckGoose cluster, with its HTTP API.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// This node's id, unique in the cluster.
    #[arg(long, env = "DDG_ID")]
    pub id: u64,
    /// Where this node accepts its peers' connections.
    #[arg(long, env = "DDG_LISTEN", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    pub listen: String,
    /// Where the HTTP API is served (`/status`, `/health`, ...).
    #[arg(long, env = "DDG_HTTP", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    pub http: String,
    /// A member of the cluster and its cluster address; repeat for each.
    /// The list may include this node itself (so every node can be given
    /// the same list); its address is then what the others dial. Not with
    /// --join or --bootstrap.
    #[arg(
        long = "peer",
        env = "DDG_PEERS",
        value_name = "ID=HOST:PORT",
        value_delimiter = ',',
        value_parser = common::parse_peer
    )]
    pub peers: Vec<Peer>,
    /// Join a running cluster through this member's cluster address (any
    /// member: a Duck forwards the request to the Goose). The node is added
    /// as a learner and becomes a voter once it keeps up. Ignored when the
    /// data directory already holds a membership.
    #[arg(long, env = "DDG_JOIN", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    pub join: Option<String>,
    /// Start a new cluster of this node alone (more join it later with
    /// --join). Needed when there is no --peer, no --join and no saved
    /// membership, so that a forgotten flag never starts a cluster by
    /// accident. Ignored when the data directory holds a membership.
    #[arg(long, env = "DDG_BOOTSTRAP")]
    pub bootstrap: bool,
    /// The cluster address other nodes dial to reach this one, recorded in
    /// the membership; default: this node's --peer entry, else --listen.
    #[arg(long, env = "DDG_ADVERTISE", value_name = "HOST:PORT", value_parser = common::parse_host_port)]
    pub advertise: Option<String>,
    /// Metadata this node publishes in the membership, such as where its
    /// application serves (http=http://10.0.0.5:8080); repeat for each
    /// entry. Sent with --join; a saved membership's metadata wins.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = common::parse_meta)]
    pub meta: Vec<(String, String)>,
    /// On SIGINT or SIGTERM, ask to be removed from the cluster before
    /// stopping.
    #[arg(long, env = "DDG_LEAVE_ON_SHUTDOWN")]
    pub leave_on_shutdown: bool,
    /// The directory holding this node's term, vote and membership; it
    /// records which node of which cluster it belongs to, and refuses
    /// another.
    #[arg(long, env = "DDG_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// A file holding the cluster's pre-shared key: with it, every
    /// connection and message is authenticated. Every node must use the same
    /// key. A trailing newline is ignored.
    #[arg(long, env = "DDG_CLUSTER_KEY_FILE", value_name = "FILE")]
    pub cluster_key_file: Option<PathBuf>,
    /// A file holding the admin token: with it, step-down and membership
    /// changes over HTTP need `Authorization: Bearer <token>`. Without it,
    /// anyone who reaches --http can make them. A trailing newline is
    /// ignored.
    #[arg(long, env = "DDG_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Names the cluster; nodes refuse connections naming another cluster,
    /// and the data directory records it.
    #[arg(long, env = "DDG_CLUSTER_ID", default_value = "duckduckgoose")]
    pub cluster_id: String,
    /// How often the Goose sends heartbeats, in milliseconds (a multiple of
    /// the 10 ms tick).
    #[arg(long, env = "DDG_HEARTBEAT_MS", value_name = "N", default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// The randomized election timeout in milliseconds (multiples of the
    /// 10 ms tick). The Goose's lease is derived from MIN.
    #[arg(
        long,
        env = "DDG_ELECTION_TIMEOUT_MS",
        value_name = "MIN..MAX",
        default_value = "300..450",
        value_parser = common::parse_ms_range
    )]
    pub election_timeout_ms: MsRange,
    /// How election messages travel. `udp`: heartbeats, acks and votes as
    /// single datagrams, so one lost packet holds up nothing else (what
    /// does not fit a datagram, and joins, go over TCP); `tcp`: everything
    /// over TCP connections, where one lost segment holds every later
    /// message behind its retransmission. Either way the node listens on
    /// the `--listen` port for TCP, and `udp` also for UDP. Every node of
    /// a cluster must use the same.
    #[arg(long, env = "DDG_TRANSPORT", value_enum, default_value_t = TransportKind::Udp)]
    pub transport: TransportKind,
}

/// The `--transport` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// Datagrams, with TCP for what does not fit one.
    Udp,
    /// TCP connections only.
    Tcp,
}

/// Where the first membership comes from when the data directory has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// `--peer`: these members.
    Peers,
    /// `--join`: through this member.
    Join(String),
    /// `--bootstrap`: this node alone.
    Bootstrap,
    /// None of them: allowed only with a saved membership.
    Unspecified,
}

/// Where the membership this run starts from comes from.
pub enum Source {
    Saved(Membership),
    Join(String),
    /// The flags' members: `--peer`, or this node alone (`--bootstrap`).
    Flags,
}

/// The checked arguments.
pub struct Plan {
    pub id: NodeId,
    /// The other members' cluster addresses, from `--peer`.
    pub peers: BTreeMap<NodeId, String>,
    /// This node's own `--peer` address, if the list named it.
    pub own_peer: Option<String>,
    pub intent: Intent,
    pub metadata: NodeMetadata,
    pub key: Option<Vec<u8>>,
    /// Who may call the admin routes: the `--admin-token-file` token, or
    /// anyone (the node warns when that is not loopback only).
    pub admin: AdminAuth,
    pub listen: SocketAddr,
    pub http: SocketAddr,
}

impl Plan {
    /// Checks the arguments beyond their syntax.
    pub fn new(args: &RunArgs) -> Result<Plan, Failure> {
        let id = NodeId(args.id);
        let intent = intent(args)?;
        let (peers, own_peer) = peers(args, id)?;
        let metadata = metadata(&args.meta)?;
        let mut timing = NodeConfig::new(id, [id]);
        common::apply_timing(&mut timing, args.heartbeat_ms, args.election_timeout_ms);
        timing
            .validate()
            .map_err(|error| Failure::Usage(format!("invalid timing: {error}")))?;
        check_dialable(args, own_peer.as_deref())?;
        let key = match &args.cluster_key_file {
            Some(path) => Some(read_secret_file(path, "--cluster-key-file")?),
            None => None,
        };
        let admin = match &args.admin_token_file {
            Some(path) => AdminAuth::bearer_from_file(path).map_err(|error| match error {
                // The file is there but holds no usable token: fix the file.
                AdminTokenFileError::Invalid { .. } => {
                    Failure::Usage(format!("--admin-token-file: {error}"))
                }
                other => Failure::Fatal(format!("--admin-token-file: {other}")),
            })?,
            None => AdminAuth::Open,
        };
        // Only this host's own addresses are resolved at start; peers'
        // names are resolved at each dial, so a peer whose name does not
        // resolve yet (a pod not scheduled yet) delays nothing.
        let listen = common::resolve(&args.listen).map_err(Failure::Fatal)?;
        let http = common::resolve(&args.http).map_err(Failure::Fatal)?;
        let mut tcp = TcpConfig::new(id, args.cluster_id.clone());
        tcp.cluster_key = key.clone();
        tcp.validate()
            .map_err(|error| Failure::Usage(format!("invalid cluster settings: {error}")))?;
        Ok(Plan {
            id,
            peers,
            own_peer,
            intent,
            metadata,
            key,
            admin,
            listen,
            http,
        })
    }

    /// Where the membership comes from, given what the data directory
    /// holds: a saved membership always wins (the node rejoins the cluster
    /// it was in, whatever the flags say); otherwise the flags must say
    /// where, explicitly.
    pub fn source(
        &self,
        saved: Option<Membership>,
        data_dir: &std::path::Path,
    ) -> Result<Source, Failure> {
        if let Some(saved) = saved {
            return Ok(Source::Saved(saved));
        }
        match &self.intent {
            Intent::Peers | Intent::Bootstrap => Ok(Source::Flags),
            Intent::Join(target) => Ok(Source::Join(target.clone())),
            Intent::Unspecified => Err(Failure::Usage(format!(
                "no cluster to start: {} holds no membership and neither --peer nor --join was \
                 given; name the other members with --peer ID=HOST:PORT, join a running cluster \
                 with --join HOST:PORT, or start a new one-node cluster with --bootstrap",
                data_dir.display()
            ))),
        }
    }
}

/// `--peer`, `--join` and `--bootstrap` each name where the first
/// membership comes from; two of them cannot both be meant.
fn intent(args: &RunArgs) -> Result<Intent, Failure> {
    let conflict =
        |a: &str, b: &str, why: &str| Err(Failure::Usage(format!("{a} and {b} do not mix: {why}")));
    match (!args.peers.is_empty(), &args.join, args.bootstrap) {
        (true, Some(_), _) => conflict(
            "--join",
            "--peer",
            "a joining node learns the members from the cluster; drop the --peer flags",
        ),
        (_, Some(_), true) => conflict(
            "--join",
            "--bootstrap",
            "--bootstrap starts a new cluster, --join enters a running one",
        ),
        (true, None, true) => conflict(
            "--peer",
            "--bootstrap",
            "--bootstrap starts a cluster of this node alone; to start one with these \
             members, drop --bootstrap",
        ),
        (true, None, false) => Ok(Intent::Peers),
        (false, Some(target), false) => Ok(Intent::Join(target.clone())),
        (false, None, true) => Ok(Intent::Bootstrap),
        (false, None, false) => Ok(Intent::Unspecified),
    }
}

/// The other members from `--peer`, and this node's own entry if listed.
fn peers(
    args: &RunArgs,
    id: NodeId,
) -> Result<(BTreeMap<NodeId, String>, Option<String>), Failure> {
    let mut peers = BTreeMap::new();
    let mut own = None;
    for peer in &args.peers {
        let repeated = if peer.id == id {
            own.replace(peer.address.clone()).is_some()
        } else {
            peers.insert(peer.id, peer.address.clone()).is_some()
        };
        if repeated {
            return Err(Failure::Usage(format!(
                "--peer: node {} is given more than once",
                peer.id
            )));
        }
    }
    if let (Some(own), Some(advertise)) = (&own, &args.advertise)
        && own != advertise
    {
        return Err(Failure::Usage(format!(
            "--peer {id}={own} and --advertise {advertise} disagree about this node's address; \
             drop one"
        )));
    }
    if own.is_some() && peers.is_empty() {
        return Err(Failure::Usage(format!(
            "--peer names only this node ({id}); list the other members, or start a one-node \
             cluster with --bootstrap"
        )));
    }
    Ok((peers, own))
}

/// `--meta KEY=VALUE` entries as this node's metadata.
fn metadata(entries: &[(String, String)]) -> Result<NodeMetadata, Failure> {
    let mut metadata = NodeMetadata::new();
    for (key, value) in entries {
        let replaced = metadata
            .insert(key.clone(), value.clone())
            .map_err(|error| Failure::Usage(format!("--meta {key}={value}: {error}")))?;
        if replaced.is_some() {
            return Err(Failure::Usage(format!(
                "--meta: key {key} is given more than once"
            )));
        }
    }
    Ok(metadata)
}

/// The flag that names the address others dial, and that address.
fn advertised_flag<'a>(args: &'a RunArgs, own_peer: Option<&'a str>) -> (&'static str, &'a str) {
    match (&args.advertise, own_peer) {
        (Some(advertise), _) => ("--advertise", advertise),
        (None, Some(own)) => ("--peer", own),
        (None, None) => ("--listen", &args.listen),
    }
}

/// The cluster address others dial: `--advertise`, this node's `--peer`
/// entry, or `--listen` with the port the OS chose when it was 0 (a
/// wildcard host was refused by [`check_dialable`]).
pub fn advertised_address(args: &RunArgs, own_peer: Option<&str>, bound: SocketAddr) -> String {
    match advertised_flag(args, own_peer) {
        ("--listen", listen) => match listen.rsplit_once(':') {
            Some((host, "0")) => format!("{host}:{}", bound.port()),
            _ => listen.to_owned(),
        },
        (_, address) => address.to_owned(),
    }
}

/// The address recorded in the membership must be one other nodes can
/// dial: no wildcard host, and no port 0 unless it is `--listen`'s (which
/// becomes the port the OS chose).
fn check_dialable(args: &RunArgs, own_peer: Option<&str>) -> Result<(), Failure> {
    let (flag, address) = advertised_flag(args, own_peer);
    let Some((host, port)) = address.rsplit_once(':') else {
        return Ok(()); // `parse_host_port` already refused it.
    };
    let bare_host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    if bare_host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        let hint = if flag == "--listen" {
            "add --advertise HOST:PORT, the address other nodes reach this node at"
        } else {
            "give the address other nodes reach this node at"
        };
        return Err(Failure::Usage(format!(
            "{flag} {address}: a wildcard address is recorded in the membership as this node's \
             cluster address, and other nodes cannot dial it; {hint}"
        )));
    }
    if flag != "--listen" && port == "0" {
        return Err(Failure::Usage(format!(
            "{flag} {address}: port 0 cannot be dialled"
        )));
    }
    Ok(())
}
