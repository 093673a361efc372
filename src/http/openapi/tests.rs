//! Every route actix registers is in the document, with its method.

use super::document;
use std::collections::BTreeSet;

/// The route registrations of the HTTP layer, read from its sources: `.route("/p", web::get()…)` and
/// `web::resource("/p")…route(web::get()…)`. Paths mounted under `/api` are prefixed.
fn registered_routes() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../mod.rs"),
        include_str!("../admin.rs"),
        include_str!("../api_keys.rs"),
        include_str!("../audit_logs.rs"),
        include_str!("../usage.rs"),
        include_str!("../auth.rs"),
        include_str!("../conversations.rs"),
        include_str!("../integrations.rs"),
        include_str!("../product_keys.rs"),
        include_str!("../sockets.rs"),
        include_str!("../webhooks.rs"),
        include_str!("../widget.rs"),
        include_str!("../widget_commands.rs"),
        include_str!("../openapi.rs"),
    ];
    let mut routes = BTreeSet::new();
    for source in sources {
        for (path, method) in registrations(source) {
            let root = ["/healthz", "/readyz", "/metrics", "/ws/", "/widget.js", "/api/", "/openapi.json", "/docs"];
            let path = if root.iter().any(|r| path.starts_with(r)) { path } else { format!("/api{path}") };
            routes.insert((method, path));
        }
    }
    routes
}

/// Each `route("…"` or `resource("…"` in `source`, with the first `web::<method>()` after it.
fn registrations(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for opener in ["route(\"", "resource(\""] {
        let mut rest = source;
        while let Some(at) = rest.find(opener) {
            rest = &rest[at + opener.len()..];
            let Some(end) = rest.find('"') else { break };
            let path = rest[..end].to_owned();
            let after = &rest[end..];
            let method = ["get", "post", "delete", "put", "patch"]
                .iter()
                .filter_map(|m| after.find(&format!("web::{m}()")).map(|i| (i, *m)))
                .min();
            if let Some((_, method)) = method {
                found.push((path, method.to_owned()));
            }
        }
    }
    found
}

#[test]
fn every_registered_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(document()).expect("the document is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1");
    let routes = registered_routes();
    assert!(routes.len() >= 30, "found {} routes: {routes:?}", routes.len());
    for (method, path) in &routes {
        if matches!(path.as_str(), "/openapi.json" | "/docs" | "/docs/redoc.js") {
            continue; // the document and its viewer describe the API; they are not part of it
        }
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not in /openapi.json");
    }
}

#[test]
fn every_operation_documents_the_error_body() {
    let doc: serde_json::Value = serde_json::from_str(document()).expect("the document is JSON");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            assert!(operation["responses"]["400"].is_object(), "{method} {path} lacks its error answers");
        }
    }
}

/// Every pattern in the document, with where it is.
fn patterns(at: &str, value: &serde_json::Value, found: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner.as_str()) {
                    ("pattern", Some(pattern)) => found.push((at.to_owned(), pattern.to_owned())),
                    _ => patterns(&format!("{at}/{key}"), inner, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| patterns(at, item, found)),
        _ => {}
    }
}

#[test]
fn non_blank_text_has_one_spelled_out_pattern() {
    // `\s` differs between ECMA (what the schema's readers speak), Python (schemathesis) and Rust
    // (`str::trim`): a fuzzer then sends text the server calls blank as valid. The one pattern for
    // non-blank text spells its class out (`crate::domain::NON_BLANK_PATTERN`, checked against `trim`).
    let doc: serde_json::Value = serde_json::from_str(document()).expect("the document is JSON");
    let mut found = Vec::new();
    patterns("", &doc, &mut found);
    let non_blank = found.iter().filter(|(_, p)| p.as_str() == crate::domain::NON_BLANK_PATTERN).count();
    assert!(non_blank >= 4, "the message, canned answer and API key name patterns: {found:?}");
    for (at, pattern) in &found {
        assert!(!pattern.contains("\\S"), "{at}: {pattern}");
    }
}
