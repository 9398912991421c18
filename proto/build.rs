//! Compiles every `.proto` file in `proto/` with tonic-prost-build, using the vendored
//! `protoc` so no system compiler is needed. New services are added by dropping a file into
//! that folder and exposing its package as a module in `src/lib.rs`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Passed through prost-build's configuration rather than the PROTOC variable:
    // `set_var` is unsafe in edition 2024 and the workspace forbids unsafe code.
    let dir = PathBuf::from("proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    // Sorted so the generated code does not depend on directory order.
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // The descriptor set serves gRPC server reflection (`grpcurl` without .proto files).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("roamledger_descriptor.bin"))
        .build_client(true)
        .build_server(true)
        .compile_with_config(config, &files, &[dir])?;
    Ok(())
}
