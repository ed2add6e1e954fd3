//! The S3-compatible object store (feature `s3`): one bucket of AWS S3, SeaweedFS, MinIO,
//! Garage or any other service speaking the S3 API, through `aws-sdk-s3` with its
//! hyper-rustls client on ring.
//!
//! [`S3Store::connect`] creates the bucket when it is missing, and checks (with two tiny
//! objects under [`PROBE_PREFIX`], deleted at once) whether the service lists keys in byte
//! order as S3 specifies: AWS, MinIO and Garage do, and are listed with flat, paged
//! `ListObjectsV2` calls; SeaweedFS walks its folders (`a/b` before `a.b`), so it is listed
//! folder by folder with the `/` delimiter and merged in byte order (one request per folder
//! visited). A flat listing that comes back out of order also switches to that walk.
//!
//! Small bodies go up in one `PutObject`; a streamed upload larger than [`PART_SIZE`]
//! becomes a multipart upload of parts of that size, at most [`PARTS_IN_FLIGHT`] at once,
//! aborted on any failure and (from a guard that spawns the abort) when the upload is
//! dropped half-way, so nothing partial is ever visible. Downloads stream the response body, ranges through the `Range` header;
//! copies stay inside the server (`CopyObject`, up to 5 GiB). Errors: a missing object is
//! 404, a service that cannot be reached or times out is 503, anything else 500 (logged with
//! the service's code). Timeouts bound connecting (5 s) and each request attempt (up to the
//! response head), never a streamed body.

use super::keys::{check_key, check_prefix, content_type_for};
use crate::store::ObjectStore;
use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream as SdkByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
};
use aws_smithy_http_client::tls;
use botlib::{AppError, AppResult};
use botstate::services::{ByteStream, ObjectBody, ObjectMeta};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;

/// Size of each part of a multipart upload; bodies up to this size go up in one request.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at the same time.
pub const PARTS_IN_FLIGHT: usize = 2;

/// S3 allows at most this many parts (so an upload holds at most 80 GiB).
const MAX_PARTS: i32 = 10_000;

/// Connecting to the service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One request attempt, up to the response head (a part is 8 MiB: at least ~70 KB/s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where [`S3Store::connect`] writes (and deletes) the two tiny objects that show whether
/// the service lists in byte order.
pub const PROBE_PREFIX: &str = ".botserver-probe/";

/// Where the bucket is and how to sign in to it.
#[derive(Clone)]
pub struct S3Options {
    /// The service's URL (`http://127.0.0.1:8333`, `https://s3.eu-west-1.amazonaws.com`);
    /// empty: AWS's endpoint for `region`.
    pub endpoint: String,
    /// The bucket (created when missing).
    pub bucket: String,
    /// The region (`us-east-1` for most services other than AWS).
    pub region: String,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`), which most self-hosted services
    /// need; virtual-hosted style (`<bucket>.<endpoint>`) otherwise.
    pub path_style: bool,
    /// The access key id.
    pub access_key: String,
    /// The secret key.
    pub secret_key: String,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key", &"[redacted]")
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

/// Objects in one bucket of an S3-compatible service.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// The service lists out of byte order: list folder by folder.
    walk_listing: Arc<AtomicBool>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Connects to the service and creates the bucket when it does not exist. 503 when the
    /// service does not answer.
    pub async fn connect(opts: S3Options) -> AppResult<S3Store> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let region = if opts.region.trim().is_empty() {
            "us-east-1"
        } else {
            opts.region.trim()
        };
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                opts.access_key.clone(),
                opts.secret_key.clone(),
                None,
                None,
                "botserver",
            ))
            .force_path_style(opts.path_style)
            // Checksums only where the API requires them: many S3-compatible services do
            // not understand the newer default ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if !opts.endpoint.trim().is_empty() {
            config = config.endpoint_url(opts.endpoint.trim().trim_end_matches('/'));
        }
        let store = S3Store {
            client: Client::from_conf(config.build()),
            bucket: opts.bucket.clone(),
            walk_listing: Arc::new(AtomicBool::new(false)),
        };
        store.ensure_bucket(region).await?;
        if !store.lists_in_byte_order().await? {
            tracing::info!(
                bucket = %store.bucket,
                "the object storage does not list keys in byte order: listing folder by folder"
            );
            store.walk_listing.store(true, Ordering::Relaxed);
        }
        Ok(store)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Whether listings go folder by folder (the service does not list in byte order).
    pub fn walks_folders(&self) -> bool {
        self.walk_listing.load(Ordering::Relaxed)
    }

    /// For tests: list with flat calls again (the next answer out of byte order switches
    /// back to the walk).
    #[doc(hidden)]
    pub fn set_walks_folders(&self, walk: bool) {
        self.walk_listing.store(walk, Ordering::Relaxed);
    }

    /// Keys of the multipart uploads started under `prefix` and neither completed nor
    /// aborted (for operations and tests: an interrupted upload must leave none).
    pub async fn pending_uploads(&self, prefix: &str) -> AppResult<Vec<String>> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| sdk_err("list multipart uploads", e))?;
        Ok(out
            .uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_string))
            .collect())
    }

    async fn ensure_bucket(&self, region: &str) -> AppResult<()> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(sdk_err("reach the bucket", e)),
        }
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created the drive's bucket");
                Ok(())
            }
            Err(e)
                if matches!(
                    code_of(&e),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err("create the bucket", e)),
        }
    }

    /// Whether a flat listing comes back in byte order: writes `a.b` and `a/b` under a
    /// fresh probe prefix and lists them (SeaweedFS, for one, walks its folders and lists
    /// `a/b` first).
    async fn lists_in_byte_order(&self) -> AppResult<bool> {
        let base = format!("{PROBE_PREFIX}{}/", uuid::Uuid::new_v4().simple());
        let keys = [format!("{base}a.b"), format!("{base}a/b")];
        for key in &keys {
            self.put_whole(key, Bytes::new(), None).await?;
        }
        let listed = self.list_flat(&base, None, 10).await;
        for key in &keys {
            if let Err(e) = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                tracing::warn!(key = %key, error = %DisplayErrorContext(&e), "could not delete a listing probe");
            }
        }
        Ok(matches!(listed?, Some(found) if found.iter().map(|m| &m.key).eq(keys.iter())))
    }

    /// One flat listing (`ListObjectsV2` from `after`, paged up to `limit`), or `None` when
    /// the service answered out of byte order.
    async fn list_flat(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<Option<Vec<ObjectMeta>>> {
        let mut out: Vec<ObjectMeta> = Vec::new();
        let mut token: Option<String> = None;
        // Every key under the prefix sorts after an `after` below the prefix.
        let start_after = after.filter(|a| *a >= prefix);
        let mut last: Option<String> = start_after.map(str::to_string);
        while out.len() < limit {
            let want = (limit - out.len()).min(1000) as i32;
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(want);
            req = match &token {
                Some(t) => req.continuation_token(t),
                None => req.set_start_after(start_after.map(str::to_string)),
            };
            let page = req.send().await.map_err(|e| sdk_err("list objects", e))?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                if last.as_deref().is_some_and(|l| key <= l) {
                    return Ok(None);
                }
                last = Some(key.to_string());
                if out.len() < limit && check_key(key).is_ok() {
                    out.push(listed_meta(obj));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(Some(out))
    }

    /// A listing in byte order from a service that does not list in byte order: folder by
    /// folder (`ListObjectsV2` with the `/` delimiter), each folder's files and subfolders
    /// sorted with the `/` that follows a subfolder's name, subfolders wholly before
    /// `after` skipped. One request per folder visited (and per 1,000 entries).
    async fn list_walk(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let mut stack = vec![self.list_folder(prefix).await?.into_iter()];
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.next() else {
                stack.pop();
                continue;
            };
            match entry {
                Entry::Object(meta) => {
                    if after.is_some_and(|a| meta.key.as_str() <= a) || !meta.key.starts_with(prefix) {
                        continue;
                    }
                    out.push(meta);
                    if out.len() >= limit {
                        break;
                    }
                }
                Entry::Folder(folder) => {
                    // Every key in the folder starts with it: skip it when `after` is past all of them.
                    if after.is_some_and(|a| a > folder.as_str() && !a.starts_with(&folder)) {
                        continue;
                    }
                    stack.push(self.list_folder(&folder).await?.into_iter());
                }
            }
        }
        Ok(out)
    }

    /// The objects and subfolders directly under `prefix`, in byte order.
    async fn list_folder(&self, prefix: &str) -> AppResult<Vec<Entry>> {
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_err("list objects", e))?;
            for obj in page.contents() {
                if obj.key().is_some_and(|k| check_key(k).is_ok()) {
                    entries.push(Entry::Object(listed_meta(obj)));
                }
            }
            for folder in page.common_prefixes() {
                if let Some(p) = folder.prefix() {
                    entries.push(Entry::Folder(p.to_string()));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(entries)
    }

    /// One `PutObject` of a body held in memory.
    async fn put_whole(&self, key: &str, data: Bytes, content_type: Option<&str>) -> AppResult<ObjectMeta> {
        let size = data.len() as u64;
        let content_type = content_type.or_else(|| content_type_for(key));
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(SdkByteStream::from(data))
            .set_content_type(content_type.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("store an object", e))?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size,
            etag: clean_etag(out.e_tag()),
            content_type: content_type.map(str::to_string),
            modified_ms: now_ms(),
        })
    }

    /// The multipart upload of `first` (one full part) and whatever `body` yields after it.
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        over: Option<Bytes>,
        mut body: ByteStream,
        content_type: Option<&str>,
        max_bytes: u64,
    ) -> AppResult<ObjectMeta> {
        let content_type = content_type.or_else(|| content_type_for(key));
        // Started on its own task, which hands over the upload inside its abort guard: if this
        // future is dropped while the request is on its way, the unclaimed guard is dropped
        // (by the failed send, or with the channel) and aborts the upload it names.
        let (tx, rx) = tokio::sync::oneshot::channel::<AppResult<AbortGuard>>();
        let (client, bucket, owned_key) = (self.client.clone(), self.bucket.clone(), key.to_string());
        let content_type_owned = content_type.map(str::to_string);
        tokio::spawn(async move {
            let created = client
                .create_multipart_upload()
                .bucket(&bucket)
                .key(&owned_key)
                .set_content_type(content_type_owned)
                .send()
                .await;
            let started = match created {
                Ok(out) => match out.upload_id() {
                    Some(id) => Ok(AbortGuard {
                        client,
                        bucket,
                        key: owned_key,
                        upload_id: Some(id.to_string()),
                    }),
                    None => Err(AppError::internal(anyhow!(
                        "the service started a multipart upload without an id"
                    ))),
                },
                Err(e) => Err(sdk_err("start a multipart upload", e)),
            };
            let _ = tx.send(started);
        });
        // Declared before the parts, so on drop the part tasks are cancelled first and the
        // abort is spawned after them.
        let mut guard = rx
            .await
            .map_err(|_| AppError::internal(anyhow!("the multipart upload's start was lost")))??;
        let upload_id = guard.upload_id.clone().expect("a fresh guard names its upload");
        let mut parts: JoinSet<AppResult<(CompletedPart, Bytes)>> = JoinSet::new();
        // Buffers of parts already sent, reused for the next ones: the same few
        // allocations carry the whole upload (no allocator churn, a flat memory profile).
        let mut spare: Vec<BytesMut> = Vec::new();
        let mut done: Vec<CompletedPart> = Vec::new();
        let result = async {
            // Parts are filled in buffers allocated once at their final size: at most
            // PARTS_IN_FLIGHT parts uploading plus one filling are in memory.
            let mut total = (first.len() + over.as_ref().map_or(0, Bytes::len)) as u64;
            let mut rest = BytesMut::with_capacity(PART_SIZE);
            let mut full: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
            let mut spill = over;
            while let Some(piece) = spill.take() {
                spill = fill(&mut rest, piece);
                if rest.len() == PART_SIZE {
                    full.push_back(std::mem::replace(&mut rest, BytesMut::with_capacity(PART_SIZE)).freeze());
                }
            }
            let mut next_part: i32 = 1;
            let mut pending = Some(first);
            let mut finished = false;
            loop {
                if let Some(data) = pending.take() {
                    if next_part > MAX_PARTS {
                        return Err(AppError::bad_request(format!(
                            "the upload is larger than {} GiB",
                            (PART_SIZE as u64 * MAX_PARTS as u64) >> 30
                        )));
                    }
                    while parts.len() >= PARTS_IN_FLIGHT {
                        let (part, data) = join_part(parts.join_next().await)?;
                        done.push(part);
                        if let Ok(mut buf) = data.try_into_mut() {
                            buf.clear();
                            spare.push(buf);
                        }
                    }
                    parts.spawn(upload_part(
                        self.client.clone(),
                        self.bucket.clone(),
                        key.to_string(),
                        upload_id.clone(),
                        next_part,
                        data,
                    ));
                    next_part += 1;
                }
                if let Some(part) = full.pop_front() {
                    pending = Some(part);
                    continue;
                }
                if finished {
                    if !rest.is_empty() {
                        pending = Some(rest.split().freeze());
                        continue;
                    }
                    break;
                }
                match body.next().await {
                    Some(Ok(piece)) => {
                        total += piece.len() as u64;
                        if total > max_bytes {
                            return Err(AppError::PayloadTooLarge {
                                limit_bytes: max_bytes,
                            });
                        }
                        let mut spill = Some(piece);
                        while let Some(piece) = spill.take() {
                            spill = fill(&mut rest, piece);
                            if rest.len() == PART_SIZE {
                                let next = spare.pop().unwrap_or_else(|| BytesMut::with_capacity(PART_SIZE));
                                let part = std::mem::replace(&mut rest, next);
                                full.push_back(part.freeze());
                            }
                        }
                    }
                    Some(Err(e)) => return Err(AppError::bad_request(format!("the upload failed: {e}"))),
                    None => finished = true,
                }
            }
            while let Some(joined) = parts.join_next().await {
                done.push(join_part(Some(joined))?.0);
            }
            done.sort_by_key(|p| p.part_number());
            let completed = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
                .send()
                .await
                .map_err(|e| sdk_err("complete a multipart upload", e))?;
            Ok((total, clean_etag(completed.e_tag())))
        }
        .await;
        match result {
            Ok((size, etag)) => {
                guard.upload_id = None;
                Ok(ObjectMeta {
                    key: key.to_string(),
                    size,
                    etag,
                    content_type: content_type.map(str::to_string),
                    modified_ms: now_ms(),
                })
            }
            Err(e) => {
                parts.shutdown().await;
                guard.abort_now().await;
                Err(e)
            }
        }
    }
}

/// One entry of a folder listed with the `/` delimiter.
enum Entry {
    Object(ObjectMeta),
    /// A subfolder's prefix, ending with `/`.
    Folder(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Object(meta) => &meta.key,
            Entry::Folder(prefix) => prefix,
        }
    }
}

/// The metadata of a listed object (listings carry no content type: the one the name
/// suggests).
fn listed_meta(obj: &aws_sdk_s3::types::Object) -> ObjectMeta {
    let key = obj.key().unwrap_or_default();
    ObjectMeta {
        key: key.to_string(),
        size: obj.size().unwrap_or(0).max(0) as u64,
        etag: clean_etag(obj.e_tag()),
        content_type: content_type_for(key).map(str::to_string),
        modified_ms: ms_of(obj.last_modified()),
    }
}

/// Aborts a multipart upload that did not complete: at once on an error, or from a spawned
/// task when the upload's future is dropped.
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: Option<String>,
}

impl AbortGuard {
    async fn abort_now(&mut self) {
        if let Some(id) = self.upload_id.take() {
            abort_upload(self.client.clone(), self.bucket.clone(), self.key.clone(), id).await;
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(id) = self.upload_id.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(abort_upload(
                        self.client.clone(),
                        self.bucket.clone(),
                        self.key.clone(),
                        id,
                    ));
                }
                Err(_) => {
                    tracing::warn!(key = %self.key, "a multipart upload was left pending (no runtime to abort it)")
                }
            }
        }
    }
}

async fn abort_upload(client: Client, bucket: String, key: String, upload_id: String) {
    let aborted = client
        .abort_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await;
    if let Err(e) = aborted
        && status_of(&e) != Some(404)
    {
        tracing::warn!(key = %key, error = %DisplayErrorContext(&e), "could not abort a multipart upload");
    }
}

/// Sends one part; returns it with (a handle on) its bytes, for reuse once the SDK let go.
async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    number: i32,
    data: Bytes,
) -> AppResult<(CompletedPart, Bytes)> {
    let out = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(SdkByteStream::from(data.clone()))
        .send()
        .await
        .map_err(|e| sdk_err("upload a part", e))?;
    let part = CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build();
    Ok((part, data))
}

fn join_part(
    joined: Option<Result<AppResult<(CompletedPart, Bytes)>, tokio::task::JoinError>>,
) -> AppResult<(CompletedPart, Bytes)> {
    match joined {
        Some(Ok(part)) => part,
        Some(Err(e)) => Err(AppError::internal(anyhow!("a part upload task failed: {e}"))),
        None => Err(AppError::internal(anyhow!("no part upload to wait for"))),
    }
}

/// The HTTP status of a service's answer, when there was one.
fn status_of<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn code_of<E: ProvideErrorMetadata>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

/// Maps an SDK error: a missing object is 404, an unreachable or slow service 503,
/// anything else 500 with the service's code and message for the log.
fn sdk_err<E>(what: &str, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = status_of(&e);
    let code = code_of(&e).map(str::to_string);
    match (&e, status, code.as_deref()) {
        (_, _, Some("NoSuchBucket")) => AppError::internal(anyhow!(
            "could not {what}: the bucket does not exist: {}",
            DisplayErrorContext(&e)
        )),
        (_, Some(404), _) | (_, _, Some("NoSuchKey" | "NotFound" | "NoSuchUpload")) => AppError::NotFound,
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _, _) => {
            tracing::warn!(error = %DisplayErrorContext(&e), "object storage: could not {what}");
            AppError::Unavailable("object storage".into())
        }
        (_, Some(500..=599), _) | (_, _, Some("SlowDown")) => {
            tracing::warn!(error = %DisplayErrorContext(&e), "object storage: could not {what}");
            AppError::Unavailable("object storage".into())
        }
        _ => AppError::internal(anyhow!(
            "object storage: could not {what}: {}",
            DisplayErrorContext(&e)
        )),
    }
}

/// ETags come quoted from S3; stored without the quotes.
fn clean_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

fn ms_of(t: Option<&DateTime>) -> i64 {
    t.and_then(|t| t.to_millis().ok()).unwrap_or(0)
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `bytes 0-9/100` → (0, 9, 100).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    Some((
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// `x-amz-copy-source`: `bucket/key`, percent-encoded except for `/` and unreserved bytes.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 8);
    out.push_str(bucket);
    out.push('/');
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Copies `piece` into `part` (allocated once at [`PART_SIZE`], so it never grows and
/// reallocates) up to the part's size; returns what did not fit.
fn fill(part: &mut BytesMut, piece: Bytes) -> Option<Bytes> {
    let take = (PART_SIZE - part.len()).min(piece.len());
    part.extend_from_slice(&piece[..take]);
    (take < piece.len()).then(|| piece.slice(take..))
}

/// The first part of an upload: up to [`PART_SIZE`] bytes of `body`, what arrived beyond
/// them, and whether the body ended within them.
async fn read_first_part(
    body: &mut ByteStream,
    max_bytes: u64,
) -> AppResult<(BytesMut, Option<Bytes>, bool)> {
    let mut buf = BytesMut::with_capacity(PART_SIZE);
    let mut total = 0u64;
    loop {
        match body.next().await {
            Some(Ok(piece)) => {
                total += piece.len() as u64;
                if total > max_bytes {
                    return Err(AppError::PayloadTooLarge {
                        limit_bytes: max_bytes,
                    });
                }
                if buf.len() == PART_SIZE {
                    return Ok((buf, Some(piece), false));
                }
                if let Some(over) = fill(&mut buf, piece) {
                    return Ok((buf, Some(over), false));
                }
            }
            Some(Err(e)) => return Err(AppError::bad_request(format!("the upload failed: {e}"))),
            None => return Ok((buf, None, true)),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, data: Bytes, content_type: Option<&str>) -> AppResult<ObjectMeta> {
        check_key(key)?;
        self.put_whole(key, data, content_type).await
    }

    async fn get(&self, key: &str) -> AppResult<Bytes> {
        check_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_err("read an object", e))?;
        let data = out.body.collect().await.map_err(|e| {
            tracing::warn!(error = %e, "object storage: a download broke off");
            AppError::Unavailable("object storage".into())
        })?;
        Ok(data.into_bytes())
    }

    async fn head(&self, key: &str) -> AppResult<ObjectMeta> {
        check_key(key)?;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_err("read an object's metadata", e))?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: clean_etag(out.e_tag()),
            content_type: out.content_type().map(str::to_string),
            modified_ms: ms_of(out.last_modified()),
        })
    }

    async fn delete(&self, key: &str) -> AppResult<bool> {
        check_key(key)?;
        // S3 answers a delete of a missing key like any other: ask first.
        match self.head(key).await {
            Ok(_) => {}
            Err(AppError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_err("delete an object", e))?;
        Ok(true)
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> AppResult<Vec<ObjectMeta>> {
        check_prefix(prefix)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        if self.walk_listing.load(Ordering::Relaxed) {
            return self.list_walk(prefix, after, limit).await;
        }
        match self.list_flat(prefix, after, limit).await? {
            Some(out) => Ok(out),
            None => {
                tracing::warn!(
                    bucket = %self.bucket,
                    "the object storage lists keys out of byte order: listing folder by folder from now on"
                );
                self.walk_listing.store(true, Ordering::Relaxed);
                self.list_walk(prefix, after, limit).await
            }
        }
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        content_type: Option<&str>,
        max_bytes: u64,
    ) -> AppResult<ObjectMeta> {
        check_key(key)?;
        let (first, over, ended) = read_first_part(&mut body, max_bytes).await?;
        if ended {
            return self.put_whole(key, first.freeze(), content_type).await;
        }
        self.put_multipart(key, first.freeze(), over, body, content_type, max_bytes)
            .await
    }

    async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> AppResult<ObjectBody> {
        check_key(key)?;
        let mut req = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some((start, end)) = range {
            if start > end {
                let size = self.head(key).await?.size;
                return Err(AppError::RangeNotSatisfiable { size });
            }
            req = req.range(format!("bytes={start}-{end}"));
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if status_of(&e) == Some(416) => {
                let size = self.head(key).await?.size;
                return Err(AppError::RangeNotSatisfiable { size });
            }
            Err(e) => return Err(sdk_err("read an object", e)),
        };
        let length = out.content_length().unwrap_or(0).max(0) as u64;
        let (size, sent) = match (range, out.content_range().and_then(parse_content_range)) {
            (Some(_), Some((start, end, total))) => (total, Some((start, end))),
            // A service that ignored the range sent the whole object.
            (Some(_), None) => (length, None),
            (None, _) => (length, None),
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag: clean_etag(out.e_tag()),
            content_type: out.content_type().map(str::to_string),
            modified_ms: ms_of(out.last_modified()),
        };
        let stream = futures_util::stream::unfold(Some(out.body), |state| async move {
            let mut body = state?;
            match body.next().await {
                Some(Ok(bytes)) => Some((Ok(bytes), Some(body))),
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), None)),
                None => None,
            }
        });
        Ok(ObjectBody {
            meta,
            range: sent,
            stream: Box::pin(stream),
        })
    }

    async fn copy(&self, from: &str, to: &str) -> AppResult<ObjectMeta> {
        check_key(from)?;
        check_key(to)?;
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(copy_source(&self.bucket, from))
            .send()
            .await
            .map_err(|e| sdk_err("copy an object", e))?;
        self.head(to).await
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> AppResult<Option<String>> {
        check_key(key)?;
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| AppError::bad_request(format!("invalid link lifetime: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| sdk_err("presign a download", e))?;
        Ok(Some(req.uri().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5, 5, 6)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(copy_source("b", "a/b c/é+.txt"), "b/a/b%20c/%C3%A9%2B.txt");
        assert_eq!(copy_source("b", "x~_-.y"), "b/x~_-.y");
    }

    #[test]
    fn etags_lose_their_quotes_and_secrets_their_debug() {
        assert_eq!(clean_etag(Some("\"abc\"")), "abc");
        assert_eq!(clean_etag(None), "");
        let opts = S3Options {
            endpoint: "http://127.0.0.1:1".into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: "AKIDSECRET".into(),
            secret_key: "hunter2".into(),
        };
        let shown = format!("{opts:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("AKIDSECRET"),
            "{shown}"
        );
    }
}
