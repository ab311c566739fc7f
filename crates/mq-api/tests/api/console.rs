//! The web console at `/console/`: its files are served without a token under a strict
//! Content-Security-Policy, revalidated by ETag, every file the pages load exists and keeps to
//! that policy, and `GET /whoami` tells the sign-in screen who a token (or none) is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::test::{self, TestRequest};
use actix_web::App;
use mq_api::{ApiConfig, ConsoleConfig};
use serde_json::{json, Value};

use crate::harness::broker;

const ADMIN: &str = "admin-secret-0123456789";

fn with_tokens() -> ApiConfig {
    serde_json::from_value(json!({"auth": {"tokens": [
        {"name": "ops", "token": ADMIN, "role": "admin"},
        {"name": "svc", "token": "service-secret-0123456789", "role": "service",
         "produce": ["orders"], "consume": ["orders-*"]},
    ]}}))
    .unwrap()
}

/// The console's source directory, as compiled in.
fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.push(path);
        }
    }
}

/// Every file of the console, by its path below `console/`, with its text.
fn sources() -> Vec<(String, String)> {
    let root = source_dir();
    let mut all = Vec::new();
    files(&root, &mut all);
    all.iter()
        .map(|path| {
            let name = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            (name, std::fs::read_to_string(path).unwrap_or_default())
        })
        .collect()
}

/// What a file loads: `src="..."`, `href="..."` of the HTML, and the `from "..."` and
/// `import("...")` specifiers of the modules, resolved against the file's directory.
fn references(name: &str, text: &str) -> Vec<String> {
    let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut found = Vec::new();
    for opener in ["src=\"", "href=\"", "from \"", "import(\"", "from '", "import('"] {
        let close = if opener.ends_with('\'') { '\'' } else { '"' };
        for piece in text.split(opener).skip(1) {
            let Some(target) = piece.split(close).next() else { continue };
            if target.starts_with('#') || target.contains("://") || target.contains('$') {
                continue;
            }
            if !(target.starts_with("./") || target.starts_with("../") || name.ends_with(".html")) {
                continue;
            }
            // Links out of the console (the API page) are not its files.
            found.extend(normalise(dir, target));
        }
    }
    found
}

/// `target` seen from `dir`, below `console/`; `None` when it leads out of it.
fn normalise(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for piece in target.split('/') {
        match piece {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[actix_web::test]
async fn the_console_is_served_without_a_token_under_a_strict_policy() {
    let app =
        test::init_service(App::new().configure(mq_api::configure(broker(), with_tokens()))).await;
    let get = |uri: &str| test::call_service(&app, TestRequest::get().uri(uri).to_request());

    let response = get("/console").await;
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/console/");

    let response = get("/console/").await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers.get(CONTENT_TYPE).unwrap(), "text/html; charset=utf-8");
    let csp = headers.get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    for rule in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(rule), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(page.contains("type=\"module\""), "{page}");

    // Revalidation: the same tag gets 304 and no body.
    let tag = headers.get(ETAG).unwrap().clone();
    let request = TestRequest::get().uri("/console/").insert_header((IF_NONE_MATCH, tag));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status().as_u16(), 304);
    assert!(test::read_body(response).await.is_empty());

    let response = get("/console/js/app.js").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get(CONTENT_TYPE).unwrap(), "text/javascript; charset=utf-8");

    let response = test::call_service(
        &app,
        TestRequest::default().method(actix_web::http::Method::HEAD).uri("/console/").to_request(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(test::read_body(response).await.is_empty());

    for missing in ["/console/nope.js", "/console/js/../../Cargo.toml", "/console/%2e%2e/build.rs"]
    {
        assert_eq!(get(missing).await.status().as_u16(), 404, "{missing}");
    }
    let response =
        test::call_service(&app, TestRequest::post().uri("/console/").to_request()).await;
    assert_eq!(response.status().as_u16(), 405);
    // A near miss is not the console: it gets the API's 404 envelope.
    assert_eq!(get("/consoles").await.status().as_u16(), 404);
}

/// Every file a page loads is compiled in and served, and none of them breaks the policy the
/// pages run under (which the browser would enforce by refusing to run it).
#[actix_web::test]
async fn every_file_the_pages_load_is_served_and_keeps_to_the_policy() {
    let app =
        test::init_service(App::new().configure(mq_api::configure(broker(), with_tokens()))).await;
    let sources = sources();
    let names: BTreeSet<&str> = sources.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains("index.html") && names.contains("js/app.js"), "{names:?}");
    let mut problems = Vec::new();
    for (name, text) in &sources {
        let uri = format!("/console/{name}");
        let response = test::call_service(&app, TestRequest::get().uri(&uri).to_request()).await;
        if response.status().as_u16() != 200 {
            problems.push(format!("{uri}: {}", response.status()));
        }
        for target in references(name, text) {
            if !names.contains(target.as_str()) {
                problems.push(format!("{name} loads {target}, which is not in console/"));
            }
        }
        let lower = text.to_lowercase();
        if name.ends_with(".html") {
            if lower
                .split("<script")
                .skip(1)
                .any(|tag| !tag.split('>').next().unwrap().contains("src="))
            {
                problems.push(format!("{name}: an inline <script>"));
            }
            if lower.contains(" style=\"") || lower.contains("<style") {
                problems.push(format!("{name}: an inline style"));
            }
            if lower.contains(" onclick=") || lower.contains(" onload=") {
                problems.push(format!("{name}: an inline event handler"));
            }
        }
        if name.ends_with(".js") {
            for forbidden in
                ["eval(", "new function(", "setattribute(\"style\"", "setattribute('style'"]
            {
                if lower.contains(forbidden) {
                    problems.push(format!("{name}: {forbidden}"));
                }
            }
            if lower.contains("http://") || lower.contains("https://") {
                // No CDN, no calls elsewhere: everything comes from this server.
                let outside = lower
                    .lines()
                    .filter(|l| l.contains("://") && !l.trim_start().starts_with("//"));
                for line in outside {
                    if !line.contains("www.w3.org/2000/svg") {
                        problems.push(format!("{name}: refers elsewhere: {}", line.trim()));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_web::test]
async fn the_console_can_be_turned_off_or_read_from_a_directory() {
    let mut cfg = with_tokens();
    cfg.console.enabled = false;
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    let response = test::call_service(&app, TestRequest::get().uri("/console/").to_request()).await;
    assert_eq!(response.status().as_u16(), 404);

    let dir = std::env::temp_dir().join(format!("mq-console-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<p>first</p>").unwrap();
    let mut cfg = with_tokens();
    cfg.console = ConsoleConfig { enabled: true, assets_dir: Some(dir.clone()) };
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    let read = |uri: &'static str| {
        let app = &app;
        async move {
            let response = test::call_service(app, TestRequest::get().uri(uri).to_request()).await;
            let status = response.status().as_u16();
            (status, String::from_utf8(test::read_body(response).await.to_vec()).unwrap())
        }
    };
    assert_eq!(read("/console/").await, (200, "<p>first</p>".to_owned()));
    std::fs::write(dir.join("index.html"), "<p>second</p>").unwrap();
    assert_eq!(read("/console/").await, (200, "<p>second</p>".to_owned()), "re-read");
    assert_eq!(read("/console/js/missing.js").await.0, 404);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The allow-list holds for the console's files as for the API.
#[actix_web::test]
async fn the_allow_list_holds_for_the_console() {
    let mut cfg = with_tokens();
    cfg.security.ip_allowlist = vec!["10.0.0.0/8".parse().unwrap()];
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    for (peer, want) in [("10.1.2.3:5000", 200), ("192.0.2.1:5000", 403)] {
        let request = TestRequest::get().uri("/console/").peer_addr(peer.parse().unwrap());
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status().as_u16(), want, "from {peer}");
    }
}

async fn whoami(cfg: ApiConfig, peer: &str, token: Option<&str>) -> (u16, Value) {
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    let mut request = TestRequest::get().uri("/api/v1/mq/whoami").peer_addr(peer.parse().unwrap());
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    (status, body["data"].clone())
}

/// `GET /whoami` names the caller and says how a call without a token was let in, so the
/// console's sign-in screen can tell a missing token from protected mode.
#[actix_web::test]
async fn whoami_names_the_caller_and_how_it_got_in() {
    let (status, me) = whoami(with_tokens(), "127.0.0.1:4000", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"name": "ops", "role": "admin", "produce": [], "consume": [],
               "protectedMode": false, "anonymous": false})
    );
    let (status, me) =
        whoami(with_tokens(), "127.0.0.1:4000", Some("service-secret-0123456789")).await;
    assert_eq!(status, 200, "any valid token may ask");
    assert_eq!(
        (&me["role"], &me["produce"], &me["consume"]),
        (&json!("service"), &json!(["orders"]), &json!(["orders-*"]))
    );
    assert_eq!(whoami(with_tokens(), "127.0.0.1:4000", None).await.0, 401);
    assert_eq!(whoami(with_tokens(), "127.0.0.1:4000", Some("wrong")).await.0, 401);

    // No token configured: protected mode on loopback, refused elsewhere.
    let (status, me) = whoami(ApiConfig::default(), "127.0.0.1:4000", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&me["name"], &me["protectedMode"], &me["anonymous"]),
        (&json!("local"), &json!(true), &json!(false))
    );
    assert_eq!(whoami(ApiConfig::default(), "192.0.2.1:4000", None).await.0, 403);
    let mut open = ApiConfig::default();
    open.auth.allow_anonymous = true;
    let (status, me) = whoami(open, "192.0.2.1:4000", None).await;
    assert_eq!(status, 200);
    assert_eq!((&me["protectedMode"], &me["anonymous"]), (&json!(false), &json!(true)));
}

/// Asking `GET /whoami` without a token is how the sign-in screen learns that it needs one:
/// the 401 is neither a failed authentication counted against the address nor audited, while
/// a wrong token still is both.
#[actix_web::test]
async fn asking_whoami_without_a_token_is_not_a_failed_sign_in() {
    let mut cfg = with_tokens();
    cfg.security.rate_limit.auth_failures_per_minute = 2;
    let app = test::init_service(App::new().configure(mq_api::configure(broker(), cfg))).await;
    let peer: std::net::SocketAddr = "192.0.2.9:4000".parse().unwrap();
    let whoami = |token: Option<&str>| {
        let mut request = TestRequest::get().uri("/api/v1/mq/whoami").peer_addr(peer);
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        request.to_request()
    };
    for _ in 0..5 {
        assert_eq!(test::call_service(&app, whoami(None)).await.status().as_u16(), 401);
    }
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(test::call_service(&app, whoami(Some("wrong"))).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429], "wrong tokens are counted");

    let request = TestRequest::get()
        .uri("/api/v1/mq/audit-logs?actor=anonymous")
        .insert_header(("authorization", format!("Bearer {ADMIN}")));
    let response = test::call_service(&app, request.to_request()).await;
    let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    let statuses: Vec<u64> = body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.len(), 3, "only the wrong tokens are audited: {body}");
}
