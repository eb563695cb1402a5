//! Builds plugin crates of this workspace for `wasm32-wasip2` from a build script, the pattern of
//! wasmtime's `crates/test-programs/artifacts/build.rs`. Shared by `host/build.rs` (the shipped
//! plugins, embedded in the binary) and `tests/build.rs` (fixture plugins for the tests).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A plugin crate found in a folder.
pub struct PluginCrate {
    /// Cargo package name.
    pub package: String,
    /// File name of the built component (`driver_axeos.wasm`).
    pub wasm_file: String,
}

/// Every crate directly under `dir` (one level), by reading its `Cargo.toml`'s package name.
pub fn crates_in(dir: &Path) -> Vec<PluginCrate> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let manifest = path.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let Some(package) = text
            .lines()
            .skip_while(|l| l.trim() != "[package]")
            .find_map(|l| {
                l.trim().strip_prefix("name").map(|r| {
                    r.trim_start_matches([' ', '='])
                        .trim()
                        .trim_matches('"')
                        .to_string()
                })
            })
        else {
            continue;
        };
        let is_cdylib = text.contains("cdylib");
        let wasm_file = if is_cdylib {
            format!("{}.wasm", package.replace('-', "_"))
        } else {
            format!("{package}.wasm")
        };
        found.push(PluginCrate { package, wasm_file });
    }
    found
}

/// Where the nested build puts its output: beside the outer build's profile folders, so clean
/// rebuilds of the outer crate reuse it.
pub fn nested_target_dir() -> PathBuf {
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    // OUT_DIR = <target>/<profile>/build/<crate>-<hash>/out
    out.ancestors()
        .nth(4)
        .map(|t| t.join("wasm-plugins"))
        .unwrap_or_else(|| out.join("wasm-plugins"))
}

/// Builds `crates` with one cargo invocation (profile `plugin`) and copies each component into
/// `OUT_DIR`. Returns (package, path in OUT_DIR) pairs. Panics with a clear message on failure,
/// which is how a build script reports an error.
pub fn build(workspace: &Path, crates: &[PluginCrate]) -> Vec<(String, PathBuf)> {
    if crates.is_empty() {
        return Vec::new();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = nested_target_dir();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--profile", "plugin", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target_dir);
    for c in crates {
        cmd.args(["-p", &c.package]);
    }
    // The outer build's flags and wrappers (clippy-driver, coverage) are for the host target.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the WASM plugins: {e}"));
    if !status.success() {
        panic!(
            "building the WASM plugins failed ({status}). If the error above says the target \
             `wasm32-wasip2` is not installed, run `rustup target add wasm32-wasip2`."
        );
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    crates
        .iter()
        .map(|c| {
            let built = target_dir
                .join("wasm32-wasip2")
                .join("plugin")
                .join(&c.wasm_file);
            let dest = out_dir.join(&c.wasm_file);
            std::fs::copy(&built, &dest)
                .unwrap_or_else(|e| panic!("{} was not produced: {e}", built.display()));
            (c.package.clone(), dest)
        })
        .collect()
}

/// Tells cargo to rerun the build script when any input of the plugins changes.
pub fn rerun_if_changed(workspace: &Path, dirs: &[&str]) {
    for d in dirs {
        println!("cargo:rerun-if-changed={}", workspace.join(d).display());
    }
    // The workspace manifest holds the `plugin` profile the plugins are built with.
    for f in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(f).display());
    }
}
