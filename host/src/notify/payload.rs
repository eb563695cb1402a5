//! The HTTP request each service expects for one outbox item. Pure functions: the sender does
//! the I/O, and these are tested on their own.

use super::{Channel, ChannelKind};
use crate::storage::OutboxItem;
use hmac::{Hmac, Mac};
use serde_json::json;

/// The webhook signature header: `sha256=<hex HMAC-SHA256 of the body under the secret>`.
pub const SIGNATURE_HEADER: &str = "x-solomon-signature";

/// One request to make.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Where to POST.
    pub url: String,
    /// Headers besides the content length.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// One line a person reads: `[CRITICAL] rule-overheat on garage-1 (m1): chip at 91 °C`.
fn summary(item: &OutboxItem) -> String {
    let a = &item.alert;
    let tag = if item.event == "resolved" {
        "RESOLVED".to_string()
    } else {
        a.severity.to_uppercase()
    };
    let who = match &item.miner_name {
        Some(n) if n != &a.miner => format!("{n} ({})", a.miner),
        _ => a.miner.clone(),
    };
    format!("[{tag}] {} on {who}: {}", a.rule, a.message)
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Header values must be visible ASCII: other characters become `?`.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The request `item` needs on `channel`, or why it cannot be made (a config gap).
pub fn build(channel: &Channel, item: &OutboxItem) -> Result<HttpRequest, String> {
    let url = channel.url.clone();
    let need_url = || url.clone().ok_or_else(|| "no `url`".to_string());
    let text = summary(item);
    let mut headers = vec![
        ("idempotency-key", item.idempotency_key.clone()),
        ("x-solomon-event", item.event.clone()),
    ];
    let req = match channel.kind {
        ChannelKind::Webhook => {
            let body = json!({
                "idempotency_key": item.idempotency_key,
                "event": item.event,
                "summary": text,
                "alert": item.alert,
                "miner": {"id": item.alert.miner, "name": item.miner_name},
                "queued_ms": item.created_ms,
            })
            .to_string()
            .into_bytes();
            headers.push(("content-type", "application/json".into()));
            if let Some(secret) = &channel.secret {
                headers.push((SIGNATURE_HEADER, sign(secret, &body)));
            }
            HttpRequest {
                url: need_url()?,
                headers,
                body,
            }
        }
        ChannelKind::Discord => {
            headers.push(("content-type", "application/json".into()));
            // No mentions: a miner named "@everyone" must not page a whole server.
            let body = json!({
                "username": "Solomon",
                "content": truncate(&text, 2000),
                "allowed_mentions": {"parse": []},
            });
            HttpRequest {
                url: need_url()?,
                headers,
                body: body.to_string().into_bytes(),
            }
        }
        ChannelKind::Telegram => {
            let base = url.unwrap_or_else(|| "https://api.telegram.org".into());
            let token = channel.token.as_deref().ok_or("no bot `token`")?;
            let chat = channel.chat_id.as_deref().ok_or("no `chat_id`")?;
            headers.push(("content-type", "application/json".into()));
            let body = json!({
                "chat_id": chat,
                "text": truncate(&text, 4096),
                "disable_web_page_preview": true,
            });
            HttpRequest {
                url: format!("{}/bot{token}/sendMessage", base.trim_end_matches('/')),
                headers,
                body: body.to_string().into_bytes(),
            }
        }
        ChannelKind::Ntfy => {
            let a = &item.alert;
            let (priority, tags) = match (item.event.as_str(), a.severity.as_str()) {
                ("resolved", _) => ("2", "white_check_mark"),
                (_, "critical") => ("5", "rotating_light"),
                (_, "warning") => ("4", "warning"),
                _ => ("3", "information_source"),
            };
            let who = item.miner_name.as_deref().unwrap_or(&a.miner);
            headers.push((
                "title",
                ascii(&truncate(&format!("Solomon: {} on {who}", a.rule), 200)),
            ));
            headers.push(("priority", priority.into()));
            headers.push(("tags", tags.into()));
            headers.push(("content-type", "text/plain; charset=utf-8".into()));
            if let Some(t) = &channel.token {
                headers.push(("authorization", format!("Bearer {t}")));
            }
            HttpRequest {
                url: need_url()?,
                headers,
                body: text.into_bytes(),
            }
        }
    };
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alert, channel};
    use super::*;

    fn item(event: &str) -> OutboxItem {
        OutboxItem {
            id: 1,
            idempotency_key: "abc".into(),
            channel: "c".into(),
            event: event.into(),
            alert: alert("critical"),
            miner_name: Some("garage-1".into()),
            created_ms: 5,
            attempts: 0,
            next_ms: 0,
            last_error: None,
        }
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn webhooks_carry_the_alert_and_a_verifiable_signature() {
        let mut c = channel(ChannelKind::Webhook);
        c.secret = Some("s3cret".into());
        let r = build(&c, &item("fired")).expect("request");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["alert"]["rule"], "rule-overheat");
        assert_eq!(body["miner"]["name"], "garage-1");
        assert_eq!(header(&r, "idempotency-key"), Some("abc"));
        assert_eq!(
            header(&r, SIGNATURE_HEADER),
            Some(sign("s3cret", &r.body).as_str())
        );
        // RFC 4231 test case 2, so the signature is the standard HMAC and not a look-alike.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_service_gets_its_own_shape() {
        let d = build(&channel(ChannelKind::Discord), &item("fired")).expect("discord");
        let body: serde_json::Value = serde_json::from_slice(&d.body).expect("json");
        assert_eq!(
            body["content"],
            "[CRITICAL] rule-overheat on garage-1 (m1): chip at 91 °C"
        );
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));

        let mut t = channel(ChannelKind::Telegram);
        t.url = None;
        t.token = Some("123:abc".into());
        t.chat_id = Some("-42".into());
        let r = build(&t, &item("resolved")).expect("telegram");
        assert_eq!(r.url, "https://api.telegram.org/bot123:abc/sendMessage");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["chat_id"], "-42");
        assert!(
            body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("[RESOLVED]"))
        );

        let mut n = channel(ChannelKind::Ntfy);
        n.token = Some("tk".into());
        let r = build(&n, &item("fired")).expect("ntfy");
        assert_eq!(header(&r, "priority"), Some("5"));
        assert_eq!(header(&r, "authorization"), Some("Bearer tk"));
        assert_eq!(
            header(&r, "title"),
            Some("Solomon: rule-overheat on garage-1")
        );
        assert!(String::from_utf8_lossy(&r.body).contains("91 °C"));
    }

    #[test]
    fn long_texts_are_cut_and_headers_stay_ascii() {
        let mut i = item("fired");
        i.alert.message = "é".repeat(5000);
        let d = build(&channel(ChannelKind::Discord), &i).expect("discord");
        let body: serde_json::Value = serde_json::from_slice(&d.body).expect("json");
        assert_eq!(
            body["content"].as_str().map(|s| s.chars().count()),
            Some(2000)
        );
        i.miner_name = Some("garáge".into());
        let n = build(&channel(ChannelKind::Ntfy), &i).expect("ntfy");
        assert_eq!(
            header(&n, "title"),
            Some("Solomon: rule-overheat on gar?ge")
        );
    }
}
