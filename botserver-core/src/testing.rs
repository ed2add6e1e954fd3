//! `TestApp`: the whole router over a throw-away database, driven in process, for every
//! crate's router tests; and [`TokenAuth`], the authenticator test double whose bearer
//! tokens name the callers, so a domain's routes can be tested without the auth domain.

use crate::module::Module;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use botlib::{AppError, AppResult, OrgId, UserId};
use botstate::auth::{Authenticator, BotGrant, BotRole, Credential, Principal, Role};
use botstate::testing::TestDb;
use botstate::{AppState, Config, DatabaseTarget};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// A response as tests like it.
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A test double of the authenticator: each bearer token names a caller.
#[derive(Clone, Default)]
pub struct TokenAuth(std::collections::HashMap<String, Principal>);

impl TokenAuth {
    /// `token` authenticates as `caller`.
    pub fn with(mut self, token: &str, caller: Principal) -> TokenAuth {
        self.0.insert(token.to_string(), caller);
        self
    }
}

#[async_trait::async_trait]
impl Authenticator for TokenAuth {
    async fn authenticate(&self, bearer: &str) -> AppResult<Principal> {
        self.0.get(bearer).cloned().ok_or(AppError::Unauthorized)
    }
}

/// The id tests give the user named `name` (stable: a UUID v5 of the name).
pub fn test_user(name: &str) -> UserId {
    UserId(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()))
}

/// The id tests give the organization named `name`.
pub fn test_org(name: &str) -> OrgId {
    OrgId(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("org-{name}").as_bytes(),
    ))
}

/// A signed-in caller for tests: user `user` ([`test_user`]) of organization `org`
/// ([`test_org`]) with `roles`, administering the bots in `admin_of`.
pub fn test_principal(user: &str, org: &str, roles: &[Role], admin_of: &[&str]) -> Principal {
    Principal {
        user: test_user(user),
        org: test_org(org),
        name: user.to_string(),
        roles: roles.to_vec(),
        bots: admin_of
            .iter()
            .map(|b| BotGrant {
                bot: b.to_string(),
                role: BotRole::Admin,
            })
            .collect(),
        credential: Credential::Session { session: "s".into() },
    }
}

/// The application over a fresh database (SQLite unless given one).
pub struct TestApp {
    /// The state behind the router.
    pub state: Arc<AppState>,
    /// The assembled router with all middleware.
    pub router: Router,
    /// Every route the router serves, with its access rule.
    pub rules: Vec<crate::access::RouteRule>,
    _db: TestDb,
}

impl TestApp {
    /// A fresh SQLite-backed app serving `modules`.
    pub async fn new(modules: &[&Module]) -> TestApp {
        Self::build(TestDb::sqlite(), modules, |_| {}).await
    }

    /// An app on `db` with the configuration adjusted by `adjust`, whose callers are
    /// `auth`'s (set after the modules installed, in place of any authenticator).
    pub async fn with_auth(
        db: TestDb,
        modules: &[&Module],
        auth: TokenAuth,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::assemble(db, modules, adjust, move |state| state.auth = Arc::new(auth)).await
    }

    /// An app on `db` with the configuration adjusted by `adjust`.
    pub async fn build(db: TestDb, modules: &[&Module], adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::assemble(db, modules, adjust, |_| {}).await
    }

    async fn assemble(
        db: TestDb,
        modules: &[&Module],
        adjust: impl FnOnce(&mut Config),
        installed: impl FnOnce(&mut AppState),
    ) -> TestApp {
        let mut config = Config::default();
        config.server.data_dir = db.data_dir();
        config.database.url = match &db.target {
            DatabaseTarget::Postgres(url) => url.clone(),
            DatabaseTarget::Sqlite(path) => format!("sqlite://{}", path.display()),
        };
        config.database.pool_size = 4;
        adjust(&mut config);
        let sets = Module::migration_sets(modules);
        let mut state = AppState::build(config, &sets).await.expect("state builds");
        Module::install_all(&mut state, modules)
            .await
            .expect("modules install");
        installed(&mut state);
        let state = Arc::new(state);
        let (router, rules) = crate::app::build_app_with_rules(state.clone(), modules);
        TestApp {
            state,
            router,
            rules,
            _db: db,
        }
    }

    /// Sends a request as if from `peer`.
    pub async fn send_from(&self, peer: SocketAddr, mut req: Request<Body>) -> TestResponse {
        req.extensions_mut()
            .insert(ConnectInfo(crate::middleware::ClientAddr(peer)));
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request from 127.0.0.1.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        self.send_from(SocketAddr::from(([127, 0, 0, 1], 40000)), req)
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    /// `method path` with a JSON body and a bearer token.
    pub async fn json_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> TestResponse {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(req).await
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    /// `method path` with a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: &serde_json::Value) -> TestResponse {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(req).await
    }
}
