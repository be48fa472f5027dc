//! Which slot each save goes to, and what a read makes of the two: the
//! protocol proved on [`FileStorage`](super::FileStorage#how-a-save-stays-safe).
//! Blocking; the async side holds [`Disk`]'s lock around every call.

use super::StorageError;
use super::format::slot::{self, MAX_SLOT_LEN, Slot};
use super::format::{DecodeError, Record};
use super::fs::{self, Directory};
use crate::core::{HardState, Term};
use crate::storage::NodeIdentity;

/// How far above a save's term a raised ceiling goes: one extra sync per
/// this many terms, and at most this many terms (plus one) skipped after a
/// damaged slot. Any skip costs the same (the node's next message makes the
/// others adopt its higher term: one election), so the step is large; next
/// to the `u64` term space it is nothing.
pub(super) const CEILING_STEP: u64 = 1024;

/// What this `FileStorage` knows of its directory, kept under the lock that
/// orders every file operation.
#[derive(Debug, Default)]
pub(super) struct Disk {
    /// The sequence number of the newest save written, so that a save whose
    /// future was dropped while its blocking task was queued can never
    /// overwrite a newer state.
    pub(super) written_seq: u64,
    layout: Layout,
}

#[derive(Debug, Default)]
enum Layout {
    /// Not read yet, or a write failed and left a slot in an unknown state:
    /// read again before the next write.
    #[default]
    Unknown,
    /// No slots yet: the state is in the legacy `hardstate`, or there is
    /// none. The next write creates the slots.
    Legacy,
    /// The slots are in use; this is the newest valid one (boxed: it holds
    /// a membership, and the other variants nothing).
    Slots { newest: usize, slot: Box<Slot> },
}

/// How many slots a write goes to. Only hard-state saves leave the two
/// slots differing (in hard state and ceiling, never in membership or
/// identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Copies {
    /// The slot not holding the newest state (a hard-state save).
    One,
    /// Both slots in turn (a membership or identity save), so that damage
    /// to either never loses it.
    Both,
}

impl Disk {
    /// Reads the directory anew and returns the newest state that is safe to
    /// act on, first checking it belongs to `claimed` (if given and
    /// recorded). Finishes what an interrupted save or damage left: a
    /// damaged slot is rewritten with the recovered state, a membership or
    /// identity held by one slot only is copied into the other. Writes
    /// nothing if the directory is not `claimed`'s, or is unreadable.
    pub(super) fn read(
        &mut self,
        paths: &Directory,
        claimed: Option<&NodeIdentity>,
    ) -> Result<Record, StorageError> {
        self.layout = Layout::Unknown;
        let Some(first) = fs::read_file(&paths.slots[0], MAX_SLOT_LEN)? else {
            // No slots: `hardstate` as versions 1 to 4 left it. `state.1`
            // alone is a creation that never finished, and ignored.
            let record = fs::read_legacy(paths)?;
            check_identity(&paths.state, claimed, &record)?;
            self.layout = Layout::Legacy;
            return Ok(record);
        };
        // `state.0` is only created once `state.1` is durable, so a missing
        // `state.1` now is damage like any other.
        let second = fs::read_file(&paths.slots[1], MAX_SLOT_LEN)?;
        let decoded = [
            slot::decode(&first),
            second.map_or(Err(DecodeError::SlotMissing), |bytes| slot::decode(&bytes)),
        ];
        // A newer build's slot: refuse rather than guess what it means.
        for (path, result) in paths.slots.iter().zip(&decoded) {
            if let Err(DecodeError::UnsupportedVersion(_)) = result {
                return Err(fs::decode_error(path, result.clone().unwrap_err()));
            }
        }
        match decoded {
            [Ok(a), Ok(b)] => self.settle(paths, claimed, a, b),
            [Ok(valid), Err(damage)] => self.recover(paths, claimed, 1, valid, &damage),
            [Err(damage), Ok(valid)] => self.recover(paths, claimed, 0, valid, &damage),
            [Err(first), Err(second)] => Err(StorageError::Corrupt {
                path: paths.dir.clone(),
                problem: format!("both slots are damaged: state.0: {first}; state.1: {second}"),
            }),
        }
    }

    /// Writes `record` durably, into the slot that does not hold the newest
    /// state (and then into the other one too for [`Copies::Both`]),
    /// raising the ceiling first if `record`'s term is above it. Creates the
    /// slots on the first write to a directory without them.
    pub(super) fn write(
        &mut self,
        paths: &Directory,
        claimed: Option<&NodeIdentity>,
        record: &Record,
        copies: Copies,
    ) -> Result<(), StorageError> {
        if let Layout::Unknown = self.layout {
            self.read(paths, claimed)?;
        }
        if let Layout::Legacy = self.layout {
            return self.create(paths, record);
        }
        self.write_next(paths, record)?;
        if copies == Copies::Both {
            self.write_next(paths, record)?;
        }
        Ok(())
    }

    /// Both slots valid: the newer wins. If they disagree on membership or
    /// identity, a save of one was interrupted between its two writes (and
    /// never returned); its second write is done now, so that damage to the
    /// newer slot later cannot take back a membership the node went on to
    /// act on.
    fn settle(
        &mut self,
        paths: &Directory,
        claimed: Option<&NodeIdentity>,
        a: Slot,
        b: Slot,
    ) -> Result<Record, StorageError> {
        if a.generation == b.generation {
            return Err(StorageError::Corrupt {
                path: paths.dir.clone(),
                problem: format!("both slots have generation {}", a.generation),
            });
        }
        let (newest, slot, older) = if a.generation > b.generation {
            (0, a, b)
        } else {
            (1, b, a)
        };
        check_identity(&paths.slots[newest], claimed, &slot.record)?;
        let record = slot.record.clone();
        let differ = older.record.membership != record.membership
            || older.record.identity != record.identity;
        self.layout = Layout::Slots {
            newest,
            slot: Box::new(slot),
        };
        if differ {
            tracing::info!(
                dir = %paths.dir.display(),
                "finishing an interrupted membership or identity save"
            );
            self.write_next(paths, &record)?;
        }
        Ok(record)
    }

    /// One slot valid, the other damaged (`damaged` is its index). The
    /// damaged slot may have held a newer save the node acted on, but only
    /// one with a term at most the valid slot's ceiling: the node resumes
    /// one term above it, with no vote, and writes that into the damaged
    /// slot at once. See [the proof](super::FileStorage#how-a-save-stays-safe).
    fn recover(
        &mut self,
        paths: &Directory,
        claimed: Option<&NodeIdentity>,
        damaged: usize,
        valid: Slot,
        damage: &DecodeError,
    ) -> Result<Record, StorageError> {
        check_identity(&paths.slots[1 - damaged], claimed, &valid.record)?;
        let Some(term) = valid.ceiling.0.checked_add(1) else {
            return Err(StorageError::Corrupt {
                path: paths.slots[damaged].clone(),
                problem: format!(
                    "{damage}, and the other slot's term ceiling is the largest term, \
                     so no term above what it may have held is left"
                ),
            });
        };
        tracing::warn!(
            damaged = %paths.slots[damaged].display(),
            %damage,
            recovered_term = term,
            "one state slot is damaged; resuming above every term it may have held, with no vote"
        );
        let record = Record {
            state: Some(HardState {
                term: Term(term),
                voted_for: None,
            }),
            ..valid.record.clone()
        };
        let generation = next_generation(paths, valid.generation)?;
        // Above the valid slot's ceiling, which the rule in `write_next`
        // forbids: allowed here because what a read recovers from the valid
        // slot, should this one be damaged in turn, is exactly this state,
        // which has no vote.
        let repaired = Slot {
            generation,
            ceiling: raised(Term(term)),
            record: record.clone(),
        };
        self.layout = Layout::Slots {
            newest: 1 - damaged,
            slot: Box::new(valid),
        };
        self.put(paths, damaged, repaired)?;
        Ok(record)
    }

    /// The first write to a directory without slots: `state.1`, then
    /// `state.0`, each created and synced with the directory before the
    /// next step, then the marker in `hardstate`. Until `state.0` exists,
    /// reads use `hardstate`, so a crash at any point leaves the state
    /// before this write or after it.
    fn create(&mut self, paths: &Directory, record: &Record) -> Result<(), StorageError> {
        let ceiling = raised(record.state.unwrap_or_default().term);
        let slot = |generation| Slot {
            generation,
            ceiling,
            record: record.clone(),
        };
        self.layout = Layout::Unknown;
        fs::create_slot(paths, &paths.slots[1], &encode(paths, 1, &slot(0))?)?;
        let newest = slot(1);
        fs::create_slot(paths, &paths.slots[0], &encode(paths, 0, &newest)?)?;
        self.layout = Layout::Slots {
            newest: 0,
            slot: Box::new(newest),
        };
        fs::write_state(paths, &slot::marker())
    }

    /// Writes `record` into the slot not holding the newest state. Its term
    /// must not pass the newest slot's ceiling (the one a damaged write
    /// would be recovered from); if it would, the newest state is first
    /// written there again with a raised ceiling.
    fn write_next(&mut self, paths: &Directory, record: &Record) -> Result<(), StorageError> {
        let (newest, current) = match &self.layout {
            Layout::Slots { newest, slot } => (*newest, Slot::clone(slot)),
            // `write` and `settle` read or create the slots first.
            Layout::Unknown | Layout::Legacy => {
                return Err(StorageError::Io {
                    path: paths.dir.clone(),
                    operation: "write a slot",
                    source: std::io::Error::other("the slots were not read first (a bug)"),
                });
            }
        };
        let term = record.state.unwrap_or_default().term;
        let mut ceiling = current.ceiling;
        let mut generation = current.generation;
        let mut target = 1 - newest;
        if term > ceiling {
            ceiling = raised(term);
            generation = next_generation(paths, generation)?;
            let again = Slot {
                generation,
                ceiling,
                record: current.record,
            };
            self.put(paths, target, again)?;
            target = newest;
        }
        let slot = Slot {
            generation: next_generation(paths, generation)?,
            ceiling,
            record: record.clone(),
        };
        self.put(paths, target, slot)
    }

    /// Overwrites slot `index` with `slot`, which becomes the newest. After
    /// a failure the slot's contents are unknown, so the next write reads
    /// the directory again first.
    fn put(&mut self, paths: &Directory, index: usize, slot: Slot) -> Result<(), StorageError> {
        let bytes = encode(paths, index, &slot)?;
        self.layout = Layout::Unknown;
        fs::overwrite_slot(paths, &paths.slots[index], &bytes)?;
        self.layout = Layout::Slots {
            newest: index,
            slot: Box::new(slot),
        };
        Ok(())
    }
}

/// The ceiling written when `term` passes the old one.
fn raised(term: Term) -> Term {
    Term(term.0.saturating_add(CEILING_STEP))
}

fn next_generation(paths: &Directory, generation: u64) -> Result<u64, StorageError> {
    generation
        .checked_add(1)
        .ok_or_else(|| StorageError::Corrupt {
            path: paths.dir.clone(),
            problem: "the slots' generation is at its largest value".into(),
        })
}

fn encode(paths: &Directory, index: usize, slot: &Slot) -> Result<Vec<u8>, StorageError> {
    slot::encode(slot).map_err(|problem| StorageError::Io {
        path: paths.slots[index].clone(),
        operation: "encode",
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, problem),
    })
}

/// Refuses a directory whose state (read from `path`) records another
/// identity than `claimed`.
fn check_identity(
    path: &std::path::Path,
    claimed: Option<&NodeIdentity>,
    record: &Record,
) -> Result<(), StorageError> {
    match (claimed, &record.identity) {
        (Some(claimed), Some(found)) if claimed != found => Err(StorageError::IdentityMismatch {
            path: path.to_path_buf(),
            expected: claimed.clone(),
            found: found.clone(),
        }),
        _ => Ok(()),
    }
}
