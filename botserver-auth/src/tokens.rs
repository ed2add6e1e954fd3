//! Access tokens (HS256 JWTs, short-lived) and opaque secrets (refresh tokens and API
//! keys, stored only as SHA-256 hashes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use botlib::{AppError, AppResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `typ` claim of access tokens: only these are accepted on API routes.
pub const ACCESS_TYP: &str = "access";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "rt_";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "bk_";
/// Allowed clock skew when checking `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// Claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user.
    pub sub: String,
    /// The user's organization.
    pub org: String,
    /// Server-wide roles.
    pub roles: Vec<String>,
    /// The sign-in session.
    pub sid: String,
    /// Token kind; `access`.
    pub typ: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires (Unix seconds).
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
}

/// Signs and checks access tokens with one HMAC key.
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl Signer {
    /// A signer for `key`, issuing for `issuer` and `audience`.
    pub fn new(key: &[u8], issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Signer {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        }
    }

    /// Fills issuer and audience and signs.
    pub fn sign(&self, mut claims: Claims) -> AppResult<String> {
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)
    }

    /// Checks signature, algorithm, issuer, audience, times and `typ`. Any failure is 401.
    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthorized)?;
        if data.claims.typ != ACCESS_TYP {
            return Err(AppError::Unauthorized);
        }
        Ok(data.claims)
    }
}

/// A fresh random secret with `prefix`: 32 random bytes, base64url.
pub fn new_secret(prefix: &str) -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(anyhow::anyhow!("random: {e}")))?;
    Ok(format!("{prefix}{}", B64URL.encode(bytes)))
}

/// The stored form of a secret: SHA-256, hex. (The secret has 256 bits of entropy, so a
/// fast hash is enough; slow hashing is for low-entropy passwords.)
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Current Unix time in seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: u64) -> Claims {
        Claims {
            iss: String::new(),
            aud: String::new(),
            sub: "u".into(),
            org: "o".into(),
            roles: vec!["user".into()],
            sid: "s".into(),
            typ: ACCESS_TYP.into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: "j".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_a_foreign_one_does_not() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef", "botserver", "api");
        let token = signer.sign(claims(now_secs())).unwrap();
        let back = signer.verify(&token).unwrap();
        assert_eq!(back.iss, "botserver");
        let other = Signer::new(b"another key another key another!", "botserver", "api");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn secrets_are_random_and_hashed_stably() {
        let a = new_secret(REFRESH_PREFIX).unwrap();
        let b = new_secret(REFRESH_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("rt_") && a.len() > 40);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
