-- Chat sessions: one per user, bot and channel conversation. `anonymous` sessions belong to
-- a visitor id the server issued (knowing it is the credential); the others to an account.
CREATE TABLE chat_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    bot_id TEXT NOT NULL,
    bot_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    anonymous BOOLEAN NOT NULL DEFAULT FALSE,
    channel TEXT NOT NULL,
    started BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chat_sessions_user ON chat_sessions (user_id, updated_at);

-- The message log. `seq` numbers a session's messages from 1 (the `after=` of the
-- history route); user messages are 'pending' until their turn's answer is stored.
CREATE TABLE chat_messages (
    session_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    suggestions TEXT NOT NULL,
    client_id TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX chat_messages_client ON chat_messages (session_id, client_id);
