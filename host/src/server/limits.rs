//! Limits on what a request may carry besides its body (the body limit is axum's
//! `DefaultBodyLimit`): a query string or path longer than any real client sends is refused
//! before a handler parses it.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest accepted query string.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Longest accepted path.
pub const MAX_PATH_BYTES: usize = 1024;

/// 414 for an over-long path or query.
pub async fn limit_uri(req: Request, next: Next) -> Response {
    let query = req.uri().query().map_or(0, str::len);
    let path = req.uri().path().len();
    if query > MAX_QUERY_BYTES || path > MAX_PATH_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "path and query may be at most {MAX_PATH_BYTES} and {MAX_QUERY_BYTES} bytes; got {path} and {query}"
            ),
        )
        .into_response();
    }
    next.run(req).await
}
