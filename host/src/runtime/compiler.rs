//! Compiling components off the async runtime, on one dedicated thread fed by a crossbeam
//! channel: compiling untrusted wasm is slow and not DoS-protected by wasmtime, so at most one
//! core ever does it, and async workers never block on it.
//!
//! With a cache dir, compiled artifacts are kept as `<sha256>-<engine hash>.cwasm` and loaded
//! with `Component::deserialize` (~0.3 ms instead of ~50-100 ms of Cranelift).

use super::LoadError;
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A compiled component and how it was obtained.
pub struct Compiled {
    /// The component.
    pub component: Component,
    /// Hex SHA-256 of the `.wasm` bytes.
    pub sha256: String,
    /// Loaded from the artifact cache rather than compiled.
    pub from_cache: bool,
    /// Time spent compiling or deserializing.
    pub elapsed: Duration,
}

struct Job {
    bytes: Arc<[u8]>,
    reply: tokio::sync::oneshot::Sender<Result<Compiled, LoadError>>,
}

/// Handle to the compile thread.
pub struct Compiler {
    jobs: Option<crossbeam_channel::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Compiler {
    /// Starts the compile thread.
    pub fn start(
        engine: Engine,
        cache_dir: Option<PathBuf>,
        max_bytes: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(64);
        let thread = std::thread::Builder::new()
            .name("solomon-compile".into())
            .spawn(move || {
                for job in rx {
                    let result = compile(&engine, cache_dir.as_deref(), &job.bytes, max_bytes);
                    let _ = job.reply.send(result);
                }
            })?;
        Ok(Compiler {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Compiles `bytes` on the compile thread.
    pub async fn compile(&self, bytes: Arc<[u8]>) -> Result<Compiled, LoadError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let jobs = self.jobs.clone().ok_or(LoadError::Shutdown)?;
        // The channel is bounded, so sending may block: do it off the async workers.
        tokio::task::spawn_blocking(move || jobs.send(Job { bytes, reply }))
            .await
            .map_err(|_| LoadError::Shutdown)?
            .map_err(|_| LoadError::Shutdown)?;
        answer.await.map_err(|_| LoadError::Shutdown)?
    }
}

impl Drop for Compiler {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Checks the header: a component, not a core module or something else.
pub fn check_header(bytes: &[u8], max_bytes: usize) -> Result<(), LoadError> {
    if bytes.len() > max_bytes {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    match bytes.get(4..8) {
        None => Err(LoadError::Invalid(
            "truncated: the file ends inside the header".into(),
        )),
        Some([1, 0, 0, 0]) => Err(LoadError::CoreModule),
        Some([0x0d, 0, 1, 0]) => Ok(()),
        Some(v) => Err(LoadError::Invalid(format!(
            "unknown WebAssembly version/layer {v:02x?}"
        ))),
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn engine_key(engine: &Engine) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

fn invalid(e: impl std::fmt::Display) -> LoadError {
    LoadError::Invalid(e.to_string())
}

/// wasmtime has panicked on malformed input before (Zed works around it); a panic here must
/// become a load error, never take the compile thread down.
fn guarded<T>(f: impl FnOnce() -> wasmtime::Result<T>) -> Result<T, LoadError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| invalid(format!("{e:#}"))),
        Err(_) => Err(invalid("the compiler panicked on this file")),
    }
}

fn compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<Compiled, LoadError> {
    check_header(bytes, max_bytes)?;
    let started = Instant::now();
    let sha256 = sha256_hex(bytes);
    let Some(dir) = cache_dir else {
        let component = guarded(|| Component::new(engine, bytes))?;
        return Ok(Compiled {
            component,
            sha256,
            from_cache: false,
            elapsed: started.elapsed(),
        });
    };
    let path = dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)));
    // Read into memory rather than `deserialize_file`: that mmaps the file, and anything that
    // truncates it while the plugin is loaded would crash the daemon with SIGBUS.
    if let Ok(artifact) = std::fs::read(&path) {
        // SAFETY: artifacts in the cache dir are written only by this function with an engine
        // of the same compatibility hash (part of the file name); the cache dir must be as
        // trusted as the binary itself, which the docs of `cache_dir` say. A damaged file
        // fails wasmtime's header and hash checks and is recompiled below.
        match unsafe { Component::deserialize(engine, &artifact) } {
            Ok(component) => {
                return Ok(Compiled {
                    component,
                    sha256,
                    from_cache: true,
                    elapsed: started.elapsed(),
                });
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unreadable cached artifact: {e}");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let artifact = guarded(|| engine.precompile_component(bytes))?;
    if let Err(e) = write_atomically(dir, &path, &artifact) {
        tracing::warn!(path = %path.display(), "cannot cache compiled plugin: {e}");
    }
    // SAFETY: `artifact` was produced by `precompile_component` on this engine just above.
    let component = unsafe { Component::deserialize(engine, &artifact) }.map_err(invalid)?;
    Ok(Compiled {
        component,
        sha256,
        from_cache: false,
        elapsed: started.elapsed(),
    })
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(matches!(
            check_header(b"hello world", 100),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0", 100),
            Err(LoadError::CoreModule)
        ));
        assert!(matches!(
            check_header(b"\0asm\x0d", 100),
            Err(LoadError::Invalid(_))
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0", 100).is_ok());
        assert!(matches!(
            check_header(&[0; 200], 100),
            Err(LoadError::TooLarge { .. })
        ));
    }
}
