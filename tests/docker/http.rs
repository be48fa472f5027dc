//! `/status` and the admin routes over raw HTTP/1.1, at a container's
//! address.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// The HTTP port every node container serves (the image's `DDG_HTTP`).
pub const HTTP_PORT: u16 = 8080;

/// How long a connection attempt may take: a container that is gone leaves
/// an address nobody answers, and the poll must move on.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// How long an answer may take: a frozen container accepts connections (the
/// kernel does) but never answers.
const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The `/status` fields the tests check.
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
pub fn get_status(ip: IpAddr) -> io::Result<Status> {
    let (code, body) = request(ip, "GET", "/status", &[], None)?;
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

/// One request with `Connection: close`; `headers` are whole lines without
/// the line end; a body is sent as JSON. Returns the status code and the
/// body.
pub fn request(
    ip: IpAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    json: Option<&str>,
) -> io::Result<(u16, String)> {
    let addr = SocketAddr::new(ip, HTTP_PORT);
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    let body = json.unwrap_or("");
    if json.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len())?;
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
