//! Where this package's files are when the tests run.

use std::path::PathBuf;

/// The package directory: cargo's run-time `CARGO_MANIFEST_DIR` (set for every test it
/// runs), else the directory the test was compiled in. The run-time value comes first
/// because one target directory can serve checkouts at different paths, and cargo then
/// reuses a test binary compiled in another checkout whose path may be gone.
pub fn dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
