//! Who may use which route. Every route of the dashboard and the admin API is declared here
//! with the access it needs (public, or a role on a page or on the API); the router is built
//! from these declarations, each route behind its own guard, and a route that reaches the admin
//! side without a declaration is refused (403) before its handler runs, so a new route cannot
//! forget its role check. [`route_table`] lists the declarations for tests and docs.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower_sessions::Session;

use super::auth::{csrf_matches, has_bearer, signed_in_admin, SignedIn, CSRF_HEADER};
use super::error::{ApiError, PageError};
use super::AppState;
use crate::domain::role::AdminRole;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the sign-in page, the key holders' page.
    Public,
    /// A dashboard page or form: a signed-in admin with at least this role; no session
    /// redirects to `/login`. (Forms check their CSRF token in `AdminForm`.)
    Page(AdminRole),
    /// The admin API: the admin token (every right), or a signed-in admin with at least this
    /// role, sending the session's CSRF token on anything but a read.
    Api(AdminRole),
}

impl Access {
    /// The role a signed-in admin needs; `None` for public routes.
    pub fn role(self) -> Option<AdminRole> {
        match self {
            Access::Public => None,
            Access::Page(role) | Access::Api(role) => Some(role),
        }
    }
}

/// Who is acting on an admin route: the signed-in admin, or the admin token. Handlers take it
/// (`Extension<Actor>`) to name the actor of a change.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    // For the audit log, which records the actor's role beside its name.
    #[allow(dead_code)]
    pub role: AdminRole,
}

/// The name changes made with the admin token are recorded under.
pub const TOKEN_ACTOR: &str = "admin-api";

/// One declared route: a method and path, the access it needs, and its handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn spec<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = match method {
        Method::POST => MethodFilter::POST,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        Method::PUT => MethodFilter::PUT,
        // GET routes answer HEAD as well, as axum's `get` does.
        _ => MethodFilter::GET,
    };
    RouteSpec {
        method,
        path,
        access,
        handler: on(filter, handler),
    }
}

pub fn get<H, T>(path: &'static str, access: Access, handler: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    spec(Method::GET, path, access, handler)
}

pub fn post<H, T>(path: &'static str, access: Access, handler: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    spec(Method::POST, path, access, handler)
}

pub fn patch<H, T>(path: &'static str, access: Access, handler: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    spec(Method::PATCH, path, access, handler)
}

pub fn delete<H, T>(path: &'static str, access: Access, handler: H) -> RouteSpec
where
    H: Handler<T, AppState>,
    T: 'static,
{
    spec(Method::DELETE, path, access, handler)
}

/// Every declared route of the dashboard and the admin API.
fn declared_routes() -> Vec<RouteSpec> {
    let mut routes = super::admin_api::routes();
    routes.extend(super::admin_budgets::routes());
    routes.extend(super::lifecycle_api::routes());
    routes.extend(super::audit::routes());
    routes.extend(super::data_api::routes());
    routes.extend(super::dashboard::routes());
    routes
}

/// `(method, path, access)` of every declared route, in the order the router is built from.
pub fn route_table() -> Vec<(Method, &'static str, Access)> {
    declared_routes()
        .into_iter()
        .map(|route| (route.method, route.path, route.access))
        .collect()
}

#[derive(Clone)]
struct Guard {
    state: AppState,
    access: Access,
}

/// The dashboard and the admin API, each route behind the guard of its declared access.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    let mut declared = HashSet::new();
    for route in declared_routes() {
        declared.insert((route.method.clone(), route.path));
        let guard = Guard {
            state: state.clone(),
            access: route.access,
        };
        let mut handler = route
            .handler
            .route_layer(middleware::from_fn_with_state(guard, guard_route));
        if !matches!(route.access, Access::Api(_)) {
            handler = handler.layer(super::dashboard::no_store());
        }
        router = router.route(route.path, handler);
    }
    router.route_layer(middleware::from_fn_with_state(
        Arc::new(declared),
        refuse_undeclared,
    ))
}

/// Refuses a route that was added to the admin side without a declaration (and so without a
/// guard): it is a bug, and refusing is the safe way for it to show.
async fn refuse_undeclared(
    State(declared): State<Arc<HashSet<(Method, &'static str)>>>,
    request: Request,
    next: Next,
) -> Response {
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    let known = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| {
            declared
                .iter()
                .any(|(m, p)| *m == method && *p == path.as_str())
        });
    if known {
        return next.run(request).await;
    }
    tracing::error!("a route without a declared access was called; refused");
    PageError::Forbidden("This address has no access rule, so it is refused.").into_response()
}

async fn guard_route(
    State(guard): State<Guard>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    match guard.access {
        Access::Public => next.run(request).await,
        Access::Page(required) => match signed_in_admin(&session, &guard.state.admins).await {
            Err(error) => error.into_response(),
            Ok(None) => Redirect::to("/login").into_response(),
            Ok(Some(admin)) if admin.role.allows(required) => {
                request.extensions_mut().insert(Actor {
                    name: admin.username.clone(),
                    role: admin.role,
                });
                request.extensions_mut().insert(admin);
                next.run(request).await
            }
            Ok(Some(_)) => PageError::Forbidden(
                "Your role does not allow this. An admin can give you a role that does.",
            )
            .into_response(),
        },
        Access::Api(required) => {
            if has_bearer(request.headers(), guard.state.config.admin_token.as_deref()) {
                request.extensions_mut().insert(Actor {
                    name: TOKEN_ACTOR.to_string(),
                    role: AdminRole::Admin,
                });
                return next.run(request).await;
            }
            let admin = match signed_in_admin(&session, &guard.state.admins).await {
                Ok(Some(admin)) => admin,
                _ => return ApiError::Unauthorized.into_response(),
            };
            let is_read = request.method() == Method::GET || request.method() == Method::HEAD;
            let csrf = request
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok());
            if !is_read && !matches!(csrf_matches(&session, csrf).await, Ok(true)) {
                return ApiError::Unauthorized.into_response();
            }
            if !admin.role.allows(required) {
                return ApiError::Forbidden {
                    role: admin.role,
                    required,
                }
                .into_response();
            }
            let SignedIn { username, role } = admin;
            request.extensions_mut().insert(Actor {
                name: username,
                role,
            });
            next.run(request).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sign_in_and_the_holders_routes_are_public() {
        let public: Vec<String> = route_table()
            .into_iter()
            .filter(|(_, _, access)| *access == Access::Public)
            .map(|(method, path, _)| format!("{method} {path}"))
            .collect();
        assert_eq!(
            public,
            [
                "GET /",
                "GET /login",
                "POST /login",
                "GET /stats",
                "POST /stats",
                "GET /api/v1/self"
            ]
        );
    }

    #[test]
    fn admin_api_routes_use_the_api_guard_and_pages_the_page_guard() {
        let table = route_table();
        let mut seen = HashSet::new();
        for (method, path, access) in &table {
            assert!(
                seen.insert((method.clone(), *path)),
                "{method} {path} twice"
            );
            if path.starts_with("/api/v1/admin") {
                assert!(matches!(access, Access::Api(_)), "{method} {path}");
            } else if *access != Access::Public {
                assert!(matches!(access, Access::Page(_)), "{method} {path}");
            }
        }
        let admins_only = table
            .iter()
            .filter(|(_, path, _)| path.starts_with("/admins"))
            .all(|(_, _, access)| *access == Access::Page(AdminRole::Admin));
        assert!(admins_only);
    }
}
