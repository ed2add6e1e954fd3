//! The middleware every request passes through, outermost first:
//! [`observe`] (request id, tracing span, access log, metrics) → CORS → compression →
//! [`finish`] (JSON errors, security headers) → panic catcher → [`rate_limit`] →
//! [`deadline`] → body-size limit → the router (whose [`record_route`] names the route).

use crate::error::{RequestId, error_response};
use crate::rate_limit::{ClientIp, RateLimiter, client_ip};
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use botlib::AppError;
use botstate::AppState;
use http_body_util::BodyExt;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What the middleware needs, computed once from the configuration.
pub struct Ctx {
    /// The application state.
    pub state: Arc<AppState>,
    /// `None` when rate limiting is off.
    pub limiter: Option<RateLimiter>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Deadline for a response head.
    pub timeout: Duration,
    /// Largest accepted body.
    pub body_limit: u64,
    /// Routes exempt from `body_limit` and `timeout` (see `Routes::streaming`).
    pub streaming: Vec<crate::access::RouteRule>,
    /// Send `Strict-Transport-Security` (only when serving TLS).
    pub hsts: bool,
}

/// The peer address as seen by the listener (plain TCP or TLS).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The matched route template, passed from the router back out to [`observe`].
#[derive(Clone)]
struct RouteName(String);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Paths that probes and scrapers hit: never rate limited, logged at debug only.
fn is_operational(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// A client-supplied request id is kept only when it is short and plain.
fn incoming_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get(&X_REQUEST_ID)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| v.to_string())
}

/// Request id, client IP, tracing span, access log and HTTP metrics.
pub async fn observe(State(ctx): State<Arc<Ctx>>, mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0.0)
        .or_else(|| req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    let ip = client_ip(peer, req.headers(), &ctx.trusted_proxies);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientIp(ip));
    // Route layers (the access check) reach the state through the request.
    req.extensions_mut().insert(ctx.state.clone());
    let method = req.method().clone();
    let operational = is_operational(req.uri().path());

    let metrics = &ctx.state.metrics.http;
    metrics.in_flight.inc();
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.uri().path());
    let mut response = next.run(req).instrument(span.clone()).await;
    metrics.in_flight.dec();

    let status = response.status().as_u16();
    let route: Cow<'static, str> = response
        .extensions_mut()
        .remove::<RouteName>()
        .map_or(Cow::Borrowed("unmatched"), |r| Cow::Owned(r.0));
    let elapsed = started.elapsed();
    // Labels borrow static text where they can: this runs on every request.
    let method_label = method_label(&method);
    metrics
        .requests
        .get_or_create(&[
            ("method", method_label.clone()),
            ("route", route.clone()),
            ("status", status_label(status)),
        ])
        .inc();
    metrics
        .duration
        .get_or_create(&[("method", method_label), ("route", route)])
        .observe(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID, v);
    }
    let _enter = span.enter();
    let ms = elapsed.as_secs_f64() * 1000.0;
    if operational && status < 400 {
        tracing::debug!(status, ms, "answered");
    } else if status >= 500 {
        tracing::warn!(status, ms, "answered");
    } else {
        tracing::info!(status, ms, "answered");
    }
    response
}

fn method_label(m: &axum::http::Method) -> Cow<'static, str> {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    const NAMES: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    match known.iter().position(|k| k == m) {
        Some(i) => Cow::Borrowed(NAMES[i]),
        None => Cow::Owned(m.as_str().to_string()),
    }
}

fn status_label(status: u16) -> Cow<'static, str> {
    const COMMON: [(u16, &str); 18] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (413, "413"),
        (429, "429"),
        (500, "500"),
        (501, "501"),
        (503, "503"),
        (504, "504"),
    ];
    COMMON
        .iter()
        .find(|(code, _)| *code == status)
        .map_or_else(|| Cow::Owned(status.to_string()), |(_, s)| Cow::Borrowed(*s))
}

/// Names the matched route (for metrics labels); installed as a route layer.
pub async fn record_route(req: Request, next: Next) -> Response<Body> {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteName(route));
    }
    response
}

/// Sustained rate plus burst per client IP; 429 JSON with `Retry-After` beyond it.
pub async fn rate_limit(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response<Body> {
    if let Some(limiter) = &ctx.limiter
        && !is_operational(req.uri().path())
    {
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0);
        if let Err(wait) = limiter.check(ip, Instant::now()) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return error_response(
                &AppError::RateLimited {
                    retry_after_secs: secs.max(1),
                },
                None,
            );
        }
    }
    next.run(req).await
}

impl Ctx {
    fn is_streaming(&self, req: &Request) -> bool {
        !self.streaming.is_empty()
            && self
                .streaming
                .iter()
                .any(|r| r.matches(req.method().as_str(), req.uri().path()))
    }
}

/// The body-size limit: 413 at once for a declared `Content-Length` beyond it, else the
/// body is cut (and the extractor answers 413) once it passes the limit. Streaming routes
/// are exempt; their handlers enforce their own limits.
pub async fn body_limit(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response<Body> {
    if ctx.is_streaming(&req) {
        return next.run(req).await;
    }
    let limit = ctx.body_limit;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return error_response(&AppError::PayloadTooLarge { limit_bytes: limit }, None);
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(
        body,
        usize::try_from(limit).unwrap_or(usize::MAX),
    ));
    next.run(Request::from_parts(parts, body)).await
}

/// A response head must be produced within the configured deadline (504 JSON otherwise).
/// Streaming bodies and upgraded sockets are not cut: only the wait for the head is.
/// Streaming routes (large uploads) are exempt.
pub async fn deadline(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response<Body> {
    if ctx.is_streaming(&req) {
        return next.run(req).await;
    }
    match tokio::time::timeout(ctx.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => error_response(&AppError::Timeout, None),
    }
}

/// Gives every error a JSON body (also those produced below us as bare statuses: 404,
/// 405, 413 from the body limit, extractor rejections) and adds the security headers.
pub async fn finish(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response<Body> {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let response = next.run(req).await;
    let mut response = if response.status().as_u16() >= 400 {
        normalize_error(response, request_id, ctx.body_limit).await
    } else {
        response
    };
    let headers = response.headers_mut();
    let defaults: [(HeaderName, &str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in defaults {
        // A handler that knows better (the chat page) may set its own.
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if ctx.hsts {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}

const MAX_ERROR_TEXT: usize = 2048;

async fn normalize_error(
    response: Response<Body>,
    request_id: Option<String>,
    body_limit: u64,
) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json && status != StatusCode::PAYLOAD_TOO_LARGE {
        return add_request_id_to_json(response, request_id).await;
    }
    let (mut parts, body) = response.into_parts();
    let text = match http_body_util::Limited::new(body, MAX_ERROR_TEXT).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let code = status.as_u16();
    let message = match code {
        404 => "not found".to_string(),
        405 => "method not allowed".to_string(),
        413 => AppError::PayloadTooLarge {
            limit_bytes: body_limit,
        }
        .public_message(),
        400..=499 if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let body = botlib::ErrorBody {
        error: AppError::code_for_status(code).to_string(),
        message,
        retry_after_secs: None,
        request_id,
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// Our own JSON errors are produced before the request id is known to them; add it.
async fn add_request_id_to_json(response: Response<Body>, request_id: Option<String>) -> Response<Body> {
    let Some(request_id) = request_id else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = http_body_util::Limited::new(body, 64 * 1024).collect().await else {
        return Response::from_parts(parts, Body::empty());
    };
    let bytes = collected.to_bytes();
    let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map))
            if map.contains_key("error") && !map.contains_key("request_id") =>
        {
            map.insert("request_id".into(), request_id.into());
            parts.headers.remove(header::CONTENT_LENGTH);
            serde_json::to_vec(&map).map(Into::into).unwrap_or(bytes)
        }
        _ => bytes,
    };
    Response::from_parts(parts, Body::from(bytes))
}

/// The 500 answer for a handler that panicked.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    error_response(&AppError::Internal(anyhow::anyhow!("handler panicked")), None)
}
