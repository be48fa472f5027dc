//! Crash-safe file storage of the hard state and the membership: a save
//! returns once it is durable, and neither a crash nor a damaged slot ever
//! brings back an older term or vote. The protocol, its proof and the file
//! format are documented on [`FileStorage`]; this module holds the async
//! side (ordering saves, remembering what the directory holds), `slots`
//! decides which slot each write goes to and what a read makes of them,
//! `fs` does the filesystem part (writes in place, fsync, the directory
//! lock), `format` the bytes.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use self::format::Record;
use self::fs::Directory;
use self::slots::{Copies, Disk};
use super::{NodeIdentity, Storage, StorageError};
use crate::core::{HardState, Membership};

mod format;
mod fs;
mod slots;

/// Keeps the hard state and the membership in two slots, `DIR/state.0` and
/// `DIR/state.1`, written in turn in place: one sync per save.
///
/// # Files
///
/// [`open_as`](FileStorage::open_as) (or [`open`](FileStorage::open)) takes
/// a directory it owns. The state lives in two slots, `DIR/state.0` and
/// `DIR/state.1` ([`slot_paths`](FileStorage::slot_paths)); `DIR/hardstate`
/// ([`path`](FileStorage::path)) holds the state of directories written by
/// builds before format version 5 and, from the first save of this build
/// on, a marker that stops those builds (see [Format](#format));
/// `DIR/lock` ([`lock_path`](FileStorage::lock_path)) claims the directory
/// (see below). Nothing else in the directory is touched (a
/// `hardstate.tmp` left by an older build is ignored, and consumed by the
/// marker's write).
///
/// Which files are read, in this order of precedence:
///
/// 1. `state.0` exists: the slots, and nothing else (whatever `hardstate`
///    holds, even a valid older-version file, is never read again);
/// 2. otherwise `hardstate`, as versions 1 to 4 wrote it (a version-5 marker
///    there without `state.0` means the slots were deleted: damage);
/// 3. neither: a node that never saved.
///
/// # How a save stays safe
///
/// Each slot holds a whole state (hard state, membership, identity) with a
/// *generation*, strictly increasing over the directory's saves, and a
/// *term ceiling*. A save overwrites, in place, the slot that does not hold
/// the newest state, and `fdatasync`s it: one sync. A read takes the valid
/// slot with the higher generation. A save returns only after its sync.
///
/// Two things can damage a slot. A **torn write**: a crash while a slot is
/// being written leaves it with any mix of old and new bytes. Only the slot
/// being written can be torn, and its save had not returned, so the node
/// acted on nothing in it (the persist barrier: nothing that depends on a
/// save is sent before it returns). **Rot**: a slot written by a save that
/// returned goes bad later (bit flips, lost sectors), and that save may
/// have been acted on. The checksum catches both, but from the damaged
/// bytes alone a reader cannot tell them apart, nor even which of the two
/// slots was the newer (its generation is among the damaged bytes). So a
/// damaged slot must always be taken for the newest state, possibly acted
/// on, and the rules below make that safe:
///
/// 1. **Ceiling rule.** A state is written into one slot only if its term
///    is at most the ceiling of the other slot (the one this write does not
///    touch), and every slot's own term is at most its own ceiling. When a
///    save's term would pass the ceiling, the newest state is first written
///    again, into the other slot, with the ceiling raised to the save's term
///    \+ 1024; then the save goes into the slot after it, under the new
///    ceiling. That costs a second sync, once per 1024 terms.
/// 2. **Recovery.** One slot valid with ceiling `C`, the other damaged: by
///    rule 1 the damaged slot, newer or older, held a term of at most `C`.
///    The node resumes at term `C` + 1 with no vote: above every term it
///    could have voted in, so it cannot vote twice in one; it keeps the
///    valid slot's membership and identity (see rule 3). The read logs a
///    warning and writes that state into the damaged slot at once, with a
///    ceiling 1024 above it, before it returns. That write breaks rule 1 on
///    purpose (its term is `C` + 1): were it damaged in turn, the recovery
///    from the other slot would give exactly the state it holds, which has
///    no vote, so nothing the node did with it is undone.
/// 3. **Two copies of everything but the hard state.** A membership save
///    writes the new membership into both slots in turn (two syncs;
///    membership changes are rare), as does recording an identity. So once
///    such a save returns both slots hold it, and every later hard-state
///    save writes a slot that differs from the other only in generation,
///    hard state and ceiling: a damaged slot never loses an acknowledged
///    membership or identity. If a read finds the two valid slots holding
///    different memberships or identities, a save of one was interrupted
///    between its two writes (it never returned): the read finishes it,
///    copying the newer slot's into the other, so that the node, which from
///    then on acts on the newer one, cannot lose it to damage later.
/// 4. **Both slots damaged** is [`StorageError::Corrupt`] naming the
///    directory, and nothing is written; so is a damaged slot when the other
///    one's ceiling is the largest term (there is no term above it). A slot
///    of a newer format version is [`StorageError::UnsupportedVersion`], even
///    next to a valid one.
///
/// What that costs: after a crash during a save, or rot in either slot, the
/// node comes back up to 1025 terms ahead, with no vote. Any jump costs the
/// same (its next message makes the others adopt its higher term: one
/// election), which is why the step is large rather than 1.
///
/// The first save to a directory without slots (a new directory, or one of
/// an older build: the migration) creates them in three steps, each synced
/// with its directory entry before the next: `state.1` (generation 0), then
/// `state.0` (generation 1), both holding the saved state with ceiling its
/// term + 1024, then the marker replaces `hardstate` atomically (temporary
/// file, fsync, rename, fsync of the directory). Until `state.0` exists,
/// reads still use `hardstate`, the state before the save; once it exists,
/// `state.1` is whole and durable, so at worst `state.0` is torn and the
/// recovery above resumes above the new term, which is above the old one.
/// Slot files are opened by name for every write, so a data directory
/// removed under a running node fails its next save instead of letting it
/// write into a deleted file.
///
/// Directory fsync exists on Unix only. Elsewhere (Windows) it is skipped
/// and the durability of a slot's creation is up to the file system.
///
/// # Hard state and membership, one state
///
/// Each slot holds both the [`HardState`] and the [`Membership`], so that
/// no crash can pair a term with a membership it was never saved with.
/// Every save writes both halves (and the identity the directory records,
/// see [Whose directory](#whose-directory)): [`save`](Storage::save) writes
/// the new hard state next to the membership the directory already holds,
/// and [`save_membership`](Storage::save_membership) the other way round.
/// The `FileStorage` remembers the directory's contents from its first load
/// or save on (a save that comes first reads the directory before it
/// writes), so each later save is a single write. Because a save that comes
/// first reads the directory, a damaged directory makes it fail too: the
/// half it would have had to guess is never reset.
///
/// [`load`](Storage::load) and [`load_membership`](Storage::load_membership)
/// each read the directory anew, in any order, as often as called, and each
/// reports damage as an error (or, for one damaged slot, recovers as above).
/// A directory written by `save_membership` before any `save` holds term 0
/// and no vote, which `load` returns as such (the state a node that never
/// saved starts from anyway).
///
/// # Whose directory
///
/// The state file also records the [`NodeIdentity`] (cluster id and node
/// id) of the node the directory belongs to, so that a node pointed at a
/// copy of another node's directory does not start with that node's term
/// and vote, and vote a second time in a term. A node opens its directory
/// with [`open_as`](FileStorage::open_as):
///
/// | the newest state (newest valid slot, or `hardstate`) | `open_as(dir, identity)`                      |
/// |------------------------------------------------------|-----------------------------------------------|
/// | missing (a new directory)                            | records `identity` (with term 0 and no vote)  |
/// | version 1 to 3, or without identity                  | records `identity`, keeping state and membership |
/// | records `identity`                                   | opens (writes only what a read repairs)       |
/// | records another cluster id or node id                | [`StorageError::IdentityMismatch`] naming the file, writes nothing |
/// | both slots damaged, or of an unknown version         | [`StorageError::Corrupt`] or [`StorageError::UnsupportedVersion`], writes nothing |
///
/// Recording is a save into both slots (see rule 3 above), done before
/// `open_as` returns, so the claim is durable before the node can vote.
/// Every later read checks the identity of the newest valid slot again,
/// before it repairs anything, in case the files are replaced behind the
/// node's back. [`open`](FileStorage::open) checks
/// nothing and records nothing: its saves keep whatever identity the
/// directory holds (none in one it creates). It is for tools and tests, which can
/// show the identity with [`load_identity`](FileStorage::load_identity).
///
/// # Format
///
/// Every version shares one envelope: magic, version, payload length,
/// payload, CRC-32 of everything before it. That lets a reader tell a
/// damaged file (checksum mismatch) from a file written by a newer build
/// (intact, unknown version), and report each as such. All integers are
/// little-endian.
///
/// ## Version 5 (written by this build)
///
/// Each slot, `state.0` and `state.1`, is one envelope of version 5 whose
/// payload is the generation and the term ceiling, then exactly a version-4
/// payload (`C` and `M` as below; `Y` = 52 + `C`):
///
/// | offset | size | field                                                   |
/// |-------:|-----:|---------------------------------------------------------|
/// |      0 |    4 | magic `b"DDGS"`                                         |
/// |      4 |    2 | format version, `u16` = 5                               |
/// |      6 |    4 | payload length in bytes, `u32` = 46 + `C` + `M`         |
/// |     10 |    8 | payload: generation, `u64`                              |
/// |     18 |    8 | payload: term ceiling, `u64` (at least the term)        |
/// |     26 |   17 | payload: term, vote presence, voted-for id (as v4)      |
/// |     43 |    9 | payload: node id, cluster id length `C` (as v4)         |
/// |     52 |  `C` | payload: cluster id (as v4)                             |
/// |    `Y` |    4 | payload: membership length `M` (as v4)                  |
/// |  `Y`+4 |  `M` | payload: the membership (as v4)                         |
/// | `Y`+4+`M` |  4 | CRC-32 of bytes `0..Y+4+M`, `u32`                       |
///
/// A slot is rewritten in place, so a shorter state leaves the end of a
/// longer one behind it: bytes after the checksum are ignored. A slot whose
/// term is above its own ceiling, or that holds an envelope of versions 1
/// to 4, is damage. In `hardstate`, version 5 is the marker: an envelope of
/// version 5 with an empty payload (14 bytes), which builds that read only
/// versions 1 to 4 refuse as a newer format (instead of taking the
/// directory for a fresh node's and voting again), and this build never
/// reads once `state.0` exists.
///
/// ## Version 4 (read only)
///
/// The single `hardstate` file of the builds before version 5, replaced
/// atomically by every save (temporary file, fsync, rename, fsync of the
/// directory). It loads as it was; the first save, or
/// [`open_as`](FileStorage::open_as) at once, migrates it to the slots (see
/// [How a save stays safe](#how-a-save-stays-safe)).
///
/// `C` is the length of the cluster id, at most 255 (0 when no identity is
/// recorded); `M` is the length of the encoded membership, at most 1 MiB
/// (1 048 576). `X` = 36 + `C`:
///
/// | offset | size | field                                                   |
/// |-------:|-----:|---------------------------------------------------------|
/// |      0 |    4 | magic `b"DDGS"`                                         |
/// |      4 |    2 | format version, `u16` = 4                               |
/// |      6 |    4 | payload length in bytes, `u32` = 30 + `C` + `M`         |
/// |     10 |    8 | payload: term, `u64`                                    |
/// |     18 |    1 | payload: vote presence, `0` = no vote, `1` = vote       |
/// |     19 |    8 | payload: voted-for node id, `u64` (`0` if no vote)      |
/// |     27 |    8 | payload: the directory's node id, `u64` (`0` if none)   |
/// |     35 |    1 | payload: cluster id length `C`, `u8` (`0` = no identity)|
/// |     36 |  `C` | payload: the directory's cluster id, UTF-8              |
/// |    `X` |    4 | payload: membership length `M`, `u32`                   |
/// |  `X`+4 |  `M` | payload: the membership, postcard `Option<Membership>`  |
/// | `X`+4+`M` |  4 | CRC-32 (IEEE, `crc32fast`) of bytes `0..X+4+M`, `u32`   |
///
/// The identity is the node id and the cluster id together; a cluster id
/// follows [`NodeIdentity`]'s bounds (1 to 255 bytes, those of the TCP
/// transport's `TcpConfig::cluster_id`), so a length of 0 means no identity
/// is recorded, and then the node id must be 0. A cluster id that is not
/// UTF-8, or a length that runs past the membership length field, is
/// damage ([`StorageError::Corrupt`]), like any other bad field.
///
/// The membership is [postcard](https://postcard.jamesmunns.com/wire-format)
/// (wire format 1): a tag byte, `0` = none (never saved), `1` = some, then
/// the membership id's term and version, the voters, the learners, the
/// joining learners (each set a varint count, then its ids as varints in
/// ascending order), the addresses (a varint count, then id and address
/// pairs in ascending id order, an address being a varint byte length and
/// UTF-8) and the metadata (a varint count, then, in ascending id order, an
/// id and its [`NodeMetadata`](crate::core::NodeMetadata): a varint count,
/// then key and value strings in ascending key order; a node without
/// metadata has no entry). Varints are LEB128, least significant group
/// first. Metadata that breaks a bound of `NodeMetadata` is refused as
/// damage ([`StorageError::Corrupt`]).
///
/// ## Version 3 (read only)
///
/// Version 4 without the identity: the same layout with version 3 and
/// payload length 21 + `M`, the membership length field at offset 27 and
/// the membership at 31. It loads with no identity; the next save, or
/// [`open_as`](FileStorage::open_as) at once, migrates it to the slots.
///
/// ## Version 2 (read only)
///
/// Version 3 without the metadata: the same layout with version 2, the
/// membership ending after the addresses. It loads with no metadata and no
/// identity; the next save migrates it to the slots.
///
/// ## Version 1 (read only)
///
/// A version-1 file is 31 bytes: the first 27 bytes of version 3 (with
/// version 1 and payload length 17), then the CRC-32 of them. It holds no
/// membership: [`load_membership`](Storage::load_membership) returns `None`.
/// Data directories of older builds therefore load as they were; the next
/// save migrates them to the slots.
///
/// ## Canonical encoding
///
/// Each state has exactly one valid encoding (the id bytes are zero when
/// there is no vote, the node id is zero when there is no identity; the
/// membership must re-encode to the same bytes, which
/// rules out unsorted or repeated ids and overlong varints), so a load gives
/// back exactly what was saved, or fails. Lengths are checked against the
/// file and the maxima before anything is decoded. (Only a slot's bytes
/// after its checksum are free: see version 5.)
///
/// # What fsync costs
///
/// A hard-state save waits for one `fdatasync` of a slot written in place
/// at its old size, so no file-system metadata needs a journal commit:
/// typically one device cache flush. (Versions 1 to 4 waited for two: the
/// temporary file's fsync, then the directory's after the rename, each
/// usually a journal commit plus a flush.) A save whose term passes the
/// ceiling, once per 1024 terms, waits for two; a membership or identity
/// save for two (three when it also passes the ceiling); the first save to
/// a directory for three file and three directory syncs. A flush is slow
/// next to anything else a node does (on spinning disks, on the order of a
/// rotation; on SSDs without power-loss protection, a full write-cache
/// flush), and it varies widely by device and file system, so measure on
/// your own hardware. The core emits a
/// persist only when the term, the vote or the membership changes, a few
/// times per election or membership change and never per heartbeat, so the
/// cost bounds how fast elections run, not how many messages a node handles.
/// Durability is only as good as the storage stack's honesty: a disk or
/// virtual machine that acknowledges a flush it has not done defeats any
/// fsync.
///
/// # One node per directory
///
/// Two nodes sharing a directory would each overwrite the other's vote, so
/// one of them could vote twice in a term. [`open`](FileStorage::open) and
/// [`open_as`](FileStorage::open_as) therefore take an exclusive lock on
/// `DIR/lock` without waiting, and fail with [`StorageError::Io`] naming
/// that file (its source of kind [`WouldBlock`](io::ErrorKind::WouldBlock))
/// if another `FileStorage`, in this process or another, holds it. The lock is held until the
/// `FileStorage` is dropped and any save or load it started has finished.
///
/// The lock is advisory ([`File::try_lock`](std::fs::File::try_lock):
/// `flock` on Unix, `LockFileEx` on Windows): it stops other
/// `FileStorage`s, not other programs. The
/// operating system releases it when the process exits, however it exits,
/// so the directory of a node killed with `kill -9` can be reopened at once;
/// there is no stale lock file to delete, and the file's presence means
/// nothing. Advisory locks on network file systems (NFS, SMB) may not be
/// enforced; keep node directories on local disks.
///
/// # Use
///
/// Loads and saves run the file operations on tokio's blocking pool, so
/// they must be called from within a tokio runtime.
///
/// ```
/// use duckduckgoose::core::Membership;
/// use duckduckgoose::storage::{FileStorage, NodeIdentity, Storage, StorageError};
/// use duckduckgoose::{HardState, NodeId};
///
/// async fn restore(
///     dir: &str,
///     configured: Membership,
/// ) -> Result<(HardState, Membership), StorageError> {
///     let me = NodeIdentity::new("prod-eu", NodeId(3)).expect("a valid cluster id");
///     // Refused if `dir` belongs to another node or cluster.
///     let mut storage = FileStorage::open_as(dir, me)?;
///     // `None` only for a node that never saved; damage is an error.
///     let state = storage.load().await?.unwrap_or_default();
///     let membership = storage.load_membership().await?.unwrap_or(configured);
///     Ok((state, membership))
/// }
/// ```
#[derive(Debug)]
pub struct FileStorage {
    /// Shared with the blocking tasks, so the directory lock outlives any
    /// save still running after this `FileStorage` is dropped.
    paths: Arc<Directory>,
    /// Held by every file operation: what is known of the slots, and the
    /// sequence number of the newest save written.
    disk: Arc<Mutex<Disk>>,
    /// Sequence number of the latest save started.
    next_seq: u64,
    /// What the file holds once every save started so far has landed: both
    /// halves and the identity, so that a save of one half writes the rest
    /// unchanged. `None` until the first load or save reads the file.
    known: Option<Record>,
    /// The identity given to [`open_as`](FileStorage::open_as): every read
    /// refuses a file that records another one.
    claimed: Option<NodeIdentity>,
}

impl FileStorage {
    /// The format version this build writes. It also reads versions 1 to 4.
    pub const FORMAT_VERSION: u16 = format::VERSION_5;

    /// Opens the storage kept in directory `dir` as the node `identity`:
    /// what a node should call. Refuses a directory that belongs to another
    /// node or cluster with [`StorageError::IdentityMismatch`], changing
    /// nothing; see [Whose directory](FileStorage#whose-directory).
    ///
    /// A directory without a state, or whose state records no identity
    /// (versions 1 to 3, or one written after [`open`](Self::open)), adopts
    /// `identity`: it is written into both slots before this returns, with
    /// the state and membership the directory held, durably like any save
    /// (so for a new directory [`load`](Storage::load) then gives term 0 and
    /// no vote, not `None`). A damaged directory is
    /// [`StorageError::Corrupt`]; one damaged slot is recovered as any read
    /// does (see [How a save stays safe](FileStorage#how-a-save-stays-safe)).
    ///
    /// Opens and locks the directory like [`open`](Self::open), then reads
    /// the state (and writes it, to adopt or repair) on the calling thread,
    /// as `open` creates directories there: call it once at startup.
    pub fn open_as(
        dir: impl AsRef<Path>,
        identity: NodeIdentity,
    ) -> Result<FileStorage, StorageError> {
        let mut storage = FileStorage::open(dir)?;
        let record = {
            let mut disk = lock(&storage.disk);
            let mut record = disk.read(&storage.paths, Some(&identity))?;
            if record.identity.is_none() {
                record.identity = Some(identity.clone());
                disk.write(&storage.paths, Some(&identity), &record, Copies::Both)?;
            }
            record
        };
        storage.known = Some(record);
        storage.claimed = Some(identity);
        Ok(storage)
    }

    /// Opens the storage kept in directory `dir`, creating the directory
    /// (and its missing parents, durably) if needed, and locks it, without
    /// checking whose directory it is: for tools and tests. A node should
    /// use [`open_as`](Self::open_as). Saves keep whatever identity the
    /// file records, and record none in a new file.
    ///
    /// Opening reads nothing; call [`load`](Storage::load) for the state.
    /// Like any read, that load repairs a damaged slot or finishes an
    /// interrupted membership save (see
    /// [How a save stays safe](FileStorage#how-a-save-stays-safe)), even for
    /// a tool.
    /// If another `FileStorage` has the directory open, in this process or
    /// another, this fails at once with [`StorageError::Io`] naming
    /// `DIR/lock`; see [One node per directory](FileStorage#one-node-per-directory).
    /// A relative `dir` is made absolute against the current directory now,
    /// so error messages name the file unambiguously.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStorage, StorageError> {
        Ok(FileStorage {
            paths: Arc::new(Directory::open(dir.as_ref())?),
            disk: Arc::new(Mutex::new(Disk::default())),
            next_seq: 0,
            known: None,
            claimed: None,
        })
    }

    /// `DIR/hardstate`: the state file of format versions 1 to 4, which this
    /// build reads until its first save; from then on the marker of version
    /// 5 (see [Files](FileStorage#files)).
    pub fn path(&self) -> &Path {
        &self.paths.state
    }

    /// The two slots, `DIR/state.0` and `DIR/state.1`, that hold the state
    /// from format version 5 on.
    pub fn slot_paths(&self) -> [&Path; 2] {
        [&self.paths.slots[0], &self.paths.slots[1]]
    }

    /// The lock file, `DIR/lock`, whose lock this `FileStorage` holds.
    pub fn lock_path(&self) -> &Path {
        &self.paths.lock
    }

    /// The identity the directory records, read anew: `None` if there is
    /// no state yet or it records none. [`open_as`](Self::open_as) leaves its
    /// identity recorded; this lets tools show it.
    ///
    /// As with [`load`](Storage::load), damage is an error, never `None`.
    pub async fn load_identity(&mut self) -> Result<Option<NodeIdentity>, StorageError> {
        Ok(self.read().await?.identity)
    }

    /// Reads the directory (and repairs what a read repairs, see
    /// [`Disk::read`]). The first read also tells this `FileStorage` what
    /// the directory holds.
    async fn read(&mut self) -> Result<Record, StorageError> {
        let paths = Arc::clone(&self.paths);
        let disk = Arc::clone(&self.disk);
        // The directory is locked, but its files could still be replaced
        // from outside (a restored backup of another node): checked anew.
        let claimed = self.claimed.clone();
        let record = run_blocking(&self.paths.dir, move || {
            lock(&disk).read(&paths, claimed.as_ref())
        })
        .await?;
        // Later reads never replace it: by then it holds every save started
        // since, including any that has not reached the file (one that
        // failed, or one abandoned while still queued on the blocking pool).
        if self.known.is_none() {
            self.known = Some(record.clone());
        }
        Ok(record)
    }

    /// Both halves as the file holds them after the saves started so far;
    /// read from the file if this `FileStorage` has not yet seen it.
    async fn known(&mut self) -> Result<Record, StorageError> {
        match &self.known {
            Some(record) => Ok(record.clone()),
            None => self.read().await,
        }
    }

    /// Writes `record` into one slot or, for `Copies::Both`, both.
    async fn write(&mut self, record: Record, copies: Copies) -> Result<(), StorageError> {
        // Refused before anything changes: a membership too big for the
        // format.
        format::encode_payload(&record).map_err(|problem| StorageError::Io {
            path: self.paths.dir.clone(),
            operation: "encode",
            source: io::Error::new(io::ErrorKind::InvalidInput, problem),
        })?;
        // Remembered before the write: even if it fails or is abandoned,
        // the caller's state has moved on, and the next save must carry it.
        self.known = Some(record.clone());
        self.next_seq += 1;
        let seq = self.next_seq;
        let paths = Arc::clone(&self.paths);
        let disk = Arc::clone(&self.disk);
        let claimed = self.claimed.clone();
        run_blocking(&self.paths.dir, move || {
            let mut disk = lock(&disk);
            if disk.written_seq >= seq {
                // Only reachable for a save whose caller dropped the future:
                // a newer record, which includes everything in this one that
                // was not superseded, is already durable.
                return Ok(());
            }
            disk.write(&paths, claimed.as_ref(), &record, copies)?;
            disk.written_seq = seq;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Storage for FileStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        Ok(self.read().await?.state)
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        let mut record = self.known().await?;
        record.state = Some(*state);
        self.write(record, Copies::One).await
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        Ok(self.read().await?.membership)
    }

    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError> {
        let mut record = self.known().await?;
        record.membership = Some(membership.clone());
        self.write(record, Copies::Both).await
    }
}

/// Runs `work` on the blocking pool. The work goes on even if the returned
/// future is dropped; `written_seq` keeps that harmless.
async fn run_blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        // A panic in `work` is a bug in this file; let it surface as one.
        Err(join_error) if join_error.is_panic() => {
            std::panic::resume_unwind(join_error.into_panic())
        }
        // The runtime is shutting down and dropped the task before it ran.
        Err(join_error) => Err(StorageError::Io {
            path: path.to_path_buf(),
            operation: "run on the blocking pool",
            source: io::Error::other(join_error),
        }),
    }
}

fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    // Only this file's code runs under the lock and a panic there is
    // re-raised by `run_blocking`; a write interrupted by one leaves the
    // layout unknown, so the next operation reads the directory again.
    disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
