//! `/api/v1/notify`: the notification channels (no secrets), what waits in the outbox, what
//! was given up, and the sender's counters.

use super::AppState;
use super::error::ApiError;
use crate::notify::{ChannelView, NotifyStats};
use crate::storage::OutboxItem;
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// What the daemon knows of its notifications.
#[derive(Clone)]
pub struct NotifyState {
    /// The configured channels.
    pub channels: Vec<ChannelView>,
    /// The sender's counters.
    pub stats: Arc<NotifyStats>,
}

/// The sender's counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counters {
    /// Delivered since start.
    pub delivered: u64,
    /// Failed attempts to be retried, since start.
    pub retried: u64,
    /// Given up since start.
    pub given_up: u64,
}

/// `GET /api/v1/notify`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotifyStatus {
    /// Channels, as configured.
    pub channels: Vec<ChannelView>,
    /// Waiting to be delivered, oldest first (with attempts and the last error).
    pub pending: Vec<OutboxItem>,
    /// Given up on (a permanent refusal, or too old).
    pub dead: Vec<OutboxItem>,
    /// Counters since start.
    pub counters: Counters,
}

/// Channels, outbox and counters.
#[utoipa::path(get, path = "/api/v1/notify", operation_id = "notify_status", tag = "alerts",
    responses((status = 200, body = NotifyStatus)))]
pub async fn status(State(state): State<AppState>) -> Result<Json<NotifyStatus>, ApiError> {
    let outbox = state.storage()?.outbox();
    let read = |e| ApiError::internal(format!("reading the outbox: {e}"));
    let info = state.ready().and_then(|r| r.notify);
    let (channels, counters) = match info {
        Some(n) => (
            n.channels,
            Counters {
                delivered: n.stats.delivered.load(Relaxed),
                retried: n.stats.retried.load(Relaxed),
                given_up: n.stats.given_up.load(Relaxed),
            },
        ),
        None => (
            Vec::new(),
            Counters {
                delivered: 0,
                retried: 0,
                given_up: 0,
            },
        ),
    };
    Ok(Json(NotifyStatus {
        channels,
        pending: outbox.pending().map_err(read)?,
        dead: outbox.dead().map_err(read)?,
        counters,
    }))
}
