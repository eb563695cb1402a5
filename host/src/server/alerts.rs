//! `/api/v1/alerts`: the current state of every alert, firing first; its history; acknowledge.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiQuery, ErrorBody};
use crate::alerts::AlertView;
use crate::host_api::clock::unix_ms as now_ms;
use axum::extract::State;
use axum::response::Json;
use serde::{Deserialize, Serialize};

/// `?firing=true` keeps only firing alerts.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only alerts whose condition holds now.
    pub firing: Option<bool>,
    /// Only this miner's.
    pub miner: Option<String>,
}

/// `{"alerts": [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertList {
    /// Firing first, then newest first; each with `muted_until` when a mute covers it.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<AlertView>,
}

/// The alerts.
#[utoipa::path(get, path = "/api/v1/alerts", operation_id = "list_alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let storage = state.storage()?;
    let now = now_ms();
    let mutes = storage
        .mutes()
        .active(now)
        .map_err(|e| ApiError::internal(format!("reading mutes: {e}")))?;
    let mut alerts = storage
        .alerts()
        .all()
        .map_err(|e| ApiError::internal(format!("reading alerts: {e}")))?;
    alerts.retain(|a| {
        q.firing.is_none_or(|f| a.firing == f) && q.miner.as_ref().is_none_or(|m| &a.miner == m)
    });
    alerts.sort_by(|a, b| {
        b.firing
            .cmp(&a.firing)
            .then(b.updated_ms.cmp(&a.updated_ms))
    });
    let alerts = alerts
        .into_iter()
        .map(|a| AlertView::new(a, &mutes, now))
        .collect();
    Ok(Json(AlertList { alerts }))
}

/// Which alert to acknowledge, and who does.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Rule plugin name.
    pub rule: String,
    /// Miner id.
    pub miner: String,
    /// The rule's key for the alert (`chip`, ...).
    pub key: String,
    /// Who acknowledges it (default `api`).
    pub by: Option<String>,
}

/// Acknowledges an alert: it stays as it is, marked as seen by someone.
#[utoipa::path(post, path = "/api/v1/alerts/ack", operation_id = "ack_alert", tag = "alerts",
    request_body = AckRequest, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn ack(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AckRequest>,
) -> Result<Json<AlertView>, ApiError> {
    let by = req.by.as_deref().unwrap_or("api");
    match crate::alerts::acknowledge(state.storage()?, &req.rule, &req.miner, &req.key, by) {
        Ok(Some(a)) => {
            let view = AlertView::now(state.storage()?, a);
            state.hub().alert(&view.to_json());
            Ok(Json(view))
        }
        Ok(None) => Err(ApiError::not_found(
            "alert_not_found",
            format!("no alert {}/{}/{}", req.rule, req.miner, req.key),
        )),
        Err(e) => Err(ApiError::internal(format!("acknowledging: {e}"))),
    }
}

/// `?from=<ms>&to=<ms>&limit=<n>`: history events in a time range (default: the last 24 h,
/// at most 500).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Start, Unix ms (default: 24 h before `to`).
    pub from: Option<u64>,
    /// End, Unix ms (default: now).
    pub to: Option<u64>,
    /// Most events returned, oldest first (default 500, at most 5000).
    pub limit: Option<usize>,
    /// Only this miner's.
    pub miner: Option<String>,
}

/// `{"events": [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertHistory {
    /// `{ts_ms, kind, alert}`: fired, suppressed, resolved, acknowledged, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<crate::storage::AlertEvent>,
}

/// What happened to alerts over a time range.
#[utoipa::path(get, path = "/api/v1/alerts/history", operation_id = "alert_history", tag = "alerts",
    params(HistoryQuery), responses((status = 200, body = AlertHistory), (status = 400, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<AlertHistory>, ApiError> {
    let to = q.to.unwrap_or_else(now_ms);
    let from = q
        .from
        .unwrap_or_else(|| to.saturating_sub(24 * 3600 * 1000));
    let limit = q.limit.unwrap_or(500).min(5000);
    let events = state
        .storage()?
        .alerts()
        .history(from, to, limit, q.miner.as_deref())
        .map_err(|e| ApiError::internal(format!("reading alert history: {e}")))?;
    Ok(Json(AlertHistory { events }))
}
