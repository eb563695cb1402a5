//! HTTP connections kept open between polls, one per miner.
//!
//! Opening and closing a TCP connection for every poll was most of the kernel's share of a
//! poll's CPU. AxeOS (ESP-IDF's httpd) keeps a session open after a reply and, with
//! `lru_purge_enable` (ESP-Miner sets it, with 20 sockets), closes the least recently used one
//! when it needs a socket, so holding one idle connection per miner never locks anyone out.
//!
//! Only the bare socket is kept, not a read buffer with it (at 10,000 miners buffers would cost
//! tens of MB while they wait), and kept out of tokio's reactor: registered there, each idle
//! socket cost about 1 KB (4-6 MB at 10,000 miners, measured). Taking it back costs two
//! `epoll_ctl` calls and a `recv`, a few µs.

use crate::hashing::FastMap;
use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// An idle socket: non-blocking, not registered with any reactor.
type Parked = std::net::TcpStream;

/// How long an unused connection is kept: longer than any sane poll interval, short enough that
/// miners removed from the daemon do not hold sockets for long.
pub const MAX_IDLE: Duration = Duration::from_secs(120);

/// How often `put` drops connections idle for too long (more often if that is shorter).
const SWEEP_EVERY: Duration = Duration::from_secs(30);

struct Idle {
    stream: Parked,
    since: Instant,
}

struct Slots {
    /// By `host:port`: miners behind one address (port forwarding) each keep their own. A
    /// taken connection leaves its address behind, empty, so that putting it back allocates
    /// no key (until a sweep clears empty addresses).
    by_addr: FastMap<Box<str>, Option<Idle>>,
    /// Connections held (addresses not empty).
    held: usize,
    last_sweep: Instant,
}

/// Calls `f` with `host:port`, written on the stack when it fits: this runs twice per poll.
fn with_addr<R>(host: &str, port: u16, f: impl FnOnce(&str) -> R) -> R {
    use std::io::Write as _;
    const LEN: usize = 96;
    let mut buf = [0u8; LEN];
    let mut w = &mut buf[..];
    if write!(w, "{host}:{port}").is_ok() {
        let n = LEN - w.len();
        if let Ok(key) = std::str::from_utf8(&buf[..n]) {
            return f(key);
        }
    }
    f(&format!("{host}:{port}"))
}

/// Idle connections by miner address; at most one per address, at most `capacity` in all.
pub struct IdleConnections {
    slots: Mutex<Slots>,
    capacity: usize,
    max_idle: Duration,
}

/// Keeps none: a one-shot command (`probe`, `scan`) polls each miner once, and holding its
/// socket open until exit would only take a session from the miner. The daemon opts in.
impl Default for IdleConnections {
    fn default() -> Self {
        IdleConnections::new(0)
    }
}

impl IdleConnections {
    /// A pool holding at most `capacity` connections (0: never keeps any).
    pub fn new(capacity: usize) -> Self {
        IdleConnections::with_max_idle(capacity, MAX_IDLE)
    }

    /// As [`IdleConnections::new`], dropping connections unused for `max_idle`.
    pub fn with_max_idle(capacity: usize, max_idle: Duration) -> Self {
        IdleConnections {
            slots: Mutex::new(Slots {
                by_addr: FastMap::default(),
                held: 0,
                last_sweep: Instant::now(),
            }),
            capacity,
            max_idle,
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock()
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        self.slots().held
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The idle connection to `host:port`, if there is one the peer has not closed, registered
    /// with the current runtime.
    pub fn take(&self, host: &str, port: u16) -> Option<TcpStream> {
        let idle = with_addr(host, port, |key| {
            let mut slots = self.slots();
            let idle = slots.by_addr.get_mut(key)?.take()?;
            slots.held -= 1;
            Some(idle)
        })?;
        if idle.since.elapsed() > self.max_idle {
            return None;
        }
        // A peer that closed the session (an ESP32 purging it) left an EOF to read; any byte
        // waiting is not ours either. Only "nothing to read" means it is usable.
        match idle.stream.peek(&mut [0u8; 1]) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                TcpStream::from_std(idle.stream).ok()
            }
            _ => None,
        }
    }

    /// Keeps `stream` for the next request to `host:port`; dropped (closed) when the pool is
    /// full. Replaces an older connection to the same address.
    pub fn put(&self, host: &str, port: u16, stream: TcpStream) {
        if self.capacity == 0 {
            return;
        }
        // Out of the reactor while it waits; it stays non-blocking.
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let now = Instant::now();
        let mut dropped = Vec::new();
        {
            let mut slots = self.slots();
            if now.duration_since(slots.last_sweep) >= SWEEP_EVERY.min(self.max_idle) {
                slots.last_sweep = now;
                let max_idle = self.max_idle;
                let stale = slots.by_addr.extract_if(|_, i| {
                    i.as_ref()
                        .is_none_or(|i| now.duration_since(i.since) > max_idle)
                });
                dropped.extend(stale.filter_map(|(_, i)| i));
                slots.held -= dropped.len();
            }
            let idle = Idle { stream, since: now };
            let slots = &mut *slots;
            let room = slots.held < self.capacity;
            with_addr(host, port, |key| match slots.by_addr.get_mut(key) {
                Some(slot @ Some(_)) => dropped.extend(slot.replace(idle)),
                Some(slot) if room => {
                    *slot = Some(idle);
                    slots.held += 1;
                }
                None if room => {
                    slots.by_addr.insert(key.into(), Some(idle));
                    slots.held += 1;
                }
                _ => dropped.push(idle),
            });
        }
        // Closing sockets is a system call each: outside the lock.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A connected pair on loopback: (ours, the peer's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), l.accept());
        (ours.expect("connect"), theirs.expect("accept").0)
    }

    /// Lets the runtime's I/O driver see what the peer did.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn a_kept_connection_is_handed_back_once_for_its_host_and_port() {
        let pool = IdleConnections::new(8);
        let (ours, _theirs) = pair().await;
        pool.put("10.0.0.5", 80, ours);
        assert_eq!(pool.len(), 1);
        assert!(pool.take("10.0.0.5", 81).is_none(), "another port");
        assert!(pool.take("10.0.0.6", 80).is_none(), "another host");
        assert!(pool.take("10.0.0.5", 80).is_some());
        assert!(pool.take("10.0.0.5", 80).is_none(), "taken already");
        assert!(pool.is_empty());
        // Two miners behind one address, on two ports: both kept.
        let (a, _ta) = pair().await;
        let (b, _tb) = pair().await;
        pool.put("10.0.0.5", 8080, a);
        pool.put("10.0.0.5", 8081, b);
        assert_eq!(pool.len(), 2);
        assert!(pool.take("10.0.0.5", 8080).is_some());
        assert!(pool.take("10.0.0.5", 8081).is_some());
        // A name too long for the key written on the stack.
        let long = format!("{}.example", "m".repeat(120));
        let (c, _tc) = pair().await;
        pool.put(&long, 80, c);
        assert!(pool.take(&long[..long.len() - 1], 80).is_none());
        assert!(pool.take(&long, 80).is_some());
        assert!(pool.is_empty());
    }

    /// A connection taken and put back counts once; a full pool drops a newcomer's.
    #[tokio::test]
    async fn taking_and_putting_back_keeps_the_count() {
        let pool = IdleConnections::new(1);
        for _ in 0..3 {
            let (ours, _theirs) = pair().await;
            pool.put("a", 80, ours);
            let (again, _t) = pair().await;
            pool.put("a", 80, again);
            assert_eq!(pool.len(), 1, "the newer replaces the older");
            assert!(pool.take("a", 80).is_some());
            assert_eq!(pool.len(), 0);
        }
        let (a, _ta) = pair().await;
        let (b, _tb) = pair().await;
        pool.put("a", 80, a);
        pool.put("b", 80, b);
        assert_eq!(pool.len(), 1, "full");
        assert!(pool.take("b", 80).is_none());
        // `a` taken, `b` put while it was out: `a` is not let back over the capacity.
        let a = pool.take("a", 80).expect("kept");
        let (b, _tb) = pair().await;
        pool.put("b", 80, b);
        pool.put("a", 80, a);
        assert_eq!(pool.len(), 1, "still full");
        assert!(pool.take("a", 80).is_none());
        assert!(pool.take("b", 80).is_some());
    }

    #[tokio::test]
    async fn a_connection_the_peer_closed_or_wrote_to_is_not_handed_back() {
        let pool = IdleConnections::new(8);
        let (ours, theirs) = pair().await;
        pool.put("a", 80, ours);
        drop(theirs);
        settle().await;
        assert!(pool.take("a", 80).is_none(), "closed by the peer");

        let (ours, mut theirs) = pair().await;
        pool.put("b", 80, ours);
        theirs.write_all(b"x").await.expect("write");
        settle().await;
        assert!(pool.take("b", 80).is_none(), "stray bytes waiting");
    }

    #[tokio::test]
    async fn the_pool_keeps_no_more_than_its_capacity_and_nothing_stale() {
        let pool = IdleConnections::new(2);
        let mut peers = Vec::new();
        for host in ["a", "b", "c"] {
            let (ours, theirs) = pair().await;
            peers.push(theirs);
            pool.put(host, 80, ours);
        }
        assert_eq!(pool.len(), 2, "the third is closed, not kept");
        assert!(pool.take("c", 80).is_none());
        // A newer connection to an address already held replaces it, even when full.
        let (ours, _t) = pair().await;
        pool.put("a", 80, ours);
        assert_eq!(pool.len(), 2);

        let pool = IdleConnections::with_max_idle(8, Duration::from_millis(10));
        let (ours, _t) = pair().await;
        pool.put("a", 80, ours);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(pool.take("a", 80).is_none(), "idle too long");
        // Connections of miners no longer polled are closed by a later put.
        let (ours, _t) = pair().await;
        pool.put("gone", 80, ours);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (ours, _t) = pair().await;
        pool.put("b", 80, ours);
        assert_eq!(pool.len(), 1, "the stale one is swept");
        for none in [IdleConnections::new(0), IdleConnections::default()] {
            let (ours, _t) = pair().await;
            none.put("a", 80, ours);
            assert!(none.is_empty(), "capacity 0, and the default, keep nothing");
        }
    }
}
