//! The web console at `/console/`: static files (HTML, CSS, ES modules) compiled into the
//! server by the build script from `crates/mq-api/console/`, or read from
//! [`ConsoleConfig::assets_dir`] while working on them. Not in the OpenAPI document: like the
//! API page it is a client of the API, not part of it.
//!
//! Loading the pages needs no token (a browser cannot send one before signing in); the IP
//! allow-list and per-address rate limit still apply, and every API call the pages make is
//! authenticated as usual. The pages are sent with a strict Content-Security-Policy (own
//! scripts and styles only, no framing) and revalidated by ETag, so a new server version is
//! picked up at the next load.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::ConsoleConfig;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// Where the console is served.
pub(crate) const CONSOLE_PATH: &str = "/console";

/// The policy the pages run under: nothing from elsewhere, no inline script or style, calls to
/// this server only, never inside a frame.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// The files served, and their tags.
#[derive(Debug)]
pub(super) enum Files {
    /// The compiled-in copy, with the ETag of each file computed once.
    Compiled(Vec<(&'static str, &'static [u8], String)>),
    /// Read from a directory on every request (development).
    Dir(PathBuf),
}

impl Files {
    /// What `cfg` serves; `None` when the console is turned off. Built once per server and
    /// shared by its workers (the tags are hashed here, not per worker).
    pub(super) fn new(cfg: &ConsoleConfig) -> Option<web::Data<Self>> {
        if !cfg.enabled {
            return None;
        }
        let files = match &cfg.assets_dir {
            Some(dir) => Files::Dir(dir.clone()),
            None => Files::Compiled(
                ASSETS.iter().map(|(name, bytes)| (*name, *bytes, etag(bytes))).collect(),
            ),
        };
        Some(web::Data::new(files))
    }
}

/// Mounts the console at `/console/` (and `/console`, which redirects there so relative links
/// resolve), behind the guard, when it is turned on (`files` from [`Files::new`]).
pub(super) fn mount_ui(app: &mut web::ServiceConfig, files: Option<&web::Data<Files>>) {
    let Some(files) = files else { return };
    app.service(
        web::scope(CONSOLE_PATH)
            .wrap(actix_web::middleware::from_fn(crate::security::guard))
            .app_data(files.clone())
            .default_service(web::to(serve)),
    );
}

/// Any GET or HEAD below `/console`: the redirect, `index.html`, a file, or 404.
async fn serve(request: HttpRequest, files: web::Data<Files>) -> HttpResponse {
    let method = request.method();
    if method != actix_web::http::Method::GET && method != actix_web::http::Method::HEAD {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .body("the console's files are read with GET");
    }
    let Some(rest) = request.path().strip_prefix(CONSOLE_PATH) else {
        return not_found();
    };
    if rest.is_empty() {
        return HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, format!("{CONSOLE_PATH}/")))
            .finish();
    }
    let name = match rest.trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    let found = match files.get_ref() {
        Files::Compiled(assets) => assets
            .iter()
            .find(|(path, _, _)| *path == name)
            .map(|(_, bytes, tag)| (web::Bytes::from_static(bytes), tag.clone())),
        Files::Dir(dir) => read_from(dir, name).map(|bytes| {
            let tag = etag(&bytes);
            (web::Bytes::from(bytes), tag)
        }),
    };
    let Some((bytes, tag)) = found else {
        return not_found();
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Always revalidated: cheap with the ETag, and never a stale page after an upgrade.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag.clone()));
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if matches {
        return response.status(actix_web::http::StatusCode::NOT_MODIFIED).finish();
    }
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type(name))));
    if method == actix_web::http::Method::HEAD {
        return response.finish();
    }
    response.body(bytes)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such console file")
}

/// A strong ETag: the start of the content's SHA-256.
fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..12]))
}

/// A file below `dir`, refusing anything that would leave it (`..`, absolute paths).
fn read_from(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let relative = Path::new(name);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    std::fs::read(dir.join(relative)).ok()
}

/// The type of a console file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_copy_holds_the_shell() {
        let names: Vec<&str> = ASSETS.iter().map(|(name, _)| *name).collect();
        for wanted in ["index.html", "js/app.js", "console.css"] {
            assert!(names.contains(&wanted), "{wanted} is compiled in: {names:?}");
        }
        assert!(ASSETS.iter().all(|(name, _)| content_type(name) != "application/octet-stream"));
    }

    #[test]
    fn paths_cannot_leave_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        assert!(read_from(&dir, "index.html").is_some());
        for bad in ["../Cargo.toml", "/etc/passwd", "js/../../Cargo.toml", "./index.html"] {
            assert!(read_from(&dir, bad).is_none(), "{bad}");
        }
    }
}
