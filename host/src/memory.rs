//! The process's allocator and how it gives memory back to the system.
//!
//! jemalloc, with two arenas and freed pages returned after 300 ms by its own background
//! thread. The daemon's heap is long-lived per-miner state interleaved with a second's worth
//! of transient poll work, which is what fragments an allocator:
//! - glibc's malloc spent about a sixth of the daemon's CPU in malloc and free (arena locks
//!   shared by tokio's and wasmtime's threads, `malloc_consolidate` on every trim), and its
//!   arenas fragmented until RSS crossed 150 MB after about 18 minutes;
//! - mimalloc (v3) held ~133 MB resident for a live heap of ~80 MB at 10,000 miners
//!   (heaptrack), even purging at once;
//! - jemalloc, alternated with mimalloc on `bench daemon` at 10,000 miners: RSS 146-159 MB
//!   against 161-172 MB, and 5-10% less CPU per poll.
//!
//! Declared here, in the library, so tests and benchmarks measure the allocator the daemon
//! runs with.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (before `main`):
/// - two arenas for two cores (its default is four per core, each holding its own free
///   pages);
/// - dirty pages returned after 300 ms and not kept "muzzy" (lazily freed) at all, by a
///   background thread rather than by whichever thread happens to free;
/// - threads cache freed blocks of up to 4 KiB, not 32 KiB. The larger blocks (sockets'
///   buffers, miners' replies, WebSocket messages) were cached by each of ~20 threads: at
///   10,000 miners with 100 dashboards RSS was 150-154 MB at the end of `bench daemon`
///   against 141-143 MB now (peak 150-155 against 145-148 MB), with no CPU per poll that
///   three alternated pairs could tell apart. Halving the small blocks' cache as well took
///   another ~6 MB but cost 4-6 µs per poll.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&'static std::ffi::CStr> =
    Some(c"background_thread:true,narenas:2,dirty_decay_ms:300,muzzy_decay_ms:0,tcache_max:4096");

/// Tunes memory for a long-running daemon; call first thing in `main`.
///
/// Transparent huge pages off for the process: on a kernel with THP in `madvise` mode an
/// allocator that advises them makes every page the heap touches cost 2 MiB (mimalloc sat at
/// 209-242 MB RSS at 10,000 miners that way, against ~150 MB without).
pub fn configure_allocator() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// What the allocator holds, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    /// Live allocations.
    pub allocated: u64,
    /// Pages of the heap in memory: live allocations plus what fragmentation and not yet
    /// returned free pages cost.
    pub resident: u64,
}

/// The allocator's figures now; `None` if it cannot tell.
pub fn heap_stats() -> Option<HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are cached until the epoch moves.
    epoch::advance().ok()?;
    Some(HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_runs_with_the_options_we_give_it() {
        // jemalloc skips a conf pair it cannot read with only a line on stderr.
        // SAFETY: each name is a jemalloc option of the type read.
        let (narenas, tcache_max, dirty) = unsafe {
            (
                tikv_jemalloc_ctl::raw::read::<u32>(b"opt.narenas\0"),
                tikv_jemalloc_ctl::raw::read::<usize>(b"opt.tcache_max\0"),
                tikv_jemalloc_ctl::raw::read::<isize>(b"opt.dirty_decay_ms\0"),
            )
        };
        assert_eq!(narenas.ok(), Some(2));
        assert_eq!(tcache_max.ok(), Some(4096));
        assert_eq!(dirty.ok(), Some(300));
    }

    #[test]
    fn the_heap_figures_follow_allocations() {
        let before = heap_stats().expect("jemalloc statistics");
        let block = vec![7u8; 64 << 20];
        let during = heap_stats().expect("jemalloc statistics");
        assert!(
            during.allocated >= before.allocated + (60 << 20),
            "{before:?} -> {during:?}"
        );
        assert!(during.resident >= during.allocated, "{during:?}");
        drop(block);
    }
}
