//! Compiling components off the async runtime, on one dedicated thread fed by a crossbeam
//! channel: compiling untrusted wasm is slow and not DoS-protected by wasmtime, so at most one
//! core ever does it, and async workers never block on it.
//!
//! With a cache dir, compiled artifacts are kept as `<sha256>-<engine hash>.cwasm` and loaded
//! with `Component::deserialize` (~0.3 ms instead of ~50-100 ms of Cranelift).
//!
//! The daemon runs Cranelift in a child process of its own ([`CompileIn::Child`], `solomon
//! compile-plugin`), which writes the artifact into the cache for the daemon to load. Cranelift's
//! code and its working memory then never enter the daemon: compiling the shipped plugins in
//! process left the daemon's resident set 15-20 MB larger for its whole life (150-157 MB
//! against 132-138 MB at 10,000 miners, `solomon bench daemon`). And a compiler that crashes
//! or runs away on a hostile file costs a load error, not the daemon.

use super::{LoadError, RuntimeConfig};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// Where Cranelift runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompileIn {
    /// On the runtime's compile thread.
    #[default]
    ThisProcess,
    /// In a child process, `<this solomon binary> compile-plugin`, which writes the artifact
    /// into the cache. Needs a cache dir; without one, compiling stays in process.
    Child(PathBuf),
}

impl CompileIn {
    /// A child process of the running executable, which must be the `solomon` binary (it
    /// answers `compile-plugin`). If the executable's path is unknown, in process.
    pub fn child_of_this_binary() -> Self {
        std::env::current_exe().map_or(CompileIn::ThisProcess, CompileIn::Child)
    }
}

/// Exit code of `solomon compile-plugin` for a file that does not compile (the reason is the
/// last line of its stderr).
pub const CHILD_INVALID: i32 = 2;

/// Exit code of `solomon compile-plugin` that failed for a reason of its own, not of the file:
/// it could not read its stdin, start its engine or write the artifact (a full disk, an
/// unusable cache dir). The daemon compiles in process instead, as it would have without the
/// child, rather than refuse a good plugin.
pub const CHILD_CANNOT_WRITE: i32 = 3;

impl Compiled {
    fn new(component: Component, sha256: String, from_cache: bool, started: Instant) -> Self {
        Compiled {
            component,
            sha256,
            from_cache,
            elapsed: started.elapsed(),
        }
    }
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
    /// Starts the compile thread, compiling as `config` says.
    pub fn start(engine: Engine, config: &RuntimeConfig) -> std::io::Result<Self> {
        let how = How {
            cache_dir: config.cache_dir.clone(),
            compile_in: config.compile_in.clone(),
            timeout: config.compile_timeout,
            max_bytes: config.max_component_bytes,
        };
        let (tx, rx) = crossbeam_channel::bounded::<Job>(64);
        let thread = std::thread::Builder::new()
            .name("solomon-compile".into())
            .spawn(move || {
                for job in rx {
                    let result = compile(&engine, &how, &job.bytes);
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

/// What the compile thread was told by the runtime's config.
struct How {
    cache_dir: Option<PathBuf>,
    compile_in: CompileIn,
    timeout: Duration,
    max_bytes: usize,
}

fn compile(engine: &Engine, how: &How, bytes: &[u8]) -> Result<Compiled, LoadError> {
    check_header(bytes, how.max_bytes)?;
    let started = Instant::now();
    let sha256 = sha256_hex(bytes);
    let Some(dir) = how.cache_dir.as_deref() else {
        let component = guarded(|| Component::new(engine, bytes))?;
        return Ok(Compiled::new(component, sha256, false, started));
    };
    let path = artifact_path(engine, dir, &sha256);
    if let Some(component) = load_cached(engine, &path) {
        return Ok(Compiled::new(component, sha256, true, started));
    }
    if let CompileIn::Child(exe) = &how.compile_in {
        match compile_in_child(exe, dir, bytes, how.timeout) {
            Ok(()) => {
                if let Some(component) = load_cached(engine, &path) {
                    return Ok(Compiled::new(component, sha256, false, started));
                }
                tracing::warn!(exe = %exe.display(), "the compiler process left no usable artifact; compiling in process");
            }
            Err(ChildError::Failed(message)) => return Err(LoadError::Invalid(message)),
            Err(ChildError::Unavailable(why)) => {
                tracing::warn!(exe = %exe.display(), "{why}; compiling in process");
            }
        }
    }
    let artifact = guarded(|| engine.precompile_component(bytes))?;
    if let Err(e) = write_atomically(dir, &path, &artifact) {
        tracing::warn!(path = %path.display(), "cannot cache compiled plugin: {e}");
    }
    // SAFETY: `artifact` was produced by `precompile_component` on this engine just above.
    let component = unsafe { Component::deserialize(engine, &artifact) }.map_err(invalid)?;
    Ok(Compiled::new(component, sha256, false, started))
}

fn artifact_path(engine: &Engine, dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

/// The cached artifact at `path`, if there is a sound one. A damaged one is deleted.
fn load_cached(engine: &Engine, path: &Path) -> Option<Component> {
    // Read into memory rather than `deserialize_file`: that mmaps the file, and anything that
    // truncates it while the plugin is loaded would crash the daemon with SIGBUS.
    let artifact = std::fs::read(path).ok()?;
    // SAFETY: artifacts in the cache dir are written only by `precompile_into` with an engine
    // of the same compatibility hash (part of the file name), here or in a compiler child
    // started from this same binary; the cache dir must be as trusted as the binary itself,
    // which the docs of `cache_dir` say. A damaged file fails wasmtime's header and hash
    // checks and is recompiled.
    match unsafe { Component::deserialize(engine, &artifact) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), "discarding unreadable cached artifact: {e}");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Compiles `bytes` with a fresh engine of the daemon's configuration and writes the artifact
/// into `dir`, where [`Compiler`] finds it. What `solomon compile-plugin` runs.
pub fn precompile_into(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<PathBuf, LoadError> {
    check_header(bytes, max_bytes)?;
    let path = artifact_path(engine, dir, &sha256_hex(bytes));
    let artifact = guarded(|| engine.precompile_component(bytes))?;
    write_atomically(dir, &path, &artifact).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

enum ChildError {
    /// The child could not be started or could not write its artifact: compiling falls
    /// back to this process.
    Unavailable(String),
    /// It refused the file, crashed or ran out of time: the load fails with this reason.
    Failed(String),
}

/// Runs `exe compile-plugin --cache-dir dir` on `bytes` (its stdin) and waits for it.
fn compile_in_child(
    exe: &Path,
    dir: &Path,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), ChildError> {
    let mut child = Command::new(exe)
        .arg("compile-plugin")
        .arg("--cache-dir")
        .arg(dir)
        .arg("--max-bytes")
        .arg(bytes.len().to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ChildError::Unavailable(format!("cannot start the compiler process ({e})")))?;
    // Stderr is read and stdin written on the side: a child that writes much or reads
    // nothing can then never block this thread past the timeout. A child that stops reading
    // early (it crashed) is reported by its exit status below.
    let stderr = child
        .stderr
        .take()
        .map(|err| std::thread::spawn(move || tail(err)));
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || stdin.write_all(&bytes));
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "compiling took longer than {timeout:?}; the compiler was stopped"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("waiting for the compiler process failed: {e}")),
        }
    };
    let said = stderr
        .and_then(|t| t.join().ok())
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string);
    let status = status.map_err(ChildError::Failed)?;
    if status.success() {
        return Ok(());
    }
    if status.code() == Some(CHILD_CANNOT_WRITE) {
        return Err(ChildError::Unavailable(format!(
            "the compiler process could not write its artifact ({})",
            said.unwrap_or_default()
        )));
    }
    if status.code() == Some(CHILD_INVALID) {
        return Err(ChildError::Failed(
            said.unwrap_or_else(|| "the compiler refused the file".into()),
        ));
    }
    Err(ChildError::Failed(format!(
        "the compiler process failed ({status}){}",
        said.map(|s| format!(": {s}")).unwrap_or_default()
    )))
}

/// The last 4 KiB of what `r` yields until its end, as text.
fn tail(mut r: impl Read) -> String {
    const KEEP: usize = 4096;
    let (mut kept, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * KEEP {
                    kept.drain(..kept.len() - KEEP);
                }
            }
        }
    }
    let from = kept.len().saturating_sub(KEEP);
    String::from_utf8_lossy(&kept[from..]).into_owned()
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
