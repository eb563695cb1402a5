//! `/api/v1/plugins`: the drivers and rules in service with their versions and health, and
//! the plugin files that failed to load (hot reload keeps the last good version running).

use super::AppState;
use crate::registry::{LoadFailure, PluginSet};
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;

/// `{"plugins": [{"plugin": {...}, "stats": {...}, "file": ...}], "failures": [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginList {
    /// Each plugin's metadata (name, version, world, sha256, loaded_ms, ...), counters (calls,
    /// traps, restarts, last error) and file (`null` for a built-in one).
    #[schema(value_type = Vec<Object>)]
    pub plugins: serde_json::Value,
    /// Files that did not load, with the error; the version in service, if any, still runs.
    pub failures: Vec<LoadFailure>,
}

/// The plugins in service as JSON.
pub fn plugin_list(set: &PluginSet) -> serde_json::Value {
    set.entries()
        .iter()
        .map(|e| {
            serde_json::json!({
                "plugin": e.plugin.meta(),
                "stats": e.plugin.stats(),
                "file": e.file.as_ref().map(|f| f.display().to_string()),
            })
        })
        .collect()
}

/// The whole list (also sent on the `plugins` WebSocket topic).
pub fn status(set: &PluginSet) -> PluginList {
    PluginList {
        plugins: plugin_list(set),
        failures: set.failures(),
    }
}

/// The plugins in service and the files that failed.
#[utoipa::path(get, path = "/api/v1/plugins", operation_id = "list_plugins", tag = "plugins",
    responses((status = 200, body = PluginList)))]
pub async fn list(State(state): State<AppState>) -> Json<PluginList> {
    match state.plugin_set() {
        Some(set) => Json(status(&set)),
        None => Json(PluginList {
            plugins: serde_json::json!([]),
            failures: Vec::new(),
        }),
    }
}
