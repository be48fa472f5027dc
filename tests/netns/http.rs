//! `GET /status` over raw HTTP/1.1, at a node's namespace address.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::net::HTTP_PORT;

/// How long a connection attempt may take: a node that is not serving yet
/// (or any more) must not hold its poller up.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// How long an answer may take: a stopped process accepts connections
/// (the kernel does) but never answers.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The `/status` fields the checks need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: u64,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub lease_ms: Option<u64>,
}

impl Status {
    pub fn is_goose(&self) -> bool {
        self.role == "Goose"
    }
}

/// `GET /status` at `ip`.
pub fn get_status(ip: Ipv4Addr) -> io::Result<Status> {
    let body = get(ip, "/status")?;
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| invalid(format!("{e}: {body}")))?;
    let number = |field: &str| json[field].as_u64();
    Ok(Status {
        id: number("id").ok_or_else(|| invalid(format!("no id: {body}")))?,
        role: json["role"]
            .as_str()
            .ok_or_else(|| invalid(format!("no role: {body}")))?
            .to_owned(),
        term: number("term").ok_or_else(|| invalid(format!("no term: {body}")))?,
        leader: number("leader"),
        lease_ms: number("lease_ms"),
    })
}

/// One `GET` with `Connection: close`; the body of a 200 answer.
fn get(ip: Ipv4Addr, path: &str) -> io::Result<String> {
    let addr = SocketAddr::from((ip, HTTP_PORT));
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let code: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status code"))?;
    if code != 200 {
        return Err(invalid(&format!("{path} answered {code}: {body}")));
    }
    Ok(body.to_owned())
}
