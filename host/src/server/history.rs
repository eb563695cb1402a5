//! `/api/v1/miners/{id}/history`: one metric over a time range, from the rollup that fits the
//! range (raw, 5-minute or hourly) through the query cache.

use super::AppState;
use super::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::host_api::clock::unix_ms as now_ms;
use crate::storage::{ALL_METRICS, Metric, Point, Resolution};
use axum::extract::State;
use axum::response::Json;
use serde::{Deserialize, Serialize};

/// `?metric=hashrate_hs&from=<ms>&to=<ms>&step=<ms>`; `from`/`to` default to the last hour.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The metric (`hashrate_hs`, `temp_c`, `power_w`, ...).
    pub metric: String,
    /// Start, Unix ms (default: an hour before `to`).
    pub from: Option<u64>,
    /// End, Unix ms (default: now).
    pub to: Option<u64>,
    /// Wanted spacing of points, ms; picks the rollup.
    pub step: Option<u64>,
}

/// A metric's points.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// Miner id.
    pub miner: String,
    /// Metric name.
    pub metric: String,
    /// The rollup the points came from.
    #[schema(value_type = String)]
    pub resolution: Resolution,
    /// `{ts_ms, min, avg, max}` per bucket (raw points have min = max = avg).
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<Point>,
}

/// One metric of one miner over time.
#[utoipa::path(get, path = "/api/v1/miners/{id}/history", operation_id = "miner_history", tag = "miners",
    params(("id" = String, Path, description = "Miner id"), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let storage = state.storage()?;
    let Some(metric) = Metric::parse(&q.metric) else {
        let known: Vec<&str> = ALL_METRICS.iter().map(|m| m.name()).collect();
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unknown_metric",
            format!("unknown metric {:?}; known: {}", q.metric, known.join(", ")),
        ));
    };
    let to = q.to.unwrap_or_else(now_ms);
    let from = q.from.unwrap_or(to.saturating_sub(3_600_000));
    if from > to {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_range",
            "from is after to",
        ));
    }
    let res = storage.resolution_for(from, to, q.step);
    let points = storage
        .history(&id, metric, from, to, res)
        .map_err(|e| ApiError::internal(format!("history of {id:?}: {e}")))?;
    Ok(Json(History {
        miner: id,
        metric: metric.name().to_string(),
        resolution: res,
        points: (*points).clone(),
    }))
}
