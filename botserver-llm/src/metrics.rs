//! The language-model Prometheus families (served at `/metrics`, prefixed `botserver_llm_`).

use botstate::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Labels: bot and model.
pub type BotModel = [(&'static str, String); 2];
/// Labels: bot, model and outcome.
pub type Outcome = [(&'static str, String); 3];

const SECONDS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0];

/// The families.
#[derive(Clone)]
pub struct LlmMetrics {
    /// `llm_requests_total{bot,model,outcome}` (outcome: ok, error, cached, refused).
    pub requests: Family<Outcome, Counter>,
    /// `llm_prompt_tokens_total{bot,model}`.
    pub prompt_tokens: Family<BotModel, Counter>,
    /// `llm_completion_tokens_total{bot,model}`.
    pub completion_tokens: Family<BotModel, Counter>,
    /// `llm_cost_micro_usd_total{bot,model}`.
    pub cost: Family<BotModel, Counter>,
    /// `llm_latency_seconds`: whole calls.
    pub latency: Histogram,
    /// `llm_time_to_first_token_seconds`: streamed calls.
    pub ttft: Histogram,
}

impl LlmMetrics {
    /// Creates the families and registers them.
    pub fn register(metrics: &Metrics) -> LlmMetrics {
        let m = LlmMetrics {
            requests: Family::default(),
            prompt_tokens: Family::default(),
            completion_tokens: Family::default(),
            cost: Family::default(),
            latency: Histogram::new(SECONDS),
            ttft: Histogram::new(SECONDS),
        };
        let mut r = metrics.registry.lock().unwrap_or_else(|e| e.into_inner());
        let r = r.sub_registry_with_prefix("llm");
        r.register("requests", "Model calls by outcome", m.requests.clone());
        r.register("prompt_tokens", "Prompt tokens used", m.prompt_tokens.clone());
        r.register(
            "completion_tokens",
            "Completion tokens used",
            m.completion_tokens.clone(),
        );
        r.register(
            "cost_micro_usd",
            "Estimated cost in millionths of a dollar",
            m.cost.clone(),
        );
        r.register("latency_seconds", "Duration of model calls", m.latency.clone());
        r.register(
            "time_to_first_token_seconds",
            "Time to the first streamed piece",
            m.ttft.clone(),
        );
        m
    }
}
