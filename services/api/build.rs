//! Compiles proto/raccordo/v1 with protox (pure Rust, no system protoc) and keeps the encoded
//! descriptor set for the reflection service.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let dir = root.join("raccordo/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    files.sort();
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("raccordo_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .skip_debug([
            ".raccordo.v1.RequestDischargeRequest",
            ".raccordo.v1.RegisterAccessRequest",
            ".raccordo.v1.SendReferralRequest",
        ])
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", dir.display());
    Ok(())
}
