//! The built-in TCP transport (being written).
