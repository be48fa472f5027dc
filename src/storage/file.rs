//! Crash-safe file storage (being written).

/// Stores the hard state in a file (being written).
#[derive(Debug)]
pub struct FileStorage;
