//! Notifications, sent by the host (never by plugins): a generic webhook (JSON, optional HMAC
//! signature), Discord, Telegram and ntfy. Each channel takes the alert events its route
//! selects (minimum severity, miner labels, fired and/or resolved). The alert engine queues
//! them in the outbox in the same transaction as the alert change ([`route`]); the
//! [`Notifier`] delivers them with retry and backoff ([`sender`]), at least once, each with an
//! idempotency key.

mod payload;
mod sender;

pub use payload::{HttpRequest, SIGNATURE_HEADER, build, sign};
pub use sender::{Notifier, NotifyOptions, NotifyStats};

use crate::storage::{AlertState, OutboxItem};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;

/// Where a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// POST of the alert as JSON to `url`, signed with `secret` when set.
    Webhook,
    /// A Discord webhook `url`.
    Discord,
    /// A Telegram bot (`token`) writing to `chat_id`.
    Telegram,
    /// An ntfy topic `url` (ntfy.sh or self-hosted), with an optional access `token`.
    Ntfy,
}

/// `[[notify]]`: one channel and what it is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// A name, unique among channels (outbox items refer to it).
    pub name: String,
    /// The service.
    pub kind: ChannelKind,
    /// Webhook, Discord and ntfy: where to post. Telegram: the API base (default
    /// `https://api.telegram.org`).
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key for the signature header.
    #[serde(default)]
    pub secret: Option<String>,
    /// Telegram: the bot token. ntfy: an access token, if the topic needs one.
    #[serde(default)]
    pub token: Option<String>,
    /// Telegram: the chat to write to.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// Only alerts at least this severe: `info` (default), `warning`, `critical`.
    #[serde(default = "default_severity")]
    pub min_severity: String,
    /// Only miners carrying all these labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Which events: `fired`, `resolved` (default both).
    #[serde(default = "default_events")]
    pub events: Vec<String>,
}

fn default_severity() -> String {
    "info".into()
}

fn default_events() -> Vec<String> {
    vec!["fired".into(), "resolved".into()]
}

/// What the API shows of a channel: no secrets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    /// Name.
    pub name: String,
    /// Service.
    pub kind: ChannelKind,
    /// Minimum severity.
    pub min_severity: String,
    /// Required labels.
    pub labels: BTreeMap<String, String>,
    /// Events sent.
    pub events: Vec<String>,
}

fn severity_rank(s: &str) -> Option<u8> {
    match s {
        "info" => Some(0),
        "warning" => Some(1),
        "critical" => Some(2),
        _ => None,
    }
}

fn http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && u.len() > 8 && !u.contains(' ')
}

impl Channel {
    /// Checks what the config cannot: a usable URL, the fields each service needs.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Err("`name` must be 1 to 64 characters".into());
        }
        if severity_rank(&self.min_severity).is_none() {
            return Err(format!(
                "`min_severity` {:?} is not info, warning or critical",
                self.min_severity
            ));
        }
        if let Some(e) = self
            .events
            .iter()
            .find(|e| *e != "fired" && *e != "resolved")
        {
            return Err(format!("`events` holds {e:?}; use fired and/or resolved"));
        }
        match (&self.url, self.kind) {
            (Some(u), _) if !http_url(u) => {
                return Err(format!("`url` {u:?} is not an http(s) URL"));
            }
            (None, ChannelKind::Webhook | ChannelKind::Discord | ChannelKind::Ntfy) => {
                return Err("`url` is required for this kind".into());
            }
            _ => {}
        }
        if self.kind == ChannelKind::Telegram && (self.token.is_none() || self.chat_id.is_none()) {
            return Err("telegram needs `token` (the bot's) and `chat_id`".into());
        }
        Ok(())
    }

    /// True if this channel wants `event` of `alert` on a miner labelled `labels`.
    pub fn wants(
        &self,
        alert: &AlertState,
        event: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        let severe = severity_rank(&alert.severity).unwrap_or(0)
            >= severity_rank(&self.min_severity).unwrap_or(0);
        severe
            && self.events.iter().any(|e| e == event)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// What the API shows.
    pub fn view(&self) -> ChannelView {
        ChannelView {
            name: self.name.clone(),
            kind: self.kind,
            min_severity: self.min_severity.clone(),
            labels: self.labels.clone(),
            events: self.events.clone(),
        }
    }
}

/// The key a receiver can drop repeats by: the same for every attempt and every copy of one
/// alert event on one channel (an alert is identified by rule, miner, key and when it started).
pub fn idempotency_key(channel: &str, alert: &AlertState, event: &str) -> String {
    let id = format!(
        "{channel}\0{}\0{}\0{}\0{}\0{event}",
        alert.rule, alert.miner, alert.key, alert.since_ms
    );
    let digest = sha2::Sha256::digest(id.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The outbox items owed by `event` (`fired`, `resolved`) of `alert`: one per channel whose
/// route takes it. `next_id` numbers them.
pub fn route(
    channels: &[Channel],
    alert: &AlertState,
    event: &str,
    miner_name: Option<&str>,
    labels: &BTreeMap<String, String>,
    now_ms: u64,
    mut next_id: impl FnMut() -> Option<u64>,
) -> Vec<OutboxItem> {
    channels
        .iter()
        .filter(|c| c.wants(alert, event, labels))
        .filter_map(|c| {
            Some(OutboxItem {
                id: next_id()?,
                idempotency_key: idempotency_key(&c.name, alert, event),
                channel: c.name.clone(),
                event: event.to_string(),
                alert: alert.clone(),
                miner_name: miner_name.map(str::to_string),
                created_ms: now_ms,
                attempts: 0,
                next_ms: now_ms,
                last_error: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn channel(kind: ChannelKind) -> Channel {
        Channel {
            name: "c".into(),
            kind,
            url: Some("http://127.0.0.1:9/hook".into()),
            secret: None,
            token: None,
            chat_id: None,
            min_severity: "info".into(),
            labels: BTreeMap::new(),
            events: default_events(),
        }
    }

    pub(crate) fn alert(severity: &str) -> AlertState {
        AlertState {
            rule: "rule-overheat".into(),
            miner: "m1".into(),
            key: "chip".into(),
            severity: severity.into(),
            message: "chip at 91 °C".into(),
            firing: true,
            since_ms: 1_000,
            updated_ms: 1_000,
            acked_by: None,
        }
    }

    #[test]
    fn routes_select_by_severity_labels_and_event() {
        let mut c = channel(ChannelKind::Webhook);
        c.min_severity = "warning".into();
        c.labels = [("rack".to_string(), "r1".to_string())].into();
        c.events = vec!["fired".into()];
        let r1: BTreeMap<_, _> = [("rack".to_string(), "r1".to_string())].into();
        assert!(c.wants(&alert("critical"), "fired", &r1));
        assert!(!c.wants(&alert("info"), "fired", &r1), "too mild");
        assert!(!c.wants(&alert("critical"), "resolved", &r1), "event");
        assert!(
            !c.wants(&alert("critical"), "fired", &BTreeMap::new()),
            "labels"
        );
    }

    #[test]
    fn idempotency_keys_name_one_alert_event_on_one_channel() {
        let a = alert("warning");
        let k = idempotency_key("c", &a, "fired");
        assert_eq!(k.len(), 32);
        assert_eq!(k, idempotency_key("c", &a, "fired"), "stable");
        assert_ne!(k, idempotency_key("c", &a, "resolved"));
        assert_ne!(k, idempotency_key("d", &a, "fired"));
        let later = AlertState {
            since_ms: 2_000,
            ..a.clone()
        };
        assert_ne!(k, idempotency_key("c", &later, "fired"), "a new firing");
    }

    #[test]
    fn validation_names_the_missing_piece() {
        let mut c = channel(ChannelKind::Telegram);
        assert!(c.validate().is_err_and(|e| e.contains("chat_id")));
        c.token = Some("123:abc".into());
        c.chat_id = Some("42".into());
        assert_eq!(c.validate(), Ok(()));
        let mut w = channel(ChannelKind::Webhook);
        w.url = Some("ftp://x".into());
        assert!(w.validate().is_err_and(|e| e.contains("url")));
        w.url = None;
        assert!(w.validate().is_err_and(|e| e.contains("required")));
        let mut s = channel(ChannelKind::Ntfy);
        s.min_severity = "loud".into();
        assert!(s.validate().is_err_and(|e| e.contains("min_severity")));
    }
}
