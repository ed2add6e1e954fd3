//! Synchronous queries over the auth tables. Every function that reads or changes
//! something that belongs to an organization takes that organization and filters by it,
//! so a caller from another tenant gets "not found".

use crate::schema::{api_keys, auth_sessions, organizations, refresh_tokens, user_totp, users};
use botstate::AnyConnection;
use botstate::DbErr;
use diesel::prelude::*;

/// Milliseconds are not needed here: every auth timestamp is Unix seconds.
pub type Secs = i64;

/// An organization row.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub is_system: bool,
    pub created_at: Secs,
}

/// A user row (the password hash never leaves this crate).
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub roles: String,
    pub bot_grants: String,
    pub disabled: bool,
    pub anonymous: bool,
    pub oidc_subject: Option<String>,
    pub merged_into: Option<String>,
    pub failed_logins: i32,
    pub failed_window_start: Secs,
    pub created_at: Secs,
    pub updated_at: Secs,
}

/// Roles as stored: comma-separated names.
pub fn roles_text(roles: &[botstate::auth::Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

impl UserRow {
    /// A new active account: a fresh id, no password, no grants, counters at zero.
    pub fn new(
        org_id: &str,
        username: &str,
        display_name: &str,
        roles: &[botstate::auth::Role],
        now: Secs,
    ) -> Self {
        UserRow {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: org_id.to_string(),
            username: username.to_string(),
            display_name: display_name.to_string(),
            email: None,
            password_hash: None,
            roles: roles_text(roles),
            bot_grants: String::new(),
            disabled: false,
            anonymous: false,
            oidc_subject: None,
            merged_into: None,
            failed_logins: 0,
            failed_window_start: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A sign-in session row.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = auth_sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub org_id: String,
    pub created_at: Secs,
    pub expires_at: Secs,
    pub revoked_at: Option<Secs>,
}

/// A refresh token row.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: String,
    pub session_id: String,
    pub token_hash: String,
    pub created_at: Secs,
    pub expires_at: Secs,
    pub rotated_at: Option<Secs>,
}

/// An API key row.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub roles: String,
    pub bots: String,
    pub created_at: Secs,
    pub expires_at: Option<Secs>,
    pub revoked_at: Option<Secs>,
    pub last_used_at: Option<Secs>,
}

type R<T> = Result<T, DbErr>;

// ----- organizations -----

pub fn insert_org(c: &mut AnyConnection, org: &OrgRow) -> R<()> {
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(&org.id),
            organizations::name.eq(&org.name),
            organizations::is_system.eq(org.is_system),
            organizations::created_at.eq(org.created_at),
        ))
        .execute(c)?;
    Ok(())
}

pub fn system_org(c: &mut AnyConnection) -> R<Option<OrgRow>> {
    Ok(organizations::table
        .filter(organizations::is_system.eq(true))
        .select(OrgRow::as_select())
        .first(c)
        .optional()?)
}

pub fn get_org(c: &mut AnyConnection, id: &str) -> R<OrgRow> {
    Ok(organizations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(c)?)
}

pub fn list_orgs(c: &mut AnyConnection) -> R<Vec<OrgRow>> {
    Ok(organizations::table
        .order(organizations::name)
        .select(OrgRow::as_select())
        .load(c)?)
}

// ----- users -----

pub fn count_users(c: &mut AnyConnection) -> R<i64> {
    Ok(users::table
        .filter(users::anonymous.eq(false))
        .count()
        .get_result(c)?)
}

pub fn insert_user(c: &mut AnyConnection, u: &UserRow) -> R<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&u.id),
            users::org_id.eq(&u.org_id),
            users::username.eq(&u.username),
            users::display_name.eq(&u.display_name),
            users::email.eq(&u.email),
            users::password_hash.eq(&u.password_hash),
            users::roles.eq(&u.roles),
            users::bot_grants.eq(&u.bot_grants),
            users::disabled.eq(u.disabled),
            users::anonymous.eq(u.anonymous),
            users::oidc_subject.eq(&u.oidc_subject),
            users::failed_logins.eq(0),
            users::failed_window_start.eq(0i64),
            users::created_at.eq(u.created_at),
            users::updated_at.eq(u.updated_at),
        ))
        .execute(c)?;
    Ok(())
}

/// A user by sign-in name (any organization: usernames are unique server-wide).
pub fn user_by_username(c: &mut AnyConnection, username: &str) -> R<Option<UserRow>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .filter(users::anonymous.eq(false))
        .select(UserRow::as_select())
        .first(c)
        .optional()?)
}

/// The user linked to an OpenID subject (`issuer|sub`).
pub fn user_by_oidc_subject(c: &mut AnyConnection, subject: &str) -> R<Option<UserRow>> {
    Ok(users::table
        .filter(users::oidc_subject.eq(subject))
        .select(UserRow::as_select())
        .first(c)
        .optional()?)
}

/// Retires an anonymous visitor whose conversation now belongs to `into`; `false` if it
/// was not a live anonymous visitor.
pub fn merge_anonymous(c: &mut AnyConnection, anon: &str, into: &str, now: Secs) -> R<bool> {
    let n = diesel::update(
        users::table
            .find(anon)
            .filter(users::anonymous.eq(true))
            .filter(users::merged_into.is_null()),
    )
    .set((
        users::merged_into.eq(into),
        users::disabled.eq(true),
        users::updated_at.eq(now),
    ))
    .execute(c)?;
    if n == 1 {
        revoke_user_sessions(c, anon, None, now)?;
    }
    Ok(n == 1)
}

/// Whether a username is taken.
pub fn username_taken(c: &mut AnyConnection, username: &str) -> R<bool> {
    Ok(users::table
        .filter(users::username.eq(username))
        .count()
        .get_result::<i64>(c)?
        > 0)
}

/// A user by id, only inside `org`.
pub fn user_in_org(c: &mut AnyConnection, org: &str, id: &str) -> R<UserRow> {
    Ok(users::table
        .find(id)
        .filter(users::org_id.eq(org))
        .select(UserRow::as_select())
        .first(c)?)
}

/// A user by id (for token checks, where the token names the organization too).
pub fn user_by_id(c: &mut AnyConnection, id: &str) -> R<UserRow> {
    Ok(users::table.find(id).select(UserRow::as_select()).first(c)?)
}

pub fn list_users(c: &mut AnyConnection, org: &str, limit: i64, offset: i64) -> R<Vec<UserRow>> {
    Ok(users::table
        .filter(users::org_id.eq(org))
        .filter(users::anonymous.eq(false))
        .order(users::username)
        .limit(limit)
        .offset(offset)
        .select(UserRow::as_select())
        .load(c)?)
}

/// Changes a user's profile fields, only inside `org`.
pub struct UserChanges {
    pub display_name: Option<String>,
    pub email: Option<Option<String>>,
    pub roles: Option<String>,
    pub bot_grants: Option<String>,
    pub disabled: Option<bool>,
}

pub fn update_user(c: &mut AnyConnection, org: &str, id: &str, ch: &UserChanges, now: Secs) -> R<UserRow> {
    c.transaction(|c| {
        let mut row = user_in_org(c, org, id)?;
        if let Some(v) = &ch.display_name {
            row.display_name = v.clone();
        }
        if let Some(v) = &ch.email {
            row.email = v.clone();
        }
        if let Some(v) = &ch.roles {
            row.roles = v.clone();
        }
        if let Some(v) = &ch.bot_grants {
            row.bot_grants = v.clone();
        }
        if let Some(v) = ch.disabled {
            row.disabled = v;
        }
        diesel::update(users::table.find(id).filter(users::org_id.eq(org)))
            .set((
                users::display_name.eq(&row.display_name),
                users::email.eq(&row.email),
                users::roles.eq(&row.roles),
                users::bot_grants.eq(&row.bot_grants),
                users::disabled.eq(row.disabled),
                users::updated_at.eq(now),
            ))
            .execute(c)?;
        row.updated_at = now;
        Ok(row)
    })
}

pub fn delete_user(c: &mut AnyConnection, org: &str, id: &str) -> R<bool> {
    Ok(diesel::delete(users::table.find(id).filter(users::org_id.eq(org))).execute(c)? > 0)
}

pub fn set_password_hash(c: &mut AnyConnection, id: &str, hash: &str, now: Secs) -> R<()> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(c)?;
    Ok(())
}

/// Counts one attempt against the account's hourly budget before the password is
/// checked, atomically (compare-and-swap), and returns the attempts in the window,
/// including this one. Parallel attempts are all counted.
pub fn reserve_attempt(c: &mut AnyConnection, id: &str, now: Secs, window: Secs) -> R<(i32, Secs)> {
    loop {
        let (count, start): (i32, Secs) = users::table
            .find(id)
            .select((users::failed_logins, users::failed_window_start))
            .first(c)?;
        let (new_count, new_start) = if start > now - window {
            (count + 1, start)
        } else {
            (1, now)
        };
        let swapped = diesel::update(
            users::table
                .find(id)
                .filter(users::failed_logins.eq(count))
                .filter(users::failed_window_start.eq(start)),
        )
        .set((
            users::failed_logins.eq(new_count),
            users::failed_window_start.eq(new_start),
        ))
        .execute(c)?;
        if swapped == 1 {
            return Ok((new_count, new_start));
        }
    }
}

/// A user's one-time-code set-up.
#[derive(Clone, Debug, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = user_totp)]
pub struct TotpRow {
    pub user_id: String,
    pub secret: String,
    pub enabled: bool,
    pub last_step: Secs,
}

pub fn get_totp(c: &mut AnyConnection, user: &str) -> R<Option<TotpRow>> {
    Ok(user_totp::table
        .find(user)
        .select(TotpRow::as_select())
        .first(c)
        .optional()?)
}

/// Stores (replacing) the encrypted secret and whether codes are required; `None` clears.
pub fn set_totp(c: &mut AnyConnection, user: &str, secret: Option<&str>, enabled: bool) -> R<()> {
    c.transaction(|c| {
        diesel::delete(user_totp::table.find(user)).execute(c)?;
        if let Some(secret) = secret {
            diesel::insert_into(user_totp::table)
                .values((
                    user_totp::user_id.eq(user),
                    user_totp::secret.eq(secret),
                    user_totp::enabled.eq(enabled),
                    user_totp::last_step.eq(0i64),
                ))
                .execute(c)?;
        }
        Ok(())
    })
}

/// Records a one-time code's time step as used; `false` if it (or a later one) was used
/// already, so a code works once.
pub fn claim_totp_step(c: &mut AnyConnection, user: &str, step: Secs) -> R<bool> {
    Ok(
        diesel::update(user_totp::table.find(user).filter(user_totp::last_step.lt(step)))
            .set(user_totp::last_step.eq(step))
            .execute(c)?
            == 1,
    )
}

/// Gives back an attempt that turned out to be a success.
pub fn release_attempt(c: &mut AnyConnection, id: &str) -> R<()> {
    diesel::update(users::table.find(id).filter(users::failed_logins.gt(0)))
        .set(users::failed_logins.eq(users::failed_logins - 1))
        .execute(c)?;
    Ok(())
}

/// Clears the failure count (admin reset).
pub fn clear_attempts(c: &mut AnyConnection, id: &str) -> R<()> {
    diesel::update(users::table.find(id))
        .set((users::failed_logins.eq(0), users::failed_window_start.eq(0i64)))
        .execute(c)?;
    Ok(())
}

// ----- sessions and refresh tokens -----

pub fn insert_session(c: &mut AnyConnection, s: &SessionRow) -> R<()> {
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(&s.id),
            auth_sessions::user_id.eq(&s.user_id),
            auth_sessions::org_id.eq(&s.org_id),
            auth_sessions::created_at.eq(s.created_at),
            auth_sessions::expires_at.eq(s.expires_at),
        ))
        .execute(c)?;
    Ok(())
}

pub fn get_session(c: &mut AnyConnection, id: &str) -> R<Option<SessionRow>> {
    Ok(auth_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(c)
        .optional()?)
}

/// A user's live sessions.
pub fn list_sessions(c: &mut AnyConnection, user: &str, now: Secs) -> R<Vec<SessionRow>> {
    Ok(auth_sessions::table
        .filter(auth_sessions::user_id.eq(user))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(now))
        .order(auth_sessions::created_at.desc())
        .select(SessionRow::as_select())
        .load(c)?)
}

pub fn extend_session(c: &mut AnyConnection, id: &str, expires_at: Secs) -> R<()> {
    diesel::update(auth_sessions::table.find(id))
        .set(auth_sessions::expires_at.eq(expires_at))
        .execute(c)?;
    Ok(())
}

/// Revokes one session of `user`; `false` if it is not theirs or already revoked.
pub fn revoke_session(c: &mut AnyConnection, user: &str, id: &str, now: Secs) -> R<bool> {
    Ok(diesel::update(
        auth_sessions::table
            .find(id)
            .filter(auth_sessions::user_id.eq(user))
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set(auth_sessions::revoked_at.eq(now))
    .execute(c)?
        > 0)
}

/// Revokes every session of `user` except `keep`; returns how many.
pub fn revoke_user_sessions(c: &mut AnyConnection, user: &str, keep: Option<&str>, now: Secs) -> R<usize> {
    let base = auth_sessions::table
        .filter(auth_sessions::user_id.eq(user))
        .filter(auth_sessions::revoked_at.is_null());
    let n = match keep {
        Some(keep) => diesel::update(base.filter(auth_sessions::id.ne(keep)))
            .set(auth_sessions::revoked_at.eq(now))
            .execute(c)?,
        None => diesel::update(base)
            .set(auth_sessions::revoked_at.eq(now))
            .execute(c)?,
    };
    Ok(n)
}

pub fn insert_refresh(c: &mut AnyConnection, r: &RefreshRow) -> R<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(&r.id),
            refresh_tokens::session_id.eq(&r.session_id),
            refresh_tokens::token_hash.eq(&r.token_hash),
            refresh_tokens::created_at.eq(r.created_at),
            refresh_tokens::expires_at.eq(r.expires_at),
        ))
        .execute(c)?;
    Ok(())
}

pub fn refresh_by_hash(c: &mut AnyConnection, hash: &str) -> R<Option<RefreshRow>> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshRow::as_select())
        .first(c)
        .optional()?)
}

/// Marks a refresh token used, only if nobody did first; `true` for the one winner.
pub fn claim_refresh(c: &mut AnyConnection, id: &str, now: Secs) -> R<bool> {
    Ok(diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::rotated_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(c)?
        == 1)
}

/// Live (unused, unexpired) refresh tokens of a session.
pub fn live_refresh_count(c: &mut AnyConnection, session: &str, now: Secs) -> R<i64> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session))
        .filter(refresh_tokens::rotated_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .count()
        .get_result(c)?)
}

// ----- API keys -----

pub fn insert_key(c: &mut AnyConnection, k: &ApiKeyRow) -> R<()> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&k.id),
            api_keys::org_id.eq(&k.org_id),
            api_keys::user_id.eq(&k.user_id),
            api_keys::name.eq(&k.name),
            api_keys::prefix.eq(&k.prefix),
            api_keys::key_hash.eq(&k.key_hash),
            api_keys::roles.eq(&k.roles),
            api_keys::bots.eq(&k.bots),
            api_keys::created_at.eq(k.created_at),
            api_keys::expires_at.eq(k.expires_at),
        ))
        .execute(c)?;
    Ok(())
}

pub fn key_by_hash(c: &mut AnyConnection, hash: &str) -> R<Option<ApiKeyRow>> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .select(ApiKeyRow::as_select())
        .first(c)
        .optional()?)
}

/// Keys of an organization, optionally only one user's.
pub fn list_keys(c: &mut AnyConnection, org: &str, user: Option<&str>) -> R<Vec<ApiKeyRow>> {
    let mut q = api_keys::table
        .filter(api_keys::org_id.eq(org))
        .order(api_keys::created_at.desc())
        .select(ApiKeyRow::as_select())
        .into_boxed();
    if let Some(user) = user {
        q = q.filter(api_keys::user_id.eq(user.to_string()));
    }
    Ok(q.load(c)?)
}

/// Revokes a key inside `org` (and of `user`, when given); `false` when not found.
pub fn revoke_key(c: &mut AnyConnection, org: &str, user: Option<&str>, id: &str, now: Secs) -> R<bool> {
    let n = match user {
        Some(user) => diesel::update(
            api_keys::table
                .find(id)
                .filter(api_keys::org_id.eq(org))
                .filter(api_keys::user_id.eq(user)),
        )
        .set(api_keys::revoked_at.eq(now))
        .execute(c)?,
        None => diesel::update(api_keys::table.find(id).filter(api_keys::org_id.eq(org)))
            .set(api_keys::revoked_at.eq(now))
            .execute(c)?,
    };
    Ok(n > 0)
}

/// Records use, at most once a minute per key (a write per request would be waste).
pub fn touch_key(c: &mut AnyConnection, id: &str, now: Secs) -> R<()> {
    diesel::update(
        api_keys::table.find(id).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.lt(now - 60)),
        ),
    )
    .set(api_keys::last_used_at.eq(now))
    .execute(c)?;
    Ok(())
}
