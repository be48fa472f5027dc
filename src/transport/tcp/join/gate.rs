//! The admission gate of join connections: which requests are answered at
//! all. A request is one well-formed frame, authenticated with the cluster
//! key when there is one, from the node the hello named, alone on its
//! connection; and only so many are answered at once and per second. The
//! rest close the connection ([`Violation`]) or are refused as busy.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout};

use super::super::auth::{AuthError, FrameAuth};
use super::super::config::TcpConfig;
use super::super::frame::{FrameError, FrameReader, ReadError};
use super::super::handshake;
use super::super::sealed::{self, SealError};
use super::super::stats::{Counters, bump};
use super::{MAX_REQUEST_FRAME_LEN, REQUEST_MAGIC, Request, RequestFrame};
use crate::core::NodeId;

/// Reasons the transport gives when it refuses a request as busy.
const BUSY_AT_ONCE: &str = "busy: too many join requests at once; retry later";
const BUSY_RATE: &str = "busy: too many join requests; retry later";

/// Limits join requests: how many at once, and how fast.
#[derive(Debug)]
pub(crate) struct JoinGate {
    slots: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
}

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug)]
struct Bucket {
    tokens: u32,
    burst: u32,
    interval: Duration,
    refilled_at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        // The interval is validated non-zero; `max` only keeps the division
        // defined whatever it holds.
        let earned = elapsed.as_nanos() / self.interval.as_nanos().max(1);
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            // Keep the part of an interval already waited, unless full.
            self.refilled_at = match self.interval.checked_mul(earned) {
                Some(used) if self.tokens < self.burst => self.refilled_at + used,
                _ => now,
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

impl JoinGate {
    pub(crate) fn new(config: &TcpConfig) -> Self {
        JoinGate {
            slots: Arc::new(Semaphore::new(config.max_join_connections)),
            bucket: Mutex::new(Bucket {
                tokens: config.join_rate_burst,
                burst: config.join_rate_burst,
                interval: config.join_rate_interval,
                refilled_at: Instant::now(),
            }),
        }
    }

    fn bucket(&self) -> MutexGuard<'_, Bucket> {
        // Nothing panics while holding the lock, and the bucket is valid
        // between any two operations, so a poisoned lock is still safe.
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot to answer one request in, or why there is none.
    pub(super) fn admit(&self) -> Result<OwnedSemaphorePermit, &'static str> {
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| BUSY_AT_ONCE)?;
        if self.bucket().take(Instant::now()) {
            Ok(slot)
        } else {
            Err(BUSY_RATE)
        }
    }
}

/// Why a join connection was closed without an answer.
#[derive(Debug, Error)]
pub(super) enum Violation {
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("request refused: {0}")]
    Auth(#[from] AuthError),
    #[error("request undecodable: {0}")]
    Decode(#[from] FrameError),
    #[error("a frame that is not a join request")]
    NotARequest,
    #[error("a request for node {request} on a hello from node {hello}")]
    IdMismatch { request: NodeId, hello: NodeId },
    #[error("a second frame after the request")]
    SecondFrame,
    #[error("no request within the handshake timeout")]
    Timeout,
}

impl From<SealError> for Violation {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Auth(e) => e.into(),
            SealError::Frame(e) => e.into(),
        }
    }
}

impl Violation {
    /// Counts the closed connection, and its cause where one is counted.
    pub(super) fn count(&self, counters: &Counters) {
        bump(&counters.join_violations);
        match self {
            Violation::Auth(_) => bump(&counters.auth_failures),
            Violation::Decode(e) | Violation::Read(ReadError::Frame(e)) => {
                handshake::count_frame_error(e, counters);
            }
            Violation::NotARequest => bump(&counters.decode_errors),
            _ => {}
        }
    }
}

/// Reads the one request a join connection carries, within
/// `handshake_timeout`, and checks that it is the only frame and that it
/// asks for the node the hello named (`from`).
pub(super) async fn receive_request(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    from: NodeId,
    auth: Option<&mut FrameAuth>,
    handshake_timeout: Duration,
) -> Result<Request, Violation> {
    // The request may carry up to 1 KiB of metadata: more than a handshake
    // frame.
    reader.set_max_len(MAX_REQUEST_FRAME_LEN);
    let read = timeout(handshake_timeout, read_request(stream, reader, auth))
        .await
        .unwrap_or(Err(Violation::Timeout));
    match read {
        Ok(request) if request.id != from => Err(Violation::IdMismatch {
            request: request.id,
            hello: from,
        }),
        // Frames the joiner sent at once with its request are read already.
        Ok(_) if reader.has_buffered() => Err(Violation::SecondFrame),
        other => other,
    }
}

async fn read_request(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    auth: Option<&mut FrameAuth>,
) -> Result<Request, Violation> {
    let body = reader.next_frame(stream).await?;
    let frame: RequestFrame<'_> = sealed::decode(body, auth).map_err(|e| match e {
        // Decodes as garbage or as another type: either way not a request.
        SealError::Frame(FrameError::Decode(_) | FrameError::TrailingBytes(_)) => {
            Violation::NotARequest
        }
        other => other.into(),
    })?;
    if frame.magic != REQUEST_MAGIC {
        return Err(Violation::NotARequest);
    }
    Ok(Request {
        id: frame.id,
        addr: frame.addr.to_owned(),
        forwarded: frame.forwarded,
        metadata: frame
            .metadata
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::super::super::auth::ClusterKey;
    use super::super::super::frame::MAX_FRAME_LEN;
    use super::*;

    const JOINER: NodeId = NodeId(4);
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(200);

    /// A connected pair: the joiner's end and the member's.
    async fn connection() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let (joiner, member) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (joiner.expect("connect"), member.expect("accept").0)
    }

    fn request(id: NodeId, auth: Option<&mut FrameAuth>) -> Vec<u8> {
        let frame = RequestFrame {
            magic: REQUEST_MAGIC,
            id,
            addr: "10.0.0.4:7000",
            forwarded: false,
            metadata: BTreeMap::from([("http", "http://10.0.0.4:8080")]),
        };
        let mut out = Vec::new();
        sealed::encode(&frame, &mut out, auth).expect("fits");
        out
    }

    /// A request from the joiner sealed with `key`, on nonce `[7; 16]`.
    fn request_with(key: &ClusterKey) -> Vec<u8> {
        request(JOINER, Some(&mut key.frames([7; 16])))
    }

    /// What the gate makes of `bytes` sent by the joiner, read with
    /// `auth` on the member's side.
    async fn gate(bytes: &[u8], auth: Option<&mut FrameAuth>) -> Result<Request, Violation> {
        let (mut joiner, mut member) = connection().await;
        joiner.write_all(bytes).await.expect("write");
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        receive_request(&mut member, &mut reader, JOINER, auth, HANDSHAKE_TIMEOUT).await
    }

    #[tokio::test]
    async fn one_request_from_the_hellos_sender_passes() {
        let request = gate(&request(JOINER, None), None).await.expect("admitted");
        assert_eq!(
            (request.id, request.addr.as_str()),
            (JOINER, "10.0.0.4:7000")
        );
        assert!(!request.forwarded);
        assert_eq!(
            request.metadata,
            BTreeMap::from([("http".to_owned(), "http://10.0.0.4:8080".to_owned())])
        );

        let key = ClusterKey::new(b"horse").expect("any length");
        let sealed = request_with(&key);
        let mut auth = key.frames([7; 16]);
        assert!(gate(&sealed, Some(&mut auth)).await.is_ok());
    }

    #[tokio::test]
    async fn everything_else_is_a_violation() {
        let one = request(JOINER, None);
        assert!(matches!(
            gate(&request(NodeId(5), None), None).await,
            Err(Violation::IdMismatch {
                request: NodeId(5),
                hello: JOINER
            })
        ));
        assert!(matches!(
            gate(&[one.clone(), one].concat(), None).await,
            Err(Violation::SecondFrame)
        ));
        // A protocol message, or anything else that is not a request.
        let mut other = Vec::new();
        sealed::encode(&BTreeMap::from([(1u8, 2u8)]), &mut other, None).expect("fits");
        assert!(matches!(
            gate(&other, None).await,
            Err(Violation::NotARequest)
        ));
        let wrong_key = ClusterKey::new(b"cow").expect("any length");
        let key = ClusterKey::new(b"horse").expect("any length");
        let mut auth = key.frames([7; 16]);
        assert!(matches!(
            gate(&request_with(&wrong_key), Some(&mut auth)).await,
            Err(Violation::Auth(_))
        ));
        assert!(matches!(gate(&[], None).await, Err(Violation::Timeout)));
    }

    #[test]
    fn the_gate_bounds_requests_at_once_and_in_rate() {
        let mut config = TcpConfig::new(NodeId(1), "c");
        config.max_join_connections = 2;
        config.join_rate_burst = 3;
        config.join_rate_interval = Duration::from_secs(3600);
        let gate = JoinGate::new(&config);
        let first = gate.admit().expect("a slot");
        let second = gate.admit().expect("a slot");
        assert_eq!(gate.admit().err(), Some(BUSY_AT_ONCE));
        drop((first, second));
        // The third token of the burst; then the bucket is empty.
        assert!(gate.admit().is_ok());
        assert_eq!(gate.admit().err(), Some(BUSY_RATE));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut bucket = Bucket {
            tokens: 3,
            burst: 3,
            interval,
            refilled_at: start,
        };
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(!bucket.take(start + interval / 2));
        assert!(bucket.take(start + interval));
        assert!(!bucket.take(start + interval + interval / 2));
        // Half an interval was kept: one more at two intervals.
        assert!(bucket.take(start + interval * 2));
        // A long pause refills up to the burst, no more.
        let later = start + interval * 1000;
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }
}
