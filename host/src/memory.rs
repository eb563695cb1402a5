//! The process's allocator, and giving memory it no longer uses back to the system.
//!
//! mimalloc rather than glibc's malloc: at 10,000 simulated miners glibc spent about a sixth
//! of the daemon's CPU in malloc and free (arena locks shared by tokio's and wasmtime's
//! threads, `malloc_consolidate` on every trim), and its arenas fragmented until RSS crossed
//! 150 MB after about 18 minutes even with two arenas and trims every 20 s. mimalloc keeps
//! per-thread free lists and returns freed pages to the system by itself after a short delay.
//! Declared here, in the library, so tests and benchmarks measure the allocator the daemon
//! runs with.

use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tunes memory for a long-running daemon; call first thing in `main`.
///
/// mimalloc reserves its first arena (1 GiB of address space) eagerly committed and advised for
/// transparent huge pages, before `main` runs; on a kernel with THP in `madvise` mode every
/// page the heap touches then costs 2 MiB. At 10,000 simulated miners the daemon sat at
/// 209-242 MB RSS that way, against ~150 MB with THP off for the process.
pub fn configure_allocator() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // SAFETY: mi_option_set only stores the value, read at the next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Restores mimalloc's own purge delay (1 s) for a process that is not the daemon. Purging at
/// once keeps the daemon's RSS down; in `solomon simulate`, whose thousands of open sessions
/// leave pages partly used, it made every purge a TLB shootdown across threads: a fifth of
/// the simulator's CPU at 10,000 miners, measured with perf.
pub fn purge_lazily() {
    // SAFETY: mi_option_set only stores the value, read at the next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}

/// `mi_option_purge_delay` in the mimalloc (v3) that `libmimalloc-sys` 0.1.49 builds, from its
/// `mimalloc.h`; the crate's own constants still carry v2's numbering, hence the pin.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How often the daemon asks the allocator to collect.
pub const TRIM_EVERY: Duration = Duration::from_secs(20);

/// Returns free allocator pages to the system: after plugins are compiled (Cranelift leaves
/// large transient buffers) and periodically.
pub fn release_free_memory() {
    // SAFETY: mi_collect only walks the allocator's own structures; any thread may call it.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

/// Bytes the allocator holds from the system (committed): live heap plus the free pages it
/// has not yet returned.
pub fn allocator_committed() -> Option<u64> {
    let (mut elapsed, mut user, mut system) = (0usize, 0usize, 0usize);
    let (mut rss, mut peak_rss, mut commit, mut peak_commit, mut faults) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    // SAFETY: every pointer is to a live local of the type mi_process_info writes.
    unsafe {
        libmimalloc_sys::mi_process_info(
            &mut elapsed,
            &mut user,
            &mut system,
            &mut rss,
            &mut peak_rss,
            &mut commit,
            &mut peak_commit,
            &mut faults,
        );
    }
    Some(commit as u64)
}

/// Collects every [`TRIM_EVERY`] until the task is dropped or aborted.
pub async fn trim_periodically() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = tokio::task::spawn_blocking(release_free_memory).await;
    }
}
