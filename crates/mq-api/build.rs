//! Compiles the web console (`console/`, served at `/console/`) into the crate: every file under
//! that directory becomes an entry of `ASSETS` in `$OUT_DIR/console_assets.rs`, so `cargo run`
//! alone serves a working console and no list of files is kept by hand. Cargo reruns this
//! script whenever anything under `console/` changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("console");
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out =
        String::from("/// The console's files, by path below `console/` (`/` separated).\n");
    out.push_str("pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&root).expect("below the root");
        let name: Vec<String> =
            relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        writeln!(
            out,
            "    ({:?}, include_bytes!({:?})),",
            name.join("/"),
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("console_assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Every file below `dir`, skipping hidden ones (editor swap files, `.DS_Store`).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
