//! `solomon`: a thin command line over the `solomon_host` library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async_main()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc gives threads their own malloc arenas, up to 8 per core. With tokio's workers,
/// blocking threads and wasmtime's, a daemon polling 10,000 miners held about 55 MB of
/// fragmented arenas (218 MB RSS, against 164 MB with two arenas; `solomon bench daemon`).
///
/// glibc also raises its mmap threshold each time a large block is freed, up to 32 MiB, after
/// which sled's half-megabyte log buffers come from the arenas and leave holes there. A fixed
/// threshold keeps every block of 256 KiB or more in its own mapping, returned when freed:
/// RSS over 150 s at 10,000 miners fell from 137.7-147.7 MB to 130.8-135.5 MB, CPU unchanged.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only tunes the allocator, and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

async fn async_main() -> std::process::ExitCode {
    let json = std::env::var("SOLOMON_LOG_FORMAT").is_ok_and(|f| f == "json");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only on a terminal: piped and journald logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    let cli = solomon_host::cli::Cli::parse();
    match solomon_host::cli::dispatch(cli).await {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
