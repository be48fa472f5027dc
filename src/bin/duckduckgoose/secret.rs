//! Secrets given as files (the cluster key, the admin token), so they stay
//! out of the process list and the shell history.

use std::path::Path;

use crate::Failure;

/// The file's bytes without one trailing newline (`\n` or `\r\n`), as an
/// editor or `echo` leaves it. An unreadable file is fatal (exit 1); an
/// empty one is a usage error (exit 2), named by `flag`.
pub fn read_secret_file(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    let mut secret = std::fs::read(path)
        .map_err(|e| Failure::Fatal(format!("{flag} {}: cannot read it: {e}", path.display())))?;
    if secret.ends_with(b"\n") {
        secret.pop();
        if secret.ends_with(b"\r") {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err(Failure::Usage(format!(
            "{flag} {}: the file is empty",
            path.display()
        )));
    }
    Ok(secret)
}
