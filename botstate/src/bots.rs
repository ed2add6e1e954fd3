//! [`BotRegistry`]: the bots loaded now and their settings, published by the engine that
//! loads packages and read by the domains that act for a bot (its model, its knowledge
//! bases). Settings include secrets (`llm-key`): this registry is for the server's own
//! use and is never serialized to an API.

use botlib::BotId;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// One loaded bot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotInfo {
    /// The bot's id.
    pub id: BotId,
    /// The package name (`support` for `support.gbai`).
    pub name: String,
    /// `config.csv`, secrets included.
    pub settings: BTreeMap<String, String>,
    /// `<bot>.gbot/PROMPT.md`, which wins over `system-prompt`.
    pub prompt: Option<String>,
    /// The package folder on disk, when it has one (its `.gbkb` lives there).
    pub folder: Option<PathBuf>,
}

impl BotInfo {
    /// A setting, trimmed; `None` when missing or blank.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A setting parsed, or `default` when missing; an unparsable value is `default` too
    /// (the package loader reports bad values when the package loads).
    pub fn parse_or<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// The system prompt: PROMPT.md, else `system-prompt`.
    pub fn system_prompt(&self) -> Option<&str> {
        self.prompt
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .or_else(|| self.get("system-prompt"))
    }
}

/// The bots loaded now, by id.
#[derive(Default)]
pub struct BotRegistry {
    bots: RwLock<HashMap<BotId, Arc<BotInfo>>>,
}

impl BotRegistry {
    /// Adds or replaces a bot.
    pub fn publish(&self, info: BotInfo) {
        self.bots
            .write()
            .expect("bot registry")
            .insert(info.id, Arc::new(info));
    }

    /// Removes a bot; `true` when it was there.
    pub fn remove(&self, id: BotId) -> bool {
        self.bots.write().expect("bot registry").remove(&id).is_some()
    }

    /// One bot.
    pub fn get(&self, id: BotId) -> Option<Arc<BotInfo>> {
        self.bots.read().expect("bot registry").get(&id).cloned()
    }

    /// One bot by package name.
    pub fn by_name(&self, name: &str) -> Option<Arc<BotInfo>> {
        self.bots
            .read()
            .expect("bot registry")
            .values()
            .find(|b| b.name == name)
            .cloned()
    }

    /// Every bot, by name.
    pub fn all(&self) -> Vec<Arc<BotInfo>> {
        let mut v: Vec<_> = self
            .bots
            .read()
            .expect("bot registry")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_file_wins_and_blank_settings_are_missing() {
        let mut b = BotInfo {
            name: "x".into(),
            ..Default::default()
        };
        b.settings.insert("system-prompt".into(), "from config".into());
        b.settings.insert("kb-top-k".into(), "  ".into());
        assert_eq!(b.system_prompt(), Some("from config"));
        assert_eq!(b.parse_or("kb-top-k", 5usize), 5);
        b.prompt = Some("from PROMPT.md\n".into());
        assert_eq!(b.system_prompt(), Some("from PROMPT.md"));
        let r = BotRegistry::default();
        r.publish(b.clone());
        assert_eq!(r.by_name("x").unwrap().id, b.id);
        assert!(r.remove(b.id));
        assert!(r.get(b.id).is_none());
    }
}
