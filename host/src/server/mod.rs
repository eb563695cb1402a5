//! The HTTP API (axum) under `/api/v1`, the WebSocket hub's endpoint, `/metrics`, the web
//! dashboard at `/`, and the health checks. One file per resource; the OpenAPI document is
//! generated from the handlers' annotations ([`openapi`]).

mod alerts;
pub mod auth;
mod dashboard;
pub mod error;
mod fleet;
mod history;
mod limits;
mod metrics;
mod miners;
mod mutes;
pub mod notify;
mod openapi;
mod plugins;
mod ws;

pub use auth::AuthConfig;
pub use ws::WsConfig;

use crate::hub::Hub;
use crate::manager::MinerManager;
use crate::registry::PluginSet;
use crate::runtime::Plugin;
use crate::state::MinerStore;
use crate::storage::Storage;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use error::ApiError;
use parking_lot::RwLock;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body the API reads (a miner config is well under 1 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the API is served.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Tokens and origins.
    pub auth: AuthConfig,
    /// WebSocket keep-alive and limits.
    pub ws: WsConfig,
}

/// What exists once the plugins are loaded.
#[derive(Clone)]
pub struct Ready {
    /// The plugins in service (hot reload changes them).
    pub plugins: Arc<PluginSet>,
    /// The poller of the configured miners, when this daemon polls.
    pub manager: Option<Arc<MinerManager>>,
    /// Connections to miners kept between polls, when this daemon polls.
    pub connections: Option<Arc<crate::net::IdleConnections>>,
    /// The notification channels and their sender's counters.
    pub notify: Option<notify::NotifyState>,
    /// The alert engine's counters, when this daemon judges rules.
    pub rules: Option<Arc<crate::alerts::EngineStats>>,
}

struct Inner {
    ready: RwLock<Option<Ready>>,
    miners: Arc<MinerStore>,
    storage: Option<Arc<Storage>>,
    hub: Arc<Hub>,
    auth: auth::Auth,
    ws: WsConfig,
}

/// What the HTTP handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Nothing loaded yet (`/readyz` answers 503 until [`AppState::set_ready`]).
    pub fn new(
        miners: Arc<MinerStore>,
        storage: Option<Arc<Storage>>,
        hub: Arc<Hub>,
        config: &ApiConfig,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                ready: RwLock::new(None),
                miners,
                storage,
                hub,
                auth: auth::Auth::new(&config.auth),
                ws: config.ws.clone(),
            }),
        }
    }

    /// Publishes the loaded plugins (and the manager) and marks the daemon ready; from then on
    /// every change to the plugin set is published on the `plugins` topic.
    pub fn set_ready(&self, ready: Ready) {
        let set = ready.plugins.clone();
        *self.inner.ready.write() = Some(ready);
        let hub = self.inner.hub.clone();
        let publish = move |set: &PluginSet| {
            let s = plugins::status(set);
            hub.plugins(
                &s.plugins,
                &serde_json::to_value(&s.failures).unwrap_or_default(),
            );
        };
        publish(&set);
        let mut changes = set.subscribe();
        let weak = Arc::downgrade(&set);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                match weak.upgrade() {
                    Some(set) => publish(&set),
                    None => return,
                }
            }
        });
    }

    pub(crate) fn plugin_set(&self) -> Option<Arc<PluginSet>> {
        self.ready().map(|r| r.plugins)
    }

    pub(crate) fn ready(&self) -> Option<Ready> {
        self.inner.ready.read().clone()
    }

    pub(crate) fn manager(&self) -> Result<Arc<MinerManager>, ApiError> {
        self.ready()
            .and_then(|r| r.manager)
            .ok_or_else(ApiError::not_ready)
    }

    pub(crate) fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.ready()
            .map(|r| r.plugins.entries().into_iter().map(|e| e.plugin).collect())
            .unwrap_or_default()
    }

    pub(crate) fn miners(&self) -> &Arc<MinerStore> {
        &self.inner.miners
    }

    pub(crate) fn storage(&self) -> Result<&Arc<Storage>, ApiError> {
        self.inner.storage.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_storage",
                "this daemon keeps no database",
            )
        })
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub(crate) fn auth(&self) -> &auth::Auth {
        &self.inner.auth
    }

    pub(crate) fn ws_config(&self) -> &WsConfig {
        &self.inner.ws
    }
}

/// The API routes with their OpenAPI document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(miners::list, miners::add))
        .routes(routes!(miners::get, miners::replace, miners::remove))
        .routes(routes!(miners::poll_now))
        .routes(routes!(history::history))
        .routes(routes!(fleet::summary))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::ack))
        .routes(routes!(alerts::history))
        .routes(routes!(mutes::list, mutes::add))
        .routes(routes!(mutes::remove))
        .routes(routes!(notify::status))
        .routes(routes!(plugins::list))
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// Every route, with auth, size limits and JSON errors for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json((*doc).clone()) }
        }),
    )
    .route("/api/v1/ws", axum::routing::get(ws::upgrade))
    .route("/", axum::routing::get(dashboard::index))
    .route("/assets/{*path}", axum::routing::get(dashboard::asset))
    .route("/metrics", axum::routing::get(metrics::scrape))
    .route("/healthz", axum::routing::get(|| async { "ok" }))
    .route("/readyz", axum::routing::get(readyz))
    .fallback(|| async { ApiError::not_found("not_found", "no such route") })
    .method_not_allowed_fallback(|| async {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method",
        )
    })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ))
    .layer(axum::middleware::from_fn(limits::limit_uri))
    .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
    .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.ready() {
        Some(_) => (StatusCode::OK, "ready"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "loading plugins"),
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and closes every
/// WebSocket with a close frame.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = state.hub().clone();
    let shutdown = async move {
        shutdown.await;
        hub.close();
    };
    // No Nagle: WebSocket changes are small writes that must leave at once, not wait up to
    // 40 ms for an ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
