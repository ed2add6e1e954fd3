//! Route declaration with access rules. [`Routes`] is the only way a domain adds routes,
//! and every route it adds names its [`Access`], so a route without a rule cannot exist.
//! The rule is checked by a layer on that very route, before its handler runs.

use crate::error::error_response;
use axum::extract::{FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use axum::{Router, routing::MethodFilter};
use botlib::AppError;
use botstate::AppState;
use botstate::auth::{Access, Principal};
use serde::Serialize;
use std::sync::Arc;

/// One declared route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteRule {
    /// HTTP method.
    pub method: String,
    /// Path template, as given to the router.
    pub path: String,
    /// Who may call it.
    pub access: Access,
    /// Whether its body may exceed `server.body_limit_bytes` and take longer than
    /// `server.request_timeout_secs` (large uploads): the handler enforces its own limits.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub streaming: bool,
}

impl RouteRule {
    /// Whether this rule's method and path template match a request.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != method {
            return false;
        }
        let mut want = self.path.trim_start_matches('/').split('/');
        let mut got = path.trim_start_matches('/').split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with("{*") => return !g.is_empty() || w.len() > 2,
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                    if g.is_empty() {
                        return false;
                    }
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

/// A router whose every route carries an access rule.
pub struct Routes<S = ()> {
    router: Router<S>,
    rules: Vec<RouteRule>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            rules: Vec::new(),
        }
    }
}

macro_rules! method_fn {
    ($name:ident, $filter:expr, $method:literal) => {
        #[doc = concat!("Adds a `", $method, "` route with its access rule.")]
        pub fn $name<H, T>(self, path: &str, access: Access, handler: H) -> Self
        where
            H: Handler<T, S>,
            T: 'static,
        {
            self.add($method, path, access, on($filter, handler))
        }
    };
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    method_fn!(get, MethodFilter::GET, "GET");
    method_fn!(post, MethodFilter::POST, "POST");
    method_fn!(put, MethodFilter::PUT, "PUT");
    method_fn!(patch, MethodFilter::PATCH, "PATCH");
    method_fn!(delete, MethodFilter::DELETE, "DELETE");

    fn add(mut self, method: &str, path: &str, access: Access, route: MethodRouter<S>) -> Self {
        let route = route.route_layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            check_access(access, req, next)
        }));
        self.router = self.router.route(path, route);
        self.rules.push(RouteRule {
            method: method.to_string(),
            path: path.to_string(),
            access,
            streaming: false,
        });
        self
    }

    /// Marks the route `method path` (already added) as streaming: exempt from the
    /// server's body-size limit and response deadline, because its handler streams large
    /// bodies and enforces its own limits (sizes, quotas, idle timeouts).
    pub fn streaming(mut self, method: &str, path: &str) -> Self {
        let mut found = false;
        for r in self
            .rules
            .iter_mut()
            .filter(|r| r.method == method && r.path == path)
        {
            r.streaming = true;
            found = true;
        }
        assert!(found, "streaming: no route {method} {path} was added");
        self
    }

    /// A service (e.g. a static-file folder) under `path`, with its rule.
    pub fn nest_service<T>(mut self, path: &str, access: Access, service: T) -> Self
    where
        T: tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
        T::Response: IntoResponse,
        T::Future: Send + 'static,
    {
        let guarded = Router::new()
            .fallback_service(service)
            .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
                check_access(access, req, next)
            }));
        self.router = self.router.nest_service(path, guarded);
        self.rules.push(RouteRule {
            method: "GET".into(),
            path: format!("{path}/{{*path}}"),
            access,
            streaming: false,
        });
        self
    }

    /// Adds another set of routes.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.rules.extend(other.rules);
        self
    }

    /// Provides the handlers' state.
    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            rules: self.rules,
        }
    }

    /// The declared rules.
    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// The router and its rules.
    pub fn into_parts(self) -> (Router<S>, Vec<RouteRule>) {
        (self.router, self.rules)
    }
}

/// The credential presented: `Authorization: Bearer …`, else `X-API-Key`, else (for
/// WebSocket upgrades, where browsers cannot set headers) an `access_token` query value.
pub fn presented_token<'a>(
    headers: &'a HeaderMap,
    method: &Method,
    query: Option<&'a str>,
) -> Option<&'a str> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim()).filter(|t| !t.is_empty());
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if *method == Method::GET && upgrade {
        return query?
            .split('&')
            .find_map(|kv| kv.strip_prefix("access_token="))
            .filter(|t| !t.is_empty());
    }
    None
}

fn unauthorized() -> Response {
    let mut r = error_response(&AppError::Unauthorized, None);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn check_access(access: Access, mut req: Request, next: Next) -> Response {
    let Access::Role(role) = access else {
        return next.run(req).await;
    };
    let Some(state) = req.extensions().get::<Arc<AppState>>().cloned() else {
        return error_response(&AppError::internal(anyhow::anyhow!("no state in request")), None);
    };
    let Some(token) = presented_token(req.headers(), req.method(), req.uri().query()).map(str::to_string)
    else {
        return unauthorized();
    };
    match state.auth.authenticate(&token).await {
        Ok(principal) if principal.has_role(role) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(_) => error_response(&AppError::Forbidden, None),
        Err(AppError::Unauthorized) => unauthorized(),
        Err(e) => crate::error::ApiError(e).into_response(),
    }
}

/// The authenticated caller, for handlers of protected routes.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(crate::error::ApiError(AppError::Unauthorized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_api_key_or_websocket_query() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_token(&h, &Method::GET, None), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_token(&h, &Method::GET, None), None);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("bk_1"));
        assert_eq!(presented_token(&h, &Method::POST, None), Some("bk_1"));
        let h = HeaderMap::new();
        assert_eq!(
            presented_token(&h, &Method::GET, Some("access_token=t")),
            None,
            "query only for upgrades"
        );
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(
            presented_token(&h, &Method::GET, Some("a=1&access_token=t")),
            Some("t")
        );
    }
}

#[cfg(test)]
mod route_rule_tests {
    use super::RouteRule;
    use botstate::auth::Access;

    fn rule(method: &str, path: &str) -> RouteRule {
        RouteRule {
            method: method.into(),
            path: path.into(),
            access: Access::Public,
            streaming: true,
        }
    }

    #[test]
    fn templates_match_segments_and_tails() {
        let r = rule("PUT", "/api/drive/{space}/files/{*path}");
        assert!(r.matches("PUT", "/api/drive/me/files/a/b.txt"));
        assert!(!r.matches("GET", "/api/drive/me/files/a/b.txt"));
        assert!(!r.matches("PUT", "/api/drive/me/files"));
        assert!(!r.matches("PUT", "/api/drive//files/a"));
        assert!(!r.matches("PUT", "/api/drive/me/other/a"));
        let exact = rule("POST", "/api/x/{id}");
        assert!(exact.matches("POST", "/api/x/1"));
        assert!(!exact.matches("POST", "/api/x/1/2"));
    }
}
