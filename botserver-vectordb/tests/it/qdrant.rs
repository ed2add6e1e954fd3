//! The Qdrant store: the real `qdrant-client` (gRPC over HTTP/2) against
//! [`QdrantTestDouble`], a loopback gRPC server that is a TEST DOUBLE, not Qdrant. No Qdrant
//! server can be installed on the machines these tests run on. The double decodes the
//! client's real requests (the protobuf messages of the `qdrant` package, framed as gRPC),
//! records them, and answers the few calls the store makes the way Qdrant's documentation
//! says Qdrant does (cosine scores, `must` filters with `match`, `range` and `is_null`,
//! exact counts, not-found and invalid-argument statuses). So the request building and
//! our handling of the answers are tested for real; Qdrant's own behaviour is not.

use crate::support::{Env, code_word, write_corpus};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Response, Uri};
use botserver_vectordb::QdrantVectorStore;
use botserver_vectordb::kb::collection_name;
use botserver_vectordb::qdrant::{ID_FIELD, point_uuid};
use botserver_vectordb::testing::{TestDoubleEmbedder, vector_store_suite};
use botstate::services::{KbQuery, KnowledgeBase, VectorPoint, VectorStore};
use prost::Message;
use qdrant_client::qdrant::{self as q, condition::ConditionOneOf, r#match::MatchValue, value::Kind};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A collection as the double keeps it.
#[derive(Default)]
struct Coll {
    dims: u64,
    distance: i32,
    indexes: Vec<(String, i32)>,
    /// uuid → (normalised vector, payload)
    points: HashMap<String, (Vec<f32>, HashMap<String, q::Value>)>,
}

/// What the double saw and holds.
#[derive(Default)]
struct DoubleState {
    collections: HashMap<String, Coll>,
    /// Every call: its gRPC path and its request message, as sent.
    calls: Vec<(String, Vec<u8>)>,
    /// The `api-key` header of every call.
    api_keys: Vec<Option<String>>,
    /// Answer the next collection lookup "not found" even if it exists (another instance
    /// creating it at the same moment).
    race_once: bool,
}

/// A loopback gRPC server standing in for Qdrant (a TEST DOUBLE; see the module's
/// documentation).
struct QdrantTestDouble {
    url: String,
    state: Arc<Mutex<DoubleState>>,
}

impl QdrantTestDouble {
    async fn start() -> QdrantTestDouble {
        let state = Arc::new(Mutex::new(DoubleState::default()));
        let s = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move { grpc(&s, uri.path(), &headers, &body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        QdrantTestDouble {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn store(&self) -> QdrantVectorStore {
        QdrantVectorStore::new(&self.url, Some("secret-key".into()), Duration::from_secs(5)).unwrap()
    }

    /// The decoded requests sent to `path` so far.
    fn requests<M: Message + Default>(&self, path: &str) -> Vec<M> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| M::decode(b.as_slice()).unwrap())
            .collect()
    }
}

/// One gRPC message, framed (uncompressed).
fn frame(msg: &impl Message) -> Vec<u8> {
    let body = msg.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn ok(msg: impl Message) -> Response<Body> {
    let frames: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = vec![
        Ok(http_body::Frame::data(Bytes::from(frame(&msg)))),
        Ok(http_body::Frame::trailers({
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().unwrap());
            t
        })),
    ];
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(http_body_util::StreamBody::new(
            futures_util::stream::iter(frames),
        )))
        .unwrap()
}

/// A trailers-only gRPC error.
fn status(code: u8, message: &str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(Body::empty())
        .unwrap()
}

const NOT_FOUND: u8 = 5;
const INVALID_ARGUMENT: u8 = 3;

fn decode<M: Message + Default>(body: &[u8]) -> M {
    assert!(body.len() >= 5 && body[0] == 0, "one uncompressed gRPC frame");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    M::decode(&body[5..5 + len]).expect("a valid message")
}

fn done() -> q::PointsOperationResponse {
    q::PointsOperationResponse {
        result: Some(q::UpdateResult {
            operation_id: Some(1),
            status: q::UpdateStatus::Completed as i32,
        }),
        ..Default::default()
    }
}

fn missing(name: &str) -> Response<Body> {
    status(
        NOT_FOUND,
        &format!("Not found: Collection `{name}` doesn't exist!"),
    )
}

#[allow(deprecated)] // The double reads the deprecated `data` field too, as Qdrant does.
fn dense(v: &q::Vector) -> Vec<f32> {
    match &v.vector {
        Some(q::vector::Vector::Dense(d)) => d.data.clone(),
        _ => v.data.clone(),
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Qdrant's `match`: equal, or any element of an array equal.
fn value_matches(v: &q::Value, m: &MatchValue) -> bool {
    match (&v.kind, m) {
        (Some(Kind::ListValue(l)), _) => l.values.iter().any(|e| value_matches(e, m)),
        (Some(Kind::StringValue(s)), MatchValue::Keyword(k)) => s == k,
        (Some(Kind::IntegerValue(i)), MatchValue::Integer(k)) => i == k,
        (Some(Kind::BoolValue(b)), MatchValue::Boolean(k)) => b == k,
        _ => false,
    }
}

fn number(v: &q::Value) -> Option<f64> {
    match v.kind {
        Some(Kind::IntegerValue(i)) => Some(i as f64),
        Some(Kind::DoubleValue(d)) => Some(d),
        _ => None,
    }
}

fn passes(filter: Option<&q::Filter>, payload: &HashMap<String, q::Value>) -> bool {
    let Some(f) = filter else {
        return true;
    };
    assert!(
        f.should.is_empty() && f.must_not.is_empty() && f.min_should.is_none(),
        "the store sends `must` filters only"
    );
    f.must
        .iter()
        .all(|c| match c.condition_one_of.as_ref().expect("a condition") {
            ConditionOneOf::Field(fc) => {
                let Some(v) = payload.get(&fc.key) else {
                    return false;
                };
                if let Some(m) = fc.r#match.as_ref().and_then(|m| m.match_value.as_ref()) {
                    value_matches(v, m)
                } else if let Some(r) = &fc.range {
                    number(v).is_some_and(|x| {
                        r.gte.is_none_or(|g| x >= g)
                            && r.lte.is_none_or(|l| x <= l)
                            && r.gt.is_none_or(|g| x > g)
                            && r.lt.is_none_or(|l| x < l)
                    })
                } else {
                    panic!("unexpected field condition {fc:?}")
                }
            }
            ConditionOneOf::IsNull(n) => matches!(
                payload.get(&n.key).and_then(|v| v.kind.as_ref()),
                Some(Kind::NullValue(_))
            ),
            other => panic!("unexpected condition {other:?}"),
        })
}

fn grpc(state: &Mutex<DoubleState>, path: &str, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let mut st = state.lock().unwrap();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/grpc"),
        "{path}"
    );
    st.api_keys.push(
        headers
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    let message = if body.len() >= 5 {
        body[5..].to_vec()
    } else {
        Vec::new()
    };
    st.calls.push((path.to_string(), message));
    match path {
        "/qdrant.Qdrant/HealthCheck" => ok(q::HealthCheckReply {
            title: "qdrant test double".into(),
            version: "1.15.0-test-double".into(),
            commit: None,
        }),
        "/qdrant.Collections/Get" => {
            let r: q::GetCollectionInfoRequest = decode(body);
            if std::mem::take(&mut st.race_once) {
                return missing(&r.collection_name);
            }
            let Some(c) = st.collections.get(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            ok(q::GetCollectionInfoResponse {
                result: Some(q::CollectionInfo {
                    status: q::CollectionStatus::Green as i32,
                    points_count: Some(c.points.len() as u64),
                    config: Some(q::CollectionConfig {
                        params: Some(q::CollectionParams {
                            vectors_config: Some(q::VectorsConfig {
                                config: Some(q::vectors_config::Config::Params(q::VectorParams {
                                    size: c.dims,
                                    distance: c.distance,
                                    ..Default::default()
                                })),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                time: 0.0,
            })
        }
        "/qdrant.Collections/Create" => {
            let r: q::CreateCollection = decode(body);
            if st.collections.contains_key(&r.collection_name) {
                // Qdrant says "wrong input", not "already exists".
                return status(
                    INVALID_ARGUMENT,
                    &format!("Wrong input: Collection `{}` already exists!", r.collection_name),
                );
            }
            let Some(q::vectors_config::Config::Params(p)) = r.vectors_config.and_then(|v| v.config) else {
                return status(INVALID_ARGUMENT, "one unnamed vector expected");
            };
            st.collections.insert(
                r.collection_name,
                Coll {
                    dims: p.size,
                    distance: p.distance,
                    ..Default::default()
                },
            );
            ok(q::CollectionOperationResponse {
                result: true,
                time: 0.0,
            })
        }
        "/qdrant.Points/CreateFieldIndex" => {
            let r: q::CreateFieldIndexCollection = decode(body);
            let Some(c) = st.collections.get_mut(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            c.indexes.push((r.field_name, r.field_type.unwrap_or(-1)));
            ok(done())
        }
        "/qdrant.Points/Upsert" => {
            let r: q::UpsertPoints = decode(body);
            let Some(c) = st.collections.get_mut(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            let mut new = Vec::new();
            for p in r.points {
                let Some(q::point_id::PointIdOptions::Uuid(id)) = p.id.and_then(|i| i.point_id_options)
                else {
                    return status(INVALID_ARGUMENT, "uuid ids expected");
                };
                let Some(q::vectors::VectorsOptions::Vector(v)) = p.vectors.and_then(|v| v.vectors_options)
                else {
                    return status(INVALID_ARGUMENT, "one unnamed vector expected");
                };
                let v = dense(&v);
                if v.len() as u64 != c.dims {
                    return status(
                        INVALID_ARGUMENT,
                        &format!(
                            "Wrong input: Vector dimension error: expected dim: {}, got {}",
                            c.dims,
                            v.len()
                        ),
                    );
                }
                new.push((id, (normalised(v), p.payload)));
            }
            c.points.extend(new);
            ok(done())
        }
        "/qdrant.Points/Query" => {
            let r: q::QueryPoints = decode(body);
            let Some(c) = st.collections.get(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            let Some(q::query::Variant::Nearest(input)) = r.query.and_then(|q| q.variant) else {
                return status(INVALID_ARGUMENT, "a nearest query expected");
            };
            let query = match input.variant {
                Some(q::vector_input::Variant::Dense(d)) => normalised(d.data),
                _ => return status(INVALID_ARGUMENT, "a dense vector expected"),
            };
            if query.len() as u64 != c.dims {
                return status(INVALID_ARGUMENT, "Wrong input: Vector dimension error");
            }
            let mut hits: Vec<q::ScoredPoint> = c
                .points
                .iter()
                .filter(|(_, (_, payload))| passes(r.filter.as_ref(), payload))
                .map(|(id, (v, payload))| q::ScoredPoint {
                    id: Some(q::PointId::from(id.clone())),
                    payload: payload.clone(),
                    score: v.iter().zip(&query).map(|(a, b)| a * b).sum(),
                    ..Default::default()
                })
                .collect();
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            hits.truncate(r.limit.unwrap_or(10) as usize);
            ok(q::QueryResponse {
                result: hits,
                ..Default::default()
            })
        }
        "/qdrant.Points/Count" => {
            let r: q::CountPoints = decode(body);
            let Some(c) = st.collections.get(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            let count = c
                .points
                .values()
                .filter(|(_, payload)| passes(r.filter.as_ref(), payload))
                .count() as u64;
            ok(q::CountResponse {
                result: Some(q::CountResult { count }),
                ..Default::default()
            })
        }
        "/qdrant.Points/Delete" => {
            let r: q::DeletePoints = decode(body);
            let Some(c) = st.collections.get_mut(&r.collection_name) else {
                return missing(&r.collection_name);
            };
            let Some(q::points_selector::PointsSelectorOneOf::Filter(f)) =
                r.points.and_then(|p| p.points_selector_one_of)
            else {
                return status(INVALID_ARGUMENT, "a filter expected");
            };
            c.points.retain(|_, (_, payload)| !passes(Some(&f), payload));
            ok(done())
        }
        other => status(12, &format!("the Qdrant test double does not implement {other}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_store_passes_the_vector_store_suite_against_the_test_double() {
    let double = QdrantTestDouble::start().await;
    let store = double.store();
    assert_eq!(store.health().await.unwrap(), "1.15.0-test-double");
    vector_store_suite(&store, "t").await;
    vector_store_suite(&store, "kb/../x Ação").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_requests_are_built_as_qdrant_documents_them() {
    let double = QdrantTestDouble::start().await;
    let store = double.store();
    store.ensure_collection("c", 3).await.unwrap();
    store
        .upsert(
            "c",
            vec![
                VectorPoint {
                    id: "p1".into(),
                    vector: vec![1.0, 0.0, 0.0],
                    payload: json!({"document": "d1", "kb": "x"}),
                },
                VectorPoint {
                    id: "p1".into(),
                    vector: vec![0.0, 1.0, 0.0],
                    payload: json!({"document": "d2", "kb": "x"}),
                },
            ],
        )
        .await
        .unwrap();
    let hits = store
        .search(
            "c",
            vec![0.0, 2.0, 0.0],
            7,
            Some(json!({"kb": "x", "n": 2, "w": 0.5})),
        )
        .await
        .unwrap();
    assert!(hits.is_empty(), "no point has n and w");
    let hits = store.search("c", vec![0.0, 2.0, 0.0], 7, None).await.unwrap();
    assert_eq!(hits.len(), 1, "the last point of an id won");
    assert_eq!(hits[0].id, "p1", "our id comes back");
    assert_eq!(
        hits[0].payload,
        json!({"document": "d2", "kb": "x"}),
        "without the id field"
    );
    assert_eq!(store.delete_by_document("c", "d2").await.unwrap(), 1);

    // One unnamed cosine vector of 3 dimensions, and a keyword index on `document`.
    let create: Vec<q::CreateCollection> = double.requests("/qdrant.Collections/Create");
    assert_eq!(create.len(), 1);
    let Some(q::vectors_config::Config::Params(p)) = create[0].vectors_config.clone().and_then(|v| v.config)
    else {
        panic!("vector params");
    };
    assert_eq!((p.size, p.distance), (3, q::Distance::Cosine as i32));
    let index: Vec<q::CreateFieldIndexCollection> = double.requests("/qdrant.Points/CreateFieldIndex");
    assert_eq!(index[0].field_name, "document");
    assert_eq!(index[0].field_type, Some(q::FieldType::Keyword as i32));
    assert_eq!(index[0].wait, Some(true));
    // Upserts wait, carry a UUID v5 of the id and the id itself in the payload.
    let upsert: Vec<q::UpsertPoints> = double.requests("/qdrant.Points/Upsert");
    assert_eq!(upsert[0].wait, Some(true));
    assert_eq!(upsert[0].points.len(), 1);
    assert_eq!(upsert[0].points[0].id, Some(q::PointId::from(point_uuid("p1"))));
    assert_eq!(
        upsert[0].points[0].payload[ID_FIELD].kind,
        Some(Kind::StringValue("p1".into()))
    );
    // A filter is `must`: a keyword match, an integer match, a range for other numbers.
    let query: Vec<q::QueryPoints> = double.requests("/qdrant.Points/Query");
    assert_eq!(query[0].limit, Some(7));
    assert!(query[0].with_payload.is_some());
    let must = &query[0].filter.as_ref().expect("a filter").must;
    let mut kinds: Vec<String> = must
        .iter()
        .map(|c| match c.condition_one_of.as_ref().unwrap() {
            ConditionOneOf::Field(f) => match (&f.r#match, &f.range) {
                (Some(m), _) => format!("{} match {:?}", f.key, m.match_value.as_ref().unwrap()),
                (None, Some(r)) => format!("{} range {:?}..={:?}", f.key, r.gte, r.lte),
                _ => panic!("{f:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "kb match Keyword(\"x\")",
            "n match Integer(2)",
            "w range Some(0.5)..=Some(0.5)"
        ]
    );
    // Delete by document: an exact count, then a delete by the same filter, waited for.
    let count: Vec<q::CountPoints> = double.requests("/qdrant.Points/Count");
    assert_eq!(count.last().unwrap().exact, Some(true));
    let delete: Vec<q::DeletePoints> = double.requests("/qdrant.Points/Delete");
    assert_eq!(delete[0].wait, Some(true));
    // Every call carries the API key.
    let keys = double.state.lock().unwrap().api_keys.clone();
    assert!(!keys.is_empty() && keys.iter().all(|k| k.as_deref() == Some("secret-key")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_finds_the_collection_another_made() {
    let double = QdrantTestDouble::start().await;
    let (a, b, c) = (double.store(), double.store(), double.store());
    a.ensure_collection("c", 3).await.unwrap();
    // b looks while a is creating it: b's create is refused ("wrong input", as Qdrant
    // says), and b reads the dimensions instead.
    double.state.lock().unwrap().race_once = true;
    b.ensure_collection("c", 3).await.unwrap();
    double.state.lock().unwrap().race_once = true;
    let e = c.ensure_collection("c", 4).await.unwrap_err();
    assert!(matches!(e, botlib::AppError::Conflict(_)), "{e:?}");
    assert_eq!(
        double
            .requests::<q::CreateCollection>("/qdrant.Collections/Create")
            .len(),
        3
    );
    assert_eq!(
        double
            .requests::<q::CreateFieldIndexCollection>("/qdrant.Points/CreateFieldIndex")
            .len(),
        1,
        "the index is made once, by the instance that made the collection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_qdrant_is_unavailable() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let store = QdrantVectorStore::new(&url, None, Duration::from_secs(2)).unwrap();
    assert!(matches!(
        store.health().await,
        Err(botlib::AppError::Unavailable(_))
    ));
    let e = store.ensure_collection("c", 3).await.unwrap_err();
    assert!(matches!(e, botlib::AppError::Unavailable(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_base_indexes_into_qdrant_and_searches_by_meaning() {
    let double = QdrantTestDouble::start().await;
    let store = double.store();
    let env = Env::new();
    write_corpus(&env, 30);
    let llm = Arc::new(TestDoubleEmbedder::new(32).with_synonyms(&[("guarantee", "warranty")]));
    let svc = env.start_on(llm, Arc::new(store.clone()), "qdrant");
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.indexed, r.failed), (30, 0), "{r:?}");
    let space = svc.space(&env.bot);
    let mut stored = 0;
    for kb in ["catalogue", "manuals"] {
        stored += store
            .count(&collection_name(env.bot.id, kb, &space))
            .await
            .unwrap();
    }
    assert_eq!(stored as usize, r.chunks);
    let code = code_word(4);
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            query: format!("{code} guarantee"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(hits[0].text.contains(&code), "{:?}", hits[0]);
}
