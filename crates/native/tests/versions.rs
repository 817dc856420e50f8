//! One version everywhere a release is named: the workspace (every crate inherits it), the core
//! dependency's requirement, the npm package and its lock file, the extension's manifest, and the
//! changelog's latest release. A release bumps them together or this test names the one it missed.

use std::path::Path;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_workspace_the_npm_package_and_the_extension_share_one_version() {
    let workspace = read("Cargo.toml");
    let core_requirement = workspace
        .lines()
        .find(|line| line.starts_with("xlmr-sentiment-core"))
        .expect("Cargo.toml names xlmr-sentiment-core among its workspace dependencies");
    assert!(
        core_requirement.contains(&format!("version = \"{VERSION}\"")),
        "Cargo.toml: the core's requirement is not {VERSION}: {core_requirement}"
    );

    let npm = json("www/xlmr-sentiment/package.json");
    assert_eq!(npm["version"], VERSION, "www/xlmr-sentiment/package.json");
    let lock = json("www/xlmr-sentiment/package-lock.json");
    assert_eq!(
        lock["version"], VERSION,
        "www/xlmr-sentiment/package-lock.json"
    );
    assert_eq!(
        lock["packages"][""]["version"], VERSION,
        "www/xlmr-sentiment/package-lock.json"
    );

    let manifest = json("www/extension/manifest.json");
    assert_eq!(manifest["version"], VERSION, "www/extension/manifest.json");

    let changelog = read("CHANGELOG.md");
    let latest = changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## ["))
        .find(|heading| !heading.starts_with("Unreleased"))
        .expect("CHANGELOG.md has a release heading");
    assert!(
        latest.starts_with(&format!("{VERSION}]")),
        "CHANGELOG.md: the latest release is {latest}, the workspace is {VERSION}"
    );
}
