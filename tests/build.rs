//! Builds the fixture plugins (`tests/plugins/*`) and the SDK examples (`examples/*`) for
//! wasm32-wasip2 and exposes their paths as constants.

#[path = "../host/build/wasm_plugins.rs"]
mod wasm_plugins;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf();
    wasm_plugins::rerun_if_changed(
        &workspace,
        &["tests/plugins", "examples", "plugin-sdk", "wit"],
    );

    let mut crates = wasm_plugins::crates_in(&manifest_dir.join("plugins"));
    crates.extend(wasm_plugins::crates_in(&workspace.join("examples")));
    let built = wasm_plugins::build(&workspace, &crates);

    let mut src = String::new();
    for (package, path) in &built {
        let name = package
            .trim_start_matches("solomon-")
            .trim_start_matches("test-")
            .replace('-', "_")
            .to_uppercase();
        let _ = writeln!(
            src,
            "/// Path of the `{package}` component.\npub const {name}: &str = {:?};",
            path.display().to_string()
        );
    }
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("fixture_plugins.rs");
    std::fs::write(out, src).expect("write fixture_plugins.rs");
}
