//! Empty: present so this crate's `[build-dependencies]` take part in feature resolution on
//! the host side, where RocksDB's build script and bindgen run.

fn main() {}
