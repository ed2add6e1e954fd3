-- Knowledge-base documents: one row per file of a bot's <bot>.gbkb/<kb>/ folder, the
-- indexing job of its current content. `content_hash` is the SHA-256 of the bytes whose
-- chunks are stored; `file_size` and `file_mtime_ms` let a scan skip unchanged files
-- without reading them. `status`: pending (to index, or to retry at `next_attempt_ms`),
-- indexed, failed (after the last attempt; retried when the file changes).
-- `vector_space` names the embedding model the vectors were made with (`none:…` when
-- the bot had none), `chunker` the chunk size and overlap used.
CREATE TABLE kb_documents (
    id TEXT PRIMARY KEY NOT NULL,
    bot_id TEXT NOT NULL,
    kb TEXT NOT NULL,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    file_mtime_ms BIGINT NOT NULL,
    chunker TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    chunk_count BIGINT NOT NULL,
    vector_space TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX kb_documents_path ON kb_documents (bot_id, kb, path);

-- The chunks of each document's current content: the lexical index of every instance is
-- built from here, and passages are read from here. Ids derive from (bot, kb, path,
-- content hash, ordinal), so writing a document's chunks again writes the same rows.
CREATE TABLE kb_chunks (
    id TEXT PRIMARY KEY NOT NULL,
    bot_id TEXT NOT NULL,
    kb TEXT NOT NULL,
    path TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    location TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX kb_chunks_document ON kb_chunks (bot_id, kb, path);
