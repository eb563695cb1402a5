//! `solomon plugin check FILE...`: load each file exactly as the daemon would, in the same
//! sandbox, and say what it is or why it is rejected.

use crate::builtin::BUILTIN_PLUGINS;
use crate::runtime::{HostServices, Runtime, RuntimeConfig};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Writes every built-in plugin to `dir/<name>.wasm`.
pub fn export_builtin(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for p in BUILTIN_PLUGINS {
        let path = dir.join(format!("{}.wasm", p.name));
        std::fs::write(&path, p.wasm)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// Checks every file; returns 0 if all are valid plugins, 1 otherwise.
pub async fn check(files: &[PathBuf], json: bool) -> anyhow::Result<i32> {
    let runtime = Runtime::new(
        RuntimeConfig {
            instances_per_plugin: 1,
            instances_per_driver: 1,
            ..Default::default()
        },
        HostServices::default(),
    )?;
    let mut failed = 0;
    for file in files {
        match runtime.load_file(file).await {
            Ok(plugin) => {
                let m = plugin.meta();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"file": file, "ok": true, "plugin": m})
                    );
                } else {
                    println!(
                        "ok: {}: {} {} (world {}, api {}, {} KiB, sha256 {})",
                        file.display(),
                        m.name,
                        m.version,
                        m.world.as_str(),
                        m.api_version,
                        m.size_bytes / 1024,
                        &m.sha256[..16]
                    );
                }
            }
            Err(e) => {
                failed += 1;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"file": file, "ok": false, "error": e.to_string()})
                    );
                } else {
                    eprintln!("error: {}: {e}", file.display());
                }
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
