//! The web dashboard at `/`: static files from `host/dashboard/`, embedded in the binary so
//! that building Solomon needs no Node toolchain and the daemon serves its page with no files
//! beside it. The page talks to the API and the WebSocket like any other client.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../../dashboard/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/live.js", JS),
    asset!("js/format.js", JS),
    asset!("js/fleet-store.js", JS),
    asset!("js/alerts-store.js", JS),
    asset!("js/fleet.js", JS),
    asset!("js/miner.js", JS),
    asset!("js/alerts.js", JS),
    asset!("js/plugins.js", JS),
    asset!("js/solo.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

static INDEX: &[u8] = include_bytes!("../../dashboard/index.html");

/// Only this daemon's own scripts and its own API: an injected script could not phone home.
/// uPlot sizes its elements with inline styles, hence `'unsafe-inline'` for styles only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

fn respond(mime: &'static str, body: &'static [u8]) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // Assets change with the binary, not by name: let the browser revalidate each time.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `/`: the page.
pub async fn index() -> Response {
    let mut resp = respond("text/html; charset=utf-8", INDEX);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // The page acts with the user's token: it must not be framed by another site.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `/assets/{*path}`: a script, stylesheet or vendored file.
pub async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => respond(a.mime, a.body),
        None => super::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard asset {path:?}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_imports_is_embedded() {
        // A module imported but not listed would 404 only in a browser: check the imports.
        for a in ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
            let text = std::str::from_utf8(a.body).expect("utf-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(name) = line.split('"').nth(1) else {
                    continue;
                };
                let wanted = format!("js/{}", name.trim_start_matches("./"));
                assert!(
                    ASSETS.iter().any(|x| x.path == wanted),
                    "{} imports {wanted}, which is not embedded",
                    a.path
                );
            }
        }
        let index = std::str::from_utf8(INDEX).expect("utf-8");
        for src in index.split("/assets/").skip(1) {
            let path = src.split('"').next().unwrap_or_default();
            assert!(
                ASSETS.iter().any(|x| x.path == path),
                "index.html loads {path}, which is not embedded"
            );
        }
    }
}
