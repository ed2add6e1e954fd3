//! A bot package's scripts and settings (`<bot>.gbai/`, shared/spec/packages.md), read
//! from a folder and compiled: every script of `<bot>.gbdialog/` (subfolders included)
//! and `<bot>.gbot/config.csv`. Compilation goes through the content-hash cache, so an
//! unchanged file is never compiled twice.

use crate::compile::CompileError;
use crate::runtime::{self, Program, ScriptSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest script file accepted.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;
/// Most scripts in one package.
pub const MAX_SCRIPTS: usize = 2000;

/// A loaded package.
#[derive(Clone, Debug, Default)]
pub struct Package {
    /// The bot's name (the folder name without `.gbai`).
    pub name: String,
    /// Script sources by path inside `.gbdialog` (`start.bas`, `tools/order.bas`).
    pub sources: BTreeMap<String, String>,
    /// Compiled scripts, for those that compiled.
    pub programs: BTreeMap<String, Arc<Program>>,
    /// Compile errors, for those that did not.
    pub errors: Vec<CompileError>,
    /// `config.csv` settings.
    pub config: BTreeMap<String, String>,
    /// `<bot>.gbot/PROMPT.md`, which wins over `system-prompt`.
    pub prompt: Option<String>,
    /// The folder it was read from (its knowledge bases live there).
    pub folder: Option<std::path::PathBuf>,
}

impl Package {
    /// Builds a package from sources in memory (uploads, tests).
    pub fn from_sources(
        name: &str,
        sources: BTreeMap<String, String>,
        config: BTreeMap<String, String>,
    ) -> Package {
        let mut p = Package {
            name: name.to_string(),
            sources,
            config,
            ..Default::default()
        };
        for (file, src) in &p.sources {
            match runtime::program(file, src) {
                Ok(prog) => {
                    p.programs.insert(file.clone(), prog);
                }
                Err(e) => p.errors.push(e),
            }
        }
        p
    }

    /// Reads a package folder: `<dir>` is `<bot>.gbai` (or any folder holding a
    /// `*.gbdialog` folder).
    pub fn load_dir(dir: &Path) -> Result<Package, String> {
        let base = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a folder name", dir.display()))?;
        let name = base.strip_suffix(".gbai").unwrap_or(base).to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut dialog = None;
        let mut gbot = None;
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_lowercase();
            if n.ends_with(".gbdialog") {
                dialog = Some(e.path());
            } else if n.ends_with(".gbot") {
                gbot = Some(e.path());
            }
        }
        // A bot without scripts (a model and a knowledge base) is a bot too.
        let mut sources = BTreeMap::new();
        if let Some(dialog) = dialog {
            collect(&dialog, &dialog, &mut sources)?;
        }
        let config = match gbot.as_ref().map(|g| g.join("config.csv")) {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                parse_config(&text)
            }
            _ => BTreeMap::new(),
        };
        let prompt = match gbot.map(|g| g.join("PROMPT.md")) {
            Some(path) if path.exists() => {
                Some(std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            _ => None,
        };
        let mut package = Package::from_sources(&name, sources, config);
        package.prompt = prompt;
        package.folder = Some(dir.to_path_buf());
        Ok(package)
    }

    /// A script by path, case-insensitively, with or without `.bas`; else by file stem
    /// when exactly one script has it (`order` finds `tools/order.bas`, as tools are named
    /// by their stem).
    pub fn program(&self, file: &str) -> Option<&Arc<Program>> {
        resolve(self.programs.iter(), file).map(|(_, p)| p)
    }

    /// The tools the package declares, by name.
    pub fn tools(&self) -> Vec<&crate::tools::ToolSpec> {
        self.programs
            .values()
            .filter_map(|p| p.compiled.tool.as_ref())
            .collect()
    }
}

impl ScriptSource for Package {
    fn program(&self, file: &str) -> Result<Arc<Program>, String> {
        Package::program(self, file).cloned().ok_or_else(|| {
            match self.errors.iter().find(|e| e.file.eq_ignore_ascii_case(file)) {
                Some(e) => format!("{file} does not compile: {e}"),
                None => format!("no script {file} in bot {}", self.name),
            }
        })
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.file_type().is_symlink() {
            continue; // never follow links out of the package
        }
        if meta.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("bas")) {
            if meta.len() > MAX_SCRIPT_BYTES {
                return Err(format!(
                    "{}: larger than {MAX_SCRIPT_BYTES} bytes",
                    path.display()
                ));
            }
            if out.len() >= MAX_SCRIPTS {
                return Err(format!("{}: more than {MAX_SCRIPTS} scripts", root.display()));
            }
            let rel = path
                .strip_prefix(root)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .replace('\\', "/");
            let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            out.insert(rel, src);
        }
    }
    Ok(())
}

/// `key,value` lines (the first comma splits; `#` lines and a `name,value` header are
/// skipped); keys are lowercased and trimmed.
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once(',') else {
            continue;
        };
        let k = k.trim().to_lowercase();
        if k == "name" && v.trim().eq_ignore_ascii_case("value") {
            continue;
        }
        out.insert(k, v.trim().trim_matches('"').to_string());
    }
    out
}

/// Finds `file` among `(path, item)` pairs: by path (case-insensitive, `.bas` optional),
/// else by a unique file stem.
pub fn resolve<'a, T>(
    items: impl Iterator<Item = (&'a String, T)> + Clone,
    file: &str,
) -> Option<(&'a String, T)> {
    let want = file.trim_start_matches("./").to_lowercase();
    let want = if want.ends_with(".bas") {
        want
    } else {
        format!("{want}.bas")
    };
    if let Some(hit) = items.clone().find(|(k, _)| k.to_lowercase() == want) {
        return Some(hit);
    }
    let stem = |k: &str| k.rsplit('/').next().unwrap_or(k).to_lowercase();
    let mut by_stem = items.filter(|(k, _)| stem(k) == want);
    match (by_stem.next(), by_stem.next()) {
        (Some(hit), None) => Some(hit),
        _ => None,
    }
}
