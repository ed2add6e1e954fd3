//! The secret manager: values from configuration (environment or a file) win; everything
//! else lives in the database's `secrets` table, encrypted with ChaCha20-Poly1305 under a
//! master key.
//!
//! The master key comes from configuration, or is generated on first start into
//! `<data_dir>/master.key` (mode 0600). A check row encrypted with the key makes a second
//! instance with a different key fail at start instead of corrupting secrets.

use crate::db::{Db, DbErr};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use botlib::{AppError, AppResult};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use diesel::prelude::*;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

diesel::table! {
    secrets (name) {
        name -> Text,
        ciphertext -> Text,
        updated_at -> BigInt,
    }
}

/// A secret value; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Where secrets are kept and how values are encrypted at rest.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Reads a secret: configuration first, then the encrypted store.
    async fn get(&self, name: &str) -> AppResult<Option<SecretString>>;
    /// Stores (or replaces) a secret, encrypted.
    async fn put(&self, name: &str, value: &str) -> AppResult<()>;
    /// Deletes a stored secret; `true` when one was deleted.
    async fn delete(&self, name: &str) -> AppResult<bool>;
    /// Reads a secret, or stores `generated` if there is none. Concurrent callers on any
    /// instance all get the same value.
    async fn get_or_create(&self, name: &str, generated: String) -> AppResult<SecretString>;
    /// Encrypts `plaintext`, bound to `context` (which must be given again to decrypt).
    fn encrypt(&self, context: &str, plaintext: &[u8]) -> AppResult<String>;
    /// Decrypts what [`SecretStore::encrypt`] produced with the same `context`.
    fn decrypt(&self, context: &str, ciphertext: &str) -> AppResult<Vec<u8>>;
}

const KEY_CHECK_NAME: &str = "__master_key_check__";
const KEY_CHECK_VALUE: &[u8] = b"botserver master key check";
const FORMAT_PREFIX: &str = "v1:";

/// Parses a base64 master key of 32 bytes.
pub fn parse_master_key(b64: &str) -> Result<[u8; 32], String> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| "must be base64 of 32 random bytes".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "must be base64 of exactly 32 bytes".to_string())
}

/// Generates a new random master key, base64.
pub fn generate_master_key() -> String {
    B64.encode(random_bytes::<32>())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS random source failing is not recoverable; nothing secure can be done after.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// Returns the configured key, or reads (creating on first start) `<data_dir>/master.key`.
pub fn load_or_create_master_key(configured: &str, data_dir: &Path) -> Result<[u8; 32], String> {
    if !configured.trim().is_empty() {
        return parse_master_key(configured).map_err(|e| format!("secrets.master_key: {e}"));
    }
    let path = data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_master_key(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let key = generate_master_key();
            write_private_file(&path, key.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new master key for secrets at rest");
            parse_master_key(&key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path` readable by its owner only, failing if it already exists.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Reads a `NAME=value` secrets file (blank lines and `#` comments ignored).
pub fn read_secrets_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("secrets.file {}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("secrets.file {}:{}: expected NAME=value", path.display(), i + 1))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// The embedded secret manager: configuration values plus the encrypted `secrets` table.
pub struct LocalSecrets {
    cipher: ChaCha20Poly1305,
    configured: BTreeMap<String, String>,
    db: Db,
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LocalSecrets {
    /// Opens the store and checks `key` is the one this database's secrets were written
    /// with (recording it on first use).
    pub async fn open(key: [u8; 32], configured: BTreeMap<String, String>, db: Db) -> Result<Self, String> {
        let store = LocalSecrets {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            configured,
            db,
        };
        let check = store
            .encrypt(KEY_CHECK_NAME, KEY_CHECK_VALUE)
            .map_err(|e| e.to_string())?;
        let stored = store
            .db
            .run(move |c| {
                insert_if_absent(c, KEY_CHECK_NAME, &check)?;
                Ok(secrets::table
                    .find(KEY_CHECK_NAME)
                    .select(secrets::ciphertext)
                    .first::<String>(c)?)
            })
            .await
            .map_err(|e| format!("secrets: {e}"))?;
        match store.decrypt(KEY_CHECK_NAME, &stored) {
            Ok(v) if v == KEY_CHECK_VALUE => Ok(store),
            _ => Err(
                "secrets: the master key does not match the key this database's secrets \
                      were encrypted with; configure the same BOTSERVER_MASTER_KEY on every instance"
                    .into(),
            ),
        }
    }
}

/// Inserts a row unless one exists; `true` when inserted.
fn insert_if_absent(c: &mut crate::db::AnyConnection, name: &str, ciphertext: &str) -> Result<bool, DbErr> {
    let exists = secrets::table
        .find(name)
        .select(secrets::name)
        .first::<String>(c)
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    let inserted = diesel::insert_into(secrets::table)
        .values((
            secrets::name.eq(name),
            secrets::ciphertext.eq(ciphertext),
            secrets::updated_at.eq(now_millis()),
        ))
        .execute(c);
    match inserted {
        Ok(_) => Ok(true),
        // Another instance inserted it between our read and write: theirs wins.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl SecretStore for LocalSecrets {
    async fn get(&self, name: &str) -> AppResult<Option<SecretString>> {
        if let Some(v) = self.configured.get(name) {
            return Ok(Some(SecretString::new(v.clone())));
        }
        let owned = name.to_string();
        let stored = self
            .db
            .run(move |c| {
                Ok(secrets::table
                    .find(owned)
                    .select(secrets::ciphertext)
                    .first::<String>(c)
                    .optional()?)
            })
            .await?;
        stored
            .map(|ct| {
                let plain = self.decrypt(name, &ct)?;
                String::from_utf8(plain)
                    .map(SecretString::new)
                    .map_err(AppError::internal)
            })
            .transpose()
    }

    async fn put(&self, name: &str, value: &str) -> AppResult<()> {
        if name == KEY_CHECK_NAME {
            return Err(AppError::bad_request("reserved secret name"));
        }
        let ct = self.encrypt(name, value.as_bytes())?;
        let owned = name.to_string();
        self.db
            .run(move |c| {
                c.transaction(|c| {
                    let updated = diesel::update(secrets::table.find(&owned))
                        .set((secrets::ciphertext.eq(&ct), secrets::updated_at.eq(now_millis())))
                        .execute(c)?;
                    if updated == 0 {
                        diesel::insert_into(secrets::table)
                            .values((
                                secrets::name.eq(&owned),
                                secrets::ciphertext.eq(&ct),
                                secrets::updated_at.eq(now_millis()),
                            ))
                            .execute(c)?;
                    }
                    Ok::<_, DbErr>(())
                })
            })
            .await
    }

    async fn delete(&self, name: &str) -> AppResult<bool> {
        if name == KEY_CHECK_NAME {
            return Err(AppError::bad_request("reserved secret name"));
        }
        let owned = name.to_string();
        self.db
            .run(move |c| Ok(diesel::delete(secrets::table.find(owned)).execute(c)? > 0))
            .await
    }

    async fn get_or_create(&self, name: &str, generated: String) -> AppResult<SecretString> {
        if let Some(v) = self.get(name).await? {
            return Ok(v);
        }
        let ct = self.encrypt(name, generated.as_bytes())?;
        let owned = name.to_string();
        self.db.run(move |c| insert_if_absent(c, &owned, &ct)).await?;
        self.get(name)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("secret {name} vanished after insert")))
    }

    fn encrypt(&self, context: &str, plaintext: &[u8]) -> AppResult<String> {
        let nonce = random_bytes::<12>();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal(anyhow::anyhow!("encryption failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{FORMAT_PREFIX}{}", B64.encode(out)))
    }

    fn decrypt(&self, context: &str, ciphertext: &str) -> AppResult<Vec<u8>> {
        let fail = || AppError::internal(anyhow::anyhow!("secret {context} cannot be decrypted"));
        let raw = ciphertext
            .strip_prefix(FORMAT_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|r| r.len() > 12)
            .ok_or_else(fail)?;
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| fail())
    }
}
