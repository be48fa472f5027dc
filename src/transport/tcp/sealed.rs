//! Frames as they travel after a handshake: a postcard body, followed by
//! its HMAC tag when the cluster has a key.
//!
//! One place orders the steps, so that every sender checks the size before
//! it tags (a frame too large to send must not consume a sequence number,
//! or the peer would refuse every frame after it) and every receiver checks
//! the tag before it decodes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::auth::{AuthError, FrameAuth, TAG_LEN};
use super::frame::{self, FrameError, LEN_PREFIX_LEN, MAX_FRAME_LEN};

/// Why a frame could not be sealed or opened.
#[derive(Debug, Error)]
pub(crate) enum SealError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Appends one frame holding `value` to `buf`, tagged with `auth` when
/// given. On error `buf` is left as it was; when the frame would exceed
/// [`MAX_FRAME_LEN`] the error is [`FrameError::Oversized`] and `auth` has
/// not moved on.
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut Vec<u8>,
    auth: Option<&mut FrameAuth>,
) -> Result<(), SealError> {
    let start = frame::begin_frame(buf);
    if let Err(e) = frame::encode_body(value, buf) {
        buf.truncate(start);
        return Err(e.into());
    }
    let tag_len = if auth.is_some() { TAG_LEN } else { 0 };
    let body_len = buf.len() - start - LEN_PREFIX_LEN + tag_len;
    if body_len > MAX_FRAME_LEN {
        buf.truncate(start);
        return Err(FrameError::Oversized {
            len: body_len as u64,
            max: MAX_FRAME_LEN,
        }
        .into());
    }
    if let Some(auth) = auth {
        match auth.seal(&buf[start + LEN_PREFIX_LEN..]) {
            Ok(tag) => buf.extend_from_slice(&tag),
            Err(e) => {
                buf.truncate(start);
                return Err(e.into());
            }
        }
    }
    frame::finish_frame(buf, start)?;
    Ok(())
}

/// Checks `body`'s tag with `auth` (when given), then decodes the payload
/// as a `T`.
pub(crate) fn decode<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    auth: Option<&mut FrameAuth>,
) -> Result<T, SealError> {
    let payload = match auth {
        Some(auth) => auth.open(body)?,
        None => body,
    };
    Ok(frame::decode_body(payload)?)
}
