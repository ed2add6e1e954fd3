//! Outbound HTTP for scripts, guarded against private, loopback and link-local targets.
//!
//! This is what the `GET` / `POST` / `PUT` / `PATCH` / `DELETE` HTTP keywords call
//! (shared/spec/basic.md section 8): JSON responses become values, and requests to private,
//! loopback and link-local addresses are refused unless the bot's config allows them
//! (`http-allow-private=true` in config.csv, surfaced here as [`HttpPolicy::allow_private`]).
//!
//! How the guard works:
//!
//! - A [`Guarded`] client is built once per policy. Its reqwest client has redirects and
//!   proxies disabled and a DNS resolver of our own that refuses a name when *any* address it
//!   resolves to is forbidden (see [`is_forbidden_ip`]). The connector connects to exactly the
//!   addresses that resolver checked, so there is no window for DNS rebinding between the check
//!   and the connection.
//! - The resolver is not consulted for literal IP hosts, so every hop (the first request and
//!   each redirect target) also goes through [`check_url`], which checks the scheme, literal IP
//!   addresses and `localhost` names.
//! - Redirects are followed here, not by reqwest, so each target is re-checked; 301/302 turn a
//!   POST into a GET and 303 turns anything into a GET (as the Fetch standard and browsers do),
//!   307/308 keep the method and body, and credentials are dropped when the origin changes.
//! - The whole exchange, redirects and body included, runs under [`HttpPolicy::timeout`]; the
//!   response body is read chunk by chunk and refused past [`HttpPolicy::max_response_bytes`].
//!
//! Counting HTTP calls per turn (section 10) is the script runtime's job, not this module's.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::{Host, Url};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Limits and permissions for a bot's outbound HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Allow private, loopback, link-local and other non-public targets
    /// (config.csv `http-allow-private`). Off by default.
    pub allow_private: bool,
    /// Deadline for the whole exchange: connection, redirects and the response body.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// Most redirects followed for one request.
    pub max_redirects: usize,
    /// Largest request body sent, in bytes.
    pub max_request_bytes: usize,
}

impl Default for HttpPolicy {
    /// Private targets refused, 10 s, 5 MiB responses, 5 redirects, 1 MiB requests.
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            max_response_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            max_request_bytes: 1024 * 1024,
        }
    }
}

/// An HTTP request from a script.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (case-insensitive).
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// Extra headers (`SET HEADER`). Hop-by-hop and framing headers (`Host`,
    /// `Content-Length`, `Transfer-Encoding`, `Connection`, ...) are refused.
    pub headers: Vec<(String, String)>,
    /// The body: a string is sent as `text/plain`, any other value (object, array, number,
    /// boolean) as JSON with `application/json`; `None` or `null` sends no body. A
    /// `Content-Type` in [`HttpRequest::headers`] wins over the default.
    pub body: Option<Value>,
}

impl HttpRequest {
    /// A request with the given method and URL, no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// The response a script sees.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status code of the final response (after redirects).
    pub status: u16,
    /// Response headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON value when the content type is JSON (`application/json`, `*+json`) or
    /// the body is a JSON object or array; otherwise the body as text (invalid UTF-8 replaced).
    /// An empty body is the empty string.
    pub body: Value,
    /// The body's bytes as received (what `DOWNLOAD` stores).
    pub raw: bytes::Bytes,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The target (`host`, or the address `addr` it resolved to) is private, loopback,
    /// link-local or otherwise not public, and the policy does not allow that.
    Refused {
        /// The host as written in the URL (an IP literal, or a name).
        host: String,
        /// The offending address (or the name itself, for `localhost` names).
        addr: String,
    },
    /// The URL (or a redirect's `Location`) is malformed or not `http`/`https`.
    BadUrl(String),
    /// The method, a header or the body cannot be sent.
    BadRequest(String),
    /// A body is larger than the policy allows.
    TooLarge {
        /// `"request body"` or `"response body"`.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The exchange did not finish within the policy's timeout.
    Timeout(Duration),
    /// More redirects than the policy allows.
    TooManyRedirects(usize),
    /// A transport error (connection, TLS, protocol), with its causes.
    Http(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Refused { host, addr } if host == addr => write!(
                f,
                "refused: {addr} is a private/loopback address; \
                 set http-allow-private=true in config.csv to allow"
            ),
            NetError::Refused { host, addr } => write!(
                f,
                "refused: {host} resolves to {addr}, a private/loopback address; \
                 set http-allow-private=true in config.csv to allow"
            ),
            NetError::BadUrl(msg) => write!(f, "bad URL: {msg}"),
            NetError::BadRequest(msg) => write!(f, "bad request: {msg}"),
            NetError::TooLarge { what, limit } => {
                write!(f, "{what} is larger than the limit of {limit} bytes")
            }
            NetError::Timeout(d) => write!(f, "HTTP request timed out after {d:?}"),
            NetError::TooManyRedirects(n) => write!(f, "more than {n} redirects"),
            NetError::Http(msg) => write!(f, "HTTP error: {msg}"),
        }
    }
}

impl StdError for NetError {}

/// A reqwest client built once for a policy, whose every connection is checked.
#[derive(Debug, Clone)]
pub struct Guarded {
    client: reqwest::Client,
    policy: HttpPolicy,
}

impl Guarded {
    /// Builds the client: no automatic redirects, no proxies (a proxy would resolve the target
    /// itself and defeat the check), and the checking DNS resolver.
    pub fn new(policy: HttpPolicy) -> Result<Self, NetError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .connect_timeout(policy.timeout)
            .user_agent(concat!("botserver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NetError::Http(error_chain(&e)))?;
        Ok(Self { client, policy })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }
}

pub use botlib::net::{is_forbidden_ip, is_localhost_name};

/// The per-hop check, applied to the first URL and to every redirect target: the scheme must be
/// `http` or `https`, and unless the policy allows private targets, a literal IP host must be
/// public and a name must not be a `localhost` name. Names are checked again, against every
/// address they resolve to, by the client's resolver at connection time.
pub fn check_url(url: &Url, policy: &HttpPolicy) -> Result<(), NetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NetError::BadUrl(format!(
            "only http and https URLs are allowed, not {}:",
            url.scheme()
        )));
    }
    let host = url
        .host()
        .ok_or_else(|| NetError::BadUrl(format!("{url} has no host")))?;
    if policy.allow_private {
        return Ok(());
    }
    let ip = match host {
        Host::Domain(name) if is_localhost_name(name) => {
            return Err(NetError::Refused {
                host: name.to_owned(),
                addr: name.to_owned(),
            });
        }
        Host::Domain(_) => return Ok(()),
        Host::Ipv4(v4) => IpAddr::V4(v4),
        Host::Ipv6(v6) => IpAddr::V6(v6),
    };
    if is_forbidden_ip(ip) {
        return Err(NetError::Refused {
            host: ip.to_string(),
            addr: ip.to_string(),
        });
    }
    Ok(())
}

/// Refuses `host` when any of the addresses it resolved to is forbidden (unless allowed).
fn check_resolved(host: &str, addrs: &[SocketAddr], allow_private: bool) -> Result<(), NetError> {
    if allow_private {
        return Ok(());
    }
    match addrs.iter().find(|a| is_forbidden_ip(a.ip())) {
        Some(bad) => Err(NetError::Refused {
            host: host.to_owned(),
            addr: bad.ip().to_string(),
        }),
        None => Ok(()),
    }
}

/// The client's DNS resolver: resolves with the system resolver, then refuses the name when
/// any address is forbidden; the connector uses exactly the addresses returned here.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            if !allow_private && is_localhost_name(&host) {
                return Err(Box::new(NetError::Refused {
                    host: host.clone(),
                    addr: host,
                }) as BoxError);
            }
            let lookup = host.clone();
            let addrs: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs())
                    .await??
                    .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no addresses").into());
            }
            check_resolved(&host, &addrs, allow_private)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Performs `req` under `client`'s policy, following redirects and re-checking every hop.
pub async fn fetch(client: &Guarded, req: HttpRequest) -> Result<HttpResponse, NetError> {
    fetch_with(client, req, false).await
}

/// [`fetch`], with a test hook: `trust_first_hop` skips [`check_url`] for the first URL only
/// (never the resolver), so a test can start on loopback and watch a redirect being refused.
async fn fetch_with(
    client: &Guarded,
    req: HttpRequest,
    trust_first_hop: bool,
) -> Result<HttpResponse, NetError> {
    let limit = client.policy.timeout;
    match tokio::time::timeout(limit, exchange(client, req, trust_first_hop)).await {
        Ok(result) => result,
        Err(_) => Err(NetError::Timeout(limit)),
    }
}

/// Headers a script may not set: they frame the message or belong to the connection.
const FORBIDDEN_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

fn parse_method(method: &str) -> Result<Method, NetError> {
    match method.trim().to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        other => Err(NetError::BadRequest(format!(
            "method {other:?} is not one of GET, POST, PUT, PATCH, DELETE"
        ))),
    }
}

fn build_headers(headers: &[(String, String)]) -> Result<HeaderMap, NetError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| NetError::BadRequest(format!("invalid header name {name:?}")))?;
        if FORBIDDEN_HEADERS.contains(&name.as_str()) {
            return Err(NetError::BadRequest(format!(
                "header {name} cannot be set by a script"
            )));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| NetError::BadRequest(format!("invalid value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The encoded body and its default content type.
fn encode_body(body: Option<Value>, limit: usize) -> Result<Option<(Vec<u8>, &'static str)>, NetError> {
    let encoded = match body {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => (text.into_bytes(), "text/plain; charset=utf-8"),
        Some(value) => (
            serde_json::to_vec(&value).map_err(|e| NetError::BadRequest(e.to_string()))?,
            "application/json",
        ),
    };
    if encoded.0.len() > limit {
        return Err(NetError::TooLarge {
            what: "request body",
            limit,
        });
    }
    Ok(Some(encoded))
}

fn parse_url(raw: &str) -> Result<Url, NetError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| NetError::BadUrl(format!("{raw:?}: {e}")))?;
    url.set_fragment(None);
    Ok(url)
}

/// The request and its redirects; the caller applies the overall timeout.
async fn exchange(
    client: &Guarded,
    req: HttpRequest,
    trust_first_hop: bool,
) -> Result<HttpResponse, NetError> {
    let policy = &client.policy;
    let mut method = parse_method(&req.method)?;
    let mut url = parse_url(&req.url)?;
    let mut headers = build_headers(&req.headers)?;
    let mut body = encode_body(req.body, policy.max_request_bytes)?;
    let mut redirects = 0;
    loop {
        if !(trust_first_hop && redirects == 0) {
            check_url(&url, policy)?;
        }
        let mut builder = client
            .client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some((bytes, content_type)) = &body {
            if !headers.contains_key(header::CONTENT_TYPE) {
                builder = builder.header(header::CONTENT_TYPE, *content_type);
            }
            builder = builder.body(bytes.clone());
        }
        let response = builder.send().await.map_err(|e| transport(&e, policy))?;
        let status = response.status();
        let location = response.headers().get(header::LOCATION).cloned();
        let is_redirect = matches!(
            status,
            StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::SEE_OTHER
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
        );
        let Some(location) = location.filter(|_| is_redirect) else {
            return read_response(response, policy).await;
        };
        if redirects >= policy.max_redirects {
            return Err(NetError::TooManyRedirects(policy.max_redirects));
        }
        redirects += 1;
        let location = location
            .to_str()
            .map_err(|_| NetError::BadUrl("redirect Location is not valid text".into()))?;
        let mut next = url
            .join(location)
            .map_err(|e| NetError::BadUrl(format!("redirect to {location:?}: {e}")))?;
        next.set_fragment(None);
        // As the Fetch standard: 301/302 turn a POST into a GET, 303 turns anything into a GET.
        let to_get = match status {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
            StatusCode::SEE_OTHER => method != Method::GET,
            _ => false,
        };
        if to_get {
            method = Method::GET;
            body = None;
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::CONTENT_LANGUAGE,
                header::CONTENT_LOCATION,
            ] {
                headers.remove(name);
            }
        }
        if next.origin() != url.origin() {
            for name in [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION] {
                headers.remove(name);
            }
        }
        url = next;
    }
}

async fn read_response(
    mut response: reqwest::Response,
    policy: &HttpPolicy,
) -> Result<HttpResponse, NetError> {
    let limit = policy.max_response_bytes;
    let too_large = NetError::TooLarge {
        what: "response body",
        limit,
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let json_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(is_json_content_type)
        .unwrap_or(false);
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e, policy))? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body: decode_body(&bytes, json_type),
        raw: bytes::Bytes::from(bytes),
    })
}

fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// JSON when the content type says so (and it parses), or when the body is a JSON object or
/// array; otherwise text. Bare scalars in a non-JSON body (`42`, `true`) stay text.
fn decode_body(bytes: &[u8], json_type: bool) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start();
    if (json_type || trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(value) = serde_json::from_str::<Value>(&text)
    {
        return value;
    }
    Value::String(text.into_owned())
}

/// A reqwest error as a [`NetError`]: a refusal from the resolver comes back as itself.
fn transport(error: &reqwest::Error, policy: &HttpPolicy) -> NetError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(err) = source {
        if let Some(net) = err.downcast_ref::<NetError>() {
            return net.clone();
        }
        source = err.source();
    }
    if error.is_timeout() {
        return NetError::Timeout(policy.timeout);
    }
    NetError::Http(error_chain(error))
}

/// An error and its causes, joined with ": ".
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(err) = source {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn private() -> HttpPolicy {
        HttpPolicy::default()
    }

    /// A one-thread loopback server answering every connection with `reply(path)`.
    fn serve(reply: impl Fn(&str) -> String + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = stream.write_all(reply(&path).as_bytes());
            }
        });
        addr
    }

    fn redirect(status: &str, location: &str) -> String {
        format!("HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn a_redirect_from_a_trusted_first_hop_to_a_private_target_is_refused() {
        for (target, addr) in [
            ("http://127.0.0.1:9/x", "127.0.0.1"),
            ("http://localhost:9/x", "localhost"),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
            ("http://[::1]:9/", "::1"),
            ("http://[::ffff:10.0.0.1]/", "10.0.0.1"),
        ] {
            for status in ["302 Found", "307 Temporary Redirect"] {
                let target = target.to_owned();
                let status = status.to_owned();
                let server = serve(move |_| redirect(&status, &target));
                let client = Guarded::new(private()).unwrap();
                let req = HttpRequest::new("POST", format!("http://{server}/start")).body(Value::from("x"));
                let err = fetch_with(&client, req, true).await.unwrap_err();
                match &err {
                    NetError::Refused { addr: got, .. } => {
                        assert!(got.ends_with(addr), "{got} for {addr}")
                    }
                    other => panic!("expected a refusal, got {other}"),
                }
                assert!(err.to_string().contains("http-allow-private=true"));
            }
        }
    }

    #[tokio::test]
    async fn without_the_hook_the_first_hop_itself_is_refused() {
        let server = serve(|_| redirect("302 Found", "/"));
        let client = Guarded::new(private()).unwrap();
        let err = fetch(&client, HttpRequest::get(format!("http://{server}/")))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            NetError::Refused {
                host: "127.0.0.1".into(),
                addr: "127.0.0.1".into()
            }
        );
    }

    /// With the per-hop check skipped, the connection-time resolver still refuses, and its
    /// refusal comes back through reqwest as `NetError::Refused`.
    #[tokio::test]
    async fn the_resolver_refuses_even_when_the_per_hop_check_is_skipped() {
        let server = serve(|_| "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_owned());
        let client = Guarded::new(private()).unwrap();
        let req = HttpRequest::get(format!("http://localhost:{}/", server.port()));
        let err = fetch_with(&client, req, true).await.unwrap_err();
        assert_eq!(
            err,
            NetError::Refused {
                host: "localhost".into(),
                addr: "localhost".into()
            }
        );
        let open = Guarded::new(HttpPolicy {
            allow_private: true,
            ..private()
        })
        .unwrap();
        let req = HttpRequest::get(format!("http://localhost:{}/", server.port()));
        assert_eq!(fetch(&open, req).await.unwrap().body, Value::from("ok"));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_and_resolved_addresses() {
        let resolver = GuardedResolver { allow_private: false };
        for name in ["localhost", "127.0.0.1", "10.1.2.3"] {
            let err = resolver.resolve(name.parse().unwrap()).await.err().unwrap();
            let err = err.downcast_ref::<NetError>().expect("a NetError");
            assert!(matches!(err, NetError::Refused { .. }), "{name}: {err}");
        }
        let open = GuardedResolver { allow_private: true };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn any_forbidden_address_among_the_resolved_refuses_the_name() {
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let internal: SocketAddr = "192.168.1.1:0".parse().unwrap();
        assert!(check_resolved("example.com", &[public], false).is_ok());
        let err = check_resolved("example.com", &[public, internal], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused: example.com resolves to 192.168.1.1, a private/loopback address; \
             set http-allow-private=true in config.csv to allow"
        );
        assert!(check_resolved("example.com", &[public, internal], true).is_ok());
    }

    #[test]
    fn bodies_decode_by_content_type_or_shape() {
        assert_eq!(decode_body(b"{\"a\":1}", false), serde_json::json!({"a": 1}));
        assert_eq!(decode_body(b"42", true), serde_json::json!(42));
        assert_eq!(decode_body(b"42", false), Value::from("42"));
        assert_eq!(decode_body(b"{oops", true), Value::from("{oops"));
        assert_eq!(decode_body(b"", true), Value::from(""));
        assert!(is_json_content_type("application/problem+json; charset=utf-8"));
        assert!(!is_json_content_type("text/plain"));
    }
}
