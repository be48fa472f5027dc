//! The `duckduckgoose` binary, as users install it: cargo builds it for this
//! test target (which requires the `cli` feature) and names its path.

use std::path::Path;

/// The `duckduckgoose` binary under test.
pub fn node_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_duckduckgoose"))
}
