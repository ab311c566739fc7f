//! Guards against documentation drift: every workspace member has its section in
//! ARCHITECTURE.md, and every section names a member that exists. (That `config/default.yaml`
//! lists every key with its default is checked next to the config types, in
//! `bins/mq-server/src/config.rs`.)
// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Package names of the workspace members, from the root manifest's `members` globs.
fn members() -> BTreeSet<String> {
    let root = root();
    let manifest: toml::Table =
        fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let mut dirs = Vec::new();
    for member in manifest["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        match member.strip_suffix("/*") {
            Some(parent) => {
                for entry in fs::read_dir(root.join(parent)).unwrap() {
                    dirs.push(entry.unwrap().path());
                }
            }
            None => dirs.push(root.join(member)),
        }
    }
    dirs.into_iter()
        .filter(|dir| dir.join("Cargo.toml").exists())
        .map(|dir| {
            let package: toml::Table =
                fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
            package["package"]["name"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Crate names of the `### \`name\`` headings of ARCHITECTURE.md's code map.
fn sections() -> BTreeSet<String> {
    fs::read_to_string(root().join("ARCHITECTURE.md"))
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("### `")?.strip_suffix('`').map(str::to_owned))
        .collect()
}

#[test]
fn architecture_map_matches_the_workspace() {
    let members = members();
    let sections = sections();
    assert!(members.contains("mq-model") && members.contains("mq-tests"), "{members:?}");
    let missing: Vec<_> = members.difference(&sections).collect();
    let stale: Vec<_> = sections.difference(&members).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md has no `### `name`` section for {missing:?}");
    assert!(stale.is_empty(), "ARCHITECTURE.md describes crates that do not exist: {stale:?}");
}
