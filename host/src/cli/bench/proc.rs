//! CPU and memory of processes, from Linux `/proc`.

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` (USER_HZ: 100 on every Linux this runs on).
const TICKS_PER_S: f64 = 100.0;

/// User + system CPU time of process `pid` ("self" for this one).
pub fn cpu(pid: &str) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / TICKS_PER_S))
}

/// User + system CPU time of this process, all threads, to the microsecond (`getrusage`).
pub fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and cannot fail for RUSAGE_SELF; a
    // zeroed rusage is a valid value of it either way.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time the calling thread has used (`/proc/thread-self/schedstat`, ns).
pub fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// (user, system) CPU time of process `pid`.
pub fn cpu_split(pid: &str) -> Option<(Duration, Duration)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Option<Duration> {
        Some(Duration::from_secs_f64(
            f.get(i)?.parse::<u64>().ok()? as f64 / TICKS_PER_S,
        ))
    };
    Some((ticks(11)?, ticks(12)?))
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// This process's heap as the allocator sees it: `heap X MB live, Y MB resident`.
pub fn heap_figures() -> String {
    let heap = crate::memory::heap_stats();
    let mb = |b: u64| b as f64 / 1048576.0;
    format!(
        "heap {:.1} MB live, {:.1} MB resident",
        mb(heap.map_or(0, |h| h.allocated)),
        mb(heap.map_or(0, |h| h.resident)),
    )
}

/// The `q` quantile of sorted `v`.
/// Sockets in TIME_WAIT on this machine (`/proc/net/tcp` and `tcp6`, state `06`).
pub fn time_wait_sockets() -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| l.split_whitespace().nth(3) == Some("06"))
                .count()
        })
        .sum()
}

pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_connection_closed_by_its_server_is_counted_in_time_wait() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (server, _) = l.accept().expect("accept");
        // The server closes first, as a miner does after its reply: its side waits.
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("EOF");
        drop(client);
        let start = std::time::Instant::now();
        while time_wait_sockets() == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no socket in TIME_WAIT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
