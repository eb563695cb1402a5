//! `/api/v1/plugins`: loaded drivers and rules with their versions and health.

use super::AppState;
use crate::runtime::Plugin;
use axum::extract::State;
use axum::response::Json;
use serde::Serialize;
use std::sync::Arc;

/// `{"plugins": [{"plugin": {...}, "stats": {...}}]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginList {
    /// Each plugin's metadata (name, version, world, sha256, ...) and counters (calls, traps,
    /// restarts, last error).
    #[schema(value_type = Vec<Object>)]
    pub plugins: serde_json::Value,
}

/// The plugin list as JSON (also sent on the `plugins` WebSocket topic).
pub fn plugin_list(plugins: &[Arc<Plugin>]) -> serde_json::Value {
    plugins
        .iter()
        .map(|p| serde_json::json!({ "plugin": p.meta(), "stats": p.stats() }))
        .collect()
}

/// The loaded plugins.
#[utoipa::path(get, path = "/api/v1/plugins", operation_id = "list_plugins", tag = "plugins",
    responses((status = 200, body = PluginList)))]
pub async fn list(State(state): State<AppState>) -> Json<PluginList> {
    Json(PluginList {
        plugins: plugin_list(&state.plugins()),
    })
}
