//! The blocking file operations behind [`FileStorage`](super::FileStorage):
//! reading the legacy state file and the slots, writing a slot in place or
//! creating it, replacing `hardstate` atomically and durably, locking and
//! creating the directory. Which slot to write, and when, is `slots`'s job. The async side runs them on tokio's blocking
//! pool; [`open`](super::FileStorage::open) and
//! [`open_as`](super::FileStorage::open_as) run them directly.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::format::{self, DecodeError, MAX_FILE_LEN, Record};
use super::{FileStorage, StorageError};

/// The name of the single state file of versions 1 to 4, and of version
/// 5's marker.
const STATE_FILE_NAME: &str = "hardstate";
/// The names of the two slots of version 5.
const SLOT_FILE_NAMES: [&str; 2] = ["state.0", "state.1"];
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
    pub(super) slots: [PathBuf; 2],
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
            slots: SLOT_FILE_NAMES.map(|name| dir.join(name)),
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

/// The contents of `path`, `None` if it does not exist; at most one byte
/// more than `max_len`, so a reader can tell "at the limit" from "too big"
/// without reading a huge file whole.
pub(super) fn read_file(path: &Path, max_len: usize) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StorageError::Io {
                path: path.to_path_buf(),
                operation: "open",
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(max_len as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path, "read"))?;
    Ok(Some(bytes))
}

/// Reads `hardstate` as versions 1 to 4 wrote it: only called when the
/// directory has no slots.
pub(super) fn read_legacy(paths: &Directory) -> Result<Record, StorageError> {
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
    format::decode(&bytes).map_err(|error| decode_error(&paths.state, error))
}

/// `error` in the file at `path` as a storage error: a version this build
/// does not know, or damage.
pub(super) fn decode_error(path: &Path, error: DecodeError) -> StorageError {
    match error {
        DecodeError::UnsupportedVersion(found) => StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FileStorage::FORMAT_VERSION,
        },
        damage => StorageError::Corrupt {
            path: path.to_path_buf(),
            problem: damage.to_string(),
        },
    }
}

/// Overwrites the slot at `path` in place from offset 0 and waits for
/// `fdatasync`: the one sync of a save. A missing slot is created instead. A shorter state leaves the old
/// tail behind, which readers ignore; a longer one grows the file, and
/// `fdatasync` then syncs the new size too. The file is opened by name each
/// time, so a directory removed or replaced behind the node's back fails
/// the save instead of writing to an orphaned file.
pub(super) fn overwrite_slot(
    paths: &Directory,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        // Only the repair of a slot found missing; it needs its name synced.
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return create_slot(paths, path, bytes);
        }
        Err(source) => return Err(io_error(path, "open")(source)),
    };
    file.seek(SeekFrom::Start(0))
        .map_err(io_error(path, "seek"))?;
    file.write_all(bytes).map_err(io_error(path, "write"))?;
    file.sync_data().map_err(io_error(path, "fdatasync"))
}

/// Creates (or truncates) the slot at `path`, writes `bytes`, fsyncs it and
/// then the directory, so both the file's contents and its name are durable
/// before anything that depends on them is written.
pub(super) fn create_slot(
    paths: &Directory,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StorageError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_error(path, "create"))?;
    file.write_all(bytes).map_err(io_error(path, "write"))?;
    file.sync_all().map_err(io_error(path, "fsync"))?;
    drop(file);
    sync_dir(&paths.dir)
}

/// Replaces `hardstate` with `bytes` atomically: temporary file, fsync,
/// rename, fsync of the directory.
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
