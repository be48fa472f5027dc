//! Authentication with the pre-shared cluster key: HMAC-SHA256 tags on the
//! handshake and on every frame.
//!
//! Every tag starts with a distinct domain label so a tag made for one purpose
//! never verifies for another. Frame tags cover the connection nonce (chosen
//! afresh by the acceptor for every connection) and an implicit sequence
//! number, so a frame replayed, reordered or moved to another connection
//! fails. Verification goes through `Mac::verify_slice`, which compares in
//! constant time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Bytes in an HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;
/// Bytes in a connection or hello nonce.
pub(crate) const NONCE_LEN: usize = 16;

/// A tag as carried on the wire.
pub(crate) type Tag = [u8; TAG_LEN];
/// A nonce as carried on the wire.
pub(crate) type Nonce = [u8; NONCE_LEN];

const ACK_LABEL: &[u8] = b"duckduckgoose/tcp/v1/ack";
const AUTH_LABEL: &[u8] = b"duckduckgoose/tcp/v1/auth";
const FRAME_LABEL: &[u8] = b"duckduckgoose/tcp/v1/frame";

/// A tag did not verify, or a frame was too short to carry one.
#[derive(Debug, Error)]
pub(crate) enum AuthError {
    #[error("authentication tag does not verify")]
    BadTag,
    #[error("frame of {0} bytes is too short to carry a tag")]
    Truncated(usize),
    #[error("frame sequence numbers exhausted")]
    SequenceExhausted,
}

/// The pre-shared cluster key, as a keyed HMAC state ready to be cloned.
#[derive(Clone)]
pub(crate) struct ClusterKey {
    base: HmacSha256,
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(<redacted>)")
    }
}

impl ClusterKey {
    /// Prepares `key`. HMAC takes keys of any length, so the error is
    /// theoretical; it is passed on rather than unwrapped all the same.
    pub(crate) fn new(key: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(ClusterKey {
            base: HmacSha256::new_from_slice(key)?,
        })
    }

    fn mac(&self, label: &[u8]) -> HmacSha256 {
        let mut mac = self.base.clone();
        mac.update(label);
        mac
    }

    fn transcript_mac(&self, label: &[u8], hello: &[u8], ack_nonce: &Nonce) -> HmacSha256 {
        let mut mac = self.mac(label);
        // `hello` is the exact encoded hello body; the nonce after it has a
        // fixed length, so the concatenation is unambiguous.
        mac.update(hello);
        mac.update(ack_nonce);
        mac
    }

    /// The acceptor's proof, in its ack, that it holds the key and saw this
    /// very hello (which carries the dialer's fresh nonce).
    pub(crate) fn ack_tag(&self, hello: &[u8], ack_nonce: &Nonce) -> Tag {
        self.transcript_mac(ACK_LABEL, hello, ack_nonce)
            .finalize()
            .into_bytes()
            .into()
    }

    pub(crate) fn verify_ack_tag(
        &self,
        hello: &[u8],
        ack_nonce: &Nonce,
        tag: &[u8],
    ) -> Result<(), AuthError> {
        self.transcript_mac(ACK_LABEL, hello, ack_nonce)
            .verify_slice(tag)
            .map_err(|_| AuthError::BadTag)
    }

    /// The dialer's proof that it holds the key and that its hello answers
    /// this connection's challenge (the acceptor's nonce).
    pub(crate) fn auth_tag(&self, hello: &[u8], ack_nonce: &Nonce) -> Tag {
        self.transcript_mac(AUTH_LABEL, hello, ack_nonce)
            .finalize()
            .into_bytes()
            .into()
    }

    pub(crate) fn verify_auth_tag(
        &self,
        hello: &[u8],
        ack_nonce: &Nonce,
        tag: &[u8],
    ) -> Result<(), AuthError> {
        self.transcript_mac(AUTH_LABEL, hello, ack_nonce)
            .verify_slice(tag)
            .map_err(|_| AuthError::BadTag)
    }

    /// Tags (or checks) the frames of one connection.
    pub(crate) fn frames(&self, nonce: Nonce) -> FrameAuth {
        let mut base = self.mac(FRAME_LABEL);
        base.update(&nonce);
        FrameAuth { base, next_seq: 0 }
    }
}

/// Tags or verifies the frames of one connection, in order.
///
/// The sequence number is implicit: both ends count frames, so it costs no
/// bytes and any replayed, dropped-and-resent or reordered frame fails.
#[derive(Clone)]
pub(crate) struct FrameAuth {
    /// The keyed state after the label and the connection nonce.
    base: HmacSha256,
    next_seq: u64,
}

impl fmt::Debug for FrameAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameAuth")
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl FrameAuth {
    fn mac_for_next(&mut self, payload: &[u8]) -> Result<HmacSha256, AuthError> {
        let seq = self.next_seq;
        self.next_seq = seq.checked_add(1).ok_or(AuthError::SequenceExhausted)?;
        let mut mac = self.base.clone();
        mac.update(&seq.to_be_bytes());
        mac.update(payload);
        Ok(mac)
    }

    /// The tag for the next outgoing frame with this payload.
    pub(crate) fn seal(&mut self, payload: &[u8]) -> Result<Tag, AuthError> {
        Ok(self.mac_for_next(payload)?.finalize().into_bytes().into())
    }

    /// Checks the next incoming frame body (payload then tag) and returns the
    /// payload.
    pub(crate) fn open<'a>(&mut self, body: &'a [u8]) -> Result<&'a [u8], AuthError> {
        let payload_len = body
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(AuthError::Truncated(body.len()))?;
        let (payload, tag) = body.split_at(payload_len);
        self.mac_for_next(payload)?
            .verify_slice(tag)
            .map_err(|_| AuthError::BadTag)?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_verify_in_order_only() {
        let key = ClusterKey::new(b"secret").expect("HMAC takes any key length");
        let mut tx = key.frames([1; NONCE_LEN]);
        let mut rx = key.frames([1; NONCE_LEN]);
        let mut bodies = Vec::new();
        for payload in [&b"one"[..], b"two"] {
            let mut body = payload.to_vec();
            body.extend_from_slice(&tx.seal(payload).expect("fresh sequence"));
            bodies.push(body);
        }
        // Out of order: the second frame under the first sequence number.
        assert!(rx.clone().open(&bodies[1]).is_err());
        assert_eq!(rx.open(&bodies[0]).expect("in order"), b"one");
        assert_eq!(rx.open(&bodies[1]).expect("in order"), b"two");
        // Replayed.
        assert!(rx.open(&bodies[1]).is_err());
        // Another connection's nonce.
        let mut other = key.frames([2; NONCE_LEN]);
        assert!(other.open(&bodies[0]).is_err());
        // Another key.
        let mut wrong = ClusterKey::new(b"other")
            .expect("HMAC takes any key length")
            .frames([1; NONCE_LEN]);
        assert!(wrong.open(&bodies[0]).is_err());
        assert!(matches!(
            key.frames([1; NONCE_LEN]).open(&[0; 5]),
            Err(AuthError::Truncated(5))
        ));
    }

    #[test]
    fn handshake_tags_are_domain_separated() {
        let key = ClusterKey::new(b"secret").expect("HMAC takes any key length");
        let nonce = [9; NONCE_LEN];
        let ack = key.ack_tag(b"hello", &nonce);
        let auth = key.auth_tag(b"hello", &nonce);
        assert!(key.verify_ack_tag(b"hello", &nonce, &ack).is_ok());
        assert!(key.verify_auth_tag(b"hello", &nonce, &auth).is_ok());
        assert!(key.verify_auth_tag(b"hello", &nonce, &ack).is_err());
        assert!(key.verify_ack_tag(b"hellp", &nonce, &ack).is_err());
        assert!(key.verify_ack_tag(b"hello", &[8; NONCE_LEN], &ack).is_err());
    }
}
