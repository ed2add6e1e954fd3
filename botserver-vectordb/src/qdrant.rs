//! [`QdrantVectorStore`]: the [`VectorStore`] on a Qdrant server, through the
//! `qdrant-client` crate (gRPC, port 6334 by default). The module's install picks it when
//! `QDRANT_URL` is set (with `QDRANT_API_KEY`, or the `qdrant-api-key` secret, as its key).
//!
//! A collection is a Qdrant collection of one unnamed dense vector with cosine distance
//! (Qdrant normalises vectors itself and scores by cosine similarity), created with a
//! keyword index on the payload's `document` field. Names that are not plain
//! (`[A-Za-z0-9_-]`, at most 100 bytes) become `h<hash>`. A collection's dimensions are
//! read from the server once and remembered. Qdrant ids are integers or UUIDs: a point's
//! id becomes a UUID v5 of it, and the id itself travels in the payload as `_botserver_id`
//! (taken out again before a payload is returned). Upserts, deletes and index creation
//! wait for the server to apply them (`wait = true`), so a search right after sees them.
//!
//! The semantics follow the embedded store's, with Qdrant's limits: a payload must be a
//! JSON object; a filter's values may be strings, integers, booleans (a `match`), other
//! numbers (a range from the value to itself) or `null` (`is_null`), and arrays or objects
//! are refused; a `match` on a field holding an array is true when any element matches
//! (the embedded store compares the whole value). Delete by document counts the points
//! (exact count), then deletes them by a filter on `document`.
//!
//! No Qdrant server runs on the machines this is built and tested on: the tests drive the
//! real client against a loopback gRPC test double (`tests/it/qdrant.rs`,
//! `QdrantTestDouble`) that decodes the client's real requests and answers as Qdrant
//! documents it, so request building is tested for real and the server's side is not.

use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::services::{VectorHit, VectorPoint, VectorStore};
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, PointStruct, QueryPointsBuilder, Range,
    UpsertPointsBuilder, VectorParamsBuilder, point_id::PointIdOptions, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The payload field that carries a point's own id.
pub const ID_FIELD: &str = "_botserver_id";
/// Most dimensions of a Qdrant vector.
pub const MAX_DIMENSIONS: usize = 65_536;
/// Points per upsert request.
const BATCH: usize = 256;
/// The gRPC status "not found" (`tonic::Code::NotFound` as a number).
const NOT_FOUND: i32 = 5;

/// The Qdrant store (see the module's documentation). Cheap to clone.
#[derive(Clone)]
pub struct QdrantVectorStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Qdrant,
    url: String,
    /// Dimensions of the collections seen so far.
    known: Mutex<HashMap<String, usize>>,
}

/// The gRPC status code of a failed call, if it got that far.
fn status_code(e: &QdrantError) -> Option<i32> {
    match e {
        QdrantError::ResponseError { status } | QdrantError::ResourceExhaustedError { status, .. } => {
            Some(status.code() as i32)
        }
        _ => None,
    }
}

fn unavailable(url: &str, what: &str, e: QdrantError) -> AppError {
    match e {
        QdrantError::ResourceExhaustedError {
            retry_after_seconds, ..
        } => AppError::Unavailable(format!(
            "qdrant at {url}: {what}: rate limited, retry after {retry_after_seconds} s"
        )),
        e => AppError::Unavailable(format!("qdrant at {url}: {what}: {e}")),
    }
}

/// The Qdrant name of a collection: itself when plain, else a hash of it.
pub fn qdrant_name(name: &str) -> String {
    crate::embedded::file_stem(name)
}

/// The Qdrant id of a point: a UUID v5 of its id.
pub fn point_uuid(id: &str) -> String {
    // A fixed namespace of this program's own (any constant UUID would do).
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b62_7665_6374_4000_8000_626f_7473_7276);
    uuid::Uuid::new_v5(&NAMESPACE, id.as_bytes()).to_string()
}

/// A filter as Qdrant conditions (see the module's documentation).
pub fn filter_of(filter: Option<&Value>) -> AppResult<Option<Filter>> {
    let map = match filter {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) if m.is_empty() => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(AppError::bad_request("a filter is a JSON object of field: value")),
    };
    let mut conds = Vec::with_capacity(map.len());
    for (k, v) in map {
        conds.push(match v {
            Value::String(s) => Condition::matches(k.clone(), s.clone()),
            Value::Bool(b) => Condition::matches(k.clone(), *b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Condition::matches(k.clone(), i),
                None => {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    Condition::range(
                        k.clone(),
                        Range {
                            gte: Some(f),
                            lte: Some(f),
                            ..Default::default()
                        },
                    )
                }
            },
            Value::Null => Condition::is_null(k.clone()),
            Value::Array(_) | Value::Object(_) => {
                return Err(AppError::bad_request(format!(
                    "the Qdrant store filters on strings, numbers, booleans and null, not on `{k}`'s value"
                )));
            }
        });
    }
    Ok(Some(Filter::must(conds)))
}

impl QdrantVectorStore {
    /// A store on the Qdrant server at `url` (`http://host:6334`). Connects lazily: the
    /// first call finds out whether the server is there ([`QdrantVectorStore::health`]
    /// asks at once).
    pub fn new(url: &str, api_key: Option<String>, timeout: Duration) -> AppResult<QdrantVectorStore> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(timeout)
            .connect_timeout(timeout)
            // The client's own check blocks a thread and prints to stdout; `health` is ours.
            .skip_compatibility_check()
            .build()
            .map_err(|e| AppError::bad_request(format!("QDRANT_URL: {e}")))?;
        Ok(QdrantVectorStore {
            inner: Arc::new(Inner {
                client,
                url: url.to_string(),
                known: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The server's version, or why it cannot be reached.
    pub async fn health(&self) -> AppResult<String> {
        let r = self
            .inner
            .client
            .health_check()
            .await
            .map_err(|e| unavailable(&self.inner.url, "health check", e))?;
        Ok(r.version)
    }

    /// The collection's dimensions, `None` when it does not exist.
    async fn dims(&self, collection: &str) -> AppResult<Option<usize>> {
        if let Some(d) = self
            .inner
            .known
            .lock()
            .expect("qdrant collections")
            .get(collection)
        {
            return Ok(Some(*d));
        }
        let info = match self.inner.client.collection_info(qdrant_name(collection)).await {
            Ok(i) => i,
            Err(e) if status_code(&e) == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(unavailable(&self.inner.url, "collection info", e)),
        };
        let size = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                vectors_config::Config::Params(p) => Some(p.size as usize),
                vectors_config::Config::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                AppError::Conflict(format!(
                    "qdrant collection {collection} is not a single unnamed vector"
                ))
            })?;
        self.inner
            .known
            .lock()
            .expect("qdrant collections")
            .insert(collection.to_string(), size);
        Ok(Some(size))
    }

    /// Points in a collection (0 when it does not exist).
    pub async fn count(&self, collection: &str) -> AppResult<u64> {
        self.count_where(collection, None).await
    }

    async fn count_where(&self, collection: &str, filter: Option<Filter>) -> AppResult<u64> {
        let mut req = CountPointsBuilder::new(qdrant_name(collection)).exact(true);
        if let Some(f) = filter {
            req = req.filter(f);
        }
        match self.inner.client.count(req).await {
            Ok(r) => Ok(r.result.map_or(0, |r| r.count)),
            Err(e) if status_code(&e) == Some(NOT_FOUND) => Ok(0),
            Err(e) => Err(unavailable(&self.inner.url, "count", e)),
        }
    }
}

#[async_trait]
impl VectorStore for QdrantVectorStore {
    async fn ensure_collection(&self, collection: &str, dimensions: usize) -> AppResult<()> {
        crate::checks::check_collection(collection, dimensions, MAX_DIMENSIONS)?;
        if let Some(have) = self.dims(collection).await? {
            return if have == dimensions {
                Ok(())
            } else {
                Err(crate::checks::dims_conflict(collection, have, dimensions))
            };
        }
        let name = qdrant_name(collection);
        let url = &self.inner.url;
        let create = CreateCollectionBuilder::new(name.clone())
            .vectors_config(VectorParamsBuilder::new(dimensions as u64, Distance::Cosine));
        if let Err(e) = self.inner.client.create_collection(create).await {
            // Another instance may have made it meanwhile (Qdrant then says "wrong input:
            // already exists"): its dimensions decide.
            return match self.dims(collection).await? {
                Some(have) if have == dimensions => Ok(()),
                Some(have) => Err(crate::checks::dims_conflict(collection, have, dimensions)),
                None => Err(unavailable(url, "create collection", e)),
            };
        }
        self.inner
            .client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(name, "document", FieldType::Keyword).wait(true),
            )
            .await
            .map_err(|e| unavailable(url, "create the document index", e))?;
        self.inner
            .known
            .lock()
            .expect("qdrant collections")
            .insert(collection.to_string(), dimensions);
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> AppResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let dims = self.dims(collection).await?.ok_or(AppError::NotFound)?;
        // Checked before anything is sent; the last point of an id wins.
        let mut order: Vec<String> = Vec::with_capacity(points.len());
        let mut by_id: HashMap<String, PointStruct> = HashMap::new();
        for p in points {
            crate::checks::check_point(collection, &p, dims)?;
            let Value::Object(mut fields) = p.payload else {
                return Err(AppError::bad_request(format!(
                    "point {}: the Qdrant store keeps JSON object payloads only",
                    p.id
                )));
            };
            fields.insert(ID_FIELD.into(), Value::String(p.id.clone()));
            let point = PointStruct::new(point_uuid(&p.id), p.vector, Payload::from(fields));
            if by_id.insert(p.id.clone(), point).is_none() {
                order.push(p.id);
            }
        }
        let name = qdrant_name(collection);
        for ids in order.chunks(BATCH) {
            let batch: Vec<PointStruct> = ids
                .iter()
                .map(|id| by_id.remove(id).expect("collected above"))
                .collect();
            self.inner
                .client
                .upsert_points(UpsertPointsBuilder::new(name.clone(), batch).wait(true))
                .await
                .map_err(|e| unavailable(&self.inner.url, "upsert", e))?;
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: Option<Value>,
    ) -> AppResult<Vec<VectorHit>> {
        let filter = filter_of(filter.as_ref())?;
        let Some(dims) = self.dims(collection).await? else {
            return Ok(Vec::new());
        };
        if vector.len() != dims {
            return Err(AppError::bad_request(format!(
                "the query has {} dimensions; collection {collection} has {dims}",
                vector.len()
            )));
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(AppError::bad_request("the query has a non-finite value"));
        }
        if top_k == 0 {
            return Ok(Vec::new());
        }
        let mut req = QueryPointsBuilder::new(qdrant_name(collection))
            .query(vector)
            .limit(top_k as u64)
            .with_payload(true);
        if let Some(f) = filter {
            req = req.filter(f);
        }
        let res = match self.inner.client.query(req).await {
            Ok(r) => r,
            Err(e) if status_code(&e) == Some(NOT_FOUND) => return Ok(Vec::new()),
            Err(e) => return Err(unavailable(&self.inner.url, "query", e)),
        };
        Ok(res
            .result
            .into_iter()
            .map(|p| {
                let mut payload: serde_json::Map<String, Value> = Payload::from(p.payload).into();
                let id = match payload.remove(ID_FIELD) {
                    Some(Value::String(s)) => s,
                    // A point written by someone else: its own id.
                    _ => match p.id.and_then(|i| i.point_id_options) {
                        Some(PointIdOptions::Uuid(u)) => u,
                        Some(PointIdOptions::Num(n)) => n.to_string(),
                        None => String::new(),
                    },
                };
                VectorHit {
                    id,
                    score: p.score,
                    payload: Value::Object(payload),
                }
            })
            .collect())
    }

    async fn delete_by_document(&self, collection: &str, document: &str) -> AppResult<u64> {
        if self.dims(collection).await?.is_none() {
            return Ok(0);
        }
        let by_doc = || Filter::must([Condition::matches("document", document.to_string())]);
        let n = self.count_where(collection, Some(by_doc())).await?;
        if n == 0 {
            return Ok(0);
        }
        match self
            .inner
            .client
            .delete_points(
                DeletePointsBuilder::new(qdrant_name(collection))
                    .points(by_doc())
                    .wait(true),
            )
            .await
        {
            Ok(_) => Ok(n),
            Err(e) if status_code(&e) == Some(NOT_FOUND) => Ok(0),
            Err(e) => Err(unavailable(&self.inner.url, "delete", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn point_ids_become_stable_uuids() {
        assert_eq!(point_uuid("a"), point_uuid("a"));
        assert_ne!(point_uuid("a"), point_uuid("b"));
        assert!(uuid::Uuid::parse_str(&point_uuid("chunk-1")).is_ok());
    }

    #[test]
    fn filters_become_must_conditions_and_unsupported_values_are_refused() {
        assert!(filter_of(None).unwrap().is_none());
        assert!(filter_of(Some(&json!({}))).unwrap().is_none());
        let f = filter_of(Some(
            &json!({"kb": "x", "n": 2, "ok": true, "w": 0.5, "gone": null}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(f.must.len(), 5);
        assert!(filter_of(Some(&json!({"tags": ["a"]}))).is_err());
        assert!(filter_of(Some(&json!("kb"))).is_err());
    }

    #[test]
    fn names_that_are_not_plain_are_hashed() {
        assert_eq!(qdrant_name("kb_abc-1"), "kb_abc-1");
        let h = qdrant_name("kb/../x y");
        assert!(h.starts_with('h') && h.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
