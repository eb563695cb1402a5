//! Alerts and their history. The current state of each alert, keyed by (rule, miner, key), and
//! an append-only history of what happened to them. A state change, its history event and the
//! notifications it owes are written in one sled transaction over the three trees, so none is
//! ever stored without the others.

use super::StorageError;
use super::outbox::{Outbox, OutboxItem};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

/// The current state of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Rule plugin name.
    pub rule: String,
    /// Miner id.
    pub miner: String,
    /// The rule's key (`chip`, `vr`, ...).
    pub key: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The latest message.
    pub message: String,
    /// True while the condition holds.
    pub firing: bool,
    /// When it last started firing, Unix ms.
    pub since_ms: u64,
    /// When it last changed, Unix ms.
    pub updated_ms: u64,
    /// Who acknowledged it, if anyone.
    #[serde(default)]
    pub acked_by: Option<String>,
}

/// One thing that happened to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// When, Unix ms.
    pub ts_ms: u64,
    /// `fired`, `resolved`, `acknowledged`, ...
    pub kind: String,
    /// The alert after the event.
    pub alert: AlertState,
}

/// The alert trees.
pub struct Alerts {
    current: sled::Tree,
    events: sled::Tree,
    outbox: Outbox,
    db: sled::Db,
}

fn key(rule: &str, miner: &str, key: &str) -> Vec<u8> {
    [
        rule.as_bytes(),
        &[0],
        miner.as_bytes(),
        &[0],
        key.as_bytes(),
    ]
    .concat()
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|e| StorageError::Invalid(e.to_string()))
}

impl Alerts {
    /// Over the `alerts` and `alert_events` trees of `db`, queueing notifications in `outbox`.
    pub fn open(db: &sled::Db, outbox: Outbox) -> Result<Alerts, StorageError> {
        Ok(Alerts {
            current: db.open_tree("alerts")?,
            events: db.open_tree("alert_events")?,
            outbox,
            db: db.clone(),
        })
    }

    /// Stores `event.alert` as the current state, appends `event` to the history and queues
    /// `notify` in the outbox, atomically; then wakes the sender if anything was queued.
    pub fn record(&self, event: &AlertEvent, notify: &[OutboxItem]) -> Result<(), StorageError> {
        let a = &event.alert;
        let k = key(&a.rule, &a.miner, &a.key);
        let state = json(a)?;
        let body = json(event)?;
        let queued = notify
            .iter()
            .map(Outbox::entry)
            .collect::<Result<Vec<_>, _>>()?;
        (&self.current, &self.events, self.outbox.tree())
            .transaction(|(current, events, outbox)| {
                current.insert(k.as_slice(), state.as_slice())?;
                // Time-ordered keys; the id generator makes two events in one ms distinct.
                let mut ek = event.ts_ms.to_be_bytes().to_vec();
                ek.extend_from_slice(&events.generate_id()?.to_be_bytes());
                events.insert(ek, body.as_slice())?;
                for (id, item) in &queued {
                    outbox.insert(id, item.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StorageError::Sled(e),
                TransactionError::Abort(()) => StorageError::Corrupt("alert transaction aborted"),
            })?;
        if !notify.is_empty() {
            self.outbox.wake();
        }
        Ok(())
    }

    /// The current state of one alert.
    pub fn get(
        &self,
        rule: &str,
        miner: &str,
        k: &str,
    ) -> Result<Option<AlertState>, StorageError> {
        self.current
            .get(key(rule, miner, k))?
            .map(|v| serde_json::from_slice(&v).map_err(|_| StorageError::Corrupt("alert state")))
            .transpose()
    }

    /// Every alert, firing or not.
    pub fn all(&self) -> Result<Vec<AlertState>, StorageError> {
        self.current
            .iter()
            .values()
            .map(|v| serde_json::from_slice(&v?).map_err(|_| StorageError::Corrupt("alert state")))
            .collect()
    }

    /// History events in `[from_ms, to_ms]`, oldest first, at most `limit`; only `miner`'s when
    /// given (filtered while reading, so a busy fleet cannot crowd it out of the limit).
    pub fn history(
        &self,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        miner: Option<&str>,
    ) -> Result<Vec<AlertEvent>, StorageError> {
        let start = from_ms.to_be_bytes().to_vec();
        let end = [to_ms.to_be_bytes(), [0xff; 8]].concat();
        let mut out = Vec::new();
        for v in self.events.range(start..=end).values() {
            if out.len() >= limit {
                break;
            }
            let e: AlertEvent =
                serde_json::from_slice(&v?).map_err(|_| StorageError::Corrupt("alert event"))?;
            if miner.is_none_or(|m| m == e.alert.miner) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Flushes (alerts are few and matter: callers may want them durable at once).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }
}
