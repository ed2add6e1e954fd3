//! The `botserver user …` commands: account administration from the server's console,
//! which needs no token (whoever runs it already holds the database).

use crate::repo;
use crate::service::{AuthService, NewUser, normalize_username};
use crate::tokens::new_secret;
use botlib::{AppError, AppResult};

/// A password for a command: the given one, or a generated one (returned to show once).
fn password_or_generated(given: Option<String>) -> AppResult<(String, bool)> {
    match given {
        Some(p) => Ok((p, false)),
        None => Ok((new_secret("")?.chars().take(20).collect(), true)),
    }
}

/// `user create`: creates a user (in the system organization unless `org` is given).
pub async fn create(
    svc: &AuthService,
    username: &str,
    password: Option<String>,
    roles: Vec<String>,
    org: Option<String>,
) -> AppResult<String> {
    let org = match org {
        Some(o) => o,
        None => {
            svc.db
                .run(repo::system_org)
                .await?
                .ok_or_else(|| {
                    AppError::Unavailable("no system organization yet; start the server once".into())
                })?
                .id
        }
    };
    let (password, generated) = password_or_generated(password)?;
    let roles = if roles.is_empty() {
        vec!["user".to_string()]
    } else {
        roles
    };
    let user = svc
        .create_user_in(
            &org,
            NewUser {
                username: username.to_string(),
                password: Some(password.clone()),
                display_name: None,
                email: None,
                roles: Some(roles),
                bot_grants: None,
                org_id: None,
            },
        )
        .await?;
    let mut out = format!(
        "created user {} ({}) with roles {}",
        user.username,
        user.id,
        user.roles.join(",")
    );
    if generated {
        out.push_str(&format!("\npassword: {password}  (shown once)"));
    }
    Ok(out)
}

/// `user list`: every account of every organization.
pub async fn list(svc: &AuthService) -> AppResult<String> {
    let rows = svc
        .db
        .run(|c| {
            let mut out = Vec::new();
            for org in repo::list_orgs(c)? {
                for u in repo::list_users(c, &org.id, 10_000, 0)? {
                    out.push((org.name.clone(), u));
                }
            }
            Ok(out)
        })
        .await?;
    let mut out = format!(
        "{:<24} {:<32} {:<20} {}\n",
        "ORGANIZATION", "USERNAME", "ROLES", "STATE"
    );
    for (org, u) in rows {
        let state = if u.disabled { "disabled" } else { "active" };
        out.push_str(&format!("{org:<24} {:<32} {:<20} {state}\n", u.username, u.roles));
    }
    Ok(out.trim_end().to_string())
}

async fn find(svc: &AuthService, username: &str) -> AppResult<repo::UserRow> {
    let name = normalize_username(username)?;
    svc.db
        .run(move |c| repo::user_by_username(c, &name))
        .await?
        .ok_or(AppError::NotFound)
}

/// `user disable`: disables an account and ends its sessions.
pub async fn disable(svc: &AuthService, username: &str) -> AppResult<String> {
    let user = find(svc, username).await?;
    let (org, id) = (user.org_id.clone(), user.id.clone());
    let now = crate::tokens::now_secs() as i64;
    svc.db
        .run(move |c| {
            let changes = repo::UserChanges {
                display_name: None,
                email: None,
                roles: None,
                bot_grants: None,
                disabled: Some(true),
            };
            repo::update_user(c, &org, &id, &changes, now)?;
            repo::revoke_user_sessions(c, &id, None, now)
        })
        .await?;
    Ok(format!("disabled user {} and ended its sessions", user.username))
}

/// `user reset-password`: sets a new password, clears the lockout, ends the sessions.
pub async fn reset_password(
    svc: &AuthService,
    username: &str,
    password: Option<String>,
) -> AppResult<String> {
    let user = find(svc, username).await?;
    let (password, generated) = password_or_generated(password)?;
    svc.reset_password(&user.org_id, &user.id, &password).await?;
    let mut out = format!("reset the password of {}; its sessions ended", user.username);
    if generated {
        out.push_str(&format!("\npassword: {password}  (shown once)"));
    }
    Ok(out)
}
