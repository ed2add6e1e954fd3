//! Which model answers for a bot: its `config.csv` keys over the server's `[llm]`
//! defaults, the wire protocol that implies, and the model's capability flags (so vendor
//! differences live in one table instead of `if` statements scattered through the code).

use botstate::BotInfo;
use botstate::config::LlmConfig;

/// The wire protocol of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wire {
    /// OpenAI chat completions (also Groq, Ollama, vLLM, llama.cpp server, LM Studio).
    OpenAi,
    /// Azure OpenAI: deployments in the path, `api-key` header, `api-version` query.
    Azure,
    /// Anthropic Messages.
    Anthropic,
}

/// What a model can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Accepts `tools` and answers with tool calls.
    pub tools: bool,
    /// Accepts a JSON-object response format.
    pub json_mode: bool,
    /// Reports usage at the end of a stream when asked (`stream_options`).
    pub stream_usage: bool,
    /// Accepts a `system` role message (else the prompt goes in the first user message).
    pub system_role: bool,
    /// Accepts `temperature`.
    pub temperature: bool,
    /// Context window in tokens (prompt assembly trims history to fit).
    pub context_tokens: u32,
}

impl Caps {
    const FULL: Caps = Caps {
        tools: true,
        json_mode: true,
        stream_usage: true,
        system_role: true,
        temperature: true,
        context_tokens: 128_000,
    };
}

/// Capability flags of a model: a table of name prefixes, then `llm-capabilities`
/// overrides from the bot (`tools=false,json=true,context=8192`).
pub fn caps_for(wire: Wire, model: &str, overrides: Option<&str>) -> Caps {
    let m = model.to_ascii_lowercase();
    let mut caps = Caps::FULL;
    if wire == Wire::Anthropic {
        caps.json_mode = false;
        caps.stream_usage = false;
        caps.context_tokens = 200_000;
    }
    // Reasoning models: no system role or temperature in their first generations.
    if m.starts_with("o1") {
        caps.system_role = false;
        caps.temperature = false;
        caps.tools = !m.starts_with("o1-mini") && !m.starts_with("o1-preview");
    }
    if m.starts_with("o3") || m.starts_with("o4") || m.starts_with("gpt-5") {
        caps.temperature = false;
    }
    if m.starts_with("gpt-3.5") {
        caps.context_tokens = 16_000;
    }
    // Small local models: a short context window; tool use is left on (the server decides).
    if m.contains("smollm") || m.contains("tinyllama") || m.contains("phi-2") {
        caps.context_tokens = 2_048;
    }
    for part in overrides.unwrap_or_default().split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let on = matches!(v.trim(), "true" | "yes" | "1");
        match k.trim() {
            "tools" => caps.tools = on,
            "json" => caps.json_mode = on,
            "stream-usage" => caps.stream_usage = on,
            "system" => caps.system_role = on,
            "temperature" => caps.temperature = on,
            "context" => caps.context_tokens = v.trim().parse().unwrap_or(caps.context_tokens),
            _ => {}
        }
    }
    caps
}

/// Everything needed to call one bot's model.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The protocol.
    pub wire: Wire,
    /// `llm-provider` as configured (or guessed), for usage records.
    pub provider: String,
    /// Base URL, normalised (OpenAI style ends in `/v1`).
    pub base: String,
    /// The key, when there is one.
    pub key: Option<String>,
    /// Model name (Azure: deployment).
    pub model: String,
    /// Default temperature.
    pub temperature: Option<f32>,
    /// Default completion cap.
    pub max_tokens: Option<u32>,
    /// The model's capabilities.
    pub caps: Caps,
    /// A model file for `llamacpp`: the server supervises a `llama-server` for it.
    pub model_file: Option<String>,
}

/// The embeddings endpoint of a bot.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedTarget {
    /// The protocol (Anthropic has none: such bots set `embedding-url`).
    pub wire: Wire,
    /// Base URL.
    pub base: String,
    /// Key.
    pub key: Option<String>,
    /// Model.
    pub model: String,
}

/// `provider` named, else guessed from the URL.
pub fn wire_of(provider: &str, url: &str) -> Wire {
    match provider {
        "anthropic" => Wire::Anthropic,
        "azure" => Wire::Azure,
        "openai" | "ollama" | "llamacpp" => Wire::OpenAi,
        _ if url.contains("anthropic.com") => Wire::Anthropic,
        _ if url.contains(".openai.azure.com") => Wire::Azure,
        _ => Wire::OpenAi,
    }
}

/// The base URL in the form each wire module expects: OpenAI style ends in `/v1` (added
/// to a bare host, an endpoint path stripped); Azure and Anthropic are the bare origin.
pub fn normalise_base(wire: Wire, url: &str) -> String {
    let mut u = url.trim().trim_end_matches('/').to_string();
    for suffix in ["/chat/completions", "/embeddings", "/messages"] {
        if let Some(s) = u.strip_suffix(suffix) {
            u = s.to_string();
        }
    }
    match wire {
        Wire::OpenAi => {
            let path_empty = url::Url::parse(&u)
                .map(|p| p.path() == "/" || p.path().is_empty())
                .unwrap_or(false);
            if path_empty { format!("{u}/v1") } else { u }
        }
        Wire::Anthropic => u.strip_suffix("/v1").map(str::to_string).unwrap_or(u),
        Wire::Azure => u,
    }
}

/// Resolves a bot's model (`None`: no model configured for it).
pub fn resolve(defaults: &LlmConfig, server_key: Option<&str>, bot: Option<&BotInfo>) -> Option<Target> {
    let get = |k: &str| bot.and_then(|b| b.get(k)).map(str::to_string);
    let provider = get("llm-provider").unwrap_or_else(|| defaults.provider.clone());
    let model_file = get("llm-model-file").filter(|_| provider == "llamacpp");
    let url = get("llm-url").or_else(|| Some(defaults.url.clone()).filter(|u| !u.trim().is_empty()));
    // A supervised llama-server gets its URL when it starts.
    let url = match (url, &model_file) {
        (Some(u), _) => u,
        (None, Some(_)) => "http://127.0.0.1:0".to_string(),
        (None, None) => return None,
    };
    let wire = wire_of(&provider, &url);
    // A bot's own URL goes with its own key; the server key only with the server URL.
    let key = if bot.and_then(|b| b.get("llm-url")).is_some() {
        get("llm-key")
    } else {
        get("llm-key").or_else(|| server_key.map(str::to_string))
    };
    let model = get("llm-model").unwrap_or_else(|| defaults.model.clone());
    let caps = caps_for(wire, &model, bot.and_then(|b| b.get("llm-capabilities")));
    Some(Target {
        wire,
        provider: if provider.is_empty() {
            match wire {
                Wire::OpenAi => "openai",
                Wire::Azure => "azure",
                Wire::Anthropic => "anthropic",
            }
            .into()
        } else {
            provider
        },
        base: normalise_base(wire, &url),
        key,
        model,
        temperature: get("llm-temperature").and_then(|t| t.parse().ok()),
        max_tokens: get("llm-max-tokens").and_then(|t| t.parse().ok()),
        caps,
        model_file,
    })
}

/// Resolves a bot's embeddings endpoint: `embedding-url` (bot, then server), else the chat
/// model's own endpoint when an `embedding-model` is named.
pub fn resolve_embed(
    defaults: &LlmConfig,
    server_key: Option<&str>,
    bot: Option<&BotInfo>,
    chat: Option<&Target>,
) -> Option<EmbedTarget> {
    let get = |k: &str| bot.and_then(|b| b.get(k)).map(str::to_string);
    let model =
        get("embedding-model").or_else(|| Some(defaults.embedding_model.clone()).filter(|m| !m.is_empty()));
    let url = get("embedding-url").or_else(|| Some(defaults.embedding_url.clone()).filter(|u| !u.is_empty()));
    match (url, chat) {
        (Some(url), _) => {
            let wire = match wire_of(get("embedding-provider").as_deref().unwrap_or(""), &url) {
                Wire::Anthropic => return None,
                w => w,
            };
            let key = if get("embedding-url").is_some() {
                get("embedding-key")
            } else {
                get("embedding-key").or_else(|| server_key.map(str::to_string))
            };
            Some(EmbedTarget {
                wire,
                base: normalise_base(wire, &url),
                key,
                model: model.unwrap_or_default(),
            })
        }
        (None, Some(chat)) if chat.wire != Wire::Anthropic => Some(EmbedTarget {
            wire: chat.wire,
            base: chat.base.clone(),
            key: chat.key.clone(),
            model: model?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(pairs: &[(&str, &str)]) -> BotInfo {
        BotInfo {
            name: "b".into(),
            settings: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn bases_are_normalised_per_wire() {
        assert_eq!(
            normalise_base(Wire::OpenAi, "http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            normalise_base(Wire::OpenAi, "https://api.groq.com/openai/v1/"),
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(
            normalise_base(Wire::OpenAi, "http://h:1/v1/chat/completions"),
            "http://h:1/v1"
        );
        assert_eq!(
            normalise_base(Wire::Anthropic, "https://api.anthropic.com/v1"),
            "https://api.anthropic.com"
        );
    }

    #[test]
    fn a_bot_overrides_the_server_and_never_gets_the_server_key_for_its_own_url() {
        let defaults = LlmConfig {
            url: "http://server:1".into(),
            model: "m0".into(),
            ..Default::default()
        };
        let t = resolve(&defaults, Some("server-key"), None).unwrap();
        assert_eq!(
            (t.base.as_str(), t.model.as_str(), t.key.as_deref()),
            ("http://server:1/v1", "m0", Some("server-key"))
        );
        let b = bot(&[
            ("llm-url", "https://api.anthropic.com"),
            ("llm-model", "claude-x"),
        ]);
        let t = resolve(&defaults, Some("server-key"), Some(&b)).unwrap();
        assert_eq!(t.wire, Wire::Anthropic);
        assert_eq!(t.key, None);
        assert!(!t.caps.json_mode);
        assert!(resolve(&LlmConfig::default(), None, None).is_none());
    }

    #[test]
    fn capability_overrides_win() {
        let c = caps_for(Wire::OpenAi, "SmolLM2-135M", Some("tools=false, context=4096"));
        assert!(!c.tools);
        assert_eq!(c.context_tokens, 4096);
        assert!(!caps_for(Wire::OpenAi, "o1-mini", None).system_role);
    }

    #[test]
    fn embeddings_follow_the_chat_endpoint_only_with_a_model() {
        let defaults = LlmConfig {
            url: "http://server:1".into(),
            ..Default::default()
        };
        let chat = resolve(&defaults, None, None).unwrap();
        assert!(resolve_embed(&defaults, None, None, Some(&chat)).is_none());
        let b = bot(&[("embedding-model", "e5")]);
        let e = resolve_embed(&defaults, None, Some(&b), Some(&chat)).unwrap();
        assert_eq!((e.base.as_str(), e.model.as_str()), ("http://server:1/v1", "e5"));
    }
}
