//! Who is calling and what they may do: roles, the authenticated [`Principal`], the
//! [`Access`] rule every route declares, and the [`Authenticator`] trait the auth domain
//! implements. Without it, every protected route answers "not configured".

use async_trait::async_trait;
use botlib::{AppError, AppResult, OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Server-wide roles, from least to most privileged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// An anonymous chat visitor.
    Anonymous,
    /// A signed-in user.
    User,
    /// Administers the bots granted to them.
    BotAdmin,
    /// Administers the organization.
    Admin,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 4] = [Role::Anonymous, Role::User, Role::BotAdmin, Role::Admin];

    /// The role's name as written in tokens, the API and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::User => "user",
            Role::BotAdmin => "bot-admin",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> AppResult<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                AppError::bad_request(format!("unknown role `{s}` (anonymous, user, bot-admin, admin)"))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a grant on one bot allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BotRole {
    /// May chat with the bot.
    User,
    /// May administer the bot (upload, reload, see errors).
    Admin,
}

/// A role on one bot, granted to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotGrant {
    /// The bot's name.
    pub bot: String,
    /// What the grant allows.
    pub role: BotRole,
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A signed-in session (access token of session `session`).
    Session {
        /// The login session (refresh-token family).
        session: String,
    },
    /// An API key.
    ApiKey {
        /// The key's id.
        key: String,
        /// When non-empty, the only bots the key may touch.
        bots: Vec<String>,
    },
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user (for an API key: the user it acts for).
    pub user: UserId,
    /// The user's organization; every query is scoped to it.
    pub org: OrgId,
    /// Display name or username.
    pub name: String,
    /// Server-wide roles.
    pub roles: Vec<Role>,
    /// Per-bot grants.
    pub bots: Vec<BotGrant>,
    /// How the caller authenticated.
    pub credential: Credential,
}

impl Principal {
    /// The most privileged role held.
    pub fn top_role(&self) -> Role {
        self.roles.iter().copied().max().unwrap_or(Role::Anonymous)
    }

    /// Whether the caller holds `role` or a more privileged one.
    pub fn has_role(&self, role: Role) -> bool {
        self.top_role() >= role
    }

    /// Whether an API key's bot scope lets it touch `bot`.
    fn key_allows(&self, bot: &str) -> bool {
        match &self.credential {
            Credential::ApiKey { bots, .. } if !bots.is_empty() => bots.iter().any(|b| b == bot),
            _ => true,
        }
    }

    /// Whether the caller may administer `bot`: an admin, or a bot-admin with an admin
    /// grant on it.
    pub fn can_admin_bot(&self, bot: &str) -> bool {
        self.key_allows(bot)
            && (self.has_role(Role::Admin)
                || (self.has_role(Role::BotAdmin)
                    && self.bots.iter().any(|g| g.bot == bot && g.role == BotRole::Admin)))
    }

    /// Whether the caller may use `bot` at all (per-bot grants narrow nothing for users
    /// without grants: a bot is open to its organization unless restricted).
    pub fn can_use_bot(&self, bot: &str) -> bool {
        self.key_allows(bot)
    }

    /// Fails with 403 unless the caller holds `role`.
    pub fn require(&self, role: Role) -> AppResult<()> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// Who may call a route. Every route declares one; there is no default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "access", content = "role")]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// Any authenticated caller holding at least this role.
    Role(Role),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Public => f.write_str("public"),
            Access::Role(r) => write!(f, "{r}"),
        }
    }
}

/// Turns presented credentials into a [`Principal`].
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Checks a bearer token (access token or API key). Fails with 401 when it is not
    /// valid for any reason; the reason is never told to the caller.
    async fn authenticate(&self, bearer: &str) -> AppResult<Principal>;

    /// Checks a chat visitor's ids, for clients that know only the `user_id` and
    /// `session_id` `GET /api/auth` gave them (General Bots web clients): the session must
    /// be live and belong to that user, and the user must be an anonymous visitor, never
    /// an account with a password. 401 otherwise.
    async fn visitor(&self, _user_id: &str, _session_id: &str) -> AppResult<Principal> {
        Err(AppError::Unauthorized)
    }
}

#[async_trait]
impl Authenticator for crate::services::NotConfigured {
    async fn authenticate(&self, _: &str) -> AppResult<Principal> {
        Err(AppError::NotConfigured("auth"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: Vec<Role>, bots: Vec<BotGrant>, credential: Credential) -> Principal {
        Principal {
            user: UserId::new_random(),
            org: OrgId::new_random(),
            name: "u".into(),
            roles,
            bots,
            credential,
        }
    }

    fn session() -> Credential {
        Credential::Session { session: "s".into() }
    }

    #[test]
    fn roles_are_ordered_and_imply_the_lesser_ones() {
        let admin = principal(vec![Role::Admin], vec![], session());
        assert!(admin.has_role(Role::User) && admin.has_role(Role::BotAdmin));
        let user = principal(vec![Role::User], vec![], session());
        assert!(user.has_role(Role::Anonymous) && !user.has_role(Role::BotAdmin));
        assert!(user.require(Role::Admin).is_err());
        assert_eq!(Role::parse("bot-admin").unwrap(), Role::BotAdmin);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn bot_admin_needs_a_grant_on_that_bot() {
        let grant = BotGrant {
            bot: "sales".into(),
            role: BotRole::Admin,
        };
        let p = principal(vec![Role::BotAdmin], vec![grant], session());
        assert!(p.can_admin_bot("sales"));
        assert!(!p.can_admin_bot("hr"));
    }

    #[test]
    fn api_key_scope_narrows_bots_even_for_admins() {
        let key = Credential::ApiKey {
            key: "k".into(),
            bots: vec!["sales".into()],
        };
        let p = principal(vec![Role::Admin], vec![], key);
        assert!(p.can_admin_bot("sales") && p.can_use_bot("sales"));
        assert!(!p.can_admin_bot("hr") && !p.can_use_bot("hr"));
    }
}
