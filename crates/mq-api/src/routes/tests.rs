//! The guard of the OpenAPI document's completeness: no handler is mounted except through
//! [`Routes::add`] (see the module docs of `routes`). The other half, that every documented
//! operation reaches its handler on the real app, is `tests/api/openapi.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every way actix-web has of mounting something, as it is written in source.
const WAYS: &[&str] = &[
    "web::resource(",
    "web::scope(",
    "web::route(",
    "Resource::new(",
    "Scope::new(",
    ".route(",
    ".service(",
    "default_service(",
    "HttpServiceFactory",
    "#[get(",
    "#[post(",
    "#[put(",
    "#[delete(",
    "#[patch(",
    "#[head(",
    "#[route(",
    "#[routes",
];

/// The known uses, by file and way, each with why it is not a route of its own.
const KNOWN: &[(&str, &str, usize, &str)] = &[
    ("routes/mod.rs", "web::scope(", 1, "the scope of API_PREFIX"),
    ("routes/mod.rs", ".service(", 2, "the scope; `register`, which Routes::mount calls"),
    ("routes/mod.rs", "default_service(", 3, "404 and 405 envelopes, the latter in Routes::mount"),
    ("routes/mod.rs", "web::resource(", 1, "in Routes::add"),
    ("routes/mod.rs", ".route(", 1, "Routes::add itself"),
    ("routes/mod.rs", "HttpServiceFactory", 2, "`register`"),
    ("routes/docs.rs", "web::scope(", 1, "the API page, the document's viewer"),
    ("routes/docs.rs", ".service(", 3, "the API page"),
    ("routes/docs.rs", "web::resource(", 1, "the API page's redirect from /docs to /docs/"),
    ("routes/docs.rs", ".route(", 1, "the API page's redirect"),
    ("routes/console.rs", "web::scope(", 1, "the web console, a client of the API"),
    ("routes/console.rs", ".service(", 1, "the web console"),
    ("routes/console.rs", "default_service(", 1, "the web console's files"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A handler mounted any other way than through `Routes::add` would be missing from the
/// OpenAPI document: every way of mounting is counted in every source file of the crate
/// (this test file aside) and must match the known uses above.
#[test]
fn every_route_is_mounted_through_routes_add() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "the scan found the sources: {files:?}");
    let mut found: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for file in &files {
        let name = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if name == "routes/tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for way in WAYS {
            let count = text.matches(way).count();
            if count > 0 {
                found.insert((name.clone(), way), count);
            }
        }
    }
    let known: BTreeMap<(String, &str), usize> =
        KNOWN.iter().map(|(file, way, count, _)| (((*file).to_owned(), *way), *count)).collect();
    let mut wrong = Vec::new();
    for ((file, way), count) in &found {
        let expected = known.get(&(file.clone(), way)).copied().unwrap_or(0);
        if *count != expected {
            wrong.push(format!("{file}: `{way}` {count} times, {expected} known"));
        }
    }
    for ((file, way), count) in &known {
        if !found.contains_key(&(file.clone(), way)) {
            wrong.push(format!("{file}: `{way}` 0 times, {count} known"));
        }
    }
    assert!(
        wrong.is_empty(),
        "mount handlers with Routes::add and a #[utoipa::path] attribute, so that the OpenAPI \
         document lists them (or update KNOWN with the reason):\n{}",
        wrong.join("\n")
    );
}

/// The document's operations are the mounted ones, each once, each path under the prefix or
/// one of the root routes.
#[test]
fn operations_are_unique_and_where_they_are_mounted() {
    let mut seen = std::collections::BTreeSet::new();
    for documented in super::operations() {
        let path = &documented.path;
        assert!(
            path.starts_with(super::API_PREFIX)
                || matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics"),
            "{path}"
        );
        assert!(!documented.methods.is_empty(), "{path}");
        for method in &documented.methods {
            let method = crate::openapi::actix_method(method);
            assert!(seen.insert((path.clone(), method.to_string())), "{method} {path} twice");
        }
        assert!(documented.operation.tags.as_ref().is_some_and(|t| !t.is_empty()), "{path}");
    }
    assert!(seen.len() >= 40, "{seen:?}");
}
