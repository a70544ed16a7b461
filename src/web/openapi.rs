//! The OpenAPI 3.1 document of keyward's HTTP APIs (`GET /api/openapi.json`), assembled from the
//! `#[utoipa::path]` declarations beside each handler and the types they read and write, and its
//! reference page (`GET /api/docs`, the vendored Swagger UI under `static/vendor/swagger-ui`).
//!
//! Both are public: the document describes routes (the contract names them already), never a
//! secret or a key, and a relay's operator integrating with the service token has no dashboard
//! account to sign in with.

use std::sync::LazyLock;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{header, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::OpenApi;

use super::access::{route_table, Access};
use super::auth::{CSRF_HEADER, SESSION_COOKIE};
use super::AppState;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";

/// The parts of the document no handler declares: its info, tags and the path of the
/// document itself.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "API keys for LLM relays: the relay API (verify, usage, leases; bearer \
            `KEYWARD_SERVICE_TOKEN`), the admin API (bearer `KEYWARD_ADMIN_TOKEN`, or a signed-in \
            session plus its CSRF token on writes), and the key holders' own view (bearer: the key). \
            Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`; money is USD."
    ),
    paths(route_get_document),
    tags(
        (name = "relay", description = "For relays: admission, usage records and leases (service token)"),
        (name = "keys", description = "Admin: keys"),
        (name = "lifecycle", description = "Admin: batches, restore and regenerate"),
        (name = "admission", description = "Admin: a key's leases and expiry"),
        (name = "accounts", description = "Admin: upstream accounts and their usage"),
        (name = "audit", description = "Admin: the audit log"),
        (name = "data", description = "Admin: request logs and CSV exports"),
        (name = "holders", description = "A key holder's own key (the key as bearer)"),
        (name = "operations", description = "Health, metrics and this document (no authentication)"),
    )
)]
struct Base;

/// The whole document: every API route's declaration, with the security each route's guard
/// enforces and the errors every route can answer.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = Base::openapi();
    document.merge(super::relay_api::Doc::openapi());
    document.merge(super::admin_api::Doc::openapi());
    document.merge(super::admin_budgets::Doc::openapi());
    document.merge(super::lifecycle_api::Doc::openapi());
    document.merge(super::audit::Doc::openapi());
    document.merge(super::data_api::Doc::openapi());
    document.merge(super::dashboard::SelfApiDoc::openapi());
    document.merge(super::ops::Doc::openapi());
    add_security(&mut document);
    document
}

const SERVICE_TOKEN: &str = "serviceToken";
const ADMIN_TOKEN: &str = "adminToken";
const SESSION: &str = "session";
const CSRF: &str = "csrfToken";
const HOLDER_KEY: &str = "holderKey";

/// How a route is authenticated, from its path (and, on the admin side, its declared access).
enum Guard {
    /// The relay API: the service token.
    Service,
    /// The admin API: the admin token, or a session (with its CSRF token unless a read) and
    /// at least this role.
    Admin { role: String, read: bool },
    /// `GET /api/v1/self`: the holder's key.
    Holder,
    /// Health, metrics, this document.
    Open,
}

fn guard_of(method: &Method, path: &str) -> Guard {
    let declared = route_table()
        .into_iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, access)| access);
    match declared {
        Some(Access::Api(role)) => Guard::Admin {
            role: role.to_string(),
            read: *method == Method::GET,
        },
        Some(Access::Public) if path.starts_with("/api/") => Guard::Holder,
        _ if ["/api/v1/keys/", "/api/v1/usage", "/api/v1/leases/"]
            .iter()
            .any(|prefix| path.starts_with(prefix)) =>
        {
            Guard::Service
        }
        _ => Guard::Open,
    }
}

fn requirement(schemes: &[&str]) -> SecurityRequirement {
    schemes
        .iter()
        .fold(SecurityRequirement::default(), |req, name| {
            req.add::<&str, [&str; 0], &str>(name, [])
        })
}

/// Declares the security schemes, and on each operation the one its guard enforces, with the
/// error answers every guarded route can give.
fn add_security(document: &mut utoipa::openapi::OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    let bearer = |description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build(),
        )
    };
    components.add_security_scheme(
        SERVICE_TOKEN,
        bearer("`KEYWARD_SERVICE_TOKEN`, sent by relays"),
    );
    components.add_security_scheme(
        ADMIN_TOKEN,
        bearer("`KEYWARD_ADMIN_TOKEN`, for automation: every admin right"),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "A signed-in admin's session cookie (sign in at /login); the admin's role applies",
        ))),
    );
    components.add_security_scheme(
        CSRF,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            CSRF_HEADER,
            "The session's CSRF token, required with a session on every request but a read",
        ))),
    );
    components.add_security_scheme(HOLDER_KEY, bearer("A key holder's own API key (`cr_...`)"));

    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PATCH, &mut item.patch),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation.as_mut() {
                secure(operation, guard_of(&method, path));
            }
        }
    }
}

fn secure(operation: &mut Operation, guard: Guard) {
    let (security, errors): (Vec<SecurityRequirement>, &[(&str, &str)]) = match &guard {
        Guard::Service => (
            vec![requirement(&[SERVICE_TOKEN])],
            &[("401", "A missing or wrong service token (`unauthorized`)")],
        ),
        Guard::Admin { read, .. } => (
            vec![
                requirement(&[ADMIN_TOKEN]),
                if *read {
                    requirement(&[SESSION])
                } else {
                    requirement(&[SESSION, CSRF])
                },
            ],
            &[
                (
                    "401",
                    "No admin token, session or CSRF token (`unauthorized`)",
                ),
                (
                    "403",
                    "The signed-in admin's role does not allow this (`forbidden`)",
                ),
            ],
        ),
        Guard::Holder => (vec![requirement(&[HOLDER_KEY])], &[]),
        Guard::Open => return,
    };
    operation.security = Some(security);
    if let Guard::Admin { role, .. } = &guard {
        let note =
            format!("Needs the admin token, or a signed-in admin with the `{role}` role or above.");
        operation.description = Some(match operation.description.take() {
            Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
            _ => note,
        });
    }
    let failures = [
        ("500", "An internal error, logged (`internal_error`)"),
        (
            "503",
            "Redis is unavailable; nothing changed, retry (`storage_unavailable`)",
        ),
    ];
    for (status, description) in errors.iter().chain(failures.iter()) {
        operation
            .responses
            .responses
            .entry((*status).to_string())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// The document as served, built once.
static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    // Serializing plain data (strings, maps, numbers) cannot fail.
    serde_json::to_string_pretty(&document()).unwrap_or_default() + "\n"
});

/// The document as JSON text, exactly as `GET /api/openapi.json` serves it.
pub fn document_json() -> &'static str {
    &DOCUMENT_JSON
}

/// `/api/openapi.json` and `/api/docs`, public.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(DOCUMENT_PATH, get(route_get_document))
        .route("/api/docs", get(route_get_docs))
}

/// This document
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapiDocument",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn route_get_document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/api_docs.html")]
struct ApiDocsPage;

async fn route_get_docs() -> ApiDocsPage {
    ApiDocsPage
}
