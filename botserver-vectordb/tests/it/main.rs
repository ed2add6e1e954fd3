//! The knowledge bases end to end, in process: the indexer over real files, a real SQLite
//! database and the embedded vector store on disk, with a test double for embeddings;
//! the vector-store suite on the embedded store, on pgvector (a real PostgreSQL with
//! pgvector, `BOT_TEST_PGVECTOR_URL`) and on Qdrant (feature `qdrant`: the real client
//! against a gRPC test double); retrieval quality; the REST routes; `USE WEBSITE` against
//! a site served on loopback.

mod api;
mod cli;
mod ingest;
mod pgvector;
#[cfg(feature = "qdrant")]
mod qdrant;
mod recall;
mod store;
mod support;
mod website;
