//! `/status` and `/cluster` over raw HTTP/1.1, and garbage on a port.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

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

/// One node's answer to one request, with when it was asked and answered.
#[derive(Debug)]
pub struct Answer {
    pub node: u64,
    /// `None` if the node did not answer (not serving yet, or stopping).
    pub status: Option<Status>,
    pub sent: Instant,
    pub received: Instant,
}

/// `GET /status` with a hand-written HTTP/1.1 request.
pub fn get_status(port: u16) -> io::Result<Status> {
    let (code, body) = http_request(port, "GET", "/status")?;
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    if code != 200 {
        return Err(invalid(format!("/status answered {code}: {body}")));
    }
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

/// The admin token every test node is started with (`--admin-token-file`).
pub const ADMIN_TOKEN: &str = "process-test-admin-token";

/// Writes [`ADMIN_TOKEN`] to `dir/admin-token` once, as an operator would
/// (with a trailing newline), and returns the flag pointing at it. Never
/// rewritten: a node starting meanwhile could read it half-written.
pub fn admin_token_flag(dir: &std::path::Path) -> [String; 2] {
    let path = dir.join("admin-token");
    if !path.exists() {
        std::fs::write(&path, format!("{ADMIN_TOKEN}\n")).expect("write the admin token");
    }
    ["--admin-token-file".to_owned(), path.display().to_string()]
}

/// Sends one request with `Connection: close` and returns the status code
/// and the body.
pub fn http_request(port: u16, method: &str, path: &str) -> io::Result<(u16, String)> {
    http_exchange(port, method, path, None, Duration::from_secs(2))
}

/// `POST`/`DELETE` and friends with an optional JSON body; waits up to
/// `patience` for the answer.
pub fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&str>,
    patience: Duration,
) -> io::Result<(u16, String)> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(patience))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let body = json.unwrap_or("");
    // State changes need the admin token and a JSON content type, body or
    // not; reads need neither.
    let admin = if method == "GET" {
        String::new()
    } else {
        format!("Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n")
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{admin}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status code"))?;
    Ok((code, body.to_owned()))
}

/// `GET /cluster` as JSON.
pub fn get_cluster(port: u16) -> io::Result<serde_json::Value> {
    let (code, body) = http_request(port, "GET", "/cluster")?;
    if code != 200 {
        return Err(io::Error::other(format!(
            "/cluster answered {code}: {body}"
        )));
    }
    serde_json::from_str(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The voters and the learners of a `/cluster` answer, in id order.
pub fn voters_and_learners(cluster: &serde_json::Value) -> (Vec<u64>, Vec<u64>) {
    let mut voters = Vec::new();
    let mut learners = Vec::new();
    for member in cluster["members"].as_array().into_iter().flatten() {
        let id = member["id"].as_u64().expect("a member has an id");
        if member["voter"] == serde_json::Value::Bool(true) {
            voters.push(id);
        } else {
            learners.push(id);
        }
    }
    (voters, learners)
}

/// Connects to `port`, writes `bytes`, then reads whatever comes back for a
/// moment and closes. The peer may close first; that is fine.
pub fn send_garbage(port: u16, bytes: &[u8]) {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        panic!("port {port} refused a connection");
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 1024];
    let _ = stream.read(&mut sink);
}
