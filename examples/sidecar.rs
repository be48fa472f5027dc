//! The sidecar pattern: an application in any language that works only
//! while the node next to it is the Goose, by asking the node's HTTP API.
//!
//! This demo uses nothing but the standard library (it builds with `rustc`
//! alone): every poll is one HTTP/1.1 `GET /status` over a plain TCP
//! connection to the node beside it (same host, same pod, or the same
//! container network namespace), so the same loop is a dozen lines of
//! Python, Go or shell:
//!
//! 1. note the time `t0` (a monotonic clock), then `GET /status`;
//! 2. if `role` is `"Goose"` and `lease_ms` exceeds the length of one unit of
//!    work plus a safety margin, the node is the Goose until at least
//!    `t0 + lease_ms`: do one unit that ends before then, tagged with the
//!    `term` (the fencing token, which only grows);
//! 3. but in a term not seen as the Goose before, first wait until
//!    `t0 + lease_ms` of the first such answer (a *lock delay*, as Chubby
//!    calls it);
//! 4. otherwise wait a poll interval and ask again.
//!
//! Nobody else is elected before a lost lease ends, so units on different
//! nodes never overlap when the Goose crashes, freezes or is cut off. A
//! graceful **hand-over** (`POST /step-down`, or `SIGTERM` to the Goose)
//! gives the lease up at once, so the cluster has a new Goose within
//! milliseconds, while the old Goose's app may still be finishing a unit it
//! started inside its lease. Step 3 waits that out: a unit never outlasts
//! the lease it started in, and the new Goose's first lease is at least as
//! long as whatever the old one had left. Hand the term to whatever the
//! work writes to as well, so that it can refuse a stale one.
//!
//! Each unit is logged on stdout as one line,
//! `unit node=ID term=T start_ns=S end_ns=E`, with `CLOCK_MONOTONIC`
//! timestamps: containers on one host share that clock, so the container
//! tests put the lines of every node's sidecar side by side and check that
//! no two units overlap.
//!
//! ```text
//! sidecar [--node HOST:PORT] [--unit-ms N] [--margin-ms N] [--poll-ms N] [--give-up-s N]
//! (or --flag=value)
//! ```
//!
//! Defaults: `--node 127.0.0.1:8080`, one unit 100 ms, margin 50 ms, a poll
//! every 20 ms. After `--give-up-s` (default 10) seconds without an answer
//! the demo exits with status 1, so that a container restart policy
//! restarts it: a sidecar sharing a container's network namespace keeps the
//! old one when that container restarts, and only a restart of its own
//! joins the new one. Exit status 2: bad arguments.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

/// How long one poll may take before it counts as no answer.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

/// What the command line sets.
#[derive(Debug)]
struct Settings {
    node: String,
    unit: Duration,
    margin: Duration,
    poll: Duration,
    give_up: Duration,
}

/// The `/status` fields this app looks at.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    id: u64,
    role: String,
    term: u64,
    lease_ms: Option<u64>,
}

fn main() -> ExitCode {
    let settings = match parse_args(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "sidecar: asking http://{}/status; one unit is {:?}, started only with {:?} of lease to spare",
        settings.node, settings.unit, settings.margin
    );
    run(&settings)
}

/// The work loop; returns only when the node has not answered for
/// `give_up`.
fn run(settings: &Settings) -> ExitCode {
    let mut last_answer = monotonic_ns();
    let mut was = String::new();
    // The term this node was first seen as the Goose in, and when its first
    // unit may start.
    let mut delay: Option<(u64, u64)> = None;
    loop {
        let asked = monotonic_ns();
        let status = match get_status(&settings.node) {
            Ok(status) => status,
            Err(error) => {
                let silent_ns = asked.saturating_sub(last_answer);
                if u128::from(silent_ns) >= settings.give_up.as_nanos() {
                    eprintln!(
                        "sidecar: no answer from {} for {:?} ({error}); exiting so that the container restarts",
                        settings.node, settings.give_up
                    );
                    return ExitCode::from(1);
                }
                note(&mut was, format!("no answer from the node: {error}"));
                sleep(settings.poll);
                continue;
            }
        };
        last_answer = asked;
        // The lease ends no earlier than `asked + lease_ms`: the node
        // measured what remains after the request was sent.
        let spare = Duration::from_millis(status.lease_ms.unwrap_or(0));
        if status.role != "Goose" || spare < settings.unit + settings.margin {
            note(
                &mut was,
                format!("idle: {} in term {}", status.role, status.term),
            );
            sleep(settings.poll);
            continue;
        }
        // The lock delay: a new term's first unit waits one lease, for a
        // unit the previous Goose's app may have started before it handed
        // over.
        let ready_ns = match delay {
            Some((term, ready_ns)) if term == status.term => ready_ns,
            _ => {
                let ready_ns = asked.saturating_add(nanos(spare));
                delay = Some((status.term, ready_ns));
                ready_ns
            }
        };
        let now = monotonic_ns();
        if now < ready_ns {
            note(
                &mut was,
                format!(
                    "lock delay: Goose in term {}, waiting one lease",
                    status.term
                ),
            );
            sleep(Duration::from_nanos(ready_ns - now).min(settings.poll));
            continue;
        }
        note(&mut was, format!("working: Goose in term {}", status.term));
        let start_ns = monotonic_ns();
        work(settings.unit);
        let end_ns = monotonic_ns();
        println!(
            "unit node={} term={} start_ns={start_ns} end_ns={end_ns}",
            status.id, status.term
        );
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One unit of "work": here, just time passing.
fn work(unit: Duration) {
    sleep(unit);
}

/// Logs `now` on stderr when it differs from the previous state.
fn note(was: &mut String, now: String) {
    if *was != now {
        eprintln!("sidecar: {now}");
        *was = now;
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Settings, String> {
    let mut settings = Settings {
        node: "127.0.0.1:8080".to_owned(),
        unit: Duration::from_millis(100),
        margin: Duration::from_millis(50),
        poll: Duration::from_millis(20),
        give_up: Duration::from_secs(10),
    };
    while let Some(arg) = args.next() {
        // `--flag value` or `--flag=value`.
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), value.to_owned()),
            None => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                (arg, value)
            }
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} {value}: not a whole number"))
        };
        match flag.as_str() {
            "--node" => settings.node = value.clone(),
            "--unit-ms" => settings.unit = Duration::from_millis(number()?),
            "--margin-ms" => settings.margin = Duration::from_millis(number()?),
            "--poll-ms" => settings.poll = Duration::from_millis(number()?),
            "--give-up-s" => settings.give_up = Duration::from_secs(number()?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(settings)
}

/// `GET /status` with a hand-written HTTP/1.1 request.
fn get_status(node: &str) -> io::Result<Status> {
    let addr: SocketAddr = node
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{node} resolves to no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, POLL_TIMEOUT)?;
    stream.set_read_timeout(Some(POLL_TIMEOUT))?;
    stream.set_write_timeout(Some(POLL_TIMEOUT))?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: {node}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(invalid(head.lines().next().unwrap_or("no status line")));
    }
    parse_status(body).ok_or_else(|| invalid("not a /status answer"))
}

/// The top-level fields of a `/status` JSON object. The values this app
/// needs are numbers, `null` and a plain string, so a scanner that skips
/// nested objects is enough.
fn parse_status(body: &str) -> Option<Status> {
    let fields = top_level_fields(body)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    Some(Status {
        id: field("id")?.parse().ok()?,
        role: field("role")?.trim_matches('"').to_owned(),
        term: field("term")?.parse().ok()?,
        lease_ms: match field("lease_ms")? {
            "null" => None,
            number => Some(number.parse().ok()?),
        },
    })
}

/// `(key, raw value)` for every member of the outermost JSON object; nested
/// values come back as their raw text.
fn top_level_fields(body: &str) -> Option<Vec<(String, String)>> {
    let inner = body.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut fields = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (at, c) in inner.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => {
                fields.push(split_member(&inner[start..at])?);
                start = at + 1;
            }
            _ => {}
        }
    }
    fields.push(split_member(&inner[start..])?);
    Some(fields)
}

/// `"key": value` into the key and the value's text.
fn split_member(member: &str) -> Option<(String, String)> {
    let (key, value) = member.split_once(':')?;
    let key = key.trim().strip_prefix('"')?.strip_suffix('"')?;
    Some((key.to_owned(), value.trim().to_owned()))
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock every container on a host
/// shares, unlike `std::time::Instant`, whose value cannot be printed.
fn monotonic_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        /// The C library's, which every Rust program on Linux links.
        fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
    }
    const CLOCK_MONOTONIC: i32 = 1;
    let mut now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the whole call, and
    // CLOCK_MONOTONIC exists on every Linux, so the call cannot fail.
    let failed = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut now) } != 0;
    assert!(!failed, "CLOCK_MONOTONIC is always available on Linux");
    // Both fields are non-negative for CLOCK_MONOTONIC.
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_top_level_fields_of_a_goose_answer() {
        let body = r#"{"id":2,"role":"Goose","term":7,"leader":2,"lease_ms":231,"goose":{"id":2,"term":7,"addr":"node2:7000","meta":{"k":"a,\"}b"}}}"#;
        assert_eq!(
            parse_status(body),
            Some(Status {
                id: 2,
                role: "Goose".to_owned(),
                term: 7,
                lease_ms: Some(231)
            })
        );
    }

    #[test]
    fn reads_a_duck_answer_without_a_lease() {
        let body = r#"{"id":3,"role":"Duck","term":7,"leader":2,"lease_ms":null,"goose":null}"#;
        assert_eq!(
            parse_status(body),
            Some(Status {
                id: 3,
                role: "Duck".to_owned(),
                term: 7,
                lease_ms: None
            })
        );
    }

    #[test]
    fn refuses_what_is_not_a_status_answer() {
        assert_eq!(parse_status("not json"), None);
        assert_eq!(parse_status(r#"{"id":1}"#), None);
        assert_eq!(
            parse_status(r#"{"id":1,"role":"Goose","term":"x","lease_ms":null}"#),
            None
        );
    }

    #[test]
    fn parses_flags_and_refuses_unknown_ones() {
        let settings = parse_args(
            ["--unit-ms", "40", "--node=10.0.0.2:80"]
                .map(String::from)
                .into_iter(),
        )
        .expect("valid flags");
        assert_eq!(settings.unit, Duration::from_millis(40));
        assert_eq!(settings.node, "10.0.0.2:80");
        assert_eq!(
            parse_args(["--bogus", "1"].map(String::from).into_iter()).unwrap_err(),
            "unknown flag --bogus"
        );
        assert_eq!(
            parse_args(["--poll-ms"].map(String::from).into_iter()).unwrap_err(),
            "--poll-ms needs a value"
        );
    }
}
