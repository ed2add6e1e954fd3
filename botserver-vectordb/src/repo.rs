//! The knowledge bases' tables: `kb_documents` (one indexing job per file: its content
//! hash, status, attempts and the time of the next one) and `kb_chunks` (the chunks of each
//! document's current content). Plain synchronous functions over `&mut AnyConnection`;
//! writers run inside `Db::write`.

use botstate::{AnyConnection, DbErr};
use diesel::prelude::*;
use serde::Serialize;

diesel::table! {
    kb_documents (id) {
        id -> Text,
        bot_id -> Text,
        kb -> Text,
        path -> Text,
        content_hash -> Text,
        file_size -> BigInt,
        file_mtime_ms -> BigInt,
        chunker -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_ms -> BigInt,
        last_error -> Nullable<Text>,
        chunk_count -> BigInt,
        vector_space -> Text,
        updated_ms -> BigInt,
    }
}

diesel::table! {
    kb_chunks (id) {
        id -> Text,
        bot_id -> Text,
        kb -> Text,
        path -> Text,
        ordinal -> BigInt,
        location -> Text,
        text -> Text,
    }
}

use kb_chunks as kc;
use kb_documents as kd;

/// Waiting to be indexed, or to be retried at `next_attempt_ms`.
pub const PENDING: &str = "pending";
/// Indexed: chunks stored, vectors made (when the bot has an embedding model).
pub const INDEXED: &str = "indexed";
/// Gave up after the last attempt; tried again when the file changes or on a reindex.
pub const FAILED: &str = "failed";

/// One document's indexing job.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = kb_documents, treat_none_as_null = true)]
pub struct DocumentRow {
    /// Derived from (bot, kb, path).
    pub id: String,
    pub bot_id: String,
    pub kb: String,
    /// Path inside the knowledge base's folder, `/`-separated.
    pub path: String,
    /// SHA-256 (hex) of the content whose chunks are stored.
    pub content_hash: String,
    pub file_size: i64,
    pub file_mtime_ms: i64,
    /// Chunk size and overlap used.
    pub chunker: String,
    /// [`PENDING`], [`INDEXED`] or [`FAILED`].
    pub status: String,
    /// Failed attempts since the content last changed.
    pub attempts: i64,
    /// Not tried again before this (Unix milliseconds).
    pub next_attempt_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub chunk_count: i64,
    /// The embedding model the vectors were made with (`none:…` without one).
    pub vector_space: String,
    pub updated_ms: i64,
}

/// One stored chunk.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = kb_chunks)]
pub struct ChunkRow {
    pub id: String,
    pub bot_id: String,
    pub kb: String,
    pub path: String,
    pub ordinal: i64,
    pub location: String,
    pub text: String,
}

/// Every document of a bot, by knowledge base and path.
pub fn documents(c: &mut AnyConnection, bot: &str) -> Result<Vec<DocumentRow>, DbErr> {
    Ok(kd::table
        .filter(kd::bot_id.eq(bot))
        .order((kd::kb.asc(), kd::path.asc()))
        .select(DocumentRow::as_select())
        .load(c)?)
}

/// The documents of one knowledge base.
pub fn documents_of_kb(c: &mut AnyConnection, bot: &str, kb: &str) -> Result<Vec<DocumentRow>, DbErr> {
    Ok(kd::table
        .filter(kd::bot_id.eq(bot).and(kd::kb.eq(kb)))
        .order(kd::path.asc())
        .select(DocumentRow::as_select())
        .load(c)?)
}

/// Inserts or replaces a document's row.
pub fn save_document(c: &mut AnyConnection, row: &DocumentRow) -> Result<(), DbErr> {
    let n = diesel::update(kd::table.find(&row.id)).set(row).execute(c)?;
    if n == 0 {
        diesel::insert_into(kd::table).values(row).execute(c)?;
    }
    Ok(())
}

/// Replaces a document's chunks.
pub fn replace_chunks(
    c: &mut AnyConnection,
    bot: &str,
    kb: &str,
    path: &str,
    chunks: &[ChunkRow],
) -> Result<(), DbErr> {
    delete_chunks(c, bot, kb, path)?;
    // One statement per row: batch inserts are not available over both backends at once
    // (MultiConnection); the caller's transaction makes them one commit.
    for row in chunks {
        diesel::insert_into(kc::table).values(row).execute(c)?;
    }
    Ok(())
}

fn delete_chunks(c: &mut AnyConnection, bot: &str, kb: &str, path: &str) -> Result<usize, DbErr> {
    Ok(
        diesel::delete(kc::table.filter(kc::bot_id.eq(bot).and(kc::kb.eq(kb)).and(kc::path.eq(path))))
            .execute(c)?,
    )
}

/// Deletes a document's row and chunks.
pub fn delete_document(c: &mut AnyConnection, bot: &str, kb: &str, path: &str) -> Result<(), DbErr> {
    delete_chunks(c, bot, kb, path)?;
    diesel::delete(kd::table.filter(kd::bot_id.eq(bot).and(kd::kb.eq(kb)).and(kd::path.eq(path))))
        .execute(c)?;
    Ok(())
}

/// A document's chunks, in order.
pub fn chunks_of(c: &mut AnyConnection, bot: &str, kb: &str, path: &str) -> Result<Vec<ChunkRow>, DbErr> {
    Ok(kc::table
        .filter(kc::bot_id.eq(bot).and(kc::kb.eq(kb)).and(kc::path.eq(path)))
        .order(kc::ordinal.asc())
        .select(ChunkRow::as_select())
        .load(c)?)
}

/// Chunks by id (in no particular order).
pub fn chunks_by_id(c: &mut AnyConnection, ids: &[String]) -> Result<Vec<ChunkRow>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(500) {
        out.extend(
            kc::table
                .filter(kc::id.eq_any(batch))
                .select(ChunkRow::as_select())
                .load(c)?,
        );
    }
    Ok(out)
}

/// Chunk counts by document of a bot (to check indexes against).
pub fn chunk_count(c: &mut AnyConnection, bot: &str) -> Result<i64, DbErr> {
    Ok(kc::table.filter(kc::bot_id.eq(bot)).count().get_result(c)?)
}
