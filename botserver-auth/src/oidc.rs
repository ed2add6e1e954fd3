//! Sign-in with an OpenID Connect provider: authorization code flow with PKCE (S256),
//! `state` and `nonce`, ID token checked against the provider's keys, claims completed from
//! the userinfo endpoint, and mapped to a local user linked by `issuer|sub`.
//!
//! The pending sign-in (verifier and nonce) lives in the shared cache for ten minutes and
//! is used once, so the callback may land on any instance.

use crate::tokens::new_secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use botlib::{AppError, AppResult};
use botstate::Cache;
use botstate::config::OidcConfig;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::OnceCell;

const PENDING_TTL: Duration = Duration::from_secs(600);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest provider answer we read (discovery, keys, tokens, userinfo).
const MAX_BODY: usize = 256 * 1024;

/// The parts of the provider's discovery document we use.
#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
    #[serde(default)]
    access_token: Option<String>,
}

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// `issuer|sub`: the stable link to the local user.
    pub subject: String,
    /// Every claim from the ID token and userinfo.
    pub claims: Map<String, Value>,
}

/// An OpenID Connect relying party for one provider.
pub struct Oidc {
    config: OidcConfig,
    client_secret: Option<String>,
    http: reqwest::Client,
    discovery: OnceCell<Discovery>,
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> AppError {
    tracing::warn!(error = %e, "openid provider: {what}");
    AppError::Unavailable(format!("the sign-in provider failed ({what})"))
}

impl Oidc {
    /// A relying party; the provider is contacted on first use.
    pub fn new(config: OidcConfig, client_secret: Option<String>) -> AppResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AppError::internal)?;
        Ok(Oidc {
            config,
            client_secret,
            http,
            discovery: OnceCell::new(),
        })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> AppResult<T> {
        let resp = req.send().await.map_err(|e| provider_error(what, e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| provider_error(what, e))?;
        if bytes.len() > MAX_BODY {
            return Err(provider_error(what, "answer too large"));
        }
        if !status.is_success() {
            return Err(provider_error(
                what,
                format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                ),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| provider_error(what, e))
    }

    async fn discovery(&self) -> AppResult<&Discovery> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer_url.trim_end_matches('/')
                );
                let d: Discovery = self.get_json(self.http.get(url), "discovery").await?;
                if d.issuer.trim_end_matches('/') != self.config.issuer_url.trim_end_matches('/') {
                    return Err(provider_error(
                        "discovery",
                        "issuer does not match the configured one",
                    ));
                }
                Ok(d)
            })
            .await
    }

    /// Starts a sign-in: remembers verifier and nonce under a fresh `state` and returns the
    /// provider URL to send the browser to.
    pub async fn begin(&self, cache: &dyn Cache) -> AppResult<String> {
        let d = self.discovery().await?;
        let state = new_secret("")?;
        let pending = Pending {
            verifier: new_secret("")?,
            nonce: new_secret("")?,
        };
        let challenge = B64URL.encode(Sha256::digest(pending.verifier.as_bytes()));
        cache
            .set(
                &pending_key(&state),
                &serde_json::to_vec(&pending)?,
                Some(PENDING_TTL),
            )
            .await?;
        let mut url = url_with(&d.authorization_endpoint)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.to_string())
    }

    /// Finishes a sign-in: the `state` must be pending (and is consumed), the code is
    /// exchanged with the verifier, and the ID token must be signed by the provider, for
    /// this client, with the nonce we sent.
    pub async fn finish(&self, cache: &dyn Cache, code: &str, state: &str) -> AppResult<Identity> {
        let key = pending_key(state);
        let raw = cache.get(&key).await?;
        // Delete before use: of two concurrent callbacks with one state, one wins.
        let (Some(raw), true) = (raw, cache.delete(&key).await?) else {
            return Err(AppError::bad_request("unknown or expired sign-in; start again"));
        };
        let pending: Pending = serde_json::from_slice(&raw)?;
        let d = self.discovery().await?;

        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", pending.verifier.as_str()),
            ("client_id", self.config.client_id.as_str()),
        ];
        let mut req = self.http.post(&d.token_endpoint);
        // A confidential client authenticates with HTTP Basic; a public one by PKCE alone.
        if let Some(secret) = &self.client_secret {
            req = req.basic_auth(&self.config.client_id, Some(secret));
        }
        let answer: TokenAnswer = self.get_json(req.form(&form), "token exchange").await?;

        let header = jsonwebtoken::decode_header(&answer.id_token).map_err(|_| AppError::Unauthorized)?;
        let allowed = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
        ];
        if !allowed.contains(&header.alg) {
            return Err(AppError::Unauthorized);
        }
        let keys: JwkSet = self.get_json(self.http.get(&d.jwks_uri), "keys").await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None => keys.keys.first(),
        }
        .ok_or(AppError::Unauthorized)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| AppError::Unauthorized)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&d.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.leeway = 30;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(&answer.id_token, &key, &validation).map_err(|e| {
                tracing::warn!(error = %e, "openid provider: id token refused");
                AppError::Unauthorized
            })?;
        let mut claims = data.claims;
        if claims.get("nonce").and_then(Value::as_str) != Some(pending.nonce.as_str()) {
            return Err(AppError::Unauthorized);
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(AppError::Unauthorized)?
            .to_string();

        if let (Some(endpoint), Some(access)) = (&d.userinfo_endpoint, &answer.access_token) {
            let info: Map<String, Value> = self
                .get_json(self.http.get(endpoint).bearer_auth(access), "userinfo")
                .await?;
            // Userinfo must describe the same subject, or it is ignored.
            if info.get("sub").and_then(Value::as_str) == Some(sub.as_str()) {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
        }
        Ok(Identity {
            subject: format!("{}|{sub}", d.issuer),
            claims,
        })
    }

    /// The configuration this relying party was made with.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }
}

fn pending_key(state: &str) -> String {
    format!("auth:oidc:{state}")
}

fn url_with(base: &str) -> AppResult<url::Url> {
    url::Url::parse(base).map_err(|e| provider_error("discovery", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            B64URL.encode(Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
