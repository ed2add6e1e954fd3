//! [`EmbeddedVectorStore`]: the default [`VectorStore`], in process, persisted under
//! `<data_dir>/vectors/`, nothing to install.
//!
//! On disk, each collection is an append-only log, `<name>.log`, and after compaction a
//! snapshot, `<name>.snap`. Both start with a header (magic, dimensions, the collection's
//! name) followed by records `[length u32][CRC-32 u32][body]`, little-endian; a body is an
//! upsert (id, vector, payload JSON), a delete by id or a delete by document. Every
//! operation is idempotent (an upsert sets a point, a delete removes), so replaying a log
//! over any state that already contains part of it gives the same result. A write appends
//! its records and syncs them before it is applied in memory and acknowledged. Opening
//! loads the snapshot, then replays the log up to its first incomplete or corrupt record
//! (what a crash mid-write leaves), and truncates the log there. When the log holds more
//! than twice as many records as there are live points, the collection is compacted: the
//! live points are written to `<name>.snap.tmp`, synced and renamed over the snapshot,
//! then the log is replaced by an empty one the same way. A crash between the two renames
//! replays the old log over the new snapshot, which changes nothing.
//!
//! In memory a collection keeps its vectors contiguous, L2-normalised at insert, so a
//! search is a dot product per point (eight lanes at a time, which the compiler turns into
//! SIMD), with a bounded heap for the top k. Large collections (from a million floats,
//! about 2,600 points of 384 dimensions) also keep each vector as `i8` codes with a scale:
//! a search scans the codes (a quarter of the memory traffic of `f32`, which is what bounds
//! a brute-force scan), keeps `max(4k, k + 64)` candidates, and rescores those exactly, so
//! returned scores are exact cosines and the order among candidates is exact; from four
//! million floats the scan is split across two threads. A payload filter
//! (`{"field": value, …}`, all must be equal) is checked only for points that would enter
//! the heap. The document of a point is its payload's `document` field (a string);
//! deleting by document uses an index on it.
//!
//! This store belongs to one process: several instances sharing a database each keep
//! their own (a later store, pgvector, is the shared one).

use async_trait::async_trait;
use botlib::{AppError, AppResult};
use botstate::services::{VectorHit, VectorPoint, VectorStore};
use serde_json::Value;
use sha2::Digest;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

const LOG_MAGIC: &[u8; 8] = b"BVDBLOG1";
const SNAP_MAGIC: &[u8; 8] = b"BVDBSNP1";
const OP_UPSERT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_DELETE_DOCUMENT: u8 = 3;
/// Largest record accepted when reading (a corrupt length stops the replay).
const MAX_RECORD: u32 = 64 * 1024 * 1024;
/// Most dimensions of a collection.
pub const MAX_DIMENSIONS: usize = 16_384;
/// From this many floats on, a search scans with two threads.
pub const PARALLEL_FLOATS: usize = 4_000_000;
/// From this many floats on, a search picks candidates on `i8` codes first.
pub const QUANTIZED_FLOATS: usize = 1_000_000;

/// The embedded vector store (see the module's documentation).
#[derive(Clone)]
pub struct EmbeddedVectorStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    scan: std::sync::Mutex<ScanOpts>,
    collections: RwLock<HashMap<String, Arc<RwLock<Collection>>>>,
}

struct Collection {
    name: String,
    dims: usize,
    ids: Vec<String>,
    vectors: Vec<f32>,
    /// The vectors quantised to `i8` (one scale per point), scanned first in large
    /// collections.
    codes: Vec<i8>,
    scales: Vec<f32>,
    payloads: Vec<Value>,
    docs: Vec<Option<String>>,
    by_id: HashMap<String, usize>,
    by_doc: HashMap<String, HashSet<usize>>,
    log: File,
    log_path: PathBuf,
    snap_path: PathBuf,
    log_records: usize,
}

fn io(what: &str, e: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("vector store: {what}: {e}"))
}

/// The file stem for a collection: the name itself when it is plain, else a hash of it.
pub(crate) fn file_stem(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        name.to_string()
    } else {
        let h = sha2::Sha256::digest(name.as_bytes());
        format!("h{}", hex(&h[..16]))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header(magic: &[u8; 8], dims: usize, name: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(14 + name.len());
    h.extend_from_slice(magic);
    h.extend_from_slice(&(dims as u32).to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h
}

/// Reads a header: `(dims, name)`.
fn read_header(r: &mut impl Read, magic: &[u8; 8]) -> std::io::Result<(usize, String)> {
    let mut m = [0u8; 8];
    r.read_exact(&mut m)?;
    if &m != magic {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad magic"));
    }
    let mut d = [0u8; 4];
    r.read_exact(&mut d)?;
    let mut l = [0u8; 2];
    r.read_exact(&mut l)?;
    let mut name = vec![0u8; u16::from_le_bytes(l) as usize];
    r.read_exact(&mut name)?;
    let name =
        String::from_utf8(name).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok((u32::from_le_bytes(d) as usize, name))
}

/// One decoded record.
enum Op {
    Upsert {
        id: String,
        vector: Vec<f32>,
        payload: Value,
    },
    Delete(String),
    DeleteDocument(String),
}

fn push_record(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
}

fn upsert_body(id: &str, vector: &[f32], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + 2 + id.len() + vector.len() * 4 + 4 + payload.len());
    b.push(OP_UPSERT);
    b.extend_from_slice(&(id.len() as u16).to_le_bytes());
    b.extend_from_slice(id.as_bytes());
    for x in vector {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

fn decode(body: &[u8], dims: usize) -> Option<Op> {
    let (&op, rest) = body.split_first()?;
    let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a.to_vec())
    };
    let mut rest = rest;
    match op {
        OP_UPSERT => {
            let l = u16::from_le_bytes(take(&mut rest, 2)?.try_into().ok()?) as usize;
            let id = String::from_utf8(take(&mut rest, l)?).ok()?;
            let raw = take(&mut rest, dims * 4)?;
            let vector = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let pl = u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            let payload = serde_json::from_slice(&take(&mut rest, pl)?).ok()?;
            Some(Op::Upsert { id, vector, payload })
        }
        OP_DELETE => {
            let l = u16::from_le_bytes(take(&mut rest, 2)?.try_into().ok()?) as usize;
            Some(Op::Delete(String::from_utf8(take(&mut rest, l)?).ok()?))
        }
        OP_DELETE_DOCUMENT => {
            let l = u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            Some(Op::DeleteDocument(String::from_utf8(take(&mut rest, l)?).ok()?))
        }
        _ => None,
    }
}

/// Reads records until the end or the first bad one; returns the offset after the last
/// good record and how many there were.
fn replay(r: &mut impl Read, start: u64, dims: usize, mut apply: impl FnMut(Op)) -> (u64, usize) {
    let mut offset = start;
    let mut count = 0;
    loop {
        let mut head = [0u8; 8];
        if r.read_exact(&mut head).is_err() {
            break;
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 || len > MAX_RECORD {
            break;
        }
        let mut body = vec![0u8; len as usize];
        if r.read_exact(&mut body).is_err() || crc32fast::hash(&body) != crc {
            break;
        }
        let Some(op) = decode(&body, dims) else {
            break;
        };
        apply(op);
        offset += 8 + u64::from(len);
        count += 1;
    }
    (offset, count)
}

/// Dot product, eight lanes at a time.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `i8` dot product, sixteen lanes at a time.
#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Writes `v` as `i8` codes into `out` and returns the scale (`v[i] ≈ out[i] × scale`).
fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// When a search uses two threads and when it scans `i8` codes first (collection sizes
/// in points × dimensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOpts {
    /// From this size on, two threads scan half each.
    pub parallel_from: usize,
    /// From this size on, candidates are picked on `i8` codes (a quarter of the memory
    /// to read) and rescored exactly; below, every point is scored exactly.
    pub quantized_from: usize,
}

impl Default for ScanOpts {
    fn default() -> Self {
        ScanOpts {
            parallel_from: PARALLEL_FLOATS,
            quantized_from: QUANTIZED_FLOATS,
        }
    }
}

/// A heap entry ordered by score, lowest first (a min-heap through `Reverse` order).
#[derive(PartialEq)]
struct Scored(f32, usize);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: the heap's top is the lowest score (ties: the higher index).
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

fn matches(payload: &Value, filter: &serde_json::Map<String, Value>) -> bool {
    filter.iter().all(|(k, v)| payload.get(k) == Some(v))
}

impl Collection {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Upsert { id, vector, payload } => self.set(id, vector, payload),
            Op::Delete(id) => {
                if let Some(&i) = self.by_id.get(&id) {
                    self.remove_at(i);
                }
            }
            Op::DeleteDocument(doc) => {
                self.delete_document(&doc);
            }
        }
    }

    fn delete_document(&mut self, doc: &str) -> u64 {
        let Some(set) = self.by_doc.get(doc) else {
            return 0;
        };
        let mut idx: Vec<usize> = set.iter().copied().collect();
        // Highest first, so swap_remove never moves an index still to be removed.
        idx.sort_unstable_by(|a, b| b.cmp(a));
        for &i in &idx {
            self.remove_at(i);
        }
        idx.len() as u64
    }

    fn set(&mut self, id: String, vector: Vec<f32>, payload: Value) {
        let doc = payload
            .get("document")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(&i) = self.by_id.get(&id) {
            self.vectors[i * self.dims..(i + 1) * self.dims].copy_from_slice(&vector);
            self.scales[i] = quantize(&vector, &mut self.codes[i * self.dims..(i + 1) * self.dims]);
            if self.docs[i] != doc {
                if let Some(old) = &self.docs[i]
                    && let Some(s) = self.by_doc.get_mut(old)
                {
                    s.remove(&i);
                    if s.is_empty() {
                        self.by_doc.remove(old);
                    }
                }
                if let Some(d) = &doc {
                    self.by_doc.entry(d.clone()).or_default().insert(i);
                }
                self.docs[i] = doc;
            }
            self.payloads[i] = payload;
            return;
        }
        let i = self.ids.len();
        self.by_id.insert(id.clone(), i);
        if let Some(d) = &doc {
            self.by_doc.entry(d.clone()).or_default().insert(i);
        }
        self.ids.push(id);
        self.vectors.extend_from_slice(&vector);
        self.codes.resize((i + 1) * self.dims, 0);
        self.scales
            .push(quantize(&vector, &mut self.codes[i * self.dims..]));
        self.payloads.push(payload);
        self.docs.push(doc);
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.ids.len() - 1;
        let id = self.ids.swap_remove(i);
        self.by_id.remove(&id);
        self.payloads.swap_remove(i);
        let doc = self.docs.swap_remove(i);
        if let Some(d) = &doc
            && let Some(s) = self.by_doc.get_mut(d)
        {
            s.remove(&i);
            if s.is_empty() {
                self.by_doc.remove(d);
            }
        }
        if i != last {
            self.vectors
                .copy_within(last * self.dims..(last + 1) * self.dims, i * self.dims);
            self.codes
                .copy_within(last * self.dims..(last + 1) * self.dims, i * self.dims);
            self.by_id.insert(self.ids[i].clone(), i);
            if let Some(d) = &self.docs[i]
                && let Some(s) = self.by_doc.get_mut(d)
            {
                s.remove(&last);
                s.insert(i);
            }
        }
        self.vectors.truncate(last * self.dims);
        self.codes.truncate(last * self.dims);
        self.scales.swap_remove(i);
    }

    /// Appends records to the log and syncs it.
    fn append(&mut self, records: &[u8], count: usize) -> AppResult<()> {
        self.log
            .write_all(records)
            .map_err(|e| io("appending to the log", e))?;
        self.log.sync_data().map_err(|e| io("syncing the log", e))?;
        self.log_records += count;
        Ok(())
    }

    fn maybe_compact(&mut self) -> AppResult<()> {
        if self.log_records >= 1024 && self.log_records > 2 * self.len() {
            self.compact()?;
        }
        Ok(())
    }

    /// Writes the live points as the snapshot and empties the log (see the module docs).
    fn compact(&mut self) -> AppResult<()> {
        let tmp = self.snap_path.with_extension("snap.tmp");
        {
            let f = File::create(&tmp).map_err(|e| io("creating a snapshot", e))?;
            let mut w = BufWriter::new(f);
            w.write_all(&header(SNAP_MAGIC, self.dims, &self.name))
                .map_err(|e| io("writing a snapshot", e))?;
            let mut rec = Vec::new();
            for i in 0..self.len() {
                rec.clear();
                let payload = serde_json::to_vec(&self.payloads[i]).map_err(AppError::internal)?;
                push_record(
                    &mut rec,
                    &upsert_body(
                        &self.ids[i],
                        &self.vectors[i * self.dims..(i + 1) * self.dims],
                        &payload,
                    ),
                );
                w.write_all(&rec).map_err(|e| io("writing a snapshot", e))?;
            }
            let f = w
                .into_inner()
                .map_err(|e| io("writing a snapshot", e.into_error()))?;
            f.sync_all().map_err(|e| io("syncing a snapshot", e))?;
        }
        std::fs::rename(&tmp, &self.snap_path).map_err(|e| io("installing a snapshot", e))?;
        let log_tmp = self.log_path.with_extension("log.tmp");
        let mut f = File::create(&log_tmp).map_err(|e| io("creating a log", e))?;
        f.write_all(&header(LOG_MAGIC, self.dims, &self.name))
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing a log", e))?;
        std::fs::rename(&log_tmp, &self.log_path).map_err(|e| io("installing a log", e))?;
        sync_dir(self.log_path.parent().unwrap_or(Path::new(".")));
        self.log = OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .map_err(|e| io("opening the log", e))?;
        self.log_records = 0;
        Ok(())
    }

    /// The best `top_k` indexes in `range` for the normalised `q`: exact scores, or, with
    /// `quantized` (`(codes, scale)` of `q`), approximate ones from the `i8` codes.
    fn scan(
        &self,
        q: &[f32],
        quantized: Option<(&[i8], f32)>,
        range: std::ops::Range<usize>,
        top_k: usize,
        filter: Option<&serde_json::Map<String, Value>>,
    ) -> Vec<Scored> {
        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(top_k + 1);
        let d = self.dims;
        for n in 0..range.len() {
            let i = range.start + n;
            let s = match quantized {
                Some((qc, qs)) => dot_i8(qc, &self.codes[i * d..(i + 1) * d]) as f32 * qs * self.scales[i],
                None => dot(q, &self.vectors[i * d..(i + 1) * d]),
            };
            if heap.len() == top_k && heap.peek().is_some_and(|m| s <= m.0) {
                continue;
            }
            if let Some(f) = filter
                && !matches(&self.payloads[i], f)
            {
                continue;
            }
            heap.push(Scored(s, i));
            if heap.len() > top_k {
                heap.pop();
            }
        }
        heap.into_vec()
    }

    fn search(
        &self,
        q: &[f32],
        top_k: usize,
        filter: Option<&serde_json::Map<String, Value>>,
        scan: ScanOpts,
    ) -> Vec<VectorHit> {
        let n = self.len();
        if top_k == 0 || n == 0 {
            return Vec::new();
        }
        let floats = n.saturating_mul(self.dims);
        let mut qcodes = vec![0i8; self.dims];
        let quantized = (floats >= scan.quantized_from).then(|| {
            let qs = quantize(q, &mut qcodes);
            (&qcodes[..], qs)
        });
        // Quantised scores only pick candidates: many more than asked, rescored exactly.
        let pick = if quantized.is_some() {
            (top_k * 4).max(top_k + 64)
        } else {
            top_k
        };
        let mut found = if floats >= scan.parallel_from {
            let mid = n / 2;
            std::thread::scope(|s| {
                let other = s.spawn(|| self.scan(q, quantized, mid..n, pick, filter));
                let mut a = self.scan(q, quantized, 0..mid, pick, filter);
                a.extend(other.join().unwrap_or_default());
                a
            })
        } else {
            self.scan(q, quantized, 0..n, pick, filter)
        };
        if quantized.is_some() {
            let d = self.dims;
            for f in &mut found {
                f.0 = dot(q, &self.vectors[f.1 * d..(f.1 + 1) * d]);
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        found.truncate(top_k);
        found
            .into_iter()
            .map(|Scored(score, i)| VectorHit {
                id: self.ids[i].clone(),
                score,
                payload: self.payloads[i].clone(),
            })
            .collect()
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Loads a collection from its files (either may be missing, not both).
fn load(dir: &Path, stem: &str) -> AppResult<Collection> {
    let log_path = dir.join(format!("{stem}.log"));
    let snap_path = dir.join(format!("{stem}.snap"));
    let mut meta: Option<(usize, String)> = None;
    let mut pending: Vec<Op> = Vec::new();
    if let Ok(f) = File::open(&snap_path) {
        let mut r = BufReader::new(f);
        let (dims, name) = read_header(&mut r, SNAP_MAGIC).map_err(|e| io("reading a snapshot header", e))?;
        let start = r.stream_position().map_err(|e| io("reading a snapshot", e))?;
        replay(&mut r, start, dims, |op| pending.push(op));
        meta = Some((dims, name));
    }
    let mut c: Option<Collection> = None;
    let make = |dims: usize, name: String, log: File| Collection {
        name,
        dims,
        ids: Vec::new(),
        vectors: Vec::new(),
        codes: Vec::new(),
        scales: Vec::new(),
        payloads: Vec::new(),
        docs: Vec::new(),
        by_id: HashMap::new(),
        by_doc: HashMap::new(),
        log,
        log_path: log_path.clone(),
        snap_path: snap_path.clone(),
        log_records: 0,
    };
    let log_ok = File::open(&log_path)
        .ok()
        .and_then(|f| {
            let mut r = BufReader::new(f);
            read_header(&mut r, LOG_MAGIC).ok().map(|h| (r, h))
        })
        .filter(|(_, (dims, name))| meta.as_ref().is_none_or(|(d, n)| d == dims && n == name));
    match log_ok {
        Some((mut r, (dims, name))) => {
            let log = OpenOptions::new()
                .append(true)
                .open(&log_path)
                .map_err(|e| io("opening a log", e))?;
            let mut col = make(dims, name, log);
            for op in pending.drain(..) {
                col.apply(op);
            }
            let start = r.stream_position().map_err(|e| io("reading a log", e))?;
            let (end, count) = replay(&mut r, start, dims, |op| col.apply(op));
            let len = std::fs::metadata(&log_path)
                .map_err(|e| io("reading a log", e))?
                .len();
            if end < len {
                tracing::warn!(
                    collection = %col.name,
                    dropped_bytes = len - end,
                    "vector log: incomplete or corrupt tail dropped (an interrupted write)"
                );
                col.log.set_len(end).map_err(|e| io("truncating a log", e))?;
                col.log.sync_all().map_err(|e| io("syncing a log", e))?;
            }
            col.log_records = count;
            c = Some(col);
        }
        None => {
            // No usable log (a crash during compaction, or a damaged header): start one
            // from the snapshot.
            if let Some((dims, name)) = meta.clone() {
                let tmp = log_path.with_extension("log.tmp");
                let mut f = File::create(&tmp).map_err(|e| io("creating a log", e))?;
                f.write_all(&header(LOG_MAGIC, dims, &name))
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io("writing a log", e))?;
                std::fs::rename(&tmp, &log_path).map_err(|e| io("installing a log", e))?;
                let log = OpenOptions::new()
                    .append(true)
                    .open(&log_path)
                    .map_err(|e| io("opening a log", e))?;
                let mut col = make(dims, name, log);
                for op in pending.drain(..) {
                    col.apply(op);
                }
                c = Some(col);
            }
        }
    }
    let mut c = c.ok_or_else(|| {
        io(
            "loading a collection",
            std::io::Error::other(format!("{stem}: no usable file")),
        )
    })?;
    c.maybe_compact()?;
    Ok(c)
}

impl EmbeddedVectorStore {
    /// Opens (creating it when missing) the store in `dir`, loading every collection.
    pub fn open(dir: &Path) -> AppResult<EmbeddedVectorStore> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating its folder", e))?;
        let mut stems: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io("listing its folder", e))? {
            let entry = entry.map_err(|e| io("listing its folder", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".log").or_else(|| name.strip_suffix(".snap")) {
                stems.push(stem.to_string());
            } else if name.ends_with(".tmp") {
                // A compaction that did not finish; its rename never happened.
                let _ = std::fs::remove_file(entry.path());
            }
        }
        stems.sort();
        stems.dedup();
        let mut collections = HashMap::new();
        for stem in stems {
            // One damaged collection must not keep the server from starting: it is left
            // on disk, unloaded, for an operator to look at (its searches find nothing).
            match load(dir, &stem) {
                Ok(c) => {
                    collections.insert(c.name.clone(), Arc::new(RwLock::new(c)));
                }
                Err(e) => {
                    tracing::error!(file = %stem, error = %e, "vector collection cannot be loaded; skipped")
                }
            }
        }
        Ok(EmbeddedVectorStore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                scan: std::sync::Mutex::new(ScanOpts::default()),
                collections: RwLock::new(collections),
            }),
        })
    }

    fn collection(&self, name: &str) -> AppResult<Arc<RwLock<Collection>>> {
        self.inner
            .collections
            .read()
            .expect("vector collections")
            .get(name)
            .cloned()
            .ok_or(AppError::NotFound)
    }

    /// [`VectorStore::ensure_collection`], synchronously.
    pub fn ensure_collection_sync(&self, name: &str, dims: usize) -> AppResult<()> {
        crate::checks::check_collection(name, dims, MAX_DIMENSIONS)?;
        let mut map = self.inner.collections.write().expect("vector collections");
        if let Some(c) = map.get(name) {
            let have = c.read().expect("vector collection").dims;
            if have != dims {
                return Err(AppError::Conflict(format!(
                    "collection {name} has {have} dimensions, not {dims}"
                )));
            }
            return Ok(());
        }
        let stem = file_stem(name);
        let log_path = self.inner.dir.join(format!("{stem}.log"));
        let tmp = log_path.with_extension("log.tmp");
        let mut f = File::create(&tmp).map_err(|e| io("creating a log", e))?;
        f.write_all(&header(LOG_MAGIC, dims, name))
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing a log", e))?;
        std::fs::rename(&tmp, &log_path).map_err(|e| io("installing a log", e))?;
        sync_dir(&self.inner.dir);
        let log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(|e| io("opening a log", e))?;
        let c = Collection {
            name: name.to_string(),
            dims,
            ids: Vec::new(),
            vectors: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            payloads: Vec::new(),
            docs: Vec::new(),
            by_id: HashMap::new(),
            by_doc: HashMap::new(),
            log,
            snap_path: self.inner.dir.join(format!("{stem}.snap")),
            log_path,
            log_records: 0,
        };
        map.insert(name.to_string(), Arc::new(RwLock::new(c)));
        Ok(())
    }

    /// [`VectorStore::upsert`], synchronously.
    pub fn upsert_sync(&self, collection: &str, points: Vec<VectorPoint>) -> AppResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let c = self.collection(collection)?;
        let mut c = c.write().expect("vector collection");
        let mut records = Vec::new();
        let mut ops = Vec::with_capacity(points.len());
        for mut p in points {
            crate::checks::check_point(collection, &p, c.dims)?;
            crate::checks::normalize(&mut p.vector);
            let payload = serde_json::to_vec(&p.payload).map_err(AppError::internal)?;
            push_record(&mut records, &upsert_body(&p.id, &p.vector, &payload));
            ops.push(Op::Upsert {
                id: p.id,
                vector: p.vector,
                payload: p.payload,
            });
        }
        c.append(&records, ops.len())?;
        for op in ops {
            c.apply(op);
        }
        c.maybe_compact()
    }

    /// [`VectorStore::search`], synchronously.
    pub fn search_sync(
        &self,
        collection: &str,
        mut vector: Vec<f32>,
        top_k: usize,
        filter: Option<&Value>,
    ) -> AppResult<Vec<VectorHit>> {
        let filter = match filter {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(AppError::bad_request("a filter is a JSON object of field: value")),
        };
        let c = match self.collection(collection) {
            Ok(c) => c,
            Err(AppError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let c = c.read().expect("vector collection");
        if vector.len() != c.dims {
            return Err(AppError::bad_request(format!(
                "the query has {} dimensions; collection {collection} has {}",
                vector.len(),
                c.dims
            )));
        }
        crate::checks::normalize(&mut vector);
        let scan = *self.inner.scan.lock().expect("scan options");
        Ok(c.search(&vector, top_k, filter, scan))
    }

    /// [`VectorStore::delete_by_document`], synchronously.
    pub fn delete_by_document_sync(&self, collection: &str, document: &str) -> AppResult<u64> {
        let c = match self.collection(collection) {
            Ok(c) => c,
            Err(AppError::NotFound) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut c = c.write().expect("vector collection");
        if !c.by_doc.contains_key(document) {
            return Ok(0);
        }
        let mut body = vec![OP_DELETE_DOCUMENT];
        body.extend_from_slice(&(document.len() as u32).to_le_bytes());
        body.extend_from_slice(document.as_bytes());
        let mut rec = Vec::new();
        push_record(&mut rec, &body);
        c.append(&rec, 1)?;
        let n = c.delete_document(document);
        c.maybe_compact()?;
        Ok(n)
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete_ids_sync(&self, collection: &str, ids: &[String]) -> AppResult<u64> {
        let c = self.collection(collection)?;
        let mut c = c.write().expect("vector collection");
        let mut rec = Vec::new();
        let mut n = 0;
        for id in ids.iter().filter(|id| c.by_id.contains_key(*id)) {
            let mut body = vec![OP_DELETE];
            body.extend_from_slice(&(id.len() as u16).to_le_bytes());
            body.extend_from_slice(id.as_bytes());
            push_record(&mut rec, &body);
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        c.append(&rec, n)?;
        for id in ids {
            c.apply(Op::Delete(id.clone()));
        }
        c.maybe_compact()?;
        Ok(n as u64)
    }

    /// Sets when searches use two threads and `i8` candidates ([`ScanOpts::default`]
    /// otherwise). For benchmarks and tests.
    pub fn set_scan(&self, scan: ScanOpts) {
        *self.inner.scan.lock().expect("scan options") = scan;
    }

    /// Points in a collection (0 when it does not exist).
    pub fn count(&self, collection: &str) -> usize {
        self.collection(collection)
            .map(|c| c.read().expect("vector collection").len())
            .unwrap_or(0)
    }

    /// The ids of a collection's points whose document is `document`.
    pub fn document_ids(&self, collection: &str, document: &str) -> Vec<String> {
        let Ok(c) = self.collection(collection) else {
            return Vec::new();
        };
        let c = c.read().expect("vector collection");
        let mut ids: Vec<String> = c
            .by_doc
            .get(document)
            .map(|s| s.iter().map(|&i| c.ids[i].clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The collections' names.
    pub fn collections(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .collections
            .read()
            .expect("vector collections")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Compacts a collection now (tests; compaction otherwise runs by itself).
    pub fn compact_sync(&self, collection: &str) -> AppResult<()> {
        let c = self.collection(collection)?;
        let mut c = c.write().expect("vector collection");
        c.compact()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(AppError::internal)?
}

#[async_trait]
impl VectorStore for EmbeddedVectorStore {
    async fn ensure_collection(&self, collection: &str, dimensions: usize) -> AppResult<()> {
        let (s, c) = (self.clone(), collection.to_string());
        blocking(move || s.ensure_collection_sync(&c, dimensions)).await
    }

    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> AppResult<()> {
        let (s, c) = (self.clone(), collection.to_string());
        blocking(move || s.upsert_sync(&c, points)).await
    }

    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: Option<Value>,
    ) -> AppResult<Vec<VectorHit>> {
        let (s, c) = (self.clone(), collection.to_string());
        blocking(move || s.search_sync(&c, vector, top_k, filter.as_ref())).await
    }

    async fn delete_by_document(&self, collection: &str, document: &str) -> AppResult<u64> {
        let (s, c, d) = (self.clone(), collection.to_string(), document.to_string());
        blocking(move || s.delete_by_document_sync(&c, &d)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn point(id: &str, v: Vec<f32>, doc: &str) -> VectorPoint {
        VectorPoint {
            id: id.into(),
            vector: v,
            payload: json!({"document": doc}),
        }
    }

    #[test]
    fn dot_matches_a_plain_loop() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn quantized_candidates_rescored_find_the_exact_top_k() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        s.ensure_collection_sync("c", 64).unwrap();
        let mut x: u64 = 88172645463325252;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2001) as f32 / 1000.0 - 1.0
        };
        let pts = (0..5000)
            .map(|i| {
                point(
                    &format!("p{i}"),
                    (0..64).map(|_| rnd()).collect(),
                    &format!("d{}", i % 9),
                )
            })
            .collect();
        s.upsert_sync("c", pts).unwrap();
        let exact = ScanOpts {
            parallel_from: usize::MAX,
            quantized_from: usize::MAX,
        };
        let fast = ScanOpts {
            parallel_from: 0,
            quantized_from: 0,
        };
        for _ in 0..20 {
            let q: Vec<f32> = (0..64).map(|_| rnd()).collect();
            s.set_scan(exact);
            let want = s.search_sync("c", q.clone(), 10, None).unwrap();
            s.set_scan(fast);
            let got = s.search_sync("c", q, 10, None).unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_rest_survives() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        s.ensure_collection_sync("c", 2).unwrap();
        s.upsert_sync(
            "c",
            vec![point("a", vec![1.0, 0.0], "d1"), point("b", vec![0.0, 1.0], "d2")],
        )
        .unwrap();
        drop(s);
        // A crash in the middle of a record: half a header and some garbage.
        let log = dir.path().join("c.log");
        let good = std::fs::metadata(&log).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        assert_eq!(s.count("c"), 2);
        assert_eq!(std::fs::metadata(&log).unwrap().len(), good, "tail truncated");
        // A flipped bit in the last record: that record is lost, the ones before are kept.
        s.upsert_sync("c", vec![point("z", vec![1.0, 1.0], "d3")])
            .unwrap();
        drop(s);
        let mut bytes = std::fs::read(&log).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x40;
        std::fs::write(&log, bytes).unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        assert_eq!(s.count("c"), 2);
        assert!(s.document_ids("c", "d3").is_empty());
    }

    #[test]
    fn compaction_keeps_the_points_and_a_crash_between_renames_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        s.ensure_collection_sync("c", 3).unwrap();
        for round in 0..3 {
            let pts = (0..10)
                .map(|i| {
                    point(
                        &format!("p{i}"),
                        vec![1.0, i as f32, round as f32],
                        &format!("d{}", i % 3),
                    )
                })
                .collect();
            s.upsert_sync("c", pts).unwrap();
        }
        s.delete_by_document_sync("c", "d0").unwrap();
        let before = s.search_sync("c", vec![1.0, 5.0, 2.0], 3, None).unwrap();
        // Keep the old log, as if the process died after the snapshot's rename.
        let old_log = std::fs::read(dir.path().join("c.log")).unwrap();
        s.compact_sync("c").unwrap();
        drop(s);
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        assert_eq!(s.count("c"), 6);
        assert_eq!(s.search_sync("c", vec![1.0, 5.0, 2.0], 3, None).unwrap(), before);
        drop(s);
        std::fs::write(dir.path().join("c.log"), old_log).unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        assert_eq!(s.count("c"), 6);
        assert_eq!(s.search_sync("c", vec![1.0, 5.0, 2.0], 3, None).unwrap(), before);
    }

    #[test]
    fn names_that_are_not_plain_are_hashed_into_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        s.ensure_collection_sync("kb/../../etc Ação", 2).unwrap();
        s.upsert_sync("kb/../../etc Ação", vec![point("a", vec![1.0, 0.0], "d")])
            .unwrap();
        drop(s);
        let s = EmbeddedVectorStore::open(dir.path()).unwrap();
        assert_eq!(s.collections(), vec!["kb/../../etc Ação".to_string()]);
        assert_eq!(s.count("kb/../../etc Ação"), 1);
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with('h') && !n.contains(' ')
        }));
    }
}
