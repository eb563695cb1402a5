//! The notification outbox: every notification an alert change owes is written here in the
//! same sled transaction as the change itself (see [`super::Alerts::record`]), and removed only
//! once its endpoint took it. A crash, a restart or an endpoint that is down for a day loses
//! nothing; delivery is at least once, and each item carries an idempotency key so a receiver
//! can drop a repeat.

use super::{AlertState, StorageError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxItem {
    /// Its id (outbox order).
    pub id: u64,
    /// The same for every attempt, and for every copy of the same alert event: receivers drop
    /// repeats by it.
    pub idempotency_key: String,
    /// The channel's name in the config.
    pub channel: String,
    /// `fired` or `resolved`.
    pub event: String,
    /// The alert as it was when the event happened.
    #[schema(value_type = Object)]
    pub alert: AlertState,
    /// The miner's display name, if it has one.
    pub miner_name: Option<String>,
    /// When it was queued, Unix ms.
    pub created_ms: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time, Unix ms.
    pub next_ms: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The `outbox` tree (pending) and `outbox_dead` (given up, kept for the user to see).
#[derive(Clone)]
pub struct Outbox {
    pending: sled::Tree,
    dead: sled::Tree,
    db: sled::Db,
    wake: Arc<tokio::sync::Notify>,
}

fn decode(v: &[u8]) -> Result<OutboxItem, StorageError> {
    serde_json::from_slice(v).map_err(|_| StorageError::Corrupt("outbox item"))
}

fn encode(item: &OutboxItem) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(item).map_err(|e| StorageError::Invalid(e.to_string()))
}

impl Outbox {
    /// Over the outbox trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Outbox, StorageError> {
        Ok(Outbox {
            pending: db.open_tree("outbox")?,
            dead: db.open_tree("outbox_dead")?,
            db: db.clone(),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// The pending tree, for transactions that queue items with the change that owes them.
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.pending
    }

    /// Encodes `item` for the pending tree: key and value.
    pub(super) fn entry(item: &OutboxItem) -> Result<([u8; 8], Vec<u8>), StorageError> {
        Ok((item.id.to_be_bytes(), encode(item)?))
    }

    /// A fresh id for an item.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        Ok(self.db.generate_id()?)
    }

    /// Tells the sender that new items are queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`Outbox::wake`] was called (or had been since the last wait).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Every pending item, oldest first. Unreadable entries are moved aside, not fatal.
    pub fn pending(&self) -> Result<Vec<OutboxItem>, StorageError> {
        let mut out = Vec::new();
        for entry in self.pending.iter() {
            let (k, v) = entry?;
            match decode(&v) {
                Ok(item) => out.push(item),
                Err(_) => {
                    tracing::error!("dropping an unreadable outbox entry");
                    self.pending.remove(k)?;
                }
            }
        }
        Ok(out)
    }

    /// Items given up on, newest last.
    pub fn dead(&self) -> Result<Vec<OutboxItem>, StorageError> {
        self.dead.iter().values().map(|v| decode(&v?)).collect()
    }

    /// Delivered: gone for good.
    pub fn delivered(&self, id: u64) -> Result<(), StorageError> {
        self.pending.remove(id.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Failed again: stored with its new attempt count and time.
    pub fn retry_later(&self, item: &OutboxItem) -> Result<(), StorageError> {
        let (k, v) = Self::entry(item)?;
        self.pending.insert(k, v)?;
        Ok(())
    }

    /// Given up on (a permanent refusal, or too old): moved to the dead letters.
    pub fn give_up(&self, item: &OutboxItem) -> Result<(), StorageError> {
        let (k, v) = Self::entry(item)?;
        self.dead.insert(k, v)?;
        self.pending.remove(k)?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: u64) -> OutboxItem {
        OutboxItem {
            id,
            idempotency_key: format!("k{id}"),
            channel: "hook".into(),
            event: "fired".into(),
            alert: AlertState {
                rule: "r".into(),
                miner: "m".into(),
                key: "k".into(),
                severity: "warning".into(),
                message: "hot".into(),
                firing: true,
                since_ms: 1,
                updated_ms: 1,
                acked_by: None,
            },
            miner_name: None,
            created_ms: 1,
            attempts: 0,
            next_ms: 0,
            last_error: None,
        }
    }

    #[test]
    fn items_wait_until_delivered_or_given_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let o = Outbox::open(&db).expect("open");
        for id in [o.next_id().expect("id"), o.next_id().expect("id")] {
            let (k, v) = Outbox::entry(&item(id)).expect("entry");
            o.tree().insert(k, v).expect("insert");
        }
        let p = o.pending().expect("pending");
        assert_eq!(p.len(), 2);
        let mut again = p[0].clone();
        again.attempts = 1;
        again.last_error = Some("refused".into());
        o.retry_later(&again).expect("retry");
        assert_eq!(o.pending().expect("pending")[0], again);
        o.delivered(p[1].id).expect("delivered");
        o.give_up(&again).expect("give up");
        assert!(o.pending().expect("pending").is_empty());
        assert_eq!(o.dead().expect("dead"), vec![again]);
    }
}
