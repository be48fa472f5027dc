//! Who may call the admin routes: a bearer token, compared in constant
//! time, or nobody checked at all ([`AdminAuth::Open`]).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use hmac::digest::CtOutput;
use sha2::{Digest, Sha256};

/// The longest admin token accepted, in bytes. A token of 32 random bytes
/// written as hex is 64; the bound keeps a wrong file (a log, a key ring)
/// from being read whole into memory.
pub const MAX_ADMIN_TOKEN_BYTES: usize = 1024;

/// The secret an admin request must present as `Authorization: Bearer
/// <token>`.
///
/// A token is 1 to [`MAX_ADMIN_TOKEN_BYTES`] bytes of printable ASCII
/// (`!` to `~`): no spaces, tabs, line breaks, control characters or
/// non-ASCII, which do not survive an HTTP header unchanged. Use a long
/// random one, e.g. `openssl rand -hex 32`.
///
/// Only the token's SHA-256 digest is kept, and a presented token is
/// hashed the same way and compared in constant time, so how long a
/// refusal takes says nothing about how much of the token was right, nor
/// how long it is. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminToken {
    digest: CtOutput<Sha256>,
}

impl AdminToken {
    /// The token `token`, exactly: nothing is trimmed (a token with a
    /// trailing newline is refused, not silently shortened).
    pub fn new(token: impl AsRef<[u8]>) -> Result<Self, AdminTokenError> {
        let token = token.as_ref();
        check(token)?;
        Ok(AdminToken {
            digest: digest(token),
        })
    }

    /// The token in the file at `path`: the file's bytes without one
    /// trailing line ending (`\n` or `\r\n`, as editors and `echo` write
    /// it). Nothing else is trimmed: leading or trailing spaces, or a second
    /// line, make the token invalid rather than one the client must guess.
    ///
    /// Reads the file synchronously; call it at startup.
    ///
    /// ```
    /// use duckduckgoose::http::{AdminToken, AdminTokenError, AdminTokenFileError};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("admin-token");
    /// std::fs::write(&path, "9f86d081884c7d659a2feaa0c55ad015\n")?;
    /// let token = AdminToken::from_file(&path)?;
    /// assert!(token.matches(b"9f86d081884c7d659a2feaa0c55ad015"));
    ///
    /// std::fs::write(&path, "\n")?;
    /// assert!(matches!(
    ///     AdminToken::from_file(&path),
    ///     Err(AdminTokenFileError::Invalid { source: AdminTokenError::Empty, .. })
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AdminTokenFileError> {
        let path = path.as_ref();
        let unreadable = |source| AdminTokenFileError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        // Enough to tell a token at the limit plus "\r\n" from a longer one.
        let read_limit = MAX_ADMIN_TOKEN_BYTES + 3;
        let mut bytes = Vec::new();
        file.take(read_limit as u64)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        let token = strip_line_ending(&bytes);
        AdminToken::new(token).map_err(|source| AdminTokenFileError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where it differs or on its length (beyond hashing it).
    pub fn matches(&self, presented: &[u8]) -> bool {
        digest(presented) == self.digest
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The SHA-256 digest of `bytes`, whose `==` runs in constant time.
fn digest(bytes: &[u8]) -> CtOutput<Sha256> {
    CtOutput::new(Sha256::digest(bytes))
}

/// Checks the bounds [`AdminToken`] documents.
fn check(token: &[u8]) -> Result<(), AdminTokenError> {
    if token.is_empty() {
        return Err(AdminTokenError::Empty);
    }
    if token.len() > MAX_ADMIN_TOKEN_BYTES {
        return Err(AdminTokenError::TooLong {
            len_bytes: token.len(),
        });
    }
    match token.iter().position(|byte| !byte.is_ascii_graphic()) {
        Some(position) => Err(AdminTokenError::InvalidByte { position }),
        None => Ok(()),
    }
}

/// `bytes` without one trailing `\n` or `\r\n`.
fn strip_line_ending(bytes: &[u8]) -> &[u8] {
    // A lone trailing `\r` is not a line ending; `check` refuses it.
    match bytes.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => bytes,
    }
}

/// Why a token is not an [`AdminToken`]. The token itself is never part of
/// the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminTokenError {
    /// No bytes at all: every request would need `Bearer ` and nothing.
    #[error("the admin token is empty")]
    Empty,
    /// Longer than [`MAX_ADMIN_TOKEN_BYTES`].
    #[error("the admin token is longer than {MAX_ADMIN_TOKEN_BYTES} bytes ({len_bytes} or more)")]
    TooLong {
        /// The length seen; from a file, at most the bytes read.
        len_bytes: usize,
    },
    /// A byte that is not printable ASCII: whitespace, a control
    /// character, or non-ASCII (including any non-UTF-8).
    #[error(
        "the admin token has a byte at position {position} that is not printable ASCII \
         (no spaces, line breaks, control characters or non-ASCII)"
    )]
    InvalidByte {
        /// Its index, from 0.
        position: usize,
    },
}

/// Why [`AdminToken::from_file`] found no token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminTokenFileError {
    /// The file could not be opened or read.
    #[error("cannot read admin token file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file holds no valid token.
    #[error("admin token file {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: AdminTokenError,
    },
}

/// Who may call the admin routes (`POST /step-down`, `POST /members`,
/// `DELETE /members/{id}`).
#[derive(Clone, Debug)]
pub enum AdminAuth {
    /// Only requests with `Authorization: Bearer <token>`.
    Bearer(AdminToken),
    /// Nobody is checked: **anyone who can reach the listener can make
    /// this node step down, or remove any node from the cluster**. Only for
    /// a listener bound to loopback (`127.0.0.1`, `[::1]`) on a host whose
    /// every local user and process you trust, or behind a proxy that
    /// authenticates. The JSON content type is still required, so a web
    /// page in a local browser cannot post a form to it.
    Open,
}

impl AdminAuth {
    /// [`AdminAuth::Bearer`] with the token in the file at `path` (see
    /// [`AdminToken::from_file`]).
    pub fn bearer_from_file(path: impl AsRef<Path>) -> Result<Self, AdminTokenFileError> {
        AdminToken::from_file(path).map(AdminAuth::Bearer)
    }

    /// Whether `headers` carry what this policy asks for.
    pub(super) fn admits(&self, headers: &HeaderMap) -> Result<(), Denial> {
        let AdminAuth::Bearer(token) = self else {
            return Ok(());
        };
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Denial::Missing);
        };
        let value = value.as_bytes();
        // `Bearer` and the token, separated by one or more spaces
        // (RFC 7235); the scheme's case does not matter. Whitespace around
        // the token is not part of it (a token has none), as HTTP trims it
        // from a header value on the wire.
        let (scheme, rest) = match value.iter().position(|&byte| byte == b' ') {
            Some(space) => (&value[..space], &value[space..]),
            None => (value, &value[value.len()..]),
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(Denial::WrongScheme);
        }
        let presented = rest.trim_ascii();
        if token.matches(presented) {
            Ok(())
        } else {
            Err(Denial::WrongToken)
        }
    }
}

impl From<AdminToken> for AdminAuth {
    fn from(token: AdminToken) -> Self {
        AdminAuth::Bearer(token)
    }
}

/// Why an admin request was refused with `401`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denial {
    /// No `Authorization` header, or more than one.
    Missing,
    /// A scheme other than `Bearer` (`Basic`, say).
    WrongScheme,
    /// `Bearer` with another token.
    WrongToken,
}

impl Denial {
    /// What the `401` body says.
    pub(super) fn message(self) -> &'static str {
        match self {
            Denial::Missing => "admin requests need one Authorization: Bearer <token> header",
            Denial::WrongScheme => "the Authorization header must use the Bearer scheme",
            Denial::WrongToken => "the bearer token is not the admin token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "correct-horse-battery-staple";

    #[test]
    fn a_token_matches_itself_and_nothing_else() {
        let token = AdminToken::new(TOKEN).expect("valid");
        assert!(token.matches(TOKEN.as_bytes()));
        let longer = format!("{TOKEN}x");
        let mut last_changed = TOKEN.as_bytes().to_vec();
        *last_changed.last_mut().expect("not empty") ^= 1;
        let mut first_changed = TOKEN.as_bytes().to_vec();
        first_changed[0] ^= 1;
        for wrong in [
            &b""[..],
            &TOKEN.as_bytes()[..1],
            &TOKEN.as_bytes()[..TOKEN.len() - 1],
            longer.as_bytes(),
            &last_changed,
            &first_changed,
            TOKEN.to_uppercase().as_bytes(),
        ] {
            assert!(
                !token.matches(wrong),
                "{:?} matched",
                String::from_utf8_lossy(wrong)
            );
        }
    }

    #[test]
    fn tokens_out_of_bounds_are_refused() {
        assert_eq!(AdminToken::new("").unwrap_err(), AdminTokenError::Empty);
        assert!(AdminToken::new("x".repeat(MAX_ADMIN_TOKEN_BYTES)).is_ok());
        assert_eq!(
            AdminToken::new("x".repeat(MAX_ADMIN_TOKEN_BYTES + 1)).unwrap_err(),
            AdminTokenError::TooLong {
                len_bytes: MAX_ADMIN_TOKEN_BYTES + 1
            }
        );
        for (bad, position) in [
            (&b"abc def"[..], 3),
            (b"abc\n", 3),
            (b" abc", 0),
            (b"abc\t", 3),
            (b"ab\x00c", 2),
            (b"ab\x7f", 2),
            ("abé".as_bytes(), 2),
            (b"ab\xff", 2),
        ] {
            assert_eq!(
                AdminToken::new(bad).unwrap_err(),
                AdminTokenError::InvalidByte { position },
                "{bad:?}"
            );
        }
    }

    #[test]
    fn one_line_ending_is_stripped() {
        assert_eq!(strip_line_ending(b"abc\n"), b"abc");
        assert_eq!(strip_line_ending(b"abc\r\n"), b"abc");
        assert_eq!(strip_line_ending(b"abc\n\n"), b"abc\n");
        assert_eq!(strip_line_ending(b"abc\r"), b"abc\r");
        assert_eq!(strip_line_ending(b"abc"), b"abc");
        assert_eq!(strip_line_ending(b"\n"), b"");
    }

    #[test]
    fn debug_hides_the_token() {
        let token = AdminToken::new(TOKEN).expect("valid");
        assert_eq!(format!("{token:?}"), "AdminToken(..)");
        assert_eq!(
            format!("{:?}", AdminAuth::Bearer(token)),
            "Bearer(AdminToken(..))"
        );
    }
}
