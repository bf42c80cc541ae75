//! The web app: a single-page application served at `/`, embedded in the binary.
//!
//! The assets live in `examples/server/web/` (hand-written HTML, one JavaScript module and one
//! stylesheet; no build step, nothing from a CDN) and are compiled in with `include_bytes!`, so
//! the server needs no files at run time and works with no internet.
//!
//! The app is a client of the public API only: it signs in at `/api/auth/login`, keeps the
//! bearer token in the browser's `sessionStorage`, calls the same REST routes as any other
//! client and listens to `/ws?token=…`. Every rule (who sees what, who may change what) is the
//! server's; the app only hides the pages a role cannot use.
//!
//! Each asset is answered with its content type, `Cache-Control: no-cache` (the browser keeps
//! it but asks again, so a new binary's assets are picked up at once) and a strong `ETag` (a
//! hash of the bytes, computed at compile time); a request whose `If-None-Match` names it gets
//! `304 Not Modified` with no body. Paths under `/api/` are never answered here, so unknown API
//! paths keep the API's JSON 404.

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderName, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file of the web app.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// A 64-bit FNV-1a hash of the bytes, the `ETag`'s value.
    pub hash: u64,
}

/// 64-bit FNV-1a, at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn asset(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset {
        path,
        content_type,
        body,
        hash: fnv1a(body),
    }
}

const INDEX: &[u8] = include_bytes!("../web/index.html");

/// Every asset of the web app; `/` serves `index.html`.
pub const ASSETS: [Asset; 4] = [
    asset("/", "text/html; charset=utf-8", INDEX),
    asset("/index.html", "text/html; charset=utf-8", INDEX),
    asset(
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../web/app.js"),
    ),
    asset(
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../web/app.css"),
    ),
];

/// The content security policy of every asset: scripts, styles and connections (the API and
/// the WebSocket) from the server's own origin only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

impl Asset {
    /// The quoted `ETag`.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }

    /// The answer to a `GET` with `headers`: the asset, or 304 when `If-None-Match` names it.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let etag = self.etag();
        let matches = headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(&etag));
        let common = [
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
        if matches {
            return (StatusCode::NOT_MODIFIED, common, [(ETAG, etag_value)]).into_response();
        }
        (
            common,
            [
                (ETAG, etag_value),
                (CONTENT_TYPE, HeaderValue::from_static(self.content_type)),
            ],
            self.body,
        )
            .into_response()
    }
}

/// The total size of the app's distinct files (HTML + JS + CSS), in bytes: what a browser loads
/// for the dashboard.
pub fn page_weight() -> usize {
    ASSETS
        .iter()
        .filter(|a| a.path != "/index.html")
        .map(|a| a.body.len())
        .sum()
}

/// The routes of the web app's assets (any state).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let asset = *asset;
        router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { asset.respond(&headers) }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_by_content_and_are_quoted() {
        let [index, _, js, css] = ASSETS;
        assert_ne!(index.hash, js.hash);
        assert_ne!(js.hash, css.hash);
        assert!(index.etag().starts_with('"') && index.etag().ends_with('"'));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        // The published FNV-1a test vector.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_matching_if_none_match_is_answered_304() {
        let js = ASSETS[2];
        let mut headers = HeaderMap::new();
        assert_eq!(js.respond(&headers).status(), StatusCode::OK);
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", {}", js.etag()))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        assert_eq!(js.respond(&headers).status(), StatusCode::NOT_MODIFIED);
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(js.respond(&headers).status(), StatusCode::OK);
    }

    #[test]
    fn the_page_weight_is_under_200_kb() {
        assert!(page_weight() < 200 * 1024, "{} bytes", page_weight());
        assert!(page_weight() > 1000);
    }
}
