//! The bots folder, kept in step with the running engine: every `*.gbai` package is
//! fingerprinted by the paths, sizes and modification times of its scripts and
//! `config.csv`; a package whose fingerprint changed is reloaded (and only scripts whose
//! content changed are compiled), a removed one is uninstalled, an unchanged one is left
//! alone. A script that stops compiling keeps its last good version
//! running, and its error stays visible in the package (`GET /api/bots`).
//!
//! The admin API (`admin.rs`) changes the folder too: it holds the folder's lock
//! ([`folder`]) while it does, goes through the same [`load`] / [`take_effect`] path, and
//! records the fingerprint of what it installed, so the next scan leaves it alone.

use crate::dialog::Dialogs;
use crate::package::Package;
use botlib::{AppError, AppResult, BotId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Files younger than this are fingerprinted by content too.
pub const RECENT: Duration = Duration::from_secs(3);

/// How often the folder is scanned (changes take effect within this, plus a compile).
pub const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Packages in `dir` and the fingerprint of each: its files' paths, sizes and
/// modification times (and the content of files changed in the last seconds, so a scan every second
/// reads nothing in a folder at rest). A package
/// whose fingerprint moved is read again; its scripts are then compiled only when their
/// content changed (the program cache is content-addressed).
pub fn scan(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() && path.extension().is_some_and(|x| x.eq_ignore_ascii_case("gbai")) {
            let fp = fingerprint(&path);
            out.insert(path, fp);
        }
    }
    out
}

/// The fingerprint of one package folder, as [`scan`] computes it.
pub fn fingerprint(package: &Path) -> String {
    let mut files = Vec::new();
    collect(package, &mut files, 0);
    files.sort();
    let mut all = String::new();
    for f in files {
        if let Ok(meta) = std::fs::metadata(&f) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            all.push_str(&format!("{}\0{}\0{modified}", f.to_string_lossy(), meta.len()));
            // A file changed in the last seconds may change again within the
            // file system's time resolution at the same size: read those.
            let recent = meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < RECENT);
            if recent && let Ok(data) = std::fs::read(&f) {
                all.push_str(&crate::runtime::content_hash(&String::from_utf8_lossy(&data)));
            }
            all.push('\n');
        }
    }
    crate::runtime::content_hash(&all)
}

/// The `.bas` and `config.csv` files under a package (links not followed, depth bounded).
fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            collect(&p, out, depth + 1);
        } else if ft.is_file() {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if name.ends_with(".bas") || name == "config.csv" {
                out.push(p);
            }
        }
    }
}

/// What one pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Bots (re)loaded.
    pub loaded: Vec<String>,
    /// Bots removed.
    pub removed: Vec<String>,
}

/// Brings the engine in step with `dir`, given the fingerprints of the last pass.
pub async fn sync(dialogs: &Dialogs, dir: &Path, seen: &mut BTreeMap<PathBuf, String>) -> Changes {
    let now = scan(dir);
    let mut changes = Changes::default();
    for (path, fp) in &now {
        if seen.get(path) == Some(fp) {
            continue;
        }
        if let Ok(pkg) = load(dialogs, path).await {
            changes.loaded.push(pkg.name.clone());
        }
        seen.insert(path.clone(), fp.clone());
    }
    let gone: Vec<PathBuf> = seen.keys().filter(|p| !now.contains_key(*p)).cloned().collect();
    for path in gone {
        seen.remove(&path);
        clear_load_error(&path);
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let name = base.strip_suffix(".gbai").unwrap_or(&base).to_string();
        if name == "default" {
            // The folder's own default bot is gone: the built-in one serves again.
            let _ = dialogs.install(dialogs.builtin()).await;
        } else {
            dialogs.uninstall(BotId::for_name(&name));
        }
        changes.removed.push(name);
    }
    changes
}

/// The last error of each package folder that could not be loaded, by folder.
static LOAD_ERRORS: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// The lock and the fingerprints of each bots folder (see [`folder`]).
type Seen = Arc<tokio::sync::Mutex<BTreeMap<PathBuf, String>>>;
static FOLDERS: Mutex<BTreeMap<PathBuf, Seen>> = Mutex::new(BTreeMap::new());

/// The fingerprints of the packages last loaded from the bots folder `dir`, shared by the
/// folder's watcher ([`run`]) and the admin API. Whoever changes the folder holds this
/// lock meanwhile (the watcher does not scan a half-replaced package) and records the
/// fingerprint of what it installed (the next scan does not load it again).
pub fn folder(dir: &Path) -> Seen {
    FOLDERS
        .lock()
        .expect("folders")
        .entry(dir.to_path_buf())
        .or_default()
        .clone()
}

/// Reads the package folder `path` and makes it its bot's running version
/// ([`take_effect`]). A folder that cannot be read or installed leaves the running
/// version alone; the error is logged and kept for [`load_error`] until a load succeeds.
pub async fn load(dialogs: &Dialogs, path: &Path) -> Result<Arc<Package>, String> {
    let r = match Package::load_dir(path) {
        Ok(pkg) => take_effect(dialogs, pkg).await.map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "bot package not installed");
            // Kept for the API: never an internal cause.
            e.public_message()
        }),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "bot package not readable");
            Err(e)
        }
    };
    match &r {
        Ok(_) => clear_load_error(path),
        Err(e) => {
            LOAD_ERRORS
                .lock()
                .expect("load errors")
                .insert(path.to_path_buf(), e.clone());
        }
    }
    r
}

/// The last error loading the package folder `path`, if its last load failed.
pub fn load_error(path: &Path) -> Option<String> {
    LOAD_ERRORS.lock().expect("load errors").get(path).cloned()
}

/// Forgets the load error of `path` (its package was installed another way, or removed).
pub fn clear_load_error(path: &Path) {
    LOAD_ERRORS.lock().expect("load errors").remove(path);
}

/// Makes a package read from a folder its bot's running version: each script that no
/// longer compiles keeps its last good version ([`keep_last_good`]), and its error stays
/// listed. Returns the package now running.
pub async fn take_effect(dialogs: &Dialogs, pkg: Package) -> AppResult<Arc<Package>> {
    let name = pkg.name.clone();
    let pkg = keep_last_good(dialogs, pkg);
    for e in &pkg.errors {
        tracing::warn!(bot = %name, error = %e, "script does not compile; the last good version keeps running");
    }
    let id = dialogs.install(pkg).await?;
    dialogs.package(id).ok_or(AppError::NotFound)
}

/// A new version of a package, where each script that no longer compiles keeps the
/// program (and source) of the version running now; its error stays listed.
pub fn keep_last_good(dialogs: &Dialogs, mut pkg: Package) -> Package {
    let Some(old) = dialogs.package(BotId::for_name(&pkg.name)) else {
        return pkg;
    };
    for e in &pkg.errors {
        if let (Some(prog), Some(src)) = (old.programs.get(&e.file), old.sources.get(&e.file)) {
            pkg.programs.insert(e.file.clone(), prog.clone());
            pkg.sources.insert(e.file.clone(), src.clone());
        }
    }
    pkg
}

/// The default bot that ships inside the binary: installed when the bots folder has no
/// `default.gbai` of its own (a folder named so replaces it).
pub fn builtin_default() -> Package {
    Package::from_sources(
        "default",
        [(
            "start.bas".to_string(),
            include_str!("../bots/default.gbai/default.gbdialog/start.bas").to_string(),
        )]
        .into(),
        crate::package::parse_config(include_str!("../bots/default.gbai/default.gbot/config.csv")),
    )
}

/// The built-in default bot's knowledge base (`default.gbkb/botserver/`), embedded.
const BUILTIN_KB: [(&str, &str); 4] = [
    (
        "what-is-botserver.md",
        include_str!("../bots/default.gbai/default.gbkb/botserver/what-is-botserver.md"),
    ),
    (
        "making-a-bot.md",
        include_str!("../bots/default.gbai/default.gbkb/botserver/making-a-bot.md"),
    ),
    (
        "knowledge-bases.md",
        include_str!("../bots/default.gbai/default.gbkb/botserver/knowledge-bases.md"),
    ),
    (
        "language-models.md",
        include_str!("../bots/default.gbai/default.gbkb/botserver/language-models.md"),
    ),
];

/// The built-in default bot with its knowledge base written under
/// `<home>/builtin/default.gbai/` (a file is rewritten only when its content changed, so
/// an unchanged knowledge base is never indexed again).
pub fn builtin_default_at(home: &Path) -> std::io::Result<Package> {
    let root = home.join("builtin").join("default.gbai");
    let kb = root.join("default.gbkb").join("botserver");
    std::fs::create_dir_all(&kb)?;
    for (file, text) in BUILTIN_KB {
        let path = kb.join(file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text)?;
        }
    }
    let mut pkg = builtin_default();
    pkg.folder = Some(root);
    Ok(pkg)
}

/// Scans `dir` every [`SCAN_EVERY`] until `stop` resolves; `seen` is what the first
/// [`sync`] found.
pub async fn run(
    dialogs: std::sync::Arc<Dialogs>,
    dir: PathBuf,
    seen: BTreeMap<PathBuf, String>,
    stop: impl std::future::Future<Output = ()>,
) {
    let shared = folder(&dir);
    shared.lock().await.extend(seen);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(SCAN_EVERY) => {}
        }
        let changes = {
            let mut seen = shared.lock().await;
            sync(&dialogs, &dir, &mut seen).await
        };
        if !changes.loaded.is_empty() || !changes.removed.is_empty() {
            tracing::info!(loaded = ?changes.loaded, removed = ?changes.removed, "bots folder changed");
        }
    }
}
