//! The task that empties the outbox: due items are posted (a few at a time), delivered ones
//! removed, failed ones retried with exponential backoff, and ones refused for good (a 4xx
//! other than 408/429, a channel gone from the config, or older than `give_up_after`) moved
//! to the dead letters with an error in the log. It sleeps until the next item is due or the
//! alert engine queues one.

use super::{Channel, build};
use crate::host_api::clock::unix_ms as now_ms;
use crate::storage::{OutboxItem, Storage};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How delivery is retried.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Wait after the first failure; doubled after each further one.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// An item still undelivered this long after it was queued is given up.
    pub give_up_after: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(10 * 60),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            timeout: Duration::from_secs(10),
            concurrency: 8,
        }
    }
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Items delivered.
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Items given up on.
    pub given_up: AtomicU64,
}

/// The running sender.
pub struct Notifier {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
    stats: Arc<NotifyStats>,
}

/// What became of one attempt.
enum Outcome {
    Delivered,
    Retry(String, Option<Duration>),
    GiveUp(String),
}

impl Notifier {
    /// Starts delivering `storage`'s outbox over `channels`.
    pub fn start(
        storage: Arc<Storage>,
        channels: Vec<Channel>,
        options: NotifyOptions,
    ) -> Result<Notifier, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("solomon/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(NotifyStats::default());
        let channels: HashMap<String, Channel> =
            channels.into_iter().map(|c| (c.name.clone(), c)).collect();
        let task = tokio::spawn(run(
            storage,
            Arc::new(channels),
            client,
            options,
            stopped,
            stats.clone(),
        ));
        Ok(Notifier { task, stop, stats })
    }

    /// Counters.
    pub fn stats(&self) -> Arc<NotifyStats> {
        self.stats.clone()
    }

    /// Stops; an attempt in flight is abandoned and its item stays queued (so a receiver may
    /// see it twice, with the same idempotency key).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    storage: Arc<Storage>,
    channels: Arc<HashMap<String, Channel>>,
    client: reqwest::Client,
    options: NotifyOptions,
    mut stopped: watch::Receiver<bool>,
    stats: Arc<NotifyStats>,
) {
    let outbox = storage.outbox().clone();
    loop {
        let now = now_ms();
        let pending = match outbox.pending() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("reading the notification outbox failed: {e}");
                Vec::new()
            }
        };
        let due: Vec<OutboxItem> = pending
            .iter()
            .filter(|i| i.next_ms <= now)
            .take(options.concurrency.max(1))
            .cloned()
            .collect();
        if !due.is_empty() {
            let attempts = due.into_iter().map(|item| {
                let (client, channels, options) = (&client, &channels, &options);
                async move {
                    let outcome = attempt(client, channels, options, &item).await;
                    (item, outcome)
                }
            });
            let results = tokio::select! {
                r = futures_util::future::join_all(attempts) => r,
                _ = stopped.changed() => return,
            };
            for (item, outcome) in results {
                settle(&storage, &options, &stats, item, outcome);
            }
            continue;
        }
        let wait = pending
            .iter()
            .map(|i| i.next_ms.saturating_sub(now))
            .min()
            .unwrap_or(60_000)
            .min(60_000);
        tokio::select! {
            _ = outbox.woken() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    channels: &HashMap<String, Channel>,
    options: &NotifyOptions,
    item: &OutboxItem,
) -> Outcome {
    let age = now_ms().saturating_sub(item.created_ms);
    if age > options.give_up_after.as_millis() as u64 {
        return Outcome::GiveUp(format!(
            "undelivered after {} h",
            options.give_up_after.as_secs() / 3600
        ));
    }
    let Some(channel) = channels.get(&item.channel) else {
        return Outcome::GiveUp(format!(
            "channel {:?} is no longer configured",
            item.channel
        ));
    };
    let req = match build(channel, item) {
        Ok(r) => r,
        Err(e) => return Outcome::GiveUp(e),
    };
    let mut r = client.post(&req.url).body(req.body);
    for (k, v) in &req.headers {
        r = r.header(*k, v);
    }
    r = r.header("x-solomon-attempt", (item.attempts + 1).to_string());
    match r.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Outcome::Delivered;
            }
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = resp.text().await.unwrap_or_default();
            let why = format!("{status}: {}", text.chars().take(200).collect::<String>());
            if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
                Outcome::Retry(why, retry_after)
            } else {
                Outcome::GiveUp(why)
            }
        }
        // Refused, unreachable, timed out: the endpoint may be back later.
        Err(e) => Outcome::Retry(e.to_string(), None),
    }
}

fn settle(
    storage: &Storage,
    options: &NotifyOptions,
    stats: &NotifyStats,
    mut item: OutboxItem,
    outcome: Outcome,
) {
    let outbox = storage.outbox();
    let result = match outcome {
        Outcome::Delivered => {
            stats.delivered.fetch_add(1, Relaxed);
            tracing::info!(channel = %item.channel, rule = %item.alert.rule, miner = %item.alert.miner, event = %item.event, attempts = item.attempts + 1, "notification delivered");
            outbox.delivered(item.id)
        }
        Outcome::Retry(why, after) => {
            stats.retried.fetch_add(1, Relaxed);
            item.attempts += 1;
            let backoff = options
                .retry_base
                .saturating_mul(1 << item.attempts.saturating_sub(1).min(20))
                .min(options.retry_max);
            let wait = after.unwrap_or(backoff).min(options.retry_max);
            item.next_ms = now_ms() + wait.as_millis() as u64;
            tracing::warn!(channel = %item.channel, attempts = item.attempts, retry_in_s = wait.as_secs_f64(), "notification not delivered: {why}");
            item.last_error = Some(why);
            outbox.retry_later(&item)
        }
        Outcome::GiveUp(why) => {
            stats.given_up.fetch_add(1, Relaxed);
            tracing::error!(channel = %item.channel, rule = %item.alert.rule, miner = %item.alert.miner, "notification given up: {why}");
            item.last_error = Some(why);
            outbox.give_up(&item)
        }
    };
    if let Err(e) = result {
        tracing::error!("updating the notification outbox failed: {e}");
    }
}
