//! The kernel's floor for the idle cluster's traffic: five processes that
//! exchange the same datagrams as an idle five-node cluster (one 86-byte
//! heartbeat from the Goose to each of four Ducks every 50 ms, one 86-byte
//! ack back for each) and do nothing else: no runtime, no protocol, no
//! status, blocking sockets. What they cost is what sending and receiving
//! those datagrams costs on this machine (on loopback, each sender also pays
//! for the receiver's network stack), so a node's idle CPU is read against
//! it rather than against zero.
//!
//! The bench starts them by running its own binary again with
//! `--floor-goose PORT PEER_PORT...` or `--floor-duck PORT`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The length of a heartbeat and of an ack datagram without a cluster key
/// (the `duckduckgoose run` defaults the bench uses).
const DATAGRAM_LEN: usize = 86;
/// The default heartbeat interval.
const HEARTBEAT: Duration = Duration::from_millis(50);
/// A Duck's wait per datagram, like its election timer (300 ms minimum).
const DUCK_TIMEOUT: Duration = Duration::from_millis(300);

/// The arguments that run one floor process, for the bench to pass to its
/// own binary: the Goose on `ports[0]` sends to the others.
pub fn arguments(ports: &[u16], index: usize) -> Vec<String> {
    if index == 0 {
        let mut arguments = vec!["--floor-goose".to_owned()];
        arguments.extend(ports.iter().map(u16::to_string));
        arguments
    } else {
        vec!["--floor-duck".to_owned(), ports[index].to_string()]
    }
}

/// Runs a floor process if `args` (the bench's own, after the program name)
/// ask for one; it runs until killed. Returns `None` otherwise.
pub fn run(args: &[String]) -> Option<Result<(), String>> {
    let (mode, ports) = args.split_first()?;
    if mode != "--floor-goose" && mode != "--floor-duck" {
        return None;
    }
    let ports: Vec<u16> = match ports.iter().map(|port| port.parse()).collect() {
        Ok(ports) => ports,
        Err(_) => return Some(Err(format!("{mode}: ports must be numbers"))),
    };
    match (mode.as_str(), &ports[..]) {
        ("--floor-goose", [port, peers @ ..]) if !peers.is_empty() => Some(goose(*port, peers)),
        ("--floor-duck", [port]) => Some(duck(*port)),
        _ => Some(Err(format!("{mode}: wrong ports"))),
    }
}

fn bind(port: u16) -> Result<UdpSocket, String> {
    UdpSocket::bind(("127.0.0.1", port)).map_err(|error| format!("bind {port}: {error}"))
}

/// Every heartbeat interval, one datagram to each peer, then one ack read
/// from each, then a sleep until the next round: the fewest system calls
/// that carry this traffic.
fn goose(port: u16, peers: &[u16]) -> Result<(), String> {
    let socket = bind(port)?;
    // A lost ack costs at most the rest of the round.
    socket
        .set_read_timeout(Some(HEARTBEAT))
        .map_err(|error| format!("set_read_timeout: {error}"))?;
    let peers: Vec<SocketAddr> = peers
        .iter()
        .map(|peer| SocketAddr::from(([127, 0, 0, 1], *peer)))
        .collect();
    let heartbeat = [0u8; DATAGRAM_LEN];
    let mut buf = [0u8; 1500];
    let mut next = Instant::now();
    loop {
        for peer in &peers {
            // Loss is part of the floor too: a full buffer drops.
            let _ = socket.send_to(&heartbeat, peer);
        }
        for _ in &peers {
            let _ = socket.recv_from(&mut buf);
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
