//! The chat's Prometheus families: open sockets, turns, turn latency, fallbacks and errors
//! per bot (served by the core at `/metrics`, prefixed `botserver_chat_`).

use botstate::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// Labels naming a bot.
pub type BotLabel = [(&'static str, String); 1];

/// Turn latency buckets, in seconds: 1 ms to 30 s.
const TURN_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The families.
#[derive(Clone)]
pub struct ChatMetrics {
    /// `chat_open_sockets`
    pub sockets: Gauge,
    /// `chat_turns_total{bot}`
    pub turns: Family<BotLabel, Counter>,
    /// `chat_turn_duration_seconds`
    pub latency: Histogram,
    /// `chat_fallbacks_total{bot}`: messages nothing could answer.
    pub fallbacks: Family<BotLabel, Counter>,
    /// `chat_errors_total{bot}`: turns that failed.
    pub errors: Family<BotLabel, Counter>,
}

impl ChatMetrics {
    /// Creates the families and registers them.
    pub fn register(metrics: &Metrics) -> ChatMetrics {
        let m = ChatMetrics {
            sockets: Gauge::default(),
            turns: Family::default(),
            latency: Histogram::new(TURN_BUCKETS),
            fallbacks: Family::default(),
            errors: Family::default(),
        };
        let mut r = metrics.registry.lock().unwrap_or_else(|e| e.into_inner());
        let r = r.sub_registry_with_prefix("chat");
        r.register(
            "open_sockets",
            "Chat WebSockets open on this instance",
            m.sockets.clone(),
        );
        r.register("turns", "Chat turns answered", m.turns.clone());
        r.register(
            "turn_duration_seconds",
            "Time from a user message to its stored answer",
            m.latency.clone(),
        );
        r.register("fallbacks", "Messages nothing could answer", m.fallbacks.clone());
        r.register("errors", "Chat turns that failed", m.errors.clone());
        m
    }

    /// The label of `bot`.
    pub fn bot(bot: &str) -> BotLabel {
        [("bot", bot.to_string())]
    }
}
