//! Passwords: the acceptance policy, Argon2id hashing as PHC strings, and detection of
//! hashes made with weaker parameters than today's (rehashed on the next login).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use botlib::{AppError, AppResult};
use botstate::config::AuthConfig;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in characters (never truncated).
pub const MAX_LEN: usize = 128;

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Checks a new password against the policy; the error says what to change.
pub fn check_policy(password: &str, username: &str) -> AppResult<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(AppError::bad_request(format!(
            "password must have at least {MIN_LEN} characters"
        )));
    }
    if len > MAX_LEN {
        return Err(AppError::bad_request(format!(
            "password must have at most {MAX_LEN} characters"
        )));
    }
    let lower = password.to_lowercase();
    if common_passwords().contains(lower.as_str()) {
        return Err(AppError::bad_request(
            "this password is too common; choose another",
        ));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(AppError::bad_request("password must not repeat one character"));
    }
    if !username.is_empty() && lower == username.to_lowercase() {
        return Err(AppError::bad_request("password must not be the username"));
    }
    Ok(())
}

/// Argon2id with the configured parameters.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
}

impl Hasher {
    /// From configuration (validated to be at least OWASP's floor).
    pub fn new(config: &AuthConfig) -> AppResult<Self> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
        Ok(Hasher { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password into a PHC string (slow on purpose: call off the async runtime).
    pub fn hash(&self, password: &str) -> AppResult<String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| AppError::internal(anyhow::anyhow!("random: {e}")))?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AppError::internal(anyhow::anyhow!("salt: {e}")))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("hash: {e}")))
    }

    /// Whether `password` matches the stored PHC string (its own parameters are used).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Whether a stored hash uses another algorithm or weaker parameters than today's.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        if parsed.algorithm.as_str() != "argon2id" {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() < self.params.m_cost()
                    || p.t_cost() < self.params.t_cost()
                    || p.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        }
    }

    /// Spends the time of one verification, for unknown accounts, so that timing does not
    /// reveal whether an account exists.
    pub fn verify_dummy(&self, password: &str) {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let phc = DUMMY.get_or_init(|| self.hash("dummy password for timing").unwrap_or_default());
        let _ = self.verify(password, phc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher::new(&AuthConfig::default()).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_phc_at_owasp_parameters() {
        let h = hasher();
        let phc = h.hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery", &phc));
        assert!(!h.verify("correct horse batterY", &phc));
        assert!(!h.needs_rehash(&phc));
    }

    #[test]
    fn long_passwords_are_not_truncated() {
        let h = hasher();
        let long = "x".repeat(100) + "tail-one";
        let phc = h.hash(&long).unwrap();
        assert!(!h.verify(&("x".repeat(100) + "tail-two"), &phc));
    }

    #[test]
    fn weaker_hashes_are_flagged_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = weak.hash_password(b"whatever pass", &salt).unwrap().to_string();
        let h = hasher();
        assert!(h.verify("whatever pass", &phc), "old hashes still verify");
        assert!(h.needs_rehash(&phc));
        assert!(h.needs_rehash("not a phc string"));
    }

    #[test]
    fn policy_rejects_short_long_common_and_trivial() {
        assert!(check_policy("short1", "u").is_err());
        assert!(check_policy(&"a1".repeat(65), "u").is_err());
        assert!(check_policy("Password123", "u").is_err(), "case-insensitive list");
        assert!(check_policy("qwertyuiop", "u").is_err());
        assert!(check_policy("zzzzzzzzzz", "u").is_err());
        assert!(check_policy("maria.silva", "Maria.Silva").is_err());
        assert!(check_policy("tangerine-river-42", "u").is_ok());
        // 128 characters is fine; unicode counts characters, not bytes.
        assert!(check_policy(&"ção".repeat(42), "u").is_ok());
    }
}
