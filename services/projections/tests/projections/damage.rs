//! Damage to a store on disk, as a failing disk or a stray write leaves it. Shared by the store's
//! recovery tests and by `raccordo project`'s, which take it in with `#[path]`.

use std::fs;
use std::path::{Path, PathBuf};

/// `len` bytes that are no sled file.
pub fn garbage(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 13) as u8).collect()
}

/// Overwrites every file under `dir` with garbage as long as it (64 bytes at least); the files
/// overwritten.
pub fn garble(dir: &Path) -> Vec<PathBuf> {
    let files = walk(dir);
    for file in &files {
        let len = fs::metadata(file).unwrap().len().max(64) as usize;
        fs::write(file, garbage(len)).unwrap();
    }
    files
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
