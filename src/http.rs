//! The HTTP status router (being written).
