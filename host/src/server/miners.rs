//! `/api/v1/miners`: list (with filters), get, add, replace, remove, poll now.

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::Snapshot;
use crate::storage::MinerConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use solomon_plugin_sdk::MinerRecord;
use std::collections::BTreeMap;

/// One miner as the API shows it: how it is configured and what it last reported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MinerView {
    /// The miner's id.
    pub id: String,
    /// How it is reached and named; absent for a miner only the live store knows.
    pub config: Option<MinerConfig>,
    /// The normalized record of its last poll (see `docs/miner-record.md`); absent before the
    /// first poll.
    #[schema(value_type = Option<Object>)]
    pub record: Option<MinerRecord>,
    /// Store version of the record: +1 per poll.
    pub version: u64,
    /// When the record last changed, Unix ms.
    pub updated_ms: u64,
}

impl MinerView {
    fn new(id: String, config: Option<MinerConfig>, snap: Option<Snapshot>) -> Self {
        MinerView {
            id,
            config,
            version: snap.as_ref().map_or(0, |s| s.version),
            updated_ms: snap.as_ref().map_or(0, |s| s.updated_ms),
            record: snap.map(|s| s.record.clone()),
        }
    }
}

/// `{"miners": [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MinerList {
    /// The miners that passed the filters, by id.
    pub miners: Vec<MinerView>,
    /// How many.
    pub count: usize,
}

/// Filters of the miner list; all optional, all must hold.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `hashing`, `idle`, `faulted`, `offline` or `unknown` (not yet polled).
    pub state: Option<String>,
    /// Make, case-insensitive (`Bitaxe`, `Antminer`).
    pub make: Option<String>,
    /// Model, case-insensitive.
    pub model: Option<String>,
    /// A label, `key:value`.
    pub label: Option<String>,
    /// Text found in the id, name, host or model.
    pub q: Option<String>,
}

impl ListQuery {
    fn matches(&self, v: &MinerView) -> bool {
        let rec = v.record.as_ref();
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_ref()
                .is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        let state = rec.map_or("unknown", |r| r.state.as_str());
        if !eq(&self.state, Some(state))
            || !eq(&self.make, rec.map(|r| r.make.as_str()))
            || !eq(&self.model, rec.and_then(|r| r.model.as_deref()))
        {
            return false;
        }
        if let Some(l) = &self.label {
            let (k, val) = l.split_once(':').unwrap_or((l, ""));
            let labels = v.config.as_ref().map(|c| &c.labels);
            if labels.and_then(|ls| ls.get(k)).is_none_or(|x| x != val) {
                return false;
            }
        }
        if let Some(q) = &self.q {
            let q = q.to_lowercase();
            let name = v.config.as_ref().and_then(|c| c.name.as_deref());
            let host = v.config.as_ref().map(|c| c.host.as_str());
            let model = rec.and_then(|r| r.model.as_deref());
            if ![Some(v.id.as_str()), name, host, model]
                .into_iter()
                .flatten()
                .any(|s| s.to_lowercase().contains(&q))
            {
                return false;
            }
        }
        true
    }
}

/// Every miner: the configured ones and any other the live store holds.
pub(crate) fn all_views(state: &AppState) -> Vec<MinerView> {
    let mut by_id: BTreeMap<String, MinerView> = BTreeMap::new();
    let configs = state
        .ready()
        .and_then(|r| r.manager)
        .map(|m| m.configs())
        .unwrap_or_default();
    for c in configs {
        let snap = state.miners().get(&c.id);
        by_id.insert(c.id.clone(), MinerView::new(c.id.clone(), Some(c), snap));
    }
    for snap in state.miners().list() {
        let id = snap.record.id.clone();
        by_id
            .entry(id.clone())
            .or_insert_with(|| MinerView::new(id, None, Some(snap)));
    }
    by_id.into_values().collect()
}

/// Lists the miners.
#[utoipa::path(get, path = "/api/v1/miners", operation_id = "list_miners", tag = "miners", params(ListQuery),
    responses((status = 200, body = MinerList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Json<MinerList> {
    let miners: Vec<MinerView> = all_views(&state)
        .into_iter()
        .filter(|v| q.matches(v))
        .collect();
    Json(MinerList {
        count: miners.len(),
        miners,
    })
}

fn view_of(state: &AppState, id: &str) -> Option<MinerView> {
    let config = state
        .ready()
        .and_then(|r| r.manager)
        .and_then(|m| m.config(id));
    let snap = state.miners().get(id);
    if config.is_none() && snap.is_none() {
        return None;
    }
    Some(MinerView::new(id.to_string(), config, snap))
}

fn miner_not_found(id: &str) -> ApiError {
    ApiError::not_found("miner_not_found", format!("no miner {id:?}"))
}

/// One miner.
#[utoipa::path(get, path = "/api/v1/miners/{id}", operation_id = "get_miner", tag = "miners",
    params(("id" = String, Path, description = "Miner id")),
    responses((status = 200, body = MinerView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MinerView>, ApiError> {
    view_of(&state, &id)
        .map(Json)
        .ok_or_else(|| miner_not_found(&id))
}

fn validated(mut m: MinerConfig) -> Result<MinerConfig, ApiError> {
    if m.id.trim().is_empty() {
        m.id = m.host.clone();
    }
    m.validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_miner", e))?;
    Ok(m)
}

/// Stores the config (so it survives a restart) and starts polling it.
fn store_and_poll(state: &AppState, m: MinerConfig) -> Result<(), ApiError> {
    let manager = state.manager()?;
    state
        .storage()?
        .miners()
        .put_all(std::slice::from_ref(&m))
        .map_err(|e| ApiError::internal(format!("storing miner {:?}: {e}", m.id)))?;
    manager.add(m);
    Ok(())
}

/// Adds a miner and starts polling it. The id defaults to the host.
#[utoipa::path(post, path = "/api/v1/miners", operation_id = "add_miner", tag = "miners", request_body = MinerConfig,
    security(("bearer" = [])),
    responses((status = 201, body = MinerView), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(m): ApiJson<MinerConfig>,
) -> Result<Response, ApiError> {
    let m = validated(m)?;
    if state.manager()?.config(&m.id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "miner_exists",
            format!(
                "miner {:?} exists; PUT /api/v1/miners/{{id}} replaces it",
                m.id
            ),
        ));
    }
    let id = m.id.clone();
    store_and_poll(&state, m)?;
    let view = view_of(&state, &id).ok_or_else(|| miner_not_found(&id))?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Replaces a miner's config (or adds it) and restarts its polling.
#[utoipa::path(put, path = "/api/v1/miners/{id}", operation_id = "replace_miner", tag = "miners", request_body = MinerConfig,
    params(("id" = String, Path, description = "Miner id")), security(("bearer" = [])),
    responses((status = 200, body = MinerView), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut m): ApiJson<MinerConfig>,
) -> Result<Json<MinerView>, ApiError> {
    if !m.id.is_empty() && m.id != id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_miner",
            format!("the body's id {:?} is not the path's {id:?}", m.id),
        ));
    }
    m.id = id.clone();
    let m = validated(m)?;
    store_and_poll(&state, m)?;
    view_of(&state, &id)
        .map(Json)
        .ok_or_else(|| miner_not_found(&id))
}

/// Stops polling a miner and forgets it (its history stays until retention removes it).
#[utoipa::path(delete, path = "/api/v1/miners/{id}", operation_id = "remove_miner", tag = "miners",
    params(("id" = String, Path, description = "Miner id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let manager = state.manager()?;
    let stored = state
        .storage()?
        .miners()
        .remove(&id)
        .map_err(|e| ApiError::internal(format!("removing miner {id:?}: {e}")))?;
    let polled = manager.remove(&id).await;
    if !stored && !polled {
        return Err(miner_not_found(&id));
    }
    state.hub().miner_removed(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Polls a miner now instead of at its next turn; the result arrives on the WebSocket.
#[utoipa::path(post, path = "/api/v1/miners/{id}/poll", operation_id = "poll_miner", tag = "miners",
    params(("id" = String, Path, description = "Miner id")), security(("bearer" = [])),
    responses((status = 202), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn poll_now(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.manager()?.poll_now(&id) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(miner_not_found(&id))
    }
}
