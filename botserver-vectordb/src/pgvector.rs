//! [`PgVectorStore`]: the [`VectorStore`] in the server's own PostgreSQL database, through
//! the `vector` extension (pgvector), shared by every instance that shares the database.
//! The module's install picks it when the database is PostgreSQL and the extension can be
//! created (`CREATE EXTENSION IF NOT EXISTS vector`), the embedded store otherwise.
//!
//! Each collection is a table, `kb_vectors_<hash of its name>`:
//! `(id TEXT PRIMARY KEY, document TEXT, payload JSONB, embedding vector(N))`, with an
//! index on `document` and an HNSW index with `vector_cosine_ops` (pgvector indexes at most
//! 2,000 dimensions; a wider collection is scanned exactly). The catalog table
//! `kb_vector_collections` maps a collection's name to its table and its dimensions, which
//! are fixed at creation. These tables are made at run time, not by migrations: they exist
//! only where the extension does, and a collection's table has the collection's width.
//! Creating the catalog or a collection holds a transaction-scoped advisory lock, so
//! instances starting together take turns.
//!
//! The semantics are the embedded store's: vectors are L2-normalised before they are
//! stored; the score of a hit is the cosine similarity, `1 - (embedding <=> query)`; an
//! upsert replaces a point with the same id (the last of a batch wins); the document of a
//! point is its payload's `document` field when it is a string (the `document` column),
//! and deleting by document deletes those points; searching or deleting in a missing
//! collection finds nothing; wrong dimensions are refused before anything is written. A
//! filter `{"field": value, …}` keeps points whose payload has every field equal to its
//! value: scalar values through `payload @> $filter`, arrays and objects by JSONB equality
//! of the field (`@>` would accept a containing array). The one difference: JSON numbers
//! compare by value here (`1` equals `1.0`), by representation in the embedded store.
//!
//! Vectors travel as bound text parameters (`'[0.1,0.2,…]'`) cast with `::vector`;
//! points are written in batches with `unnest` over four bound arrays, one statement per
//! 500 points, all batches of an upsert in one transaction. A search runs in a
//! transaction that sets `hnsw.ef_search` to [`DEFAULT_EF_SEARCH`] (100), or more when
//! more hits are asked for, and,
//! with pgvector 0.8 or later, `hnsw.iterative_scan = strict_order`, so a filtered
//! search goes on scanning the index until it has `top_k` hits in exact order.

use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::services::{VectorHit, VectorPoint, VectorStore};
use botstate::{AnyConnection, Db, DbErr};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text};
use serde_json::Value;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The catalog of collections.
const CATALOG: &str = "kb_vector_collections";
/// The advisory lock held while creating the catalog or a collection.
const LOCK_KEY: i64 = 0x6b62_7665_6374; // "kbvect"
/// Most dimensions pgvector stores in a `vector` column.
pub const MAX_DIMENSIONS: usize = 16_000;
/// Most dimensions pgvector's HNSW index takes for `vector`.
pub const MAX_INDEXED_DIMENSIONS: usize = 2_000;
/// `hnsw.ef_search` unless set otherwise (pgvector's default is 40).
pub const DEFAULT_EF_SEARCH: usize = 100;
/// Points per insert statement.
const BATCH: usize = 500;

/// The pgvector store (see the module's documentation). Cheap to clone.
#[derive(Clone)]
pub struct PgVectorStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Collections seen so far (a collection is never dropped nor resized).
    known: Mutex<HashMap<String, Coll>>,
    /// pgvector 0.8 or later: filtered HNSW scans can go on until they have enough hits.
    iterative_scan: bool,
    /// `hnsw.ef_search` for searches (at least the number of hits asked for).
    ef_search: std::sync::atomic::AtomicUsize,
    version: String,
}

#[derive(Clone, Debug)]
struct Coll {
    table: String,
    dims: usize,
}

#[derive(QueryableByName)]
struct CatalogRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Integer)]
    dimensions: i32,
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = Text)]
    extversion: String,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Nullable<Double>)]
    distance: Option<f64>,
}

/// Runs `f` on the PostgreSQL connection; a SQLite one is a wiring bug.
fn on_pg<T>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    match c {
        AnyConnection::Postgresql(pg) => f(pg),
        AnyConnection::Sqlite(_) => Err(DbErr::App(AppError::internal(anyhow::anyhow!(
            "the pgvector store needs a PostgreSQL database"
        )))),
    }
}

/// The table of a collection: a hash of its name, so any name fits PostgreSQL's
/// 63-byte identifiers and needs no quoting.
fn table_of(name: &str) -> String {
    let h = sha2::Sha256::digest(name.as_bytes());
    format!("kb_vectors_{}", crate::embedded::hex(&h[..12]))
}

/// `[x,y,…]`, pgvector's text form (Rust prints the shortest decimal that reads back
/// as the same `f32`).
fn vector_literal(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(']');
    s
}

/// A filter split into its scalar fields (checked with `@>`) and the others (checked by
/// equality of the field).
fn split_filter(filter: Option<&Value>) -> AppResult<(String, String)> {
    let map = match filter {
        None | Some(Value::Null) => return Ok(("{}".into(), "{}".into())),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(AppError::bad_request("a filter is a JSON object of field: value")),
    };
    let (mut scalars, mut others) = (serde_json::Map::new(), serde_json::Map::new());
    for (k, v) in map {
        match v {
            Value::Array(_) | Value::Object(_) => others.insert(k.clone(), v.clone()),
            _ => scalars.insert(k.clone(), v.clone()),
        };
    }
    Ok((
        Value::Object(scalars).to_string(),
        Value::Object(others).to_string(),
    ))
}

impl PgVectorStore {
    /// Opens the store on `db`: creates the `vector` extension when missing and the
    /// catalog. Fails when `db` is not PostgreSQL or the extension cannot be created (not
    /// installed on the server, or not allowed to this user): the caller then uses another
    /// store.
    pub async fn open(db: Db) -> AppResult<PgVectorStore> {
        if db.backend() != botstate::Backend::Postgres {
            return Err(AppError::bad_request(
                "the pgvector store needs a PostgreSQL database",
            ));
        }
        let version = db
            .run(|c| {
                on_pg(c, |pg| {
                    pg.transaction::<_, DbErr, _>(|pg| {
                        pg.batch_execute(&format!(
                            "SELECT pg_advisory_xact_lock({LOCK_KEY});
                             CREATE EXTENSION IF NOT EXISTS vector;
                             CREATE TABLE IF NOT EXISTS {CATALOG} (
                                 name TEXT PRIMARY KEY NOT NULL,
                                 table_name TEXT NOT NULL UNIQUE,
                                 dimensions INTEGER NOT NULL
                             );"
                        ))?;
                        let v: VersionRow =
                            diesel::sql_query("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                                .get_result(pg)?;
                        Ok(v.extversion)
                    })
                })
            })
            .await?;
        let iterative_scan = {
            let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            (major, minor) >= (0, 8)
        };
        Ok(PgVectorStore {
            inner: Arc::new(Inner {
                db,
                known: Mutex::new(HashMap::new()),
                iterative_scan,
                ef_search: std::sync::atomic::AtomicUsize::new(DEFAULT_EF_SEARCH),
                version,
            }),
        })
    }

    /// Sets `hnsw.ef_search` (the candidates an HNSW search keeps: more is slower and
    /// finds more of the true nearest points), [`DEFAULT_EF_SEARCH`] otherwise. For
    /// benchmarks and tests.
    pub fn set_ef_search(&self, n: usize) {
        self.inner
            .ef_search
            .store(n.clamp(1, 1000), std::sync::atomic::Ordering::Relaxed);
    }

    /// The extension's version (`0.8.1`).
    pub fn extension_version(&self) -> &str {
        &self.inner.version
    }

    /// The collection's table and dimensions, `None` when it does not exist.
    async fn lookup(&self, name: &str) -> AppResult<Option<Coll>> {
        if let Some(c) = self.inner.known.lock().expect("pgvector collections").get(name) {
            return Ok(Some(c.clone()));
        }
        let n = name.to_string();
        let row = self
            .inner
            .db
            .run(move |c| on_pg(c, |pg| catalog_row(pg, &n)))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let coll = Coll {
            table: row.table_name,
            dims: row.dimensions.max(0) as usize,
        };
        self.inner
            .known
            .lock()
            .expect("pgvector collections")
            .insert(name.to_string(), coll.clone());
        Ok(Some(coll))
    }

    /// Points in a collection (0 when it does not exist).
    pub async fn count(&self, collection: &str) -> AppResult<u64> {
        let Some(coll) = self.lookup(collection).await? else {
            return Ok(0);
        };
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let n: N = self
            .inner
            .db
            .run(move |c| {
                on_pg(c, |pg| {
                    Ok(
                        diesel::sql_query(format!("SELECT count(*) AS n FROM {}", coll.table))
                            .get_result(pg)?,
                    )
                })
            })
            .await?;
        Ok(n.n.max(0) as u64)
    }
}

fn catalog_row(pg: &mut PgConnection, name: &str) -> Result<Option<CatalogRow>, DbErr> {
    Ok(diesel::sql_query(format!(
        "SELECT table_name, dimensions FROM {CATALOG} WHERE name = $1"
    ))
    .bind::<Text, _>(name)
    .get_result::<CatalogRow>(pg)
    .optional()?)
}

#[async_trait]
impl VectorStore for PgVectorStore {
    async fn ensure_collection(&self, collection: &str, dimensions: usize) -> AppResult<()> {
        crate::checks::check_collection(collection, dimensions, MAX_DIMENSIONS)?;
        if let Some(c) = self.lookup(collection).await? {
            return if c.dims == dimensions {
                Ok(())
            } else {
                Err(crate::checks::dims_conflict(collection, c.dims, dimensions))
            };
        }
        let name = collection.to_string();
        let table = table_of(collection);
        let coll = self
            .inner
            .db
            .write(move |c| {
                on_pg(c, |pg| {
                    pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))?;
                    // Another instance may have made it while we waited for the lock.
                    if let Some(row) = catalog_row(pg, &name)? {
                        let dims = row.dimensions.max(0) as usize;
                        if dims != dimensions {
                            return Err(DbErr::App(crate::checks::dims_conflict(&name, dims, dimensions)));
                        }
                        return Ok(Coll {
                            table: row.table_name,
                            dims,
                        });
                    }
                    let mut ddl = format!(
                        "CREATE TABLE IF NOT EXISTS {table} (
                             id TEXT PRIMARY KEY NOT NULL,
                             document TEXT,
                             payload JSONB NOT NULL,
                             embedding vector({dimensions}) NOT NULL
                         );
                         CREATE INDEX IF NOT EXISTS {table}_document ON {table} (document);"
                    );
                    if dimensions <= MAX_INDEXED_DIMENSIONS {
                        ddl.push_str(&format!(
                            "CREATE INDEX IF NOT EXISTS {table}_embedding ON {table} \
                             USING hnsw (embedding vector_cosine_ops);"
                        ));
                    }
                    pg.batch_execute(&ddl)?;
                    diesel::sql_query(format!(
                        "INSERT INTO {CATALOG} (name, table_name, dimensions) VALUES ($1, $2, $3)"
                    ))
                    .bind::<Text, _>(&name)
                    .bind::<Text, _>(&table)
                    .bind::<Integer, _>(dimensions as i32)
                    .execute(pg)?;
                    Ok(Coll {
                        table,
                        dims: dimensions,
                    })
                })
            })
            .await?;
        if coll.dims > MAX_INDEXED_DIMENSIONS {
            tracing::info!(
                collection,
                dimensions = coll.dims,
                "pgvector: over 2,000 dimensions, searched without an index"
            );
        }
        self.inner
            .known
            .lock()
            .expect("pgvector collections")
            .insert(collection.to_string(), coll);
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> AppResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let coll = self.lookup(collection).await?.ok_or(AppError::NotFound)?;
        // Checked before anything is written; the last point of an id wins.
        let mut order: Vec<String> = Vec::with_capacity(points.len());
        let mut by_id: HashMap<String, (Option<String>, String, String)> = HashMap::new();
        for mut p in points {
            crate::checks::check_point(collection, &p, coll.dims)?;
            crate::checks::normalize(&mut p.vector);
            let doc = p
                .payload
                .get("document")
                .and_then(Value::as_str)
                .map(str::to_string);
            let row = (doc, p.payload.to_string(), vector_literal(&p.vector));
            if by_id.insert(p.id.clone(), row).is_none() {
                order.push(p.id);
            }
        }
        let table = coll.table;
        self.inner
            .db
            .write(move |c| {
                on_pg(c, |pg| {
                    let sql = format!(
                        "INSERT INTO {table} (id, document, payload, embedding)
                         SELECT u.id, u.document, u.payload::jsonb, u.embedding::vector
                         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                             AS u(id, document, payload, embedding)
                         ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document,
                             payload = EXCLUDED.payload, embedding = EXCLUDED.embedding"
                    );
                    for ids in order.chunks(BATCH) {
                        let (mut docs, mut payloads, mut vectors) = (Vec::new(), Vec::new(), Vec::new());
                        for id in ids {
                            let (d, p, v) = by_id.remove(id).expect("collected above");
                            docs.push(d);
                            payloads.push(p);
                            vectors.push(v);
                        }
                        diesel::sql_query(&sql)
                            .bind::<Array<Text>, _>(ids)
                            .bind::<Array<Nullable<Text>>, _>(&docs)
                            .bind::<Array<Text>, _>(&payloads)
                            .bind::<Array<Text>, _>(&vectors)
                            .execute(pg)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn search(
        &self,
        collection: &str,
        mut vector: Vec<f32>,
        top_k: usize,
        filter: Option<Value>,
    ) -> AppResult<Vec<VectorHit>> {
        let (scalars, others) = split_filter(filter.as_ref())?;
        let Some(coll) = self.lookup(collection).await? else {
            return Ok(Vec::new());
        };
        if vector.len() != coll.dims {
            return Err(AppError::bad_request(format!(
                "the query has {} dimensions; collection {collection} has {}",
                vector.len(),
                coll.dims
            )));
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(AppError::bad_request("the query has a non-finite value"));
        }
        if top_k == 0 {
            return Ok(Vec::new());
        }
        crate::checks::normalize(&mut vector);
        let query = vector_literal(&vector);
        let iterative = self.inner.iterative_scan;
        let table = coll.table;
        let ef_search = top_k
            .max(self.inner.ef_search.load(std::sync::atomic::Ordering::Relaxed))
            .min(1000);
        let rows: Vec<HitRow> = self
            .inner
            .db
            .run(move |c| {
                on_pg(c, |pg| {
                    pg.transaction::<_, DbErr, _>(|pg| {
                        let mut set = format!("SET LOCAL hnsw.ef_search = {ef_search};");
                        if iterative {
                            set.push_str("SET LOCAL hnsw.iterative_scan = strict_order;");
                        }
                        pg.batch_execute(&set)?;
                        Ok(diesel::sql_query(format!(
                            "SELECT id, payload::text AS payload, embedding <=> $1::vector AS distance
                             FROM {table}
                             WHERE payload @> $2::jsonb
                               AND NOT EXISTS (SELECT 1 FROM jsonb_each($3::jsonb) f
                                               WHERE payload -> f.key IS DISTINCT FROM f.value)
                             ORDER BY embedding <=> $1::vector
                             LIMIT $4"
                        ))
                        .bind::<Text, _>(&query)
                        .bind::<Text, _>(&scalars)
                        .bind::<Text, _>(&others)
                        .bind::<BigInt, _>(top_k as i64)
                        .load(pg)?)
                    })
                })
            })
            .await?;
        rows.into_iter()
            .map(|r| {
                let payload = serde_json::from_str(&r.payload).map_err(AppError::internal)?;
                // A zero vector has no direction: pgvector says NaN, the embedded store 0.
                let score = r.distance.map_or(0.0, |d| 1.0 - d);
                Ok(VectorHit {
                    id: r.id,
                    score: if score.is_nan() { 0.0 } else { score as f32 },
                    payload,
                })
            })
            .collect()
    }

    async fn delete_by_document(&self, collection: &str, document: &str) -> AppResult<u64> {
        let Some(coll) = self.lookup(collection).await? else {
            return Ok(0);
        };
        let (table, doc) = (coll.table, document.to_string());
        let n = self
            .inner
            .db
            .write(move |c| {
                on_pg(c, |pg| {
                    Ok(
                        diesel::sql_query(format!("DELETE FROM {table} WHERE document = $1"))
                            .bind::<Text, _>(&doc)
                            .execute(pg)?,
                    )
                })
            })
            .await?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_are_written_as_pgvector_text() {
        assert_eq!(vector_literal(&[1.0, -0.5, 0.1, 1e-7]), "[1,-0.5,0.1,0.0000001]");
        assert_eq!(vector_literal(&[]), "[]");
    }

    #[test]
    fn filters_split_into_containment_and_equality() {
        assert_eq!(split_filter(None).unwrap(), ("{}".into(), "{}".into()));
        let (s, o) = split_filter(Some(&json!({"kb": "x", "n": 2, "tags": ["a"], "m": {"k": 1}}))).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&s).unwrap(),
            json!({"kb": "x", "n": 2})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&o).unwrap(),
            json!({"tags": ["a"], "m": {"k": 1}})
        );
        assert!(split_filter(Some(&json!(["kb"]))).is_err());
    }

    #[test]
    fn table_names_are_short_plain_identifiers() {
        let t = table_of("kb/../../etc Ação and a very long name that goes on and on and on and on");
        assert!(t.len() <= 63 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_ne!(table_of("a"), table_of("b"));
    }
}
