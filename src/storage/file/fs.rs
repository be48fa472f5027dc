//! The blocking file operations behind [`FileStorage`](super::FileStorage):
//! reading the state file, replacing it atomically and durably, locking and
//! creating the directory. The async side runs them on tokio's blocking
//! pool; [`open`](super::FileStorage::open) and
//! [`open_as`](super::FileStorage::open_as) run them directly.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::format::{self, DecodeError, MAX_FILE_LEN, Record};
use super::{FileStorage, StorageError};

/// The name of the state file inside the storage directory.
const STATE_FILE_NAME: &str = "hardstate";
/// The name of the file each save writes before renaming it into place.
const TEMP_FILE_NAME: &str = "hardstate.tmp";
/// The name of the file whose lock claims the directory for one `FileStorage`.
const LOCK_FILE_NAME: &str = "lock";

/// The storage directory: where its files are, and the lock that makes it
/// one `FileStorage`'s alone.
#[derive(Debug)]
pub(super) struct Directory {
    pub(super) dir: PathBuf,
    pub(super) state: PathBuf,
    pub(super) temp: PathBuf,
    pub(super) lock: PathBuf,
    /// Never read: holding the open file holds the lock, and dropping it
    /// (or the process dying) releases it.
    _lock_file: File,
}

impl Directory {
    /// Resolves `dir` to an absolute path, creates it durably if needed,
    /// and takes its lock.
    pub(super) fn open(dir: &Path) -> Result<Directory, StorageError> {
        let dir = std::path::absolute(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            operation: "resolve path",
            source,
        })?;
        create_dir_durably(&dir)?;
        let lock = dir.join(LOCK_FILE_NAME);
        // Locked before anything else in the directory is looked at, so an
        // open that is refused has read and changed nothing.
        let lock_file = lock_dir(&lock)?;
        let paths = Directory {
            state: dir.join(STATE_FILE_NAME),
            temp: dir.join(TEMP_FILE_NAME),
            lock,
            dir,
            _lock_file: lock_file,
        };
        if paths.temp.exists() {
            // A save was interrupted before its rename; the state file still
            // holds the state before it, and the next save overwrites this.
            tracing::debug!(path = %paths.temp.display(), "ignoring leftover temporary state file");
        }
        Ok(paths)
    }
}

fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io {
        path,
        operation,
        source,
    }
}

pub(super) fn read_record(paths: &Directory) -> Result<Record, StorageError> {
    let file = match File::open(&paths.state) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            // No state file is a fresh node, but only if the directory is
            // still there: a vanished directory (deleted, unmounted) must
            // not pass for a node that never voted.
            return match fs::metadata(&paths.dir) {
                Ok(metadata) if metadata.is_dir() => Ok(Record::default()),
                Ok(_) => Err(StorageError::Io {
                    path: paths.dir.clone(),
                    operation: "read directory",
                    source: io::Error::other("not a directory"),
                }),
                Err(source) => Err(StorageError::Io {
                    path: paths.dir.clone(),
                    operation: "read directory",
                    source,
                }),
            };
        }
        Err(source) => {
            return Err(StorageError::Io {
                path: paths.state.clone(),
                operation: "open",
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells "at the limit" from "too big".
    file.take(MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&paths.state, "read"))?;
    format::decode(&bytes).map_err(|error| match error {
        DecodeError::UnsupportedVersion(found) => StorageError::UnsupportedVersion {
            path: paths.state.clone(),
            found,
            supported: FileStorage::FORMAT_VERSION,
        },
        damage => StorageError::Corrupt {
            path: paths.state.clone(),
            problem: damage.to_string(),
        },
    })
}

pub(super) fn write_state(paths: &Directory, bytes: &[u8]) -> Result<(), StorageError> {
    let mut temp = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&paths.temp)
        .map_err(io_error(&paths.temp, "create"))?;
    temp.write_all(bytes)
        .map_err(io_error(&paths.temp, "write"))?;
    temp.sync_all().map_err(io_error(&paths.temp, "fsync"))?;
    drop(temp);
    fs::rename(&paths.temp, &paths.state).map_err(io_error(&paths.state, "rename"))?;
    sync_dir(&paths.dir)
}

/// Opens (creating if needed) the lock file and takes its exclusive lock
/// without waiting.
fn lock_dir(path: &Path) -> Result<File, StorageError> {
    // Never truncated or written: its contents mean nothing, only the lock.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(path, "open lock file"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "lock",
            source: io::Error::new(
                io::ErrorKind::WouldBlock,
                "already held by another FileStorage, in this or another process; \
                 is another node using this directory?",
            ),
        }),
        Err(TryLockError::Error(source)) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "lock",
            source,
        }),
    }
}

/// Creates `dir` and any missing parents, then fsyncs the parent of each
/// directory it created, so the new directory survives a power cut too.
fn create_dir_durably(dir: &Path) -> Result<(), StorageError> {
    let mut created = Vec::new();
    let mut missing = Some(dir);
    while let Some(candidate) = missing {
        match fs::metadata(candidate) {
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                created.push(candidate);
                missing = candidate.parent();
            }
            Err(source) => {
                return Err(StorageError::Io {
                    path: candidate.to_path_buf(),
                    operation: "inspect directory",
                    source,
                });
            }
        }
    }
    fs::create_dir_all(dir).map_err(io_error(dir, "create directory"))?;
    let metadata = fs::metadata(dir).map_err(io_error(dir, "inspect directory"))?;
    if !metadata.is_dir() {
        return Err(StorageError::Io {
            path: dir.to_path_buf(),
            operation: "open storage directory",
            source: io::Error::other("not a directory"),
        });
    }
    for new_dir in created {
        if let Some(parent) = new_dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Makes the directory's entries (a rename, a new file) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir, "fsync directory"))
}

/// Directories cannot be opened as files here; see the module docs.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StorageError> {
    Ok(())
}
