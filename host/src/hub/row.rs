//! The compact form of a miner sent on the `fleet` topic: what a fleet table shows, about a
//! fifth of the full record, so a dashboard on a 10,000-miner fleet is not fed 15 MB
//! snapshots. The full record goes to `miner:<id>` subscribers.

use crate::state::Snapshot;
use serde::Serialize;
use solomon_plugin_sdk::MinerState;
use std::collections::BTreeMap;

/// One miner's row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetRow<'a> {
    /// Miner id.
    pub id: &'a str,
    /// Display name (snapshots only: it comes from the config, not the poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Labels (snapshots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// Store version: a row older than one already shown is stale.
    pub version: u64,
    /// Store write time, Unix ms.
    pub updated_ms: u64,
    /// Poll time, Unix ms ("last seen" when hashing).
    pub ts_ms: u64,
    /// `hashing`, `idle`, `faulted`, `offline`.
    pub state: MinerState,
    /// Make.
    pub make: &'a str,
    /// Model.
    pub model: Option<&'a str>,
    /// Firmware version.
    pub firmware_version: Option<&'a str>,
    /// H/s.
    pub hashrate_hs: Option<f64>,
    /// H/s.
    pub expected_hashrate_hs: Option<f64>,
    /// °C.
    pub temp_c: Option<f64>,
    /// °C.
    pub vr_temp_c: Option<f64>,
    /// W.
    pub power_w: Option<f64>,
    /// J/TH.
    pub efficiency_j_th: Option<f64>,
    /// All-time best difficulty.
    pub best_diff: Option<f64>,
    /// Best difficulty since boot.
    pub best_session_diff: Option<f64>,
    /// Accepted shares.
    pub shares_accepted: Option<u64>,
    /// Rejected shares.
    pub shares_rejected: Option<u64>,
    /// Seconds since boot.
    pub uptime_s: Option<u64>,
    /// Blocks found.
    pub blocks_found: Option<u64>,
    /// Errors in the record.
    pub errors: usize,
}

impl<'a> FleetRow<'a> {
    /// The row of a snapshot.
    pub fn of(s: &'a Snapshot) -> Self {
        let r = &s.record;
        FleetRow {
            id: &r.id,
            name: None,
            labels: None,
            version: s.version,
            updated_ms: s.updated_ms,
            ts_ms: r.ts_ms,
            state: r.state,
            make: &r.make,
            model: r.model.as_deref(),
            firmware_version: r.firmware_version.as_deref(),
            hashrate_hs: r.hashrate_hs,
            expected_hashrate_hs: r.expected_hashrate_hs,
            temp_c: r.temp_c,
            vr_temp_c: r.vr_temp_c,
            power_w: r.power_w,
            efficiency_j_th: r.efficiency_j_th,
            best_diff: r.best_diff,
            best_session_diff: r.best_session_diff,
            shares_accepted: r.shares_accepted,
            shares_rejected: r.shares_rejected,
            uptime_s: r.uptime_s,
            blocks_found: r.blocks_found,
            errors: r.errors.len(),
        }
    }
}

/// A message that carries rows (`rows`, or a part of the fleet snapshot), written as the rows
/// come: the head that opens the rows' array, each row serialized straight after the last,
/// then `]}`. Rows are never held as strings of their own: at 10,000 miners that was 2,000
/// small allocations a second, and a fleet snapshot held every row twice (rows, then parts)
/// while it was built, ~10 MB at once when dashboards subscribed.
#[derive(Debug)]
pub(crate) struct RowsMessage {
    json: Vec<u8>,
    rows: usize,
}

impl RowsMessage {
    /// An empty message opened by `head` (which must end by opening an array), with room for
    /// `capacity` bytes.
    pub(crate) fn new(head: &str, capacity: usize) -> Self {
        let mut json = Vec::with_capacity(capacity.max(head.len() + 2));
        json.extend_from_slice(head.as_bytes());
        RowsMessage { json, rows: 0 }
    }

    /// Adds a row. One that does not serialize leaves the message as it was.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, row: &T) -> serde_json::Result<()> {
        let mark = self.json.len();
        if self.rows > 0 {
            self.json.push(b',');
        }
        match serde_json::to_writer(&mut self.json, row) {
            Ok(()) => {
                self.rows += 1;
                Ok(())
            }
            Err(e) => {
                self.json.truncate(mark);
                Err(e)
            }
        }
    }

    /// Rows in the message.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The message, closed.
    pub(crate) fn finish(mut self) -> String {
        self.json.extend_from_slice(b"]}");
        // serde_json writes UTF-8 only, and the head was a `str`.
        String::from_utf8(self.json)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_joined_into_one_array_and_a_failed_row_leaves_no_trace() {
        let empty = RowsMessage::new(r#"{"miners":["#, 0);
        assert_eq!(empty.rows(), 0);
        assert_eq!(empty.finish(), r#"{"miners":[]}"#);

        let mut msg = RowsMessage::new(r#"{"type":"rows","miners":["#, 64);
        msg.push(&serde_json::json!({"id": "a"})).expect("a row");
        // A map with a non-string key cannot be JSON: its row must vanish whole, comma too.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(msg.push(&bad).is_err());
        msg.push(&serde_json::json!({"id": "b"})).expect("a row");
        assert_eq!(msg.rows(), 2);
        let text = msg.finish();
        assert_eq!(text, r#"{"type":"rows","miners":[{"id":"a"},{"id":"b"}]}"#);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["miners"].as_array().map(Vec::len), Some(2));
    }
}
