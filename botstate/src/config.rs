//! Server configuration: one struct per section, loaded from a TOML file, then the
//! environment, then command-line overrides, and validated so a bad key is named.
//!
//! Code never reads `std::env` outside this module's [`load`]; the binary passes the
//! environment in, which keeps loading testable.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration of one botserver process.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener, limits and data directory.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The database (SQLite by default, PostgreSQL when `DATABASE_URL` is set).
    pub database: DatabaseConfig,
    /// Cache, pub/sub and locks (in-process by default, Redis when `REDIS_URL` is set).
    pub cache: CacheConfig,
    /// The secret manager.
    pub secrets: SecretsConfig,
    /// Accounts, tokens and sign-in.
    pub auth: AuthConfig,
    /// Server-wide language-model defaults (each bot's `config.csv` may override them).
    pub llm: LlmConfig,
    /// Files: the object store, quotas, trash, share links, bot packages from the drive.
    pub drive: DriveConfig,
    /// Scheduled jobs: how often instances look for due work, leases, retries.
    pub scheduler: SchedulerConfig,
}

/// `[scheduler]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// How often each instance looks for due work, in milliseconds.
    pub poll_ms: u64,
    /// A run's lease, in seconds: renewed while it runs; another instance takes over a
    /// run whose lease expired (its instance stopped).
    pub lease_secs: u64,
    /// Attempts of a failing run before it is marked failed.
    pub max_attempts: u32,
    /// A tick older than this when claimed counts as missed (the job's policy applies).
    pub missed_after_secs: u64,
    /// Longest run, in seconds.
    pub run_timeout_secs: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            poll_ms: 250,
            lease_secs: 15,
            max_attempts: 3,
            missed_after_secs: 60,
            run_timeout_secs: 300,
        }
    }
}

/// `[drive]`: where files live and the limits on them. Local disk under `dir` (default
/// `<data_dir>/drive`) unless `s3_url` is set (`S3_URL`), then the S3-compatible bucket
/// `s3_bucket`; its keys are the `s3-access-key` and `s3-secret-key` secrets
/// (`S3_ACCESS_KEY`, `S3_SECRET_KEY`, or the secret manager).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriveConfig {
    /// The local store's folder; `<data_dir>/drive` when empty.
    pub dir: Option<PathBuf>,
    /// S3 endpoint (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`).
    pub s3_url: String,
    /// The bucket (created at start when missing).
    pub s3_bucket: String,
    /// The region signed into requests.
    pub s3_region: String,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO, SeaweedFS and Garage
    /// want; `false` for virtual-hosted AWS buckets.
    pub s3_path_style: bool,
    /// Largest single upload, in bytes.
    pub max_upload_bytes: u64,
    /// Default quota of a user's space, in bytes.
    pub user_quota_bytes: u64,
    /// Default quota of a bot's space, in bytes.
    pub bot_quota_bytes: u64,
    /// Default quota of an organization's space, in bytes.
    pub org_quota_bytes: u64,
    /// Days a deleted file stays in the trash before it is purged.
    pub trash_retention_days: u32,
    /// Longest lifetime of a share link, in days.
    pub share_max_days: u32,
    /// A prefix of the store (e.g. `packages/`) whose `<bot>.gbai/…` folders are bot
    /// packages, loaded like the bots folder; empty: none (`DRIVE_PACKAGES_PREFIX`).
    pub packages_prefix: String,
    /// Seconds between polls of `packages_prefix` (doubled after each failure, up to 5
    /// minutes).
    pub packages_poll_secs: u64,
}

impl Default for DriveConfig {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        DriveConfig {
            dir: None,
            s3_url: String::new(),
            s3_bucket: "botserver".into(),
            s3_region: "us-east-1".into(),
            s3_path_style: true,
            max_upload_bytes: 5 * GIB,
            user_quota_bytes: GIB,
            bot_quota_bytes: GIB,
            org_quota_bytes: 10 * GIB,
            trash_retention_days: 30,
            share_max_days: 30,
            packages_prefix: String::new(),
            packages_poll_secs: 5,
        }
    }
}

/// `[llm]`: the model bots use unless their `config.csv` says otherwise, and the limits
/// every call obeys. The key is the `llm-key` secret (`LLM_KEY` or
/// `BOTSERVER_SECRET_LLM_KEY`); no model is configured when `url` is empty and no bot sets
/// `llm-url`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// `openai`, `anthropic`, `azure`, `ollama`, `llamacpp`; empty: guessed from the URL.
    pub provider: String,
    /// Base URL (`https://api.openai.com/v1`, `http://127.0.0.1:8080`).
    pub url: String,
    /// Model name (Azure: the deployment).
    pub model: String,
    /// Embeddings endpoint base URL; empty: the model's URL when `embedding_model` is set.
    pub embedding_url: String,
    /// Embedding model name.
    pub embedding_model: String,
    /// Seconds to establish a connection.
    pub connect_timeout_secs: u64,
    /// Seconds for a whole non-streamed call, and for a stream's first byte.
    pub request_timeout_secs: u64,
    /// Seconds a stream may stay silent.
    pub idle_timeout_secs: u64,
    /// Retries on 429 and 5xx (each after `Retry-After` or an exponential back-off).
    pub max_retries: u32,
    /// Longest wait honoured from a `Retry-After`, in seconds.
    pub max_retry_after_secs: u64,
    /// Model → tool → model rounds per user message.
    pub max_tool_rounds: u32,
    /// Calls per minute per bot; 0: unlimited (a bot's `llm-requests-per-minute` wins).
    pub requests_per_minute_per_bot: u32,
    /// Calls per minute per organization (a bot's `organization` key); 0: unlimited.
    pub requests_per_minute_per_org: u32,
    /// Tokens per calendar month per bot; 0: unlimited (a bot's `llm-monthly-tokens` wins).
    pub monthly_tokens_per_bot: u64,
    /// Tokens per calendar month per organization; 0: unlimited.
    pub monthly_tokens_per_org: u64,
    /// Default lifetime of cached answers (a bot's `llm-cache-ttl` wins), in seconds.
    pub cache_ttl_secs: u64,
    /// The `llama-server` program started for `llm-provider=llamacpp` bots with a model
    /// file.
    pub llama_server: String,
    /// The folder under which a bot's `embedding-model` may name a local model folder
    /// (in-process embeddings); empty: bots may use only the server's `embedding_model`.
    /// Bot packages come from their authors: they must not reach other server files.
    pub models_dir: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: String::new(),
            url: String::new(),
            model: String::new(),
            embedding_url: String::new(),
            embedding_model: String::new(),
            connect_timeout_secs: 5,
            request_timeout_secs: 120,
            idle_timeout_secs: 30,
            max_retries: 3,
            max_retry_after_secs: 30,
            max_tool_rounds: 8,
            requests_per_minute_per_bot: 0,
            requests_per_minute_per_org: 0,
            monthly_tokens_per_bot: 0,
            monthly_tokens_per_org: 0,
            cache_ttl_secs: 3600,
            llama_server: "llama-server".into(),
            models_dir: String::new(),
        }
    }
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind.
    pub bind: String,
    /// Port to listen on.
    pub port: u16,
    /// Directory for the SQLite database, keys, bots and files.
    pub data_dir: PathBuf,
    /// The bots folder (`<name>.gbai` packages); `<data_dir>/bots` when empty.
    pub bots_dir: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 beyond it).
    pub body_limit_bytes: u64,
    /// Deadline for producing a response's head, in seconds (504 beyond it).
    pub request_timeout_secs: u64,
    /// How long a graceful shutdown may take before in-flight work is abandoned.
    pub shutdown_deadline_secs: u64,
    /// A folder served under `/static/` (none when empty).
    pub static_dir: Option<PathBuf>,
    /// Proxies whose `X-Forwarded-For` header is believed (exact IP addresses).
    pub trusted_proxies: Vec<String>,
    /// Cross-origin requests.
    pub cors: CorsConfig,
    /// Per-client-IP request rate limit.
    pub rate_limit: RateLimitConfig,
    /// TLS; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1".into(),
            port: 8080,
            data_dir: PathBuf::from("./botserver-data"),
            bots_dir: None,
            body_limit_bytes: 10 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_deadline_secs: 20,
            static_dir: None,
            trusted_proxies: Vec::new(),
            cors: CorsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            tls: None,
        }
    }
}

/// `[server.cors]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser; `["*"]` allows any. Empty: none.
    pub allowed_origins: Vec<String>,
}

/// `[server.rate_limit]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second allowed from one client IP (0 disables the limit).
    pub per_second: u32,
    /// Extra requests one IP may send in a burst above the sustained rate.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 50,
            burst: 100,
        }
    }
}

/// `[server.tls]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A level (`info`) or filter directives (`info,botserver_core=debug`).
    pub level: String,
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Pretty,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[database]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…`, `sqlite://path`; empty means `<data_dir>/botserver.db`.
    pub url: String,
    /// Connections kept in the pool.
    pub pool_size: u32,
    /// How long to wait for a connection, in seconds.
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            pool_size: 10,
            connect_timeout_secs: 5,
        }
    }
}

/// `[cache]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `redis://host:port/db`; empty means the in-process cache.
    pub redis_url: String,
    /// Prefix of every key and channel, so deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            redis_url: String::new(),
            key_prefix: "botserver:".into(),
        }
    }
}

/// `[secrets]`
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// Base64 of 32 bytes that encrypt secrets at rest. When empty, a key is generated on
    /// first start into `<data_dir>/master.key`. Several instances must share one key.
    pub master_key: String,
    /// A `NAME=value` file of secrets (e.g. mounted by an orchestrator).
    pub file: Option<PathBuf>,
    /// Secrets given directly (also from `BOTSERVER_SECRET_<NAME>` variables).
    pub values: BTreeMap<String, String>,
}

impl fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsConfig")
            .field(
                "master_key",
                &if self.master_key.is_empty() { "" } else { "<set>" },
            )
            .field("file", &self.file)
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Lifetime of an access token, in seconds.
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token (and of a sign-in session without use), in days.
    pub refresh_ttl_days: u64,
    /// A rotated refresh token presented again within this many seconds is treated as a
    /// concurrent duplicate (refused) instead of theft (which revokes the whole session).
    pub refresh_reuse_grace_secs: u64,
    /// Failed sign-ins per account per hour before the account refuses every attempt.
    pub max_failed_logins_per_hour: u32,
    /// Sign-in attempts per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Anonymous chat sessions one client IP may open per hour.
    pub anonymous_per_ip_per_hour: u32,
    /// Username of the administrator created on first start. Its password comes from the
    /// `admin-password` secret (`BOTSERVER_SECRET_ADMIN_PASSWORD`), or is generated and
    /// printed once.
    pub admin_username: String,
    /// Argon2id memory in KiB (at least OWASP's 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (at least 2).
    pub argon2_iterations: u32,
    /// Argon2id parallelism (at least 1).
    pub argon2_parallelism: u32,
    /// Sign-in with an OpenID Connect provider; off when absent.
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]`: authorization code flow with PKCE against any standard provider. The
/// client secret is the `oidc-client-secret` secret (`BOTSERVER_SECRET_OIDC_CLIENT_SECRET`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer_url: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// This server's callback, `https://<host>/api/auth/oidc/callback`, as registered.
    pub redirect_url: String,
    /// Scopes asked for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding role names (`admin`, `bot-admin`, `user`).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Role of users whose token names none.
    #[serde(default = "default_role")]
    pub default_role: String,
    /// Organization new users join (default: the system organization).
    #[serde(default)]
    pub org_id: Option<String>,
    /// Accept a plain-HTTP issuer (for a provider on loopback in tests only).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_roles_claim() -> String {
    "roles".into()
}

fn default_role() -> String {
    "user".into()
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "botserver".into(),
            audience: "botserver-api".into(),
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            refresh_reuse_grace_secs: 5,
            max_failed_logins_per_hour: 100,
            login_per_ip_per_minute: 30,
            anonymous_per_ip_per_hour: 30,
            admin_username: "admin".into(),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            oidc: None,
        }
    }
}

/// Which database backend a URL selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(String),
}

impl Config {
    /// The database the configuration points at.
    pub fn database_target(&self) -> DatabaseTarget {
        let url = self.database.url.trim();
        if url.is_empty() {
            return DatabaseTarget::Sqlite(self.server.data_dir.join("botserver.db"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return DatabaseTarget::Postgres(url.to_string());
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        DatabaseTarget::Sqlite(PathBuf::from(path))
    }

    fn validate_scheduler(&self) -> Result<(), ConfigError> {
        let s = &self.scheduler;
        for (key, v, min) in [
            ("scheduler.poll_ms", s.poll_ms, 10),
            ("scheduler.lease_secs", s.lease_secs, 1),
            ("scheduler.max_attempts", u64::from(s.max_attempts), 1),
            ("scheduler.run_timeout_secs", s.run_timeout_secs, 1),
        ] {
            if v < min {
                return Err(ConfigError::key(key, format!("must be at least {min}")));
            }
        }
        Ok(())
    }

    fn validate_drive(&self) -> Result<(), ConfigError> {
        let d = &self.drive;
        if !d.s3_url.trim().is_empty() {
            let url = url::Url::parse(d.s3_url.trim())
                .map_err(|e| ConfigError::key("drive.s3_url", format!("malformed URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::key("drive.s3_url", "must be an http(s) URL"));
            }
            let b = &d.s3_bucket;
            let valid = (3..=63).contains(&b.len())
                && b.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !valid {
                return Err(ConfigError::key(
                    "drive.s3_bucket",
                    format!("`{b}` is not a bucket name (3-63 lower-case letters, digits, `-`, `.`)"),
                ));
            }
        }
        for (key, v) in [
            ("drive.max_upload_bytes", d.max_upload_bytes),
            ("drive.packages_poll_secs", d.packages_poll_secs),
            ("drive.share_max_days", u64::from(d.share_max_days)),
        ] {
            if v == 0 {
                return Err(ConfigError::key(key, "must be at least 1"));
            }
        }
        let p = d.packages_prefix.trim();
        if !p.is_empty() {
            let first = p.split('/').next().unwrap_or_default();
            if !p.ends_with('/') || p.starts_with('/') || p.split('/').any(|s| s == "..") {
                return Err(ConfigError::key(
                    "drive.packages_prefix",
                    format!("`{p}` must be a relative folder ending in `/`, like `packages/`"),
                ));
            }
            if ["users", "bots", "orgs", "trash"].contains(&first) {
                return Err(ConfigError::key(
                    "drive.packages_prefix",
                    format!("`{first}/` holds the drive's spaces; choose another folder"),
                ));
            }
        }
        Ok(())
    }

    /// Checks values that parse but make no sense. The error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_log_level(&self.log.level).map_err(|m| ConfigError::key("log.level", m))?;
        if self.server.bind.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigError::key(
                "server.bind",
                format!("`{}` is not an IP address", self.server.bind),
            ));
        }
        validate_database_url(&self.database.url).map_err(|m| ConfigError::key("database.url", m))?;
        validate_redis_url(&self.cache.redis_url).map_err(|m| ConfigError::key("cache.redis_url", m))?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::key("database.pool_size", "must be at least 1"));
        }
        if self.server.body_limit_bytes == 0 {
            return Err(ConfigError::key("server.body_limit_bytes", "must be at least 1"));
        }
        if self.server.request_timeout_secs == 0 {
            return Err(ConfigError::key(
                "server.request_timeout_secs",
                "must be at least 1",
            ));
        }
        for (i, proxy) in self.server.trusted_proxies.iter().enumerate() {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                return Err(ConfigError::key(
                    &format!("server.trusted_proxies[{i}]"),
                    format!("`{proxy}` is not an IP address"),
                ));
            }
        }
        for (i, origin) in self.server.cors.allowed_origins.iter().enumerate() {
            if origin != "*" && url::Url::parse(origin).is_err() {
                return Err(ConfigError::key(
                    &format!("server.cors.allowed_origins[{i}]"),
                    format!("`{origin}` is not an origin like https://example.com"),
                ));
            }
        }
        let auth = &self.auth;
        if auth.argon2_memory_kib < 19_456 {
            return Err(ConfigError::key(
                "auth.argon2_memory_kib",
                "must be at least 19456 (OWASP's floor)",
            ));
        }
        if auth.argon2_iterations < 2 {
            return Err(ConfigError::key("auth.argon2_iterations", "must be at least 2"));
        }
        if auth.argon2_parallelism < 1 {
            return Err(ConfigError::key("auth.argon2_parallelism", "must be at least 1"));
        }
        if auth.access_ttl_secs == 0 || auth.access_ttl_secs > 3600 {
            return Err(ConfigError::key(
                "auth.access_ttl_secs",
                "must be between 1 and 3600",
            ));
        }
        if let Some(oidc) = &auth.oidc {
            for (key, value) in [
                ("auth.oidc.issuer_url", &oidc.issuer_url),
                ("auth.oidc.redirect_url", &oidc.redirect_url),
            ] {
                let url = url::Url::parse(value)
                    .map_err(|e| ConfigError::key(key, format!("malformed URL: {e}")))?;
                if url.scheme() != "https" && !(oidc.allow_http && url.scheme() == "http") {
                    return Err(ConfigError::key(
                        key,
                        "must be https (allow_http is for tests on loopback)",
                    ));
                }
            }
            if oidc.client_id.trim().is_empty() {
                return Err(ConfigError::key("auth.oidc.client_id", "must not be empty"));
            }
            if !oidc.scopes.iter().any(|s| s == "openid") {
                return Err(ConfigError::key("auth.oidc.scopes", "must include openid"));
            }
        }
        if auth.admin_username.trim().is_empty() {
            return Err(ConfigError::key("auth.admin_username", "must not be empty"));
        }
        self.validate_drive()?;
        self.validate_scheduler()?;
        for (key, value) in [
            ("llm.url", &self.llm.url),
            ("llm.embedding_url", &self.llm.embedding_url),
        ] {
            if !value.trim().is_empty() {
                let url = url::Url::parse(value.trim())
                    .map_err(|e| ConfigError::key(key, format!("malformed URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError::key(key, "must be an http(s) URL"));
                }
            }
        }
        if !matches!(
            self.llm.provider.as_str(),
            "" | "openai" | "anthropic" | "azure" | "ollama" | "llamacpp"
        ) {
            return Err(ConfigError::key(
                "llm.provider",
                "expected openai, anthropic, azure, ollama or llamacpp",
            ));
        }
        if self.llm.request_timeout_secs == 0 || self.llm.idle_timeout_secs == 0 {
            return Err(ConfigError::key("llm", "timeouts must be at least 1 second"));
        }
        if !self.secrets.master_key.is_empty() {
            crate::secrets::parse_master_key(&self.secrets.master_key)
                .map_err(|m| ConfigError::key("secrets.master_key", m))?;
        }
        Ok(())
    }
}

/// A configuration problem, always naming where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl ConfigError {
    fn key(key: &str, msg: impl fmt::Display) -> Self {
        ConfigError(format!("{key}: {msg}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Accepts `info` or `info,my_crate=debug,other=warn`.
fn validate_log_level(spec: &str) -> Result<(), String> {
    let bad = |part: &str| {
        format!(
            "unknown level `{part}` (expected one of trace, debug, info, warn, error, off, or directives like `info,botserver_core=debug`)"
        )
    };
    if spec.trim().is_empty() {
        return Err(bad(""));
    }
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let level = match part.split_once('=') {
            Some((target, level)) => {
                if target.is_empty()
                    || !target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                {
                    return Err(format!("bad log target in `{part}`"));
                }
                level
            }
            None => part,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(bad(level));
        }
    }
    Ok(())
}

fn validate_database_url(raw: &str) -> Result<(), String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(());
    }
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let url = url::Url::parse(raw).map_err(|e| format!("malformed URL: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("malformed URL: no host".into());
        }
        return Ok(());
    }
    if let Some(path) = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err("malformed URL: sqlite URL without a file path".into());
        }
        return Ok(());
    }
    Err(format!(
        "malformed URL `{}`: expected postgres://user:pass@host/db or sqlite://path",
        redact_url(raw)
    ))
}

fn validate_redis_url(raw: &str) -> Result<(), String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("malformed URL: {e}"))?;
    match url.scheme() {
        "redis" | "redis+unix" | "unix" => {}
        "rediss" => return Err("rediss:// (TLS) is not supported by this build".into()),
        other => return Err(format!("malformed URL: unknown scheme `{other}`")),
    }
    if url.scheme() == "redis" && url.host_str().is_none_or(str::is_empty) {
        return Err("malformed URL: no host".into());
    }
    Ok(())
}

/// A URL with its password replaced, for messages and logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

/// Command-line values that win over the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--bind`
    pub bind: Option<String>,
    /// `--port`
    pub port: Option<u16>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
}

/// Environment variables that map straight to keys, for the usual twelve-factor names.
const WELL_KNOWN_ENV: [(&str, &str); 17] = [
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "cache.redis_url"),
    ("BOTSERVER_MASTER_KEY", "secrets.master_key"),
    ("BOTSERVER_LOG", "log.level"),
    ("LLM_URL", "llm.url"),
    ("LLM_MODEL", "llm.model"),
    ("LLM_PROVIDER", "llm.provider"),
    ("LLM_KEY", "secrets.values.llm-key"),
    ("EMBEDDING_URL", "llm.embedding_url"),
    ("EMBEDDING_MODEL", "llm.embedding_model"),
    ("BOTSERVER_LOG_FORMAT", "log.format"),
    ("S3_URL", "drive.s3_url"),
    ("S3_BUCKET", "drive.s3_bucket"),
    ("S3_REGION", "drive.s3_region"),
    ("S3_ACCESS_KEY", "secrets.values.s3-access-key"),
    ("S3_SECRET_KEY", "secrets.values.s3-secret-key"),
    ("DRIVE_PACKAGES_PREFIX", "drive.packages_prefix"),
];

/// Loads the configuration: `file` (if given, it must exist), then `env`
/// (`BOTSERVER_<SECTION>__<KEY>` and the well-known names), then `overrides`.
/// The result is validated.
pub fn load(
    file: Option<&Path>,
    env: &[(String, String)],
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message())))?
        }
        None => toml::Table::new(),
    };

    for (name, value) in env {
        if let Some((_, key)) = WELL_KNOWN_ENV.iter().find(|(n, _)| n == name) {
            set_path(&mut table, key, toml::Value::String(value.clone()))?;
        } else if let Some(secret) = name.strip_prefix("BOTSERVER_SECRET_") {
            let key = secret.to_ascii_lowercase().replace('_', "-");
            set_path(
                &mut table,
                &format!("secrets.values.{key}"),
                toml::Value::String(value.clone()),
            )?;
        } else if let Some(rest) = name.strip_prefix("BOTSERVER_")
            && rest.contains("__")
        {
            let key = rest.to_ascii_lowercase().replace("__", ".");
            set_path(&mut table, &key, env_value(value))?;
        }
    }

    if let Some(bind) = &overrides.bind {
        set_path(&mut table, "server.bind", toml::Value::String(bind.clone()))?;
    }
    if let Some(port) = overrides.port {
        set_path(&mut table, "server.port", toml::Value::Integer(port.into()))?;
    }
    if let Some(dir) = &overrides.data_dir {
        set_path(
            &mut table,
            "server.data_dir",
            toml::Value::String(dir.to_string_lossy().into_owned()),
        )?;
    }

    let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // One line: the deserializer appends "in `section`", which the path already says.
        let inner = inner.lines().next().unwrap_or_default().trim();
        if path == "." || path.is_empty() {
            ConfigError(inner.to_string())
        } else {
            ConfigError(format!("{path}: {inner}"))
        }
    })?;
    config.validate()?;
    Ok(config)
}

/// An environment value: TOML numbers, booleans and arrays keep their type; anything else
/// is a string.
fn env_value(raw: &str) -> toml::Value {
    let parsed = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(v @ (toml::Value::Integer(_) | toml::Value::Boolean(_) | toml::Value::Array(_))) => v,
        Some(toml::Value::String(s)) if raw.trim_start().starts_with('"') => toml::Value::String(s),
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, dotted: &str, value: toml::Value) -> Result<(), ConfigError> {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError(format!("{dotted}: `{part}` is not a section")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

impl Config {
    /// The local object store's folder.
    pub fn drive_dir(&self) -> PathBuf {
        self.drive
            .dir
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("drive"))
    }

    /// The folder bots are loaded from.
    pub fn bots_dir(&self) -> PathBuf {
        self.server
            .bots_dir
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("bots"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_embedded_and_valid() {
        let c = load(None, &[], &Overrides::default()).unwrap();
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.server.bind, "127.0.0.1");
        assert_eq!(
            c.database_target(),
            DatabaseTarget::Sqlite(PathBuf::from("./botserver-data/botserver.db"))
        );
        assert!(c.cache.redis_url.is_empty());
    }

    #[test]
    fn env_then_overrides_win_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("botserver.toml");
        std::fs::write(&file, "[server]\nport = 9000\nbind = \"0.0.0.0\"\n").unwrap();
        let c = load(
            Some(&file),
            &env(&[
                ("BOTSERVER_SERVER__PORT", "9100"),
                ("DATABASE_URL", "postgres://u:p@localhost/db"),
                ("BOTSERVER_SECRET_LLM_KEY", "sk-1"),
            ]),
            &Overrides {
                port: Some(9200),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.server.port, 9200);
        assert_eq!(c.server.bind, "0.0.0.0");
        assert_eq!(
            c.database_target(),
            DatabaseTarget::Postgres("postgres://u:p@localhost/db".into())
        );
        assert_eq!(c.secrets.values.get("llm-key").unwrap(), "sk-1");
        assert!(!format!("{:?}", c.secrets).contains("sk-1"));
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("botserver.toml");
        std::fs::write(&file, "[server]\nprot = 9000\n").unwrap();
        let err = load(Some(&file), &[], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("server"), "{err}");
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn unknown_log_level_is_named() {
        let err = load(None, &env(&[("BOTSERVER_LOG", "verbose")]), &Overrides::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config: log.level: unknown level `verbose`"),
            "{err}"
        );
    }

    #[test]
    fn log_directives_are_accepted() {
        validate_log_level("info,botserver_core=debug,hyper=warn").unwrap();
        assert!(validate_log_level("info,=debug").is_err());
    }

    #[test]
    fn malformed_database_url_is_named_without_password() {
        let err = load(
            None,
            &env(&[("DATABASE_URL", "mysql://u:secret@h/db")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("config: database.url: malformed URL"),
            "{err}"
        );
        let err = load(
            None,
            &env(&[("DATABASE_URL", "postgres://")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
    }

    #[test]
    fn malformed_redis_url_is_named() {
        let err = load(None, &env(&[("REDIS_URL", "redis//nope")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().starts_with("config: cache.redis_url:"), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let err = load(
            None,
            &env(&[("BOTSERVER_SERVER__PORT", "eighty")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
        let err = load(
            None,
            &env(&[("BOTSERVER_SERVER__PORT", "70000")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
    }

    #[test]
    fn unknown_log_format_is_named() {
        let err = load(
            None,
            &env(&[("BOTSERVER_LOG_FORMAT", "xml")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
    }

    #[test]
    fn bad_master_key_is_named() {
        let err = load(
            None,
            &env(&[("BOTSERVER_MASTER_KEY", "short")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("secrets.master_key"), "{err}");
    }
}
