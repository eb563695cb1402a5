//! `/api/v1/mutes`: mute a miner's or a rule's alerts for a while (set, list, lift).

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::host_api::clock::unix_ms as now_ms;
use crate::storage::Mute;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::{Deserialize, Serialize};

/// Longest mute: 30 days. Longer is a rule to turn off in the config, not a mute.
pub const MAX_MUTE_MINUTES: u64 = 30 * 24 * 60;

/// What to mute, and for how long.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// Only this rule's alerts (with `miner`: only this rule on this miner).
    pub rule: Option<String>,
    /// Only this miner's alerts.
    pub miner: Option<String>,
    /// How long, 1 to 43200 minutes (30 days).
    pub minutes: u64,
    /// Who mutes (default `api`).
    pub by: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// `{"mutes": [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MuteList {
    /// The mutes in force, oldest first.
    pub mutes: Vec<Mute>,
}

fn stored(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("mutes: {e}"))
}

/// Tells `alerts` subscribers what is muted now.
fn publish(state: &AppState) -> Result<(), ApiError> {
    let mutes = state.storage()?.mutes().active(now_ms()).map_err(stored)?;
    state
        .hub()
        .mutes(&serde_json::to_value(&mutes).unwrap_or_default());
    Ok(())
}

/// The mutes in force.
#[utoipa::path(get, path = "/api/v1/mutes", operation_id = "list_mutes", tag = "alerts",
    responses((status = 200, body = MuteList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<MuteList>, ApiError> {
    let mutes = state.storage()?.mutes().active(now_ms()).map_err(stored)?;
    Ok(Json(MuteList { mutes }))
}

/// Mutes a miner's alerts, a rule's, or one rule on one miner, for `minutes`.
#[utoipa::path(post, path = "/api/v1/mutes", operation_id = "add_mute", tag = "alerts",
    request_body = MuteRequest, security(("bearer" = [])),
    responses((status = 201, body = Mute), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MuteRequest>,
) -> Result<(StatusCode, Json<Mute>), ApiError> {
    let bad = |msg: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_mute", msg);
    if req.rule.is_none() && req.miner.is_none() {
        return Err(bad(
            "name a `miner`, a `rule` or both; muting everything is not a mute".into(),
        ));
    }
    if !(1..=MAX_MUTE_MINUTES).contains(&req.minutes) {
        return Err(bad(format!(
            "`minutes` must be 1 to {MAX_MUTE_MINUTES}, not {}",
            req.minutes
        )));
    }
    let now = now_ms();
    let mute = Mute {
        id: 0,
        rule: req.rule,
        miner: req.miner,
        until_ms: now + req.minutes * 60_000,
        by: req.by.unwrap_or_else(|| "api".into()),
        reason: req.reason,
        created_ms: now,
    };
    let mute = state.storage()?.mutes().add(mute).map_err(stored)?;
    tracing::info!(id = mute.id, rule = ?mute.rule, miner = ?mute.miner, minutes = req.minutes, by = %mute.by, "mute set");
    publish(&state)?;
    Ok((StatusCode::CREATED, Json(mute)))
}

/// Lifts a mute.
#[utoipa::path(delete, path = "/api/v1/mutes/{id}", operation_id = "remove_mute", tag = "alerts",
    params(("id" = u64, Path, description = "Mute id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    if !state.storage()?.mutes().remove(id).map_err(stored)? {
        return Err(ApiError::not_found(
            "mute_not_found",
            format!("no mute {id}"),
        ));
    }
    tracing::info!(id, "mute lifted");
    publish(&state)?;
    Ok(StatusCode::NO_CONTENT)
}
