-- One row per call to a language or embedding model: what it cost and how fast it was.
CREATE TABLE llm_usage (
    id TEXT PRIMARY KEY NOT NULL,
    at_ms BIGINT NOT NULL,
    bot_id TEXT NOT NULL,
    org TEXT NOT NULL,
    session_id TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    ttft_ms BIGINT,
    cost_micros BIGINT NOT NULL,
    cached BOOLEAN NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX llm_usage_bot_at ON llm_usage (bot_id, at_ms);
CREATE INDEX llm_usage_org_at ON llm_usage (org, at_ms);
