-- The answer to each conversation's last input, keyed by the caller's input id, written in
-- the same transaction as the conversation: a turn retried after a crash gets this answer
-- back instead of running twice.
CREATE TABLE dialog_replies (
    session_id TEXT PRIMARY KEY NOT NULL,
    input_id TEXT NOT NULL,
    output TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
