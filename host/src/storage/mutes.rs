//! Mutes: "don't bother me about this miner (or this rule) until then", as users set them
//! while overclocking or moving a rack. A mute never stops an alert's lifecycle (it still fires
//! and resolves, and is shown), it only marks it muted; expired mutes are dropped when read.

use super::StorageError;
use serde::{Deserialize, Serialize};

/// One mute. It covers the alerts whose rule and miner both match; a missing field matches
/// anything, so `{miner}` mutes a miner and `{rule}` mutes a rule fleet-wide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mute {
    /// Its id (for removal).
    pub id: u64,
    /// Only this rule's alerts.
    pub rule: Option<String>,
    /// Only this miner's alerts.
    pub miner: Option<String>,
    /// Unix ms after which it no longer applies.
    pub until_ms: u64,
    /// Who set it.
    pub by: String,
    /// Why, in the user's words.
    pub reason: Option<String>,
    /// When it was set, Unix ms.
    pub created_ms: u64,
}

impl Mute {
    /// True if it mutes `rule` on `miner` at `now_ms`.
    pub fn covers(&self, rule: &str, miner: &str, now_ms: u64) -> bool {
        now_ms < self.until_ms
            && self.rule.as_deref().is_none_or(|r| r == rule)
            && self.miner.as_deref().is_none_or(|m| m == miner)
    }
}

/// The `mutes` tree, keyed by id.
pub struct Mutes {
    tree: sled::Tree,
    db: sled::Db,
}

impl Mutes {
    /// Over the `mutes` tree of `db`.
    pub fn open(db: &sled::Db) -> Result<Mutes, StorageError> {
        Ok(Mutes {
            tree: db.open_tree("mutes")?,
            db: db.clone(),
        })
    }

    /// Stores a mute (its `id` is assigned here) and flushes: a mute a user set must survive a
    /// crash as surely as the miners they added.
    pub fn add(&self, mut mute: Mute) -> Result<Mute, StorageError> {
        mute.id = self.db.generate_id()?;
        let body = serde_json::to_vec(&mute).map_err(|e| StorageError::Invalid(e.to_string()))?;
        self.tree.insert(mute.id.to_be_bytes(), body)?;
        self.db.flush()?;
        Ok(mute)
    }

    /// Removes a mute; false if there was none with that id.
    pub fn remove(&self, id: u64) -> Result<bool, StorageError> {
        let gone = self.tree.remove(id.to_be_bytes())?.is_some();
        self.db.flush()?;
        Ok(gone)
    }

    /// The mutes still in force at `now_ms`, oldest first. Expired ones are deleted on the way.
    pub fn active(&self, now_ms: u64) -> Result<Vec<Mute>, StorageError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            match serde_json::from_slice::<Mute>(&v) {
                Ok(m) if m.until_ms > now_ms => out.push(m),
                // Expired, or unreadable (a mute is not worth refusing to start over).
                _ => {
                    self.tree.remove(k)?;
                }
            }
        }
        Ok(out)
    }

    /// The latest expiry among the mutes covering `rule` on `miner`, if any.
    pub fn muted_until(
        &self,
        rule: &str,
        miner: &str,
        now_ms: u64,
    ) -> Result<Option<u64>, StorageError> {
        Ok(muted_until(&self.active(now_ms)?, rule, miner, now_ms))
    }
}

/// The latest expiry among `mutes` covering `rule` on `miner`.
pub fn muted_until(mutes: &[Mute], rule: &str, miner: &str, now_ms: u64) -> Option<u64> {
    mutes
        .iter()
        .filter(|m| m.covers(rule, miner, now_ms))
        .map(|m| m.until_ms)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mute(rule: Option<&str>, miner: Option<&str>, until_ms: u64) -> Mute {
        Mute {
            id: 0,
            rule: rule.map(str::to_string),
            miner: miner.map(str::to_string),
            until_ms,
            by: "t".into(),
            reason: None,
            created_ms: 0,
        }
    }

    #[test]
    fn a_mute_covers_what_it_names_until_it_expires() {
        let m = mute(None, Some("m1"), 100);
        assert!(m.covers("rule-overheat", "m1", 99));
        assert!(!m.covers("rule-overheat", "m1", 100), "expired");
        assert!(!m.covers("rule-overheat", "m2", 50), "another miner");
        let r = mute(Some("rule-offline"), None, 100);
        assert!(r.covers("rule-offline", "any", 1));
        assert!(!r.covers("rule-overheat", "any", 1));
    }

    #[test]
    fn mutes_persist_and_expired_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let mutes = Mutes::open(&db).expect("open");
        let a = mutes.add(mute(None, Some("m1"), 1_000)).expect("add");
        let b = mutes.add(mute(Some("r"), None, 5_000)).expect("add");
        assert_ne!(a.id, b.id);
        assert_eq!(
            mutes.active(500).expect("active"),
            vec![a.clone(), b.clone()]
        );
        assert_eq!(mutes.muted_until("r", "m1", 500).expect("q"), Some(5_000));
        assert_eq!(mutes.active(2_000).expect("active"), vec![b.clone()]);
        assert_eq!(
            mutes.active(0).expect("active"),
            vec![b.clone()],
            "a is gone"
        );
        assert!(mutes.remove(b.id).expect("remove"));
        assert!(!mutes.remove(b.id).expect("remove"));
        assert!(mutes.active(0).expect("active").is_empty());
    }
}
