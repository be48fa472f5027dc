//! In-process transport (being written).

/// An in-process network (being written).
#[derive(Debug)]
pub struct MemoryTransport;
