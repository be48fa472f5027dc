//! Helpers shared by the runtime-level test targets; the failover bench
//! includes [`cluster`] by path.

pub mod cluster;
pub mod runs;
