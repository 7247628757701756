//! The built page, embedded in the binary so that self-hosting is one
//! program. trunk writes it to dist/ (scripts/run builds it before the
//! bridge); a debug build reads dist/ from disk instead, so a rebuilt page
//! shows without rebuilding the bridge.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../dist/"]
#[allow_missing = true]
struct Page;

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Page::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            // Trunk names assets by content hash: they never change.
            let cache = if path == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache.to_string())], file.data).into_response()
        }
        None if path == "index.html" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The page was not built into this bridge: run `trunk build` at the top of the repository, then rebuild ws-bridge (scripts/run does both).",
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "No such file.").into_response(),
    }
}

/// Whether the page is in this binary (for /healthz).
pub fn page_present() -> bool {
    Page::get("index.html").is_some()
}
