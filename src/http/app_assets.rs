//! The agent inbox and control panel at `/app/`: plain ES modules and one stylesheet from `assets/app`,
//! embedded at compile time (no Node build step, no CDN: the box may be offline). Routing is by URL hash
//! inside the page, so the server needs no fallback: `/app/` is the page and every other path an asset.
//! Answers are gzipped when the browser asks (actix `Compress`, on this scope only) and carry a strong
//! `ETag` with `Cache-Control: no-cache`, so a reload revalidates each file for a `304` and an upgraded
//! binary is picked up at once (module imports carry no content hash to bust a long-lived cache).

use super::ApiError;
use actix_web::http::header::{self, EntityTag, HeaderValue};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// An embedded file: its path under `/app/`, its content type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! assets {
    ($($path:literal => $kind:expr),* $(,)?) => {
        &[$(Asset { path: $path, content_type: $kind, body: include_str!(concat!("../../assets/app/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the app; a unit test checks this list against the folder.
const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "LICENSES.txt" => "text/plain; charset=utf-8",
    "js/main.js" => JS,
    "js/api.js" => JS,
    "js/socket.js" => JS,
    "js/live.js" => JS,
    "js/state.js" => JS,
    "js/dom.js" => JS,
    "js/format.js" => JS,
    "js/outbox.js" => JS,
    "js/notify.js" => JS,
    "js/views/login.js" => JS,
    "js/views/shell.js" => JS,
    "js/views/list.js" => JS,
    "js/views/thread.js" => JS,
    "js/views/composer.js" => JS,
    "js/views/details.js" => JS,
    "js/views/settings.js" => JS,
    "js/views/form.js" => JS,
    "js/views/settings_widget.js" => JS,
    "js/views/settings_team.js" => JS,
    "js/views/settings_keys.js" => JS,
};

/// What the page may load and talk to: only its own origin (plus `data:`/`https:` images for avatars).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: https:; connect-src 'self' ws: wss:; frame-src 'self'; frame-ancestors 'self'; \
     base-uri 'none'; form-action 'self'";

/// Mounts `/app` (a redirect), `/app/` and the files under it.
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app", web::get().to(to_slash)).service(
        web::scope("/app")
            .wrap(middleware::Compress::default())
            .route("/", web::get().to(index))
            .route("/", web::head().to(index))
            .route("/{path:.+}", web::get().to(file))
            .route("/{path:.+}", web::head().to(file)),
    );
}

/// `/app` → `/app/`, so the page's relative module paths resolve under it.
async fn to_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/app/")).finish()
}

async fn index(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

async fn file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&req, &path)
}

/// Answers the asset at `path` (or `304` when the browser holds this version); unknown paths are `404`.
fn serve(req: &HttpRequest, path: &str) -> Result<HttpResponse, ApiError> {
    let (index, asset) =
        ASSETS.iter().enumerate().find(|(_, a)| a.path == path).ok_or(ApiError::NotFound("app file"))?;
    let tag = EntityTag::new_strong(etags()[index].clone());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag.to_string()));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("same-origin")));
    if asset.content_type.starts_with("text/html") {
        response.insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    }
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type(asset.content_type).body(asset.body))
}

/// Each asset's ETag (a SHA-256 prefix of its bytes), in `ASSETS` order, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| ASSETS.iter().map(|a| hex::encode(&Sha256::digest(a.body.as_bytes())[..12])).collect())
}

#[cfg(test)]
mod tests {
    use super::ASSETS;
    use std::path::Path;

    /// Every file under `assets/app` is served, and every served file exists (include_str! checks that).
    #[test]
    fn every_app_file_is_embedded() {
        fn walk(dir: &Path, root: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("assets/app is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, root, found);
                } else {
                    found.push(path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/app");
        let mut found = Vec::new();
        walk(&root, &root, &mut found);
        found.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(found, listed, "assets/app and the ASSETS list in src/http/app_assets.rs differ");
    }
}
