//! `solomon compile-plugin`: the daemon's compiler child. Reads a component on stdin, compiles
//! it and writes the artifact into the cache dir; exit code 0 when written,
//! [`CHILD_INVALID`] with the reason on stderr when the file does not compile,
//! [`CHILD_CANNOT_WRITE`] when it fails for a reason of its own (stdin, its engine, writing
//! the artifact).

use crate::runtime::{CHILD_CANNOT_WRITE, CHILD_INVALID, LoadError, new_engine, precompile_into};
use std::io::Read;
use std::path::PathBuf;

/// Options of `solomon compile-plugin`.
#[derive(Debug, clap::Args)]
pub struct CompilePluginArgs {
    /// Plugin cache to write the artifact into.
    #[arg(long)]
    pub cache_dir: PathBuf,
    /// Largest component accepted.
    #[arg(long)]
    pub max_bytes: usize,
}

/// Compiles stdin into the cache; the exit code is the process's.
pub fn compile_plugin(args: &CompilePluginArgs) -> i32 {
    let mut bytes = Vec::new();
    let limit = args.max_bytes.saturating_add(1) as u64;
    // Failures of this process, not of the file, let the daemon compile in process instead.
    if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut bytes) {
        eprintln!("cannot read the component from stdin: {e}");
        return CHILD_CANNOT_WRITE;
    }
    let engine = match new_engine() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("cannot start the compiler's engine: {e}");
            return CHILD_CANNOT_WRITE;
        }
    };
    match precompile_into(&engine, &args.cache_dir, &bytes, args.max_bytes) {
        Ok(_) => 0,
        Err(e @ LoadError::Io { .. }) => {
            eprintln!("{e}");
            CHILD_CANNOT_WRITE
        }
        Err(e) => {
            eprintln!("{}", reason(&e));
            CHILD_INVALID
        }
    }
}

/// The reason as the daemon reports it after "invalid component: ".
fn reason(e: &LoadError) -> String {
    match e {
        LoadError::Invalid(m) => m.clone(),
        other => other.to_string(),
    }
}
