//! The knowledge bases end to end, in process: the indexer over real files, a real SQLite
//! database and the embedded vector store on disk, with a test double for embeddings;
//! the vector-store suite; retrieval quality; the REST routes.

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
