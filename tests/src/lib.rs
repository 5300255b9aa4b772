//! Integration tests live in tests/tests/; this library holds what several of them share.

use std::path::Path;

/// The bytes of a shipped weights file (`weights/<file>`).
pub fn shipped(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
