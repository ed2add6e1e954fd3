-- Durable conversations: one row per conversation, holding its journal (see ARCHITECTURE.md).
CREATE TABLE dialog_sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    bot_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    script TEXT NOT NULL,
    pinned TEXT NOT NULL,
    status TEXT NOT NULL,
    wake_at BIGINT,
    hear TEXT,
    journal TEXT NOT NULL,
    state TEXT NOT NULL,
    outbox TEXT NOT NULL,
    inbox TEXT NOT NULL,
    info TEXT NOT NULL,
    result TEXT,
    turns BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dialog_sessions_wake ON dialog_sessions (wake_at);
CREATE INDEX dialog_sessions_bot ON dialog_sessions (bot_id);

-- Script sources by content hash, so a conversation can finish on the version it started.
CREATE TABLE dialog_scripts (
    hash TEXT PRIMARY KEY NOT NULL,
    file TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- SET BOT MEMORY / SET USER MEMORY / REMEMBER: scope is 'bot' or 'user:<id>'.
CREATE TABLE bot_memory (
    bot_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    mkey TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot_id, scope, mkey)
);
