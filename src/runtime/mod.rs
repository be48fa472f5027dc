//! The tokio runtime that embeds an election in a service (being written).
