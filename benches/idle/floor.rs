//! The kernel's floor for the idle cluster's traffic: five processes that
//! exchange the same datagrams as an idle five-node cluster (one 86-byte
//! heartbeat from the Goose to each of four Ducks every 50 ms, one 86-byte
//! ack back for each) and do nothing else: no runtime, no protocol, no
//! status, blocking sockets. What they cost is what sending and receiving
//! those datagrams costs on this machine (on loopback, each sender also pays
//! for the receiver's network stack), so a node's idle CPU is read against
//! it rather than against zero.
//!
//! The tokio floor ([`Runtime::Tokio`]) sends the same datagrams through a
//! current-thread tokio runtime, as `duckduckgoose run` does, each process
//! one task and nothing else: what the runtime's reactor adds to the kernel's
//! cost, before any protocol work.
//!
//! The coalesced floor ([`Runtime::Coalesced`]) is the blocking floor with a
//! Goose that wakes once a round: it sends the round's heartbeats, sleeps
//! until the next round, and only then reads the acks that arrived meanwhile,
//! without blocking. It is the least a Goose can cost on this machine with
//! one system call a datagram, whatever it does with its acks.
//!
//! The bench starts them by running its own binary again with
//! `--floor-goose PORT PEER_PORT...` or `--floor-duck PORT`, and `--tokio`
//! or `--coalesced` last for those floors.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The length of a heartbeat and of an ack datagram without a cluster key
/// (the `duckduckgoose run` defaults the bench uses).
const DATAGRAM_LEN: usize = 86;
/// The default heartbeat interval.
const HEARTBEAT: Duration = Duration::from_millis(50);
/// A Duck's wait per datagram, like its election timer (300 ms minimum).
const DUCK_TIMEOUT: Duration = Duration::from_millis(300);

/// The bench's own arguments that make it a floor process.
const GOOSE_FLAG: &str = "--floor-goose";
const DUCK_FLAG: &str = "--floor-duck";
/// Last, after the ports: the process runs on tokio.
const TOKIO_FLAG: &str = "--tokio";
/// Last, after the ports: the Goose wakes once a round.
const COALESCED_FLAG: &str = "--coalesced";

/// How a floor process waits for its sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Blocking std sockets: the fewest system calls.
    Blocking,
    /// One task on a current-thread tokio runtime.
    Tokio,
    /// Blocking std sockets, and a Goose that reads its acks once a round.
    Coalesced,
}

/// The arguments that run one floor process, for the bench to pass to its
/// own binary: the Goose on `ports[0]` sends to the others.
pub fn arguments(ports: &[u16], index: usize, runtime: Runtime) -> Vec<String> {
    let mut arguments = if index == 0 {
        let mut arguments = vec![GOOSE_FLAG.to_owned()];
        arguments.extend(ports.iter().map(u16::to_string));
        arguments
    } else {
        vec![DUCK_FLAG.to_owned(), ports[index].to_string()]
    };
    match runtime {
        Runtime::Blocking => {}
        Runtime::Tokio => arguments.push(TOKIO_FLAG.to_owned()),
        Runtime::Coalesced => arguments.push(COALESCED_FLAG.to_owned()),
    }
    arguments
}

/// Runs a floor process if `args` (the bench's own, after the program name)
/// ask for one; it runs until killed. Returns `None` otherwise.
pub fn run(args: &[String]) -> Option<Result<(), String>> {
    let (mode, mut ports) = args.split_first()?;
    if mode != GOOSE_FLAG && mode != DUCK_FLAG {
        return None;
    }
    let mut runtime = Runtime::Blocking;
    if let Some((last, rest)) = ports.split_last() {
        let named = match last.as_str() {
            TOKIO_FLAG => Some(Runtime::Tokio),
            COALESCED_FLAG => Some(Runtime::Coalesced),
            _ => None,
        };
        if let Some(named) = named {
            runtime = named;
            ports = rest;
        }
    }
    let ports: Vec<u16> = match ports.iter().map(|port| port.parse()).collect() {
        Ok(ports) => ports,
        Err(_) => return Some(Err(format!("{mode}: ports must be numbers"))),
    };
    let is_goose = mode == GOOSE_FLAG;
    Some(match (is_goose, &ports[..], runtime) {
        (true, [port, peers @ ..], Runtime::Blocking | Runtime::Coalesced) if !peers.is_empty() => {
            goose(*port, peers, runtime == Runtime::Coalesced)
        }
        (false, [port], Runtime::Blocking | Runtime::Coalesced) => duck(*port),
        (true, [port, peers @ ..], Runtime::Tokio) if !peers.is_empty() => {
            on_tokio(tokio_goose(*port, peers))
        }
        (false, [port], Runtime::Tokio) => on_tokio(tokio_duck(*port)),
        _ => Err(format!("{mode}: wrong ports")),
    })
}

/// `ports` on 127.0.0.1.
fn loopback(ports: &[u16]) -> Vec<SocketAddr> {
    ports
        .iter()
        .map(|port| SocketAddr::from(([127, 0, 0, 1], *port)))
        .collect()
}

fn bind(port: u16) -> Result<UdpSocket, String> {
    UdpSocket::bind(("127.0.0.1", port)).map_err(|error| format!("bind {port}: {error}"))
}

/// Every heartbeat interval, one datagram to each peer, then a sleep until
/// the next round. The acks are read one from each peer right after the
/// sends, waking for each ([`Runtime::Blocking`]: the fewest system calls
/// that carry this traffic), or, coalesced, all that arrived since the last
/// round, without blocking, before the sends (one wakeup a round).
fn goose(port: u16, peers: &[u16], coalesced: bool) -> Result<(), String> {
    let socket = bind(port)?;
    if coalesced {
        socket
            .set_nonblocking(true)
            .map_err(|error| format!("set_nonblocking: {error}"))?;
    } else {
        // A lost ack costs at most the rest of the round.
        socket
            .set_read_timeout(Some(HEARTBEAT))
            .map_err(|error| format!("set_read_timeout: {error}"))?;
    }
    let peers = loopback(peers);
    let heartbeat = [0u8; DATAGRAM_LEN];
    let mut buf = [0u8; 1500];
    let mut next = Instant::now();
    loop {
        if coalesced {
            // Until the queue is empty (`WouldBlock`), or a real error.
            while socket.recv_from(&mut buf).is_ok() {}
        }
        for peer in &peers {
            // Loss is part of the floor too: a full buffer drops.
            let _ = socket.send_to(&heartbeat, peer);
        }
        if !coalesced {
            for _ in &peers {
                let _ = socket.recv_from(&mut buf);
            }
        }
        next += HEARTBEAT;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Answers every datagram with one ack to its source.
fn duck(port: u16) -> Result<(), String> {
    let socket = bind(port)?;
    socket
        .set_read_timeout(Some(DUCK_TIMEOUT))
        .map_err(|error| format!("set_read_timeout: {error}"))?;
    let ack = [0u8; DATAGRAM_LEN];
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((_, source)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&ack, source);
        }
    }
}

/// Runs `task` on a current-thread runtime, as the node binary does.
fn on_tokio(task: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("tokio: {error}"))?
        .block_on(task)
}

async fn tokio_bind(port: u16) -> Result<tokio::net::UdpSocket, String> {
    tokio::net::UdpSocket::bind(("127.0.0.1", port))
        .await
        .map_err(|error| format!("bind {port}: {error}"))
}

/// The Goose on tokio: a round every heartbeat interval, acks read as they
/// come.
async fn tokio_goose(port: u16, peers: &[u16]) -> Result<(), String> {
    let socket = tokio_bind(port).await?;
    let peers = loopback(peers);
    let heartbeat = [0u8; DATAGRAM_LEN];
    let mut buf = [0u8; 1500];
    let mut rounds = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = rounds.tick() => {
                for peer in &peers {
                    let _ = socket.try_send_to(&heartbeat, *peer);
                }
            }
            _ = socket.recv_from(&mut buf) => {}
        }
    }
}

/// A Duck on tokio: answers every datagram, with a timer reset by each, like
/// an election timer.
async fn tokio_duck(port: u16) -> Result<(), String> {
    let socket = tokio_bind(port).await?;
    let ack = [0u8; DATAGRAM_LEN];
    let mut buf = [0u8; 1500];
    let timer = tokio::time::sleep(DUCK_TIMEOUT);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((_, source)) = received {
                    let _ = socket.try_send_to(&ack, source);
                }
                timer.as_mut().reset(tokio::time::Instant::now() + DUCK_TIMEOUT);
            }
            () = &mut timer => timer.as_mut().reset(tokio::time::Instant::now() + DUCK_TIMEOUT),
        }
    }
}
