//! The wire codec: length-prefixed frames carrying postcard payloads.
//!
//! A frame is a `u32` big-endian body length followed by the body. The body is
//! a postcard-encoded value, followed by an HMAC tag when the cluster has a
//! key (the tag is the caller's business; this module only moves bytes).
//!
//! Everything here is pure and synchronous, so it can be fuzzed directly: the
//! decoder reads the length before it allocates, refuses anything above
//! [`MAX_FRAME_LEN`], and returns a typed error instead of panicking.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bytes in a frame's length prefix.
pub const LEN_PREFIX_LEN: usize = 4;

/// The largest frame body accepted or produced: 64 KiB.
///
/// Most frames are a few dozen bytes. The largest are heartbeats carrying a
/// membership (and join replies): about 5 bytes per member plus its address
/// and its metadata, which for all members together is at most
/// [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN)
/// (16 KiB). So a frame holds some 1,400 members with 40-byte addresses and
/// no metadata, or some 240 with the longest DNS names; with the metadata
/// bound used up, still some 160 with the longest DNS names. A message that
/// would not fit is dropped at
/// sending and counted
/// ([`TransportStats::dropped_oversized`](super::TransportStats::dropped_oversized)).
/// The cap bounds what a broken or hostile peer can make a node allocate.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix (or an encoded body) exceeds the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    Oversized {
        /// The announced or produced body length.
        len: u64,
        /// The maximum in force.
        max: usize,
    },
    /// The body is not a valid postcard encoding of the expected type.
    #[error("undecodable frame body: {0}")]
    Decode(#[source] postcard::Error),
    /// The body decoded, but bytes were left over after the value.
    #[error("{0} trailing bytes after the frame body")]
    TrailingBytes(usize),
    /// The value could not be encoded.
    #[error("unencodable value: {0}")]
    Encode(#[source] postcard::Error),
}

/// Starts a frame at the end of `buf`: reserves its length prefix and returns
/// the frame's start offset, for [`finish_frame`].
///
/// Between the two calls the caller appends the body to `buf`.
pub fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; LEN_PREFIX_LEN]);
    start
}

/// Finishes the frame begun at `start`: writes its length prefix.
///
/// When the body exceeds [`MAX_FRAME_LEN`] the frame is removed from `buf`
/// again and an error returned, so `buf` never holds a frame the peer would
/// refuse.
///
/// # Panics
///
/// If `start` was not returned by [`begin_frame`] on this buffer (a caller
/// bug; no input can cause it).
pub fn finish_frame(buf: &mut Vec<u8>, start: usize) -> Result<(), FrameError> {
    let body_len = buf.len().saturating_sub(start + LEN_PREFIX_LEN);
    match u32::try_from(body_len) {
        Ok(len) if body_len <= MAX_FRAME_LEN => {
            buf[start..start + LEN_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        _ => {
            buf.truncate(start);
            Err(FrameError::Oversized {
                len: body_len as u64,
                max: MAX_FRAME_LEN,
            })
        }
    }
}

/// Appends `value`'s postcard encoding to `buf`.
pub fn encode_body<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    postcard::to_io(value, buf)
        .map(|_| ())
        .map_err(FrameError::Encode)
}

/// Appends one complete frame holding `value` to `buf` (which the caller
/// reuses across frames to avoid allocating).
pub fn encode_frame<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = begin_frame(buf);
    if let Err(e) = encode_body(value, buf) {
        buf.truncate(start);
        return Err(e);
    }
    finish_frame(buf, start)
}

/// Decodes a whole frame body as a `T`; leftover bytes are an error, so every
/// accepted body has exactly one meaning.
pub fn decode_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FrameError> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(FrameError::Decode)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(FrameError::TrailingBytes(rest.len()))
    }
}

/// Reads a length prefix, refusing lengths above `max_len` before anything is
/// allocated for the body.
pub fn parse_len_prefix(prefix: [u8; LEN_PREFIX_LEN], max_len: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(len) if len <= max_len => Ok(len),
        _ => Err(FrameError::Oversized {
            len: u64::from(len),
            max: max_len,
        }),
    }
}

/// Splits one frame off the front of `input`: `Ok(Some((body, consumed)))`
/// when a whole frame is there, `Ok(None)` when more bytes are needed.
///
/// The one-shot twin of [`FrameDecoder`], against which the tests check it.
#[cfg(test)]
pub fn split_frame(input: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some((prefix, rest)) = input.split_first_chunk::<LEN_PREFIX_LEN>() else {
        return Ok(None);
    };
    let len = parse_len_prefix(*prefix, MAX_FRAME_LEN)?;
    Ok(rest.get(..len).map(|body| (body, LEN_PREFIX_LEN + len)))
}

/// An incremental frame decoder: feed it bytes as they arrive, in chunks of
/// any size, and it yields whole frame bodies.
///
/// Its buffer never grows beyond the current maximum frame length: the length
/// prefix is checked first, then exactly that many bytes are reserved.
#[derive(Debug)]
pub struct FrameDecoder {
    max_len: usize,
    prefix: [u8; LEN_PREFIX_LEN],
    prefix_filled: usize,
    /// The body length once the prefix is complete.
    body_len: Option<usize>,
    body: Vec<u8>,
    /// Set when `body` holds a finished frame, so the next call starts anew.
    complete: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to [`MAX_FRAME_LEN`].
    pub fn new() -> Self {
        Self::with_max_len(MAX_FRAME_LEN)
    }

    /// A decoder accepting frames up to `max_len` bytes (capped at
    /// [`MAX_FRAME_LEN`]); a handshake uses a small limit so that an
    /// unauthenticated peer cannot make a node reserve much.
    pub fn with_max_len(max_len: usize) -> Self {
        FrameDecoder {
            max_len: max_len.min(MAX_FRAME_LEN),
            prefix: [0; LEN_PREFIX_LEN],
            prefix_filled: 0,
            body_len: None,
            body: Vec::new(),
            complete: false,
        }
    }

    /// Changes the maximum for frames whose length prefix has not been read
    /// yet (capped at [`MAX_FRAME_LEN`]).
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len.min(MAX_FRAME_LEN);
    }

    /// Consumes bytes from the front of `input` until one frame is complete.
    ///
    /// Returns `Ok(true)` when a frame is ready (read it with
    /// [`frame`](Self::frame); the rest of `input` is left for the next
    /// call), `Ok(false)` when all of `input` was consumed without completing
    /// one. After an error the decoder is unusable: close the connection.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<bool, FrameError> {
        if self.complete {
            self.complete = false;
            self.prefix_filled = 0;
            self.body_len = None;
            self.body.clear();
        }
        let body_len = match self.body_len {
            Some(len) => len,
            None => {
                let take = (LEN_PREFIX_LEN - self.prefix_filled).min(input.len());
                self.prefix[self.prefix_filled..self.prefix_filled + take]
                    .copy_from_slice(&input[..take]);
                self.prefix_filled += take;
                *input = &input[take..];
                if self.prefix_filled < LEN_PREFIX_LEN {
                    return Ok(false);
                }
                let len = parse_len_prefix(self.prefix, self.max_len)?;
                // The length is known and within bounds: reserve exactly it.
                self.body.reserve_exact(len);
                self.body_len = Some(len);
                len
            }
        };
        let take = (body_len - self.body.len()).min(input.len());
        self.body.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.body.len() == body_len {
            self.complete = true;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// The body of the frame [`decode`](Self::decode) just completed (empty
    /// if none is complete).
    pub fn frame(&self) -> &[u8] {
        if self.complete { &self.body } else { &[] }
    }

    /// Bytes currently reserved for frame bodies; never above the maximum
    /// frame length (what the tests check).
    #[cfg(test)]
    pub fn buffer_capacity(&self) -> usize {
        self.body.capacity()
    }
}

/// Why reading a frame from a socket stopped.
#[derive(Debug, Error)]
pub(crate) enum ReadError {
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// The bytes were not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Bytes read from the socket per system call.
const READ_CHUNK: usize = 4096;

/// Reads frames from an async byte stream through a [`FrameDecoder`].
#[derive(Debug)]
pub(crate) struct FrameReader {
    decoder: FrameDecoder,
    buf: Box<[u8]>,
    /// The unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl FrameReader {
    pub(crate) fn new(max_len: usize) -> Self {
        FrameReader {
            decoder: FrameDecoder::with_max_len(max_len),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    pub(crate) fn set_max_len(&mut self, max_len: usize) {
        self.decoder.set_max_len(max_len);
    }

    /// Whether bytes past the last frame returned have been read already
    /// (the start of another frame).
    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Reads until one whole frame is available and returns its body.
    pub(crate) async fn next_frame<R>(&mut self, reader: &mut R) -> Result<&[u8], ReadError>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        use tokio::io::AsyncReadExt;
        loop {
            let mut input = &self.buf[self.start..self.end];
            let available = input.len();
            let done = self.decoder.decode(&mut input);
            let consumed = available - input.len();
            self.start += consumed;
            if done? {
                return Ok(self.decoder.frame());
            }
            // `decode` consumed everything without completing a frame.
            let n = reader.read(&mut self.buf).await?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

// Property tests: proptest comes with the `sim` feature (not as a
// dev-dependency, so that building an example never compiles it).
#[cfg(all(test, feature = "sim"))]
mod tests;
