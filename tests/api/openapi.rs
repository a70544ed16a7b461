//! The OpenAPI document (`GET /api/openapi.json`) and its reference page (`/api/docs`): the
//! document is the checked-in copy, valid OpenAPI 3.1, holds every route of the contract and of
//! the router, describes the JSON the API really sends; the page renders in real Chromium under
//! the app's Content-Security-Policy, with no console error and no request leaving this host.

use std::collections::BTreeSet;

use keyward::web::{route_table, Access};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::TestApp;

/// The checked-in copy of the document.
const COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/openapi.json");

/// Set to rewrite the checked-in copy from the served document.
const UPDATE_VAR: &str = "KEYWARD_UPDATE_OPENAPI";

/// Every HTTP API route that ../shared/CONTRACT.md names, with its method.
const CONTRACT_ROUTES: [(&str, &str); 27] = [
    ("GET", "/api/v1/admin/keys"),
    ("POST", "/api/v1/admin/keys"),
    ("GET", "/api/v1/admin/keys/{id}"),
    ("PATCH", "/api/v1/admin/keys/{id}"),
    ("DELETE", "/api/v1/admin/keys/{id}"),
    ("POST", "/api/v1/admin/keys/disable-expired"),
    ("GET", "/api/v1/admin/accounts/{accountId}/usage"),
    ("POST", "/api/v1/admin/keys/{id}/extend"),
    ("GET", "/api/v1/admin/keys/{id}/leases"),
    ("DELETE", "/api/v1/admin/keys/{id}/leases"),
    ("POST", "/api/v1/admin/keys/{id}/restore"),
    ("POST", "/api/v1/admin/keys/batch"),
    ("PATCH", "/api/v1/admin/keys/batch"),
    ("POST", "/api/v1/admin/keys/batch-delete"),
    ("POST", "/api/v1/admin/keys/{id}/regenerate"),
    ("GET", "/api/v1/admin/audit"),
    ("POST", "/api/v1/keys/verify"),
    ("POST", "/api/v1/usage"),
    ("POST", "/api/v1/leases/{id}/renew"),
    ("DELETE", "/api/v1/leases/{id}"),
    ("GET", "/api/v1/self"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/v1/admin/keys/{id}/requests"),
    ("GET", "/api/v1/admin/keys.csv"),
    ("GET", "/api/v1/admin/keys/{id}/requests.csv"),
];

const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];

/// A path with its parameters' names dropped: `/keys/{id}` and `/keys/{keyId}` are one route.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(METHOD, shape)` of every operation in the document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), shape(path)));
            }
        }
    }
    found
}

async fn served_document(app: &TestApp) -> (String, Value) {
    // No token, no session: the document is public.
    let response = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).expect("the document is JSON");
    (text, value)
}

/// The JSON pointer of the first place two values differ.
fn first_difference(at: &str, served: &Value, copy: &Value) -> Option<String> {
    match (served, copy) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(&path, x, y),
                    _ => Some(path),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(&format!("{at}/{i}"), x, y)),
        (a, b) if a == b => None,
        _ => Some(at.to_string()),
    }
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_copy() {
    let app = TestApp::spawn().await;
    let (text, served) = served_document(&app).await;
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::create_dir_all(std::path::Path::new(COPY).parent().expect("docs/"))
            .expect("docs/ exists");
        std::fs::write(COPY, &text).expect("copy written");
        println!("rewrote {COPY} from the served document");
        return;
    }
    let copy: Value = serde_json::from_str(
        &std::fs::read_to_string(COPY).unwrap_or_else(|e| panic!("{COPY}: {e}")),
    )
    .expect("the copy is JSON");
    if let Some(at) = first_difference("", &served, &copy) {
        panic!(
            "the served OpenAPI document differs from tests/api/openapi.json at `{at}`.\n\
             If the API change is intended, regenerate the copy and commit it:\n    \
             {UPDATE_VAR}=1 cargo test --test api openapi::the_served_document_is_the_checked_in_copy"
        );
    }
    assert_eq!(served, copy);
}

/// Every `$ref` in the document, with where it is.
fn references<'a>(at: String, value: &'a Value, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    if let Some(target) = inner.as_str() {
                        found.push((at.clone(), target));
                    }
                } else {
                    references(format!("{at}/{key}"), inner, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                references(format!("{at}/{i}"), inner, found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_with_every_route_of_the_contract() {
    let app = TestApp::spawn().await;
    let (text, document) = served_document(&app).await;

    // A 3.1 parser reads it whole (it refuses other versions and malformed objects).
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not valid OpenAPI 3.1: {e}"));
    assert!(spec.openapi.starts_with("3.1."), "version {}", spec.openapi);
    assert!(!spec.info.title.is_empty());

    // Every reference resolves inside the document.
    let mut refs = Vec::new();
    references(String::new(), &document, &mut refs);
    assert!(!refs.is_empty(), "the schemas are shared by reference");
    for (at, target) in &refs {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target} points outside the document"));
        assert!(
            document.pointer(pointer).is_some(),
            "{at}: {target} does not resolve"
        );
    }

    // Every operation: a unique id, a summary, answers, and the security its guard enforces.
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "{id} twice");
            assert!(operation["summary"].is_string(), "{method} {path}: summary");
            assert!(
                !operation["responses"]
                    .as_object()
                    .expect("responses")
                    .is_empty(),
                "{method} {path}: responses"
            );
            // Each alternative is a set of schemes that must all be sent.
            let security: Vec<Vec<&str>> = operation["security"]
                .as_array()
                .map(|alternatives| {
                    alternatives
                        .iter()
                        .map(|a| {
                            let names = a.as_object().expect("requirement").keys();
                            names.map(String::as_str).collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            for scheme in security.iter().flatten() {
                assert!(schemes.contains_key(*scheme), "{scheme} is declared");
            }
            let expected: &[&[&str]] = if path.starts_with("/api/v1/admin/") {
                if method == "get" {
                    &[&["adminToken"], &["session"]]
                } else {
                    &[&["adminToken"], &["csrfToken", "session"]]
                }
            } else if path == "/api/v1/self" {
                &[&["holderKey"]]
            } else if path.starts_with("/api/v1/") {
                &[&["serviceToken"]]
            } else {
                &[]
            };
            assert_eq!(security, expected, "{method} {path}: security");
        }
    }

    let documented = operations(&document);
    let missing: Vec<String> = CONTRACT_ROUTES
        .iter()
        .filter(|(method, path)| !documented.contains(&(method.to_string(), shape(path))))
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "contract routes not documented: {missing:?}"
    );

    // The error body the contract fixes.
    let error = &document["components"]["schemas"]["ErrorDetail"];
    for field in ["code", "message", "field"] {
        assert!(error["properties"].get(field).is_some(), "error.{field}");
    }
    assert_eq!(
        document["components"]["schemas"]["ErrorBody"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
}

#[tokio::test]
async fn every_api_route_of_the_router_is_documented() {
    let app = TestApp::spawn().await;
    let (_, document) = served_document(&app).await;
    let documented = operations(&document);
    // Every route the admin side declares under /api (the router is built from this table).
    let declared: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/api/"))
        .map(|(method, path, access)| {
            if path.starts_with("/api/v1/admin/") {
                assert!(matches!(access, Access::Api(_)), "{method} {path}");
            }
            (method.to_string(), shape(path))
        })
        .collect();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a #[utoipa::path] in the document: {undocumented:?}"
    );
    // And nothing is documented that is not served: every documented admin route is declared,
    // every other one answers something but 404/405 with its method.
    for (method, path) in &documented {
        if path.starts_with("/api/v1/admin/") {
            assert!(
                declared.contains(&(method.clone(), path.clone())),
                "{method} {path} is documented but not declared"
            );
            continue;
        }
        let url = app.url(&path.replace("{}", "00000000-0000-4000-8000-000000000000"));
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let status = app
            .http
            .request(method.clone(), url)
            .send()
            .await
            .expect("sent")
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but answers {status}"
        );
    }
}

/// The property names a schema documents (its own and those of every `allOf` part).
fn property_names(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = match schema["$ref"].as_str() {
        Some(target) => document
            .pointer(target.trim_start_matches('#'))
            .expect("resolves"),
        None => schema,
    };
    let mut names: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(property_names(document, part));
    }
    names
}

fn json_names(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn answer_schema<'a>(document: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    &document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn the_documented_fields_are_the_fields_the_api_sends() {
    let app = TestApp::spawn().await;
    let (_, document) = served_document(&app).await;
    let (id, secret) = app
        .create_key(json!({"name": "documented", "concurrencyLimit": 2}))
        .await;

    // A key as the admin API returns it.
    let key = app.get_key(&id).await;
    let schema = answer_schema(&document, "/api/v1/admin/keys/{id}", "get", "200");
    let key_schema = &document["components"]["schemas"][property_of(&document, schema, "key")];
    assert_eq!(property_names(&document, key_schema), json_names(&key));

    // A verify that admits, and one that refuses.
    let (status, verified) = app.admit(&secret).await;
    assert_eq!(status, StatusCode::OK);
    let schema = answer_schema(&document, "/api/v1/keys/verify", "post", "200");
    assert_eq!(property_names(&document, schema), json_names(&verified));
    let (status, refused) = app.verify(json!({"key": "cr_nothing"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let schema = answer_schema(&document, "/api/v1/keys/verify", "post", "401");
    assert_eq!(property_names(&document, schema), json_names(&refused));

    // A usage record's answer.
    let lease = verified["lease"]["id"].as_str().expect("lease");
    let (status, recorded) = app
        .record_usage(
            json!({"keyId": id, "model": "claude-sonnet-4-5", "lease": lease,
            "usage": {"input_tokens": 10, "output_tokens": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{recorded}");
    let schema = answer_schema(&document, "/api/v1/usage", "post", "200");
    assert_eq!(property_names(&document, schema), json_names(&recorded));

    // An error answer: the documented error body.
    let (status, error) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys",
            Some(json!({"name": "x", "concurrencyLimit": -1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let schema = answer_schema(&document, "/api/v1/admin/keys", "post", "400");
    assert_eq!(property_names(&document, schema), json_names(&error));
    let detail = &document["components"]["schemas"]["ErrorDetail"];
    assert!(json_names(&error["error"]).is_subset(&property_names(&document, detail)));
}

/// The component name of a property's schema (`{"key": {"$ref": ".../KeyJson"}}` → `KeyJson`).
fn property_of<'a>(document: &'a Value, schema: &'a Value, name: &str) -> &'a str {
    let schema = match schema["$ref"].as_str() {
        Some(target) => document
            .pointer(target.trim_start_matches('#'))
            .expect("resolves"),
        None => schema,
    };
    schema["properties"][name]["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_else(|| panic!("{name} is a reference: {schema}"))
}

#[tokio::test]
async fn the_reference_page_renders_under_the_csp_and_calls_only_this_host() {
    let app = TestApp::spawn().await;
    // The page gets the app's own policy, not a looser one of its own.
    let page = app
        .http
        .get(app.url("/api/docs"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");

    let browser = Browser::start().await;
    browser.goto(&app, "/api/docs").await;
    let summary = browser
        .wait_for_text("#operations-relay-verifyKey .opblock-summary-path", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(summary.replace('\u{200b}', ""), "/api/v1/keys/verify");
    let description = browser
        .text("#operations-relay-verifyKey .opblock-summary-description")
        .await;
    assert!(description.contains("Verify a key"), "{description}");
    let tags = browser
        .run("return [...document.querySelectorAll('.opblock-tag')].map(t => t.dataset.tag)")
        .await;
    browser.full_screenshot("api-docs").await;
    for tag in [
        "relay",
        "keys",
        "lifecycle",
        "admission",
        "accounts",
        "audit",
        "holders",
    ] {
        assert!(
            tags.as_array().expect("tags").contains(&json!(tag)),
            "{tag}: {tags}"
        );
    }

    // Every resource the page loaded (scripts, styles, the document, images, fonts) came from
    // this host, and loaded.
    let loaded = browser
        .run(
            "return performance.getEntriesByType('resource')
               .map(e => ({url: e.name, status: e.responseStatus}))",
        )
        .await;
    let loaded = loaded.as_array().expect("entries");
    assert!(
        loaded.iter().any(|e| e["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/api/openapi.json"))),
        "the page fetched the document: {loaded:?}"
    );
    for entry in loaded {
        let url = entry["url"].as_str().expect("url");
        assert!(url.starts_with(&app.address), "{url} left this host");
        assert_eq!(entry["status"], json!(200), "{url}");
    }
    let errors: Vec<(String, String)> = browser
        .console()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}

#[tokio::test]
async fn the_console_check_sees_a_csp_refusal() {
    // The page test's "no console errors" must be able to fail: an inline style the policy
    // refuses shows up as a SEVERE entry.
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    browser.goto(&app, "/api/docs").await;
    browser
        .run(
            "const style = document.createElement('style');
             style.textContent = 'body { color: red }';
             document.head.append(style);",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let console = browser.console().await;
    assert!(
        console.iter().any(
            |(level, message)| level == "SEVERE" && message.contains("Content Security Policy")
        ),
        "{console:?}"
    );
    browser.close().await;
}
