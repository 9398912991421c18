//! Dependency-feature pinning only; see `Cargo.toml` for why this crate exists. No code.
