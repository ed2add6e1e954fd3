-- The catalog of the bots' own tables (BASIC `TABLE`, `SAVE`, `FIND`...): one row per bot
-- and table, naming the physical SQL table and its columns, so every instance agrees.
-- Written to apply more than once (botserver_auto::data::ensure_catalog runs it too).
CREATE TABLE IF NOT EXISTS bot_tables (
    bot_id TEXT NOT NULL,
    name TEXT NOT NULL,
    physical TEXT NOT NULL UNIQUE,
    key_column TEXT NOT NULL,
    columns_json TEXT NOT NULL,
    defined BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot_id, name)
);
