//! Builds the shipped plugins (`plugins/*`) for wasm32-wasip2 and embeds them in the binary, so
//! `cargo run` gives a daemon with every driver and rule and nothing else to install.

#[path = "build/wasm_plugins.rs"]
mod wasm_plugins;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    wasm_plugins::rerun_if_changed(&workspace, &["plugins", "plugin-sdk", "wit"]);

    let crates = wasm_plugins::crates_in(&workspace.join("plugins"));
    let built = wasm_plugins::build(&workspace, &crates);

    let mut src =
        String::from("/// The plugins of `plugins/`, compiled to components at build time.\n");
    src.push_str("pub static BUILTIN_PLUGINS: &[BuiltinPlugin] = &[\n");
    for (package, path) in &built {
        let name = package.trim_start_matches("solomon-");
        let _ = writeln!(
            src,
            "    BuiltinPlugin {{ name: {name:?}, wasm: include_bytes!({:?}) }},",
            path.display().to_string()
        );
    }
    src.push_str("];\n");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("builtin_plugins.rs");
    std::fs::write(out, src).expect("write builtin_plugins.rs");
}
