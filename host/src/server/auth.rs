//! Bearer-token auth: every mutating route needs a token; reads need one when the config says
//! so. Tokens are compared in constant time over their SHA-256 digests, so neither a token's
//! content nor its length leaks through timing.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who may call the API.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Accepted bearer tokens.
    pub tokens: Vec<String>,
    /// Require a token for reads too (the API, `/metrics` and the WebSocket).
    pub protect_reads: bool,
    /// Origins besides the daemon's own that may open the WebSocket
    /// (`https://grafana.example.net`).
    pub allowed_origins: Vec<String>,
}

/// The checker built from an [`AuthConfig`].
#[derive(Debug)]
pub struct Auth {
    digests: Vec<[u8; 32]>,
    protect_reads: bool,
    allowed_origins: Vec<String>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl Auth {
    /// Builds the checker. Empty tokens are ignored.
    pub fn new(config: &AuthConfig) -> Self {
        Auth {
            digests: config
                .tokens
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| digest(t))
                .collect(),
            protect_reads: config.protect_reads,
            allowed_origins: config.allowed_origins.clone(),
        }
    }

    /// Whether `presented` is one of the tokens. Every token is compared, so the time taken
    /// does not say which one matched or how much of it.
    pub fn accepts(&self, presented: Option<&str>) -> bool {
        let Some(p) = presented else {
            return false;
        };
        let d = digest(p);
        let mut ok = subtle::Choice::from(0u8);
        for t in &self.digests {
            ok |= t.ct_eq(&d);
        }
        ok.into()
    }

    /// Whether reads need a token.
    pub fn protects_reads(&self) -> bool {
        self.protect_reads
    }

    /// Whether a browser page from `origin` may open the WebSocket, given the `host` it
    /// addressed. Same-origin pages may; others only when listed in the config.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/');
        if self
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin)
        {
            return true;
        }
        let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
    }
}

/// The token of a request: `Authorization: Bearer <token>`, or `?token=` on the WebSocket
/// route, where browsers cannot set headers.
pub fn presented_token(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION)
        && let Ok(s) = v.to_str()
        && let Some(t) = s
            .strip_prefix("Bearer ")
            .or_else(|| s.strip_prefix("bearer "))
    {
        return Some(t.trim().to_string());
    }
    if req.uri().path() == "/api/v1/ws" {
        #[derive(serde::Deserialize)]
        struct Q {
            token: Option<String>,
        }
        return axum::extract::Query::<Q>::try_from_uri(req.uri())
            .ok()
            .and_then(|q| q.0.token);
    }
    None
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a request needs a token: mutations always; reads of the API and metrics when reads
/// are protected. Health checks never do.
fn needs_token(auth: &Auth, req: &Request) -> bool {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return false;
    }
    if !is_read(req.method()) {
        return true;
    }
    auth.protects_reads() && (path.starts_with("/api/") || path == "/metrics")
}

/// The middleware: 401 with `WWW-Authenticate: Bearer` when a needed token is missing or wrong.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let auth = state.auth();
    if needs_token(auth, &req) && !auth.accepts(presented_token(&req).as_deref()) {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this needs a valid API token: send `Authorization: Bearer <token>`",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_tokens() {
        let a = Auth::new(&AuthConfig {
            tokens: vec!["s3cret".into(), String::new(), "other".into()],
            ..Default::default()
        });
        assert!(a.accepts(Some("s3cret")));
        assert!(a.accepts(Some("other")));
        assert!(!a.accepts(Some("")), "an empty token never matches");
        assert!(!a.accepts(Some("s3cre")));
        assert!(!a.accepts(None));
    }

    #[test]
    fn origins() {
        let a = Auth::new(&AuthConfig {
            allowed_origins: vec!["https://grafana.example.net".into()],
            ..Default::default()
        });
        assert!(a.origin_allowed("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!a.origin_allowed("http://evil.example", Some("127.0.0.1:8080")));
        assert!(a.origin_allowed("https://grafana.example.net/", Some("127.0.0.1:8080")));
    }
}
