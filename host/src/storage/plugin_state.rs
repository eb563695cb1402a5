//! Plugin state on sled: namespace `ns` key `k` is stored as `ns \0 k` in its own tree. Each
//! operation is one atomic sled call (insert, remove, compare-and-swap). The number of keys per
//! namespace (for the quota) is counted once, then kept in memory from what each call did:
//! scanning a namespace of 50,000 keys on every new key made a 10,000-miner fleet crawl.
//!
//! Values are also mirrored in memory, up to a bound in bytes (`[storage] state_mirror_mib`).
//! Drivers and rules read a few keys per miner at every poll (a memo, streaks, a best share); at
//! 10,000 miners that is ~60,000 keys every 5 s, and the history's writes push their pages out
//! of sled's cache, so each read was a page read and decode: 11% of the daemon's CPU. A cache
//! that evicts the least recently used key does not help a cyclic pattern like this one (moka
//! with 8 MiB: the same CPU, 10-15 MB more RSS), so the mirror admits keys until it is full and
//! then keeps them: when a fleet's keys do not all fit, the first ones are still read from
//! memory. A plugin writing many keys can fill it; that costs the others speed, not memory.
//!
//! The mirror never serves a value older than the last completed write: every operation on a
//! key runs its sled call under that key's stripe lock and updates the mirror before letting
//! go, so a read that missed cannot put an old value back after a write.

use crate::hashing::{FastMap, FastState};
use crate::host_api::plugin_state::{BackendError, StateBackend};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// What an entry costs beyond its key and value (the map's slot, two allocations): counted so
/// that many tiny values cannot hold far more memory than the bound says.
const ENTRY_OVERHEAD: u64 = 80;

/// Stripes of the mirror, each a lock and a map.
const STRIPES: usize = 64;

/// A mirrored value; `None` mirrors that the key is absent.
type Mirrored = Option<Box<[u8]>>;

fn weight(key: &[u8], v: &Mirrored) -> u64 {
    (key.len() + v.as_ref().map_or(0, |v| v.len())) as u64 + ENTRY_OVERHEAD
}

/// The `plugin-state` backend of the daemon.
pub struct SledState {
    tree: sled::Tree,
    counts: parking_lot::Mutex<HashMap<String, usize>>,
    stripes: [parking_lot::Mutex<FastMap<Box<[u8]>, Mirrored>>; STRIPES],
    hasher: FastState,
    mirrored: AtomicU64,
    cap: u64,
}

/// One stripe, locked.
type Stripe<'a> = parking_lot::MutexGuard<'a, FastMap<Box<[u8]>, Mirrored>>;

impl SledState {
    /// Over `tree`, with a mirror of at most `cap` bytes (0: none), counting an entry's key,
    /// value and [`ENTRY_OVERHEAD`].
    pub fn new(tree: sled::Tree, cap: u64) -> Self {
        SledState {
            tree,
            counts: Default::default(),
            stripes: std::array::from_fn(|_| Default::default()),
            hasher: FastState::default(),
            mirrored: AtomicU64::new(0),
            cap,
        }
    }

    /// The stripe of `key`, locked.
    fn stripe(&self, key: &[u8]) -> Stripe<'_> {
        let i = self.hasher.hash_one(key) as usize % STRIPES;
        self.stripes[i].lock()
    }

    /// Mirrors `v` as `key`'s value, if it fits; called with the key's stripe locked, right
    /// after the sled call that made it so.
    fn mirror(&self, stripe: &mut Stripe<'_>, key: Vec<u8>, v: Mirrored) {
        if let Some((k, old)) = stripe.remove_entry(key.as_slice()) {
            self.mirrored.fetch_sub(weight(&k, &old), Ordering::Relaxed);
        }
        let w = weight(&key, &v);
        // Only this stripe's lock is held: two stripes may both pass the check and overshoot
        // the bound by one entry each, which a bound on memory tolerates.
        if self.mirrored.load(Ordering::Relaxed) + w <= self.cap {
            self.mirrored.fetch_add(w, Ordering::Relaxed);
            stripe.insert(key.into_boxed_slice(), v);
        }
    }

    /// Runs `op`, one sled call on `key`, under the key's stripe lock, and mirrors the value
    /// `now` says the key holds after it. A failed call drops the key from the mirror: whether
    /// sled applied it is unknown, so the next read asks sled.
    fn write<T>(
        &self,
        key: Vec<u8>,
        op: impl FnOnce(&sled::Tree, &[u8]) -> sled::Result<T>,
        now: impl FnOnce(&T) -> Mirrored,
    ) -> Result<T, BackendError> {
        let mut stripe = self.stripe(&key);
        match op(&self.tree, &key) {
            Ok(out) => {
                let v = now(&out);
                self.mirror(&mut stripe, key, v);
                Ok(out)
            }
            Err(e) => {
                self.forget(&mut stripe, &key);
                Err(err(e))
            }
        }
    }

    /// Forgets `key` (after a failed sled call, whose effect is unknown).
    fn forget(&self, stripe: &mut Stripe<'_>, key: &[u8]) {
        if let Some((k, old)) = stripe.remove_entry(key) {
            self.mirrored.fetch_sub(weight(&k, &old), Ordering::Relaxed);
        }
    }

    /// Bytes mirrored now.
    pub fn mirrored_bytes(&self) -> u64 {
        self.mirrored.load(Ordering::Relaxed)
    }

    /// Applies `delta` keys to a namespace's count, if it was counted already (an uncounted
    /// namespace is scanned when first asked).
    fn adjust(&self, ns: &str, delta: isize) {
        if let Some(n) = self.counts.lock().get_mut(ns) {
            *n = n.saturating_add_signed(delta);
        }
    }

    /// Drops `key` from the mirror as a failed call would, for tests.
    #[cfg(test)]
    fn evict(&self, ns: &str, key: &str) {
        let key = k(ns, key);
        self.forget(&mut self.stripe(&key), &key);
    }

    /// What the mirror holds for `key`, for tests.
    #[cfg(test)]
    fn mirrored(&self, ns: &str, key: &str) -> Option<Mirrored> {
        let key = k(ns, key);
        self.stripe(&key).get(key.as_slice()).cloned()
    }
}

fn k(ns: &str, key: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(ns.len() + 1 + key.len());
    v.extend_from_slice(ns.as_bytes());
    v.push(0);
    v.extend_from_slice(key.as_bytes());
    v
}

fn prefix(ns: &str) -> Vec<u8> {
    k(ns, "")
}

fn err(e: sled::Error) -> BackendError {
    BackendError(e.to_string())
}

impl StateBackend for SledState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let key = k(ns, key);
        let mut stripe = self.stripe(&key);
        if let Some(v) = stripe.get(key.as_slice()) {
            return Ok(v.as_ref().map(|v| v.to_vec()));
        }
        let v = self.tree.get(&key).map_err(err)?;
        let out = v.as_ref().map(|v| v.to_vec());
        self.mirror(&mut stripe, key, v.map(|v| Box::from(&*v)));
        Ok(out)
    }
    fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        let old = self.write(
            k(ns, key),
            |t, k| t.insert(k, value),
            |_| Some(value.into()),
        )?;
        if old.is_none() {
            self.adjust(ns, 1);
        }
        Ok(())
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError> {
        let gone = self
            .write(k(ns, key), |t, k| t.remove(k), |_| None)?
            .is_some();
        if gone {
            self.adjust(ns, -1);
        }
        Ok(gone)
    }
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError> {
        let outcome = self.write(
            k(ns, key),
            |t, k| t.compare_and_swap(k, expected, new),
            |outcome| match outcome {
                Ok(()) => new.map(Box::from),
                // Refused: sled says what the value is.
                Err(refused) => refused.current.as_deref().map(Box::from),
            },
        )?;
        if outcome.is_ok() {
            match (expected, new) {
                (None, Some(_)) => self.adjust(ns, 1),
                (Some(_), None) => self.adjust(ns, -1),
                _ => {}
            }
        }
        Ok(outcome.is_ok())
    }
    fn list_keys(
        &self,
        ns: &str,
        prefix_: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let skip = ns.len() + 1;
        self.tree
            .scan_prefix(k(ns, prefix_))
            .keys()
            .take(limit)
            .map(|r| {
                r.map(|key| String::from_utf8_lossy(&key[skip..]).into_owned())
                    .map_err(err)
            })
            .collect()
    }
    fn len(&self, ns: &str) -> Result<usize, BackendError> {
        if let Some(n) = self.counts.lock().get(ns) {
            return Ok(*n);
        }
        // Counted outside the lock: writes racing the scan may leave it a few keys off, which a
        // quota (a bound, not an exact figure) tolerates.
        let n = self.tree.scan_prefix(prefix(ns)).count();
        Ok(*self.counts.lock().entry(ns.to_string()).or_insert(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_key_count_follows_what_each_call_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let s = SledState::new(db.open_tree("plugin_state").expect("tree"), 0);
        s.set("a", "before-count", b"1").expect("set");
        assert_eq!(s.len("a").expect("len"), 1, "first asked: scanned");
        s.set("a", "k1", b"1").expect("set");
        s.set("a", "k1", b"2").expect("rewrite");
        assert_eq!(s.len("a").expect("len"), 2);
        assert!(
            s.compare_and_swap("a", "k2", None, Some(b"x"))
                .expect("cas")
        );
        assert!(
            !s.compare_and_swap("a", "k2", None, Some(b"y"))
                .expect("cas")
        );
        assert_eq!(s.len("a").expect("len"), 3);
        assert!(s.delete("a", "k1").expect("delete"));
        assert!(!s.delete("a", "k1").expect("delete"));
        assert!(
            s.compare_and_swap("a", "k2", Some(b"x"), None)
                .expect("cas")
        );
        assert_eq!(s.len("a").expect("len"), 1);
        assert_eq!(s.len("b").expect("len"), 0, "namespaces apart");
    }

    fn open() -> (tempfile::TempDir, sled::Tree) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let tree = db.open_tree("plugin_state").expect("tree");
        (dir, tree)
    }

    #[test]
    fn reads_come_from_the_mirror_and_every_write_updates_it() {
        let (_dir, tree) = open();
        let s = SledState::new(tree.clone(), 1 << 20);
        s.set("d", "memo", b"v1").expect("set");
        // Changed behind the backend's back: a mirrored read does not see it.
        tree.insert(k("d", "memo"), &b"behind"[..]).expect("insert");
        assert_eq!(
            s.get("d", "memo").expect("get").as_deref(),
            Some(&b"v1"[..])
        );
        tree.insert(k("d", "memo"), &b"v1"[..]).expect("insert");
        assert!(
            s.compare_and_swap("d", "memo", Some(b"v1"), Some(b"v2"))
                .expect("cas")
        );
        assert_eq!(s.mirrored("d", "memo"), Some(Some(Box::from(&b"v2"[..]))));
        // A refused swap mirrors what sled holds.
        tree.insert(k("d", "memo"), &b"v3"[..]).expect("insert");
        assert!(
            !s.compare_and_swap("d", "memo", Some(b"v2"), Some(b"x"))
                .expect("cas")
        );
        assert_eq!(
            s.get("d", "memo").expect("get").as_deref(),
            Some(&b"v3"[..])
        );
        assert!(s.delete("d", "memo").expect("delete"));
        assert_eq!(s.mirrored("d", "memo"), Some(None));
        assert_eq!(s.get("d", "memo").expect("get"), None);
        // A missed read fills the mirror, absent keys included.
        tree.insert(k("d", "other"), &b"o"[..]).expect("insert");
        assert_eq!(
            s.get("d", "other").expect("get").as_deref(),
            Some(&b"o"[..])
        );
        assert_eq!(s.mirrored("d", "other"), Some(Some(Box::from(&b"o"[..]))));
        assert_eq!(s.get("d", "none").expect("get"), None);
        assert_eq!(s.mirrored("d", "none"), Some(None));
        // Namespaces apart in the mirror too.
        assert_eq!(s.get("e", "other").expect("get"), None);
    }

    #[test]
    fn the_mirror_admits_keys_until_full_and_keeps_them() {
        let (_dir, tree) = open();
        let key_len = k("d", "k0").len() as u64;
        let w = key_len + 10 + ENTRY_OVERHEAD;
        let s = SledState::new(tree.clone(), 3 * w);
        for i in 0..5 {
            s.set("d", &format!("k{i}"), &[i as u8; 10]).expect("set");
        }
        assert_eq!(s.mirrored_bytes(), 3 * w, "three fit");
        for i in 0..5 {
            let want = (i < 3).then(|| Box::from(&[i as u8; 10][..]));
            assert_eq!(s.mirrored("d", &format!("k{i}")), want.map(Some));
            // Read from sled or from the mirror, the value is the same.
            assert_eq!(
                s.get("d", &format!("k{i}")).expect("get"),
                Some(vec![i as u8; 10])
            );
        }
        // A value that grows past the bound leaves the mirror; its room goes to the next.
        s.set("d", "k0", &[9; 100]).expect("set");
        assert_eq!(s.mirrored("d", "k0"), None);
        assert_eq!(s.get("d", "k0").expect("get"), Some(vec![9; 100]));
        assert_eq!(s.mirrored_bytes(), 2 * w);
        s.set("d", "k3", &[3; 10]).expect("set");
        assert_eq!(s.mirrored_bytes(), 3 * w);
        assert_eq!(s.mirrored("d", "k3"), Some(Some(Box::from(&[3u8; 10][..]))));
    }

    #[test]
    fn a_read_racing_writes_never_brings_an_older_value_back() {
        let (_dir, tree) = open();
        let s = Arc::new(SledState::new(tree, 1 << 20));
        const N: u32 = 3000;
        s.set("d", "n", &0u32.to_le_bytes()).expect("set");
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 1..=N {
                    s.set("d", "n", &i.to_le_bytes()).expect("set");
                    // Dropped now and then, so the readers refill it from sled.
                    if i % 3 == 0 {
                        s.evict("d", "n");
                    }
                }
            })
        };
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (s, done) = (s.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut last = 0u32;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let v = s.get("d", "n").expect("get").expect("present");
                        let n = u32::from_le_bytes(v.as_slice().try_into().expect("4 bytes"));
                        assert!(n >= last, "read {n} after {last}");
                        last = n;
                    }
                })
            })
            .collect();
        writer.join().expect("writer");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.join().expect("reader");
        }
        let v = s.get("d", "n").expect("get").expect("present");
        assert_eq!(v, N.to_le_bytes(), "the last write is what is read");
    }
}
