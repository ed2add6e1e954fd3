//! Share links: `/api/drive/shared/<id>.<expiry>.<signature>`. The id is random, the
//! signature an HMAC-SHA256 of the id and the expiry under the server's `drive-link-key`
//! secret (made once, shared by every instance through the secret store), so a link
//! whose expiry was edited, or that was made up, is refused before the database is
//! asked; the database row makes it revocable. Anyone holding a valid link may download
//! the file; nothing else.

use crate::repo::{self, ShareRow};
use crate::space::Space;
use botlib::{AppError, AppResult};
use botstate::Db;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::Duration;

/// A share link as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Share {
    /// The link's id (to revoke it).
    pub id: String,
    /// The path inside its space.
    pub path: String,
    /// The link, relative to the server (`/api/drive/shared/…`).
    pub url: String,
    /// When it stops working, Unix milliseconds.
    pub expires_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
    /// When it was made.
    pub created_ms: i64,
}

/// Makes and checks share links.
pub struct Links {
    key: Vec<u8>,
    db: Db,
    max_ttl: Duration,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Links {
    /// Links signed with `key`, living at most `max_ttl`.
    pub fn new(key: &[u8], db: Db, max_ttl: Duration) -> Links {
        Links {
            key: key.to_vec(),
            db,
            max_ttl,
        }
    }

    /// The longest lifetime of a link.
    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }

    fn sign(&self, id: &str, expires_ms: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("drive-share\0{id}\0{expires_ms}").as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    fn url(&self, row: &ShareRow) -> String {
        format!(
            "/api/drive/shared/{}.{}.{}",
            row.id,
            row.expires_ms,
            self.sign(&row.id, row.expires_ms)
        )
    }

    /// What the API shows of a link.
    pub fn show(&self, row: &ShareRow) -> Share {
        Share {
            id: row.id.clone(),
            path: row.path.clone(),
            url: self.url(row),
            expires_ms: row.expires_ms,
            revoked_ms: row.revoked_ms,
            created_ms: row.created_ms,
        }
    }

    /// A new link to `path` of `space` for `ttl` (at most the configured maximum).
    pub async fn create(&self, space: &Space, path: &str, by: &str, ttl: Duration) -> AppResult<Share> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return Err(AppError::bad_request(format!(
                "a share link lives between 1 second and {} seconds",
                self.max_ttl.as_secs()
            )));
        }
        let now = now_ms();
        let row = ShareRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            space: space.id(),
            path: path.to_string(),
            created_by: by.to_string(),
            created_ms: now,
            expires_ms: now + ttl.as_millis() as i64,
            revoked_ms: None,
        };
        let saved = row.clone();
        self.db.write(move |c| repo::add_share(c, &saved)).await?;
        Ok(self.show(&row))
    }

    /// The live share a token names: 404 for anything else (malformed, forged, expired,
    /// revoked), so a link's holder learns nothing about other links.
    pub async fn resolve(&self, token: &str) -> AppResult<ShareRow> {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(exp), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AppError::NotFound);
        };
        let expires_ms: i64 = exp.parse().map_err(|_| AppError::NotFound)?;
        let want = self.sign(id, expires_ms);
        // Constant-time comparison of the signatures.
        let same = want.len() == sig.len()
            && want
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || expires_ms <= now_ms() {
            return Err(AppError::NotFound);
        }
        let id = id.to_string();
        let row = self
            .db
            .run(move |c| repo::share(c, &id))
            .await?
            .ok_or(AppError::NotFound)?;
        if row.revoked_ms.is_some() || row.expires_ms != expires_ms {
            return Err(AppError::NotFound);
        }
        Ok(row)
    }
}
