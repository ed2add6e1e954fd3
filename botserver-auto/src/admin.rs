//! Bot packages as zip archives, and the admin routes over the bots folder:
//! `PUT|GET /api/bots/{bot}/package` (upload, export), `POST /api/bots/{bot}/reload`,
//! `DELETE /api/bots/{bot}` and `GET /api/bots/{bot}/errors`. Every route needs the
//! `bot-admin` role, and its handler a grant on that very bot
//! (`Principal::can_admin_bot`; administrators pass): 403 otherwise.
//!
//! An upload is checked whole before anything changes. [`extract`] writes the archive into
//! a hidden folder inside the bots folder (`.upload-…`, which the loader ignores), refusing
//! unsafe entries (absolute paths, `..`, backslashes, NUL, links and other special files,
//! folders of another bot) and stopping at the limits below while it inflates: actual bytes
//! are counted, sizes declared by the archive are not trusted. The package is then read as
//! the folder loader reads it. Only then, under the bots folder's lock (`watch::folder`,
//! so the watcher never sees a half-replaced package), the old `<bot>.gbai` is renamed
//! away, the new one renamed in, and the package installed through the watcher's own path
//! (`watch::take_effect`); its fingerprint is recorded, so the watcher does not load it
//! again. Should installing fail, the previous folder is put back.
//!
//! Decisions:
//! - A package whose scripts do not compile is accepted, as a folder edited by hand is:
//!   each broken script keeps its last good version running (a script that never compiled
//!   is absent), and the response lists the errors. A package that cannot be read at all
//!   (no `<bot>.gb…` folder, a script over 1 MiB or not UTF-8) is refused with 400, and
//!   nothing changes.
//! - Secrets (`config.csv` keys ending in `-key` or `-pass`) are never returned: an export
//!   blanks their values. A secret left blank in an uploaded `config.csv` keeps the value
//!   the server has, so export, edit, upload keeps the keys; to remove one, drop its line.
//! - A bot without a folder (the built-in default) is exported from its running scripts
//!   and settings. It cannot be deleted (409); a `default.gbai` folder replaces it, and
//!   deleting that folder brings it back.
//! - An export leaves out files an upload would refuse (links, files over the limits), so
//!   it can always be uploaded again.
//! - Bot names are those a grant can name: 1 to 64 of `a-z 0-9 - _`.
//! - The server's `server.body_limit_bytes` (10 MiB by default) applies before
//!   [`MAX_ARCHIVE_BYTES`]: raise it to upload larger archives.

use crate::dialog::Dialogs;
use crate::package::Package;
use crate::watch;
use axum::body::Body;
use axum::extract::{Path as Param, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use botlib::{AppError, BotId};
use botserver_core::access::{Caller, Routes};
use botserver_core::error::ApiResult;
use botstate::AppState;
use botstate::auth::{Access, Principal, Role};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest archive accepted (the request body), in bytes.
pub const MAX_ARCHIVE_BYTES: usize = 32 * 1024 * 1024;
/// Most entries (files and folders) in an archive.
pub const MAX_ENTRIES: usize = 2_000;
/// Largest file of an archive, uncompressed, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest archive uncompressed (all its files), in bytes.
pub const MAX_TOTAL_BYTES: u64 = 128 * 1024 * 1024;
/// Deepest path in an archive, in components.
pub const MAX_DEPTH: usize = 16;
/// Longest path in an archive, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

type S = State<Arc<Dialogs>>;

/// The admin routes; merged into the engine's routes (`api::routes`).
pub fn routes() -> Routes<Arc<Dialogs>> {
    let bot_admin = Access::Role(Role::BotAdmin);
    Routes::new()
        .put("/api/bots/{bot}/package", bot_admin, upload)
        .get("/api/bots/{bot}/package", bot_admin, export)
        .post("/api/bots/{bot}/reload", bot_admin, reload)
        .delete("/api/bots/{bot}", bot_admin, delete)
        .get("/api/bots/{bot}/errors", bot_admin, errors)
}

/// Why an archive was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// Not an archive of a package this bot may have (400); the message says why.
    Invalid(String),
    /// Over one of the limits (413); the message says which.
    TooLarge(String),
    /// The server could not write it (500; the cause is logged).
    Io(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Invalid(m) | ArchiveError::TooLarge(m) | ArchiveError::Io(m) => f.write_str(m),
        }
    }
}

impl From<ArchiveError> for AppError {
    fn from(e: ArchiveError) -> AppError {
        match e {
            ArchiveError::Invalid(m) => AppError::BadRequest(m),
            ArchiveError::TooLarge(m) => {
                // The 413 body names the body limit; the precise reason goes to the log.
                tracing::info!(reason = %m, "bot package refused: too large");
                AppError::PayloadTooLarge {
                    limit_bytes: MAX_ARCHIVE_BYTES as u64,
                }
            }
            ArchiveError::Io(m) => AppError::internal(anyhow::anyhow!("extracting a bot package: {m}")),
        }
    }
}

fn invalid(m: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(m.into())
}

/// A failed write of entry `name`: the archive's fault when two entries clash (a name given
/// twice, a file where a folder goes), else the server's.
fn write_error(name: &str, e: std::io::Error) -> ArchiveError {
    use std::io::ErrorKind::{AlreadyExists, IsADirectory, NotADirectory};
    match e.kind() {
        AlreadyExists | NotADirectory | IsADirectory => {
            invalid(format!("entry {name:?} clashes with another entry ({e})"))
        }
        _ => ArchiveError::Io(format!("entry {name:?}: {e}")),
    }
}

/// Whether `name` can name a bot here (the rule of bot grants): 1 to 64 of `a-z 0-9 - _`.
pub fn valid_bot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Whether a `config.csv` key holds a secret (`*-key`, `*-pass`), never returned by an API.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k.ends_with("-key") || k.ends_with("-pass")
}

/// `(key, value)` of a `config.csv` line (the first comma splits; `#` lines have none).
fn config_pair(line: &str) -> Option<(&str, &str)> {
    if line.trim_start().starts_with('#') {
        return None;
    }
    line.split_once(',')
}

fn config_value(v: &str) -> &str {
    v.trim().trim_matches('"').trim()
}

/// `config.csv` text with the value of every secret key blanked (`llm-key,`); every other
/// line is kept as it is.
pub fn blank_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        match config_pair(body) {
            Some((k, _)) if is_secret_key(k) => {
                out.push_str(k);
                out.push(',');
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `new` (an uploaded `config.csv`) where each secret left blank takes its line from
/// `old` (the one being replaced), when `old` has a value for it.
pub fn keep_secrets(new: &str, old: &str) -> String {
    let kept: BTreeMap<String, &str> = old
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| {
            let (k, v) = config_pair(l)?;
            (is_secret_key(k) && !config_value(v).is_empty()).then(|| (k.trim().to_ascii_lowercase(), l))
        })
        .collect();
    let mut out = String::with_capacity(new.len());
    for line in new.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let old_line = match config_pair(body) {
            Some((k, v)) if is_secret_key(k) && config_value(v).is_empty() => {
                kept.get(&k.trim().to_ascii_lowercase())
            }
            _ => None,
        };
        match old_line {
            Some(l) => {
                out.push_str(l);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The components of an archive entry's path, or why it is refused: no absolute path,
/// `..`, `.`, empty component, backslash, NUL or colon (drive letters, streams).
fn safe_components(name: &str) -> Result<Vec<&str>, String> {
    if name.contains('\0') {
        return Err(format!("entry {name:?}: NUL in its name"));
    }
    if name.contains('\\') {
        return Err(format!("entry {name:?}: backslash in its name (use /)"));
    }
    if name.starts_with('/') {
        return Err(format!("entry {name:?}: absolute path"));
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(format!("entry {name:?}: path longer than {MAX_PATH_BYTES} bytes"));
    }
    let parts: Vec<&str> = name.strip_suffix('/').unwrap_or(name).split('/').collect();
    for p in &parts {
        match *p {
            ".." => return Err(format!("entry {name:?}: `..` in its path")),
            "" | "." => return Err(format!("entry {name:?}: empty or `.` path component")),
            p if p.contains(':') => return Err(format!("entry {name:?}: `:` in its path")),
            _ => {}
        }
    }
    if parts.len() > MAX_DEPTH {
        return Err(format!("entry {name:?}: deeper than {MAX_DEPTH} levels"));
    }
    Ok(parts)
}

/// `name.gb<kind>` → `Some(name)`.
fn gb_stem(component: &str) -> Option<&str> {
    let (stem, ext) = component.rsplit_once('.')?;
    ext.to_ascii_lowercase().starts_with("gb").then_some(stem)
}

/// Where an entry goes inside `<bot>.gbai/`: its components with a leading `<bot>.gbai`
/// removed; refused when it belongs to another bot (`other.gbai/…`, `other.gbdialog/…`).
/// `None` for entries skipped on purpose (`__MACOSX/`, the `<bot>.gbai/` folder itself).
fn package_path<'a>(bot: &str, name: &str, parts: &[&'a str]) -> Result<Option<Vec<&'a str>>, String> {
    if parts[0] == "__MACOSX" {
        return Ok(None);
    }
    let rest = match gb_stem(parts[0]) {
        Some(stem) if parts[0].to_ascii_lowercase().ends_with(".gbai") => {
            if !stem.eq_ignore_ascii_case(bot) {
                return Err(format!("entry {name:?} belongs to another bot than {bot}"));
            }
            &parts[1..]
        }
        _ => parts,
    };
    let Some(first) = rest.first() else {
        return Ok(None);
    };
    if let Some(stem) = gb_stem(first) {
        if first.to_ascii_lowercase().ends_with(".gbai") {
            return Err(format!("entry {name:?}: a package inside the package"));
        }
        if !stem.eq_ignore_ascii_case(bot) {
            return Err(format!(
                "entry {name:?} belongs to another bot than {bot} (expected {bot}.{})",
                first.rsplit_once('.').map_or("", |(_, e)| e)
            ));
        }
    }
    Ok(Some(rest.to_vec()))
}

/// The entry count declared by the archive's end records (each candidate in the comment
/// window, and the zip64 record when the classic field overflows), read before the zip
/// reader allocates for them. `None` when the bytes have no end record.
fn declared_entries(a: &[u8]) -> Option<u64> {
    const END: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    let last = a.len().checked_sub(22)?;
    let first = last.saturating_sub(u16::MAX as usize);
    let mut most = None;
    for i in (first..=last).rev() {
        if a[i..i + 4] != END {
            continue;
        }
        let on_disk = u16::from_le_bytes([a[i + 8], a[i + 9]]);
        let total = u16::from_le_bytes([a[i + 10], a[i + 11]]);
        let n = if on_disk == u16::MAX || total == u16::MAX {
            zip64_entries(a, i).unwrap_or(u64::MAX)
        } else {
            u64::from(on_disk.max(total))
        };
        most = Some(most.map_or(n, |m: u64| m.max(n)));
    }
    most
}

fn zip64_entries(a: &[u8], end: usize) -> Option<u64> {
    let loc = a.get(end.checked_sub(20)?..end)?;
    if loc[..4] != [0x50, 0x4b, 0x06, 0x07] {
        return None;
    }
    let at = usize::try_from(u64::from_le_bytes(loc[8..16].try_into().ok()?)).ok()?;
    let rec = a.get(at..at.checked_add(40)?)?;
    if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
        return None;
    }
    let on_disk = u64::from_le_bytes(rec[24..32].try_into().ok()?);
    let total = u64::from_le_bytes(rec[32..40].try_into().ok()?);
    Some(on_disk.max(total))
}

/// What an accepted archive held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Files written.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Modification time of extracted files: older than the watcher's "recent" window, so
/// the fingerprint recorded right after an upload is the one later scans compute.
fn extracted_mtime() -> SystemTime {
    SystemTime::now()
        .checked_sub(watch::RECENT + Duration::from_secs(2))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Extracts `archive`, a package of `bot`, into `dest` (created; it must not exist) as the
/// content of `<bot>.gbai/`. Entries may be rooted at `<bot>.gbai/` or directly at
/// `<bot>.gbdialog/`, `<bot>.gbot/`, …; the archive must hold at least one such folder
/// (a bot without scripts, a model and a knowledge base, is a bot too).
/// Unsafe entries and archives over the limits are refused (see the module's text). After
/// an error `dest` may hold part of the archive: the caller removes it.
pub fn extract(bot: &str, archive: &[u8], dest: &Path) -> Result<Extracted, ArchiveError> {
    if archive.len() > MAX_ARCHIVE_BYTES {
        return Err(ArchiveError::TooLarge(format!(
            "the archive is larger than {MAX_ARCHIVE_BYTES} bytes"
        )));
    }
    let too_many = || ArchiveError::TooLarge(format!("the archive has more than {MAX_ENTRIES} entries"));
    match declared_entries(archive) {
        None => return Err(invalid("not a zip archive")),
        Some(n) if n > MAX_ENTRIES as u64 => return Err(too_many()),
        Some(_) => {}
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(archive))
        .map_err(|e| invalid(format!("not a readable zip archive: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(too_many());
    }
    if zip.has_duplicate_names() {
        // Which copy wins depends on the tool: refused rather than guessed.
        return Err(invalid("the archive names an entry twice"));
    }
    std::fs::create_dir(dest).map_err(|e| ArchiveError::Io(format!("{}: {e}", dest.display())))?;
    let mtime = extracted_mtime();
    let mut done = Extracted::default();
    let mut has_part = false;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| match e {
            zip::result::ZipError::CompressionMethodNotSupported(_)
            | zip::result::ZipError::UnsupportedArchive(_) => invalid(format!(
                "entry {i}: {e} (entries must be stored or deflated, unencrypted)"
            )),
            e => invalid(format!("entry {i}: {e}")),
        })?;
        if f.name_raw().contains(&0) {
            return Err(invalid(format!("entry {i}: NUL in its name")));
        }
        let name = f
            .name()
            .map_err(|e| invalid(format!("entry {i}: {e}")))?
            .into_owned();
        let parts = safe_components(&name).map_err(invalid)?;
        let kind = f.unix_mode().map_or(0, |m| m & 0o170_000);
        if f.is_symlink() || !matches!(kind, 0 | 0o100_000 | 0o040_000) {
            return Err(invalid(format!(
                "entry {name:?}: links and special files are not accepted"
            )));
        }
        if f.encrypted() {
            return Err(invalid(format!(
                "entry {name:?}: encrypted entries are not accepted"
            )));
        }
        let Some(rel) = package_path(bot, &name, &parts).map_err(invalid)? else {
            continue;
        };
        has_part |= gb_stem(rel[0]).is_some() && (rel.len() > 1 || f.is_dir());
        let target = rel.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
        if f.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| write_error(&name, e))?;
            continue;
        }
        if f.size() > MAX_FILE_BYTES {
            return Err(ArchiveError::TooLarge(format!(
                "entry {name:?} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(&name, e))?;
        }
        // create_new: a name given twice, or one that meets a folder, is refused.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| write_error(&name, e))?;
        let mut written = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| invalid(format!("entry {name:?} is damaged: {e}")))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            done.bytes += n as u64;
            if written > MAX_FILE_BYTES {
                return Err(ArchiveError::TooLarge(format!(
                    "entry {name:?} inflates beyond {MAX_FILE_BYTES} bytes"
                )));
            }
            if done.bytes > MAX_TOTAL_BYTES {
                return Err(ArchiveError::TooLarge(format!(
                    "the archive inflates beyond {MAX_TOTAL_BYTES} bytes"
                )));
            }
            out.write_all(&buf[..n]).map_err(|e| write_error(&name, e))?;
        }
        let _ = out.set_modified(mtime);
        done.files += 1;
    }
    if !has_part {
        return Err(invalid(format!(
            "the archive has no {bot}.gbdialog, {bot}.gbot, {bot}.gbkb… folder (entries go under {bot}.gbai/ or directly under {bot}.gbdialog/, {bot}.gbot/, …)"
        )));
    }
    Ok(done)
}

/// Regular files under `root` as `(path relative to root with /, path)`, sorted; links,
/// special files, names an upload would refuse and anything deeper than [`MAX_DEPTH`] are
/// left out.
fn files_under(root: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>) {
        if depth >= MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                walk(root, &path, depth + 1, out);
            } else if ft.is_file() {
                let Some(rel) = path
                    .strip_prefix(root)
                    .ok()
                    .and_then(|r| r.to_str())
                    .map(str::to_string)
                else {
                    continue;
                };
                if safe_components(&rel).is_ok() {
                    out.push((rel, path));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, 0, &mut out);
    out.sort();
    out
}

fn is_config(rel: &str) -> bool {
    rel.rsplit('/')
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case("config.csv"))
}

/// A zip archive of `(name, content)` entries, deflated.
pub fn write_zip(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        add_entry(&mut z, name, data)?;
    }
    Ok(z.finish().map_err(|e| e.to_string())?.into_inner())
}

fn add_entry(z: &mut zip::ZipWriter<Cursor<Vec<u8>>>, name: &str, data: &[u8]) -> Result<(), String> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    z.start_file(name, options).map_err(|e| e.to_string())?;
    z.write_all(data).map_err(|e| e.to_string())
}

/// The package folder `dir` of `bot` as a zip archive, entries under `<bot>.gbai/`,
/// secrets blanked; files an upload would refuse (over the limits, links) are left out.
pub fn export_dir(bot: &str, dir: &Path) -> Result<Vec<u8>, String> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let (mut count, mut total) = (0usize, 0u64);
    for (rel, path) in files_under(dir) {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() > MAX_FILE_BYTES || count >= MAX_ENTRIES || total + meta.len() > MAX_TOTAL_BYTES {
            tracing::warn!(bot, file = %rel, "left out of the export: over the package limits");
            continue;
        }
        let Ok(mut data) = std::fs::read(&path) else {
            continue;
        };
        if is_config(&rel) {
            data = blank_secrets(&String::from_utf8_lossy(&data)).into_bytes();
        }
        total += data.len() as u64;
        count += 1;
        add_entry(&mut z, &format!("{bot}.gbai/{rel}"), &data)?;
    }
    Ok(z.finish().map_err(|e| e.to_string())?.into_inner())
}

/// A running package as a zip archive (for a bot without a folder): its scripts under
/// `<bot>.gbai/<bot>.gbdialog/`, its settings as `<bot>.gbai/<bot>.gbot/config.csv`,
/// secrets blanked.
pub fn export_package(pkg: &Package) -> Result<Vec<u8>, String> {
    let bot = &pkg.name;
    let mut entries: Vec<(String, Vec<u8>)> = pkg
        .sources
        .iter()
        .map(|(file, src)| {
            (
                format!("{bot}.gbai/{bot}.gbdialog/{file}"),
                src.clone().into_bytes(),
            )
        })
        .collect();
    let mut config = String::from("name,value\n");
    for (k, v) in &pkg.config {
        config.push_str(&format!("{k},{v}\n"));
    }
    entries.push((
        format!("{bot}.gbai/{bot}.gbot/config.csv"),
        blank_secrets(&config).into_bytes(),
    ));
    write_zip(&entries)
}

/// Gives each `config.csv` under `new` the secrets its blank lines leave out, from the
/// file at the same place under `old`.
fn carry_secrets(new: &Path, old: &Path) {
    for (rel, path) in files_under(new) {
        if !is_config(&rel) {
            continue;
        }
        let (Ok(n), Ok(o)) = (
            std::fs::read_to_string(&path),
            std::fs::read_to_string(old.join(&rel)),
        ) else {
            continue;
        };
        let merged = keep_secrets(&n, &o);
        if merged != n {
            let _ = std::fs::write(&path, merged).and_then(|_| {
                std::fs::File::options()
                    .write(true)
                    .open(&path)?
                    .set_modified(extracted_mtime())
            });
        }
    }
}

/// A folder removed when dropped (the staging area of an upload).
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An error of the file system, logged; the caller gets a generic 500.
fn fs_error(what: &str, e: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("{what}: {e}"))
}

/// `text` with the bots folder's path taken out (errors name `shop.gbai/…`, never where the
/// server keeps it).
fn relative(text: &str, dir: &Path) -> String {
    text.replace(&format!("{}/", dir.display()), "")
}

/// The caller must administer `bot`, and `bot` must be a valid name.
fn check(p: &Principal, bot: &str) -> Result<(), AppError> {
    if !p.can_admin_bot(bot) {
        return Err(AppError::Forbidden);
    }
    if !valid_bot_name(bot) {
        return Err(AppError::bad_request(
            "invalid bot name (1 to 64 characters: a-z, 0-9, - and _)",
        ));
    }
    Ok(())
}

/// One error of a bot's package.
#[derive(Serialize)]
struct ErrorItem {
    file: String,
    line: u32,
    col: u32,
    message: String,
}

/// What an upload or a reload installed.
#[derive(Serialize)]
struct PackageReport {
    bot: String,
    scripts: usize,
    errors: Vec<ErrorItem>,
}

fn compile_errors(pkg: &Package) -> Vec<ErrorItem> {
    pkg.errors
        .iter()
        .map(|e| ErrorItem {
            file: e.file.clone(),
            line: e.line,
            col: e.col,
            message: e.message.clone(),
        })
        .collect()
}

fn report(pkg: &Package) -> PackageReport {
    PackageReport {
        bot: pkg.name.clone(),
        scripts: pkg.sources.len(),
        errors: compile_errors(pkg),
    }
}

/// Zip, or bytes of no declared type; anything else is most likely a mistake (a form).
fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if matches!(
        essence.as_str(),
        "application/zip" | "application/x-zip-compressed" | "application/octet-stream"
    ) {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "send the zip archive itself as the body, with Content-Type application/zip",
        ))
    }
}

fn package_folder(dir: &Path, bot: &str) -> PathBuf {
    dir.join(format!("{bot}.gbai"))
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await.map_err(AppError::internal)
}

/// `PUT /api/bots/{bot}/package`: installs or replaces the bot's package from a zip.
async fn upload(
    State(d): S,
    Extension(state): Extension<Arc<AppState>>,
    Caller(p): Caller,
    Param(bot): Param<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<PackageReport>)> {
    check(&p, &bot)?;
    check_content_type(&headers)?;
    let archive =
        axum::body::to_bytes(body, MAX_ARCHIVE_BYTES)
            .await
            .map_err(|_| AppError::PayloadTooLarge {
                limit_bytes: MAX_ARCHIVE_BYTES as u64,
            })?;
    let dir = state.config.bots_dir();
    let live = package_folder(&dir, &bot);

    // Extract and read it aside; nothing visible changes until it is accepted.
    let (staging, staged, pkg) = {
        let (bot, dir, live) = (bot.clone(), dir.clone(), live.clone());
        blocking(move || -> Result<(Staging, PathBuf, Package), AppError> {
            std::fs::create_dir_all(&dir).map_err(|e| fs_error("bots folder", e))?;
            let staging = Staging(dir.join(format!(".upload-{}", uuid::Uuid::new_v4())));
            std::fs::create_dir(&staging.0).map_err(|e| fs_error("staging folder", e))?;
            let staged = staging.0.join(format!("{bot}.gbai"));
            extract(&bot, &archive, &staged)?;
            carry_secrets(&staged, &live);
            let pkg = Package::load_dir(&staged).map_err(|e| {
                AppError::bad_request(format!(
                    "the package cannot be read: {}",
                    relative(&e, &staging.0)
                ))
            })?;
            Ok((staging, staged, pkg))
        })
        .await??
    };

    let lock = watch::folder(&dir);
    let mut seen = lock.lock().await;
    let replaced = exists(&live);
    let old = dir.join(format!(".{bot}.gbai.old-{}", uuid::Uuid::new_v4()));
    if replaced {
        std::fs::rename(&live, &old).map_err(|e| fs_error("moving the old package away", e))?;
    }
    if let Err(e) = std::fs::rename(&staged, &live) {
        if replaced {
            let _ = std::fs::rename(&old, &live);
        }
        return Err(fs_error("moving the new package in", e).into());
    }
    match watch::take_effect(&d, pkg).await {
        Ok(running) => {
            watch::clear_load_error(&live);
            seen.insert(live.clone(), watch::fingerprint(&live));
            drop(seen);
            drop(staging);
            if replaced {
                blocking(move || std::fs::remove_dir_all(old)).await?.ok();
            }
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(report(&running))))
        }
        Err(e) => {
            // Put the previous package back: the folder keeps matching what runs.
            let back = std::fs::rename(&live, &staged);
            if replaced && back.is_ok() {
                let _ = std::fs::rename(&old, &live);
            }
            Err(e.into())
        }
    }
}

/// `GET /api/bots/{bot}/package`: the package as a zip, secrets blanked.
async fn export(
    State(d): S,
    Extension(state): Extension<Arc<AppState>>,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<Response> {
    check(&p, &bot)?;
    let dir = state.config.bots_dir();
    let live = package_folder(&dir, &bot);
    let lock = watch::folder(&dir);
    let seen = lock.lock().await;
    let zip = if live.is_dir() {
        let bot = bot.clone();
        blocking(move || export_dir(&bot, &live)).await?
    } else if let Some(pkg) = d.package(BotId::for_name(&bot)) {
        blocking(move || export_package(&pkg)).await?
    } else {
        return Err(AppError::NotFound.into());
    };
    drop(seen);
    let zip = zip.map_err(|e| AppError::internal(anyhow::anyhow!("export of {bot}: {e}")))?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{bot}.gbai.zip\""))
        .map_err(AppError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/zip")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        zip,
    )
        .into_response())
}

/// `POST /api/bots/{bot}/reload`: reads the bot's folder now, changed or not.
async fn reload(
    State(d): S,
    Extension(state): Extension<Arc<AppState>>,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<Json<PackageReport>> {
    check(&p, &bot)?;
    let dir = state.config.bots_dir();
    let live = package_folder(&dir, &bot);
    let lock = watch::folder(&dir);
    let mut seen = lock.lock().await;
    if live.is_dir() {
        let r = watch::load(&d, &live).await;
        seen.insert(live.clone(), watch::fingerprint(&live));
        return match r {
            Ok(pkg) => Ok(Json(report(&pkg))),
            Err(e) => Err(AppError::bad_request(format!(
                "the package cannot be loaded (the running version is unchanged): {}",
                relative(&e, &dir)
            ))
            .into()),
        };
    }
    // No folder: whatever ran from one is gone; the default bot is the built-in one.
    seen.remove(&live);
    watch::clear_load_error(&live);
    if bot == "default" {
        let id = d.install(d.builtin()).await?;
        let pkg = d.package(id).ok_or(AppError::NotFound)?;
        return Ok(Json(report(&pkg)));
    }
    d.uninstall(BotId::for_name(&bot));
    Err(AppError::NotFound.into())
}

/// `DELETE /api/bots/{bot}`: removes the bot's folder and the bot.
async fn delete(
    State(d): S,
    Extension(state): Extension<Arc<AppState>>,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<StatusCode> {
    check(&p, &bot)?;
    let dir = state.config.bots_dir();
    let live = package_folder(&dir, &bot);
    let lock = watch::folder(&dir);
    let mut seen = lock.lock().await;
    if exists(&live) {
        let away = dir.join(format!(".{bot}.gbai.deleted-{}", uuid::Uuid::new_v4()));
        std::fs::rename(&live, &away).map_err(|e| fs_error("removing the package", e))?;
        seen.remove(&live);
        watch::clear_load_error(&live);
        if bot == "default" {
            // The folder replaced the built-in default bot: it serves again.
            d.install(d.builtin()).await?;
        } else {
            d.uninstall(BotId::for_name(&bot));
        }
        drop(seen);
        blocking(move || std::fs::remove_dir_all(away)).await?.ok();
        return Ok(StatusCode::NO_CONTENT);
    }
    if bot == "default" {
        return Err(AppError::Conflict(
            "the default bot is built in and has no folder to delete (a default.gbai folder replaces it)"
                .into(),
        )
        .into());
    }
    if d.uninstall(BotId::for_name(&bot)) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound.into())
    }
}

/// `GET /api/bots/{bot}/errors`: compile errors, and the last error loading its folder
/// (as an entry naming the folder, line and column 0).
async fn errors(
    State(d): S,
    Extension(state): Extension<Arc<AppState>>,
    Caller(p): Caller,
    Param(bot): Param<String>,
) -> ApiResult<Json<serde_json::Value>> {
    check(&p, &bot)?;
    let dir = state.config.bots_dir();
    let live = package_folder(&dir, &bot);
    let pkg = d.package(BotId::for_name(&bot));
    let load = watch::load_error(&live);
    if pkg.is_none() && load.is_none() {
        return Err(AppError::NotFound.into());
    }
    let mut errors = pkg.as_deref().map(compile_errors).unwrap_or_default();
    if let Some(e) = load {
        errors.push(ErrorItem {
            file: format!("{bot}.gbai"),
            line: 0,
            col: 0,
            message: relative(&e, &dir),
        });
    }
    Ok(Json(serde_json::json!({ "bot": bot, "errors": errors })))
}

/// The admin routes' entries in `/api/openapi.json`.
pub fn openapi_paths() -> utoipa::openapi::path::Paths {
    use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let op = |summary: &str, ok: (&str, &str), others: &[(&str, &str)]| -> OperationBuilder {
        let mut b = OperationBuilder::new()
            .summary(Some(summary))
            .tag("bots")
            .response(ok.0, ResponseBuilder::new().description(ok.1));
        for (code, what) in [("403", "Not an administrator of this bot")].iter().chain(others) {
            b = b.response(*code, ResponseBuilder::new().description(*what));
        }
        b
    };
    let shape = "{bot, scripts, errors: [{file, line, col, message}]}";
    let upload: Operation = op(
        "Install or replace the bot's package from a zip archive (entries under <bot>.gbai/ or <bot>.gbdialog/…)",
        ("200", shape),
        &[
            ("201", "Installed a new bot; same body"),
            ("400", "Not a usable package archive (the message says why)"),
            ("413", "Over a limit: 32 MiB archive, 2,000 entries, 16 MiB a file, 128 MiB inflated"),
        ],
    )
    .request_body(Some(
        RequestBodyBuilder::new()
            .content("application/zip", ContentBuilder::new().build())
            .build(),
    ))
    .build();
    let export: Operation = op(
        "The bot's package as a zip archive (<bot>.gbai/…); secrets in config.csv blanked",
        ("200", "application/zip"),
        &[("404", "No such bot")],
    )
    .build();
    PathsBuilder::new()
        .path("/api/bots/{bot}/package", PathItem::new(HttpMethod::Put, upload))
        .path("/api/bots/{bot}/package", PathItem::new(HttpMethod::Get, export))
        .path(
            "/api/bots/{bot}/reload",
            PathItem::new(
                HttpMethod::Post,
                op(
                    "Read the bot's folder again now, changed or not",
                    ("200", shape),
                    &[("400", "The folder cannot be read"), ("404", "No folder")],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}",
            PathItem::new(
                HttpMethod::Delete,
                op(
                    "Delete the bot's folder and the bot",
                    ("204", "Deleted"),
                    &[
                        ("404", "No such bot"),
                        ("409", "The built-in default bot has no folder to delete"),
                    ],
                )
                .build(),
            ),
        )
        .path(
            "/api/bots/{bot}/errors",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "Compile errors and the last load error: {bot, errors: [{file, line, col, message}]}",
                    ("200", "OK"),
                    &[("404", "No such bot")],
                )
                .build(),
            ),
        )
        .build()
}
