//! Giving memory the allocator no longer uses back to the system.
//!
//! glibc keeps freed memory in its arenas for reuse. Compiling plugins (Cranelift, at start
//! and on hot reload) and large transient buffers leave pages free there that the daemon may
//! not need again for a long time. `malloc_trim` returns them; the daemon calls it after
//! loading plugins and every 20 s. At 10,000 simulated miners, trimming every 60 s let RSS saw
//! between 210 and 265 MB, every 20 s between 193 and 231 MB (`solomon bench daemon`, traced
//! for 300 s); at 1,000 miners a trim saves about 3 MB (67 -> 64 MB).

use std::time::Duration;

/// How often the daemon trims.
pub const TRIM_EVERY: Duration = Duration::from_secs(20);

/// Returns free allocator pages to the system (glibc only; elsewhere a no-op).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its own locks;
    // any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes the allocator has handed out and not had back (glibc only): live heap, without the
/// free memory the allocator keeps.
pub fn heap_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 reads the allocator's own counters under its locks.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Trims every [`TRIM_EVERY`] until the task is dropped or aborted.
pub async fn trim_periodically() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A blocking thread: with a large heap the walk takes a moment.
        let _ = tokio::task::spawn_blocking(release_free_memory).await;
    }
}
