//! Spaces: whose files these are. A user's space (`users/<user id>/…` in the store), a
//! bot's (`bots/<bot id>/drive/…`, where its scripts' `READ`/`WRITE` land) and an
//! organization's (`orgs/<org id>/…`). Every store key of a space starts with its prefix,
//! and a path inside a space is cleaned ([`clean_path`]) before it is joined to it, so no
//! path names another space's files. [`Space::of_key`] maps a key back to its space, which
//! is how quotas and the index follow every write, whoever makes it.

use botlib::{AppError, AppResult, BotId, OrgId, UserId};

/// The owner of a set of files.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// A person's files.
    User(UserId),
    /// A bot's files (what its scripts read and write).
    Bot(BotId),
    /// An organization's shared files.
    Org(OrgId),
}

impl Space {
    /// The store prefix of the space, ending in `/`.
    pub fn prefix(&self) -> String {
        match self {
            Space::User(u) => format!("users/{u}/"),
            Space::Bot(b) => format!("bots/{b}/drive/"),
            Space::Org(o) => format!("orgs/{o}/"),
        }
    }

    /// The space's id in the drive's tables: `user:<id>`, `bot:<id>`, `org:<id>`.
    pub fn id(&self) -> String {
        match self {
            Space::User(u) => format!("user:{u}"),
            Space::Bot(b) => format!("bot:{b}"),
            Space::Org(o) => format!("org:{o}"),
        }
    }

    /// Parses [`Space::id`].
    pub fn from_id(id: &str) -> Option<Space> {
        let (kind, rest) = id.split_once(':')?;
        let uuid = uuid::Uuid::parse_str(rest).ok()?;
        match kind {
            "user" => Some(Space::User(UserId(uuid))),
            "bot" => Some(Space::Bot(BotId(uuid))),
            "org" => Some(Space::Org(OrgId(uuid))),
            _ => None,
        }
    }

    /// The store key of `path` (cleaned) in this space.
    pub fn key(&self, path: &str) -> AppResult<String> {
        Ok(format!("{}{}", self.prefix(), clean_path(path)?))
    }

    /// The space and path a store key belongs to, when it is in one.
    pub fn of_key(key: &str) -> Option<(Space, &str)> {
        let (kind, rest) = key.split_once('/')?;
        let (id, rest) = rest.split_once('/')?;
        let uuid = uuid::Uuid::parse_str(id).ok()?;
        // Only the canonical spelling: a key naming the same id differently is not this
        // space (and is refused by the stores anyway).
        if uuid.to_string() != id {
            return None;
        }
        match kind {
            "users" => Some((Space::User(UserId(uuid)), rest)),
            "orgs" => Some((Space::Org(OrgId(uuid)), rest)),
            "bots" => rest.strip_prefix("drive/").map(|p| (Space::Bot(BotId(uuid)), p)),
            _ => None,
        }
        .filter(|(_, p)| !p.is_empty())
    }
}

/// A path inside a space made safe: `/`-separated, relative, no `.`, `..` or empty
/// segments, no backslashes or control characters, at most 1024 bytes. An absolute path
/// and `..` are refused outright rather than resolved, so a path never silently lands
/// somewhere else.
pub fn clean_path(path: &str) -> AppResult<String> {
    if path.starts_with('/') {
        return Err(AppError::bad_request(format!(
            "the path {path:?} is absolute; paths are relative to the space"
        )));
    }
    if path.len() > 1024 {
        return Err(AppError::bad_request("a path is at most 1024 bytes"));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(AppError::bad_request(format!(
            "the path {path:?} has a backslash or a control character"
        )));
    }
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(AppError::bad_request(format!(
                    "the path {path:?} goes up with `..`"
                )));
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(AppError::bad_request("the path is empty"));
    }
    Ok(parts.join("/"))
}

/// A folder inside a space (possibly the root: empty), cleaned like [`clean_path`], with a
/// trailing `/` unless it is the root.
pub fn clean_folder(folder: &str) -> AppResult<String> {
    if folder.trim_matches('/').is_empty() {
        return Ok(String::new());
    }
    Ok(format!("{}/", clean_path(folder)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_space_and_back() {
        let u = UserId::new_random();
        let b = BotId::for_name("sales");
        for (space, path) in [(Space::User(u), "a/b.txt"), (Space::Bot(b), "x.csv")] {
            let key = space.key(path).unwrap();
            assert_eq!(Space::of_key(&key), Some((space.clone(), path)));
            assert_eq!(Space::from_id(&space.id()), Some(space));
        }
        assert_eq!(Space::of_key(&format!("bots/{b}/other/x")), None);
        assert_eq!(Space::of_key("packages/sales.gbai/x.bas"), None);
        assert_eq!(Space::of_key(&format!("users/{u}/")), None);
        let upper = format!("users/{}/f", u.to_string().to_uppercase());
        assert_eq!(Space::of_key(&upper), None);
    }

    #[test]
    fn paths_stay_inside_their_space() {
        assert_eq!(clean_path("a/./b.txt").unwrap(), "a/b.txt");
        for bad in [
            "../x",
            "a/../../x",
            "",
            "/",
            "/etc/passwd",
            "a\\..\\b",
            "a\u{0}b",
            "..",
        ] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(clean_folder("/").unwrap(), "");
        assert_eq!(clean_folder("docs").unwrap(), "docs/");
        assert!(clean_folder("../").is_err());
    }
}
