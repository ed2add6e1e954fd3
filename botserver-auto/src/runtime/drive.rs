//! The bot's drive (spec §8): READ, WRITE, LIST, COPY, MOVE, DELETE FILE, UPLOAD, DOWNLOAD
//! and SEND FILE over botstate's object store, every path kept under the bot's own prefix
//! (`bots/<bot id>/drive/`), so a script can never name another bot's files or the
//! server's. READ gives a text file's text (a JSON object or array parsed); documents
//! (pdf, docx, xlsx, ods, html…) come back as their text through the server's document
//! reader (`state.documents`, from the vectordb domain). `SEND FILE` and `UPLOAD` give
//! share links made by the store (`ObjectStore::share_link`: signed, expiring in 7 days,
//! revocable in the drive API), so the chat user can download without an account.
//! Writes obey the bot space's quota, which the drive's store checks.

use super::values as v;
use super::{Outbound, with_ctx};
use bytes::Bytes;
use rhai::{Array, Dynamic, EvalAltResult};
use serde_json::{Value as Json, json};

type R = Result<Dynamic, Box<EvalAltResult>>;

/// How long the links of `SEND FILE` and `UPLOAD` work (the drive caps it at its
/// `share_max_days`).
const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// Largest file a script may write or read at once.
const MAX_FILE_BYTES: usize = 10 << 20;

/// Extensions READ always gives as they are (text, JSON parsed), never through the
/// document reader.
const AS_TEXT: &[&str] = &["txt", "md", "json", "csv", "bas"];

/// Documents that are not text: READ needs the document reader for them.
const NEEDS_READER: &[&str] = &["pdf", "docx", "xlsx", "ods"];

/// READ's error for a document when the server has no document reader.
fn needs_reader(ext: &str) -> String {
    format!("READ: reading .{ext} files needs the document reader (the server's vectordb feature)")
}

/// The lower-case extension of a path's file name (empty when it has none).
fn extension(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// A drive path made safe: relative, no `..`, no empty segments.
pub fn clean_path(p: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for seg in p.split(['/', '\\']) {
        match seg.trim() {
            "" | "." => {}
            ".." => return Err(format!("the path {p:?} leaves the bot's drive")),
            s => parts.push(s.to_string()),
        }
    }
    if parts.is_empty() && !p.ends_with('/') {
        return Err("a file path is empty".into());
    }
    Ok(parts.join("/"))
}

pub(super) fn call(name: &str, a: &Array) -> R {
    let t = |i: usize| a.get(i).map(v::text).unwrap_or_default();
    let side_effect = matches!(
        name,
        "WRITE" | "COPY" | "MOVE" | "DELETE FILE" | "UPLOAD" | "DOWNLOAD"
    );
    // At least two, so a missing argument reads as empty (and fails as a bad path).
    let args: Vec<String> = (0..a.len().max(2)).map(t).collect();
    let data = a.get(1).map(|d| match d.read_lock::<rhai::ImmutableString>() {
        Some(s) => Bytes::from(s.to_string()),
        None => Bytes::from(v::to_json(d).to_string()),
    });
    let upload_data = a.first().map(|d| Bytes::from(v::text(d)));
    let name = name.to_string();
    let j = with_ctx(|ctx| {
        let prefix = format!("bots/{}/drive/", ctx.session.bot_id);
        let key = |p: &str| clean_path(p).map(|c| format!("{prefix}{c}"));
        let was_replay = ctx.replaying();
        let r = ctx.effect(&name, |ctx| {
            let s = ctx.services.clone();
            let store = s.objects.clone();
            let client = if name == "DOWNLOAD" {
                Some(ctx.http_call()?)
            } else {
                None
            };
            let fut = async {
                let e = |e: botlib::AppError| match e {
                    botlib::AppError::NotConfigured(w) => {
                        format!("{name} needs the drive: {w} is not configured")
                    }
                    other => other.to_string(),
                };
                match name.as_str() {
                    "READ" => {
                        let path = clean_path(&args[0])?;
                        let ext = extension(&path);
                        let as_document = !AS_TEXT.contains(&ext.as_str()) && s.documents.reads(&path);
                        if !as_document && NEEDS_READER.contains(&ext.as_str()) {
                            return Err(needs_reader(&ext));
                        }
                        let data = store.get(&key(&args[0])?).await.map_err(e)?;
                        if data.len() > MAX_FILE_BYTES {
                            return Err(format!("READ: the file is larger than {MAX_FILE_BYTES} bytes"));
                        }
                        if as_document {
                            let text = s.documents.text(&path, data).await.map_err(|err| match err {
                                botlib::AppError::NotConfigured(_) => needs_reader(&ext),
                                other => format!("READ: {other}"),
                            })?;
                            return Ok(Json::String(text));
                        }
                        let text = String::from_utf8_lossy(&data).to_string();
                        Ok(serde_json::from_str::<Json>(&text)
                            .ok()
                            .filter(|j| j.is_object() || j.is_array())
                            .unwrap_or(Json::String(text)))
                    }
                    "WRITE" => {
                        let data = data.clone().unwrap_or_default();
                        if data.len() > MAX_FILE_BYTES {
                            return Err(format!("WRITE: the data is larger than {MAX_FILE_BYTES} bytes"));
                        }
                        store.put(&key(&args[0])?, data, None).await.map_err(e)?;
                        Ok(Json::Null)
                    }
                    "UPLOAD" => {
                        let path = key(&args[1])?;
                        store
                            .put(&path, upload_data.clone().unwrap_or_default(), None)
                            .await
                            .map_err(e)?;
                        Ok(Json::String(store.share_link(&path, LINK_TTL).await.map_err(e)?))
                    }
                    "LIST" => {
                        let dir = clean_path(&args[0]).unwrap_or_default();
                        let dir = if dir.is_empty() {
                            prefix.clone()
                        } else {
                            format!("{prefix}{dir}/")
                        };
                        let items = store.list(&dir, None, 1000).await.map_err(e)?;
                        Ok(Json::Array(
                            items
                                .into_iter()
                                .map(|m| Json::String(m.key.trim_start_matches(&prefix).to_string()))
                                .collect(),
                        ))
                    }
                    "COPY" | "MOVE" => {
                        let (from, to) = (key(&args[0])?, key(&args[1])?);
                        store.copy(&from, &to).await.map_err(e)?;
                        if name == "MOVE" {
                            store.delete(&from).await.map_err(e)?;
                        }
                        Ok(Json::Null)
                    }
                    "DELETE FILE" => Ok(Json::Bool(store.delete(&key(&args[0])?).await.map_err(e)?)),
                    "DOWNLOAD" => {
                        let path = key(&args[1])?;
                        let resp = crate::net::fetch(
                            client.as_ref().expect("a DOWNLOAD client"),
                            crate::net::HttpRequest::get(args[0].clone()),
                        )
                        .await
                        .map_err(|e| format!("DOWNLOAD: {e}"))?;
                        if resp.status >= 400 {
                            return Err(format!("DOWNLOAD: HTTP {}", resp.status));
                        }
                        // The bytes as received: a PDF or an image stays intact.
                        store.put(&path, resp.raw, None).await.map_err(e)?;
                        Ok(Json::String(args[1].clone()))
                    }
                    "SEND FILE" => {
                        let path = key(&args[0])?;
                        store.head(&path).await.map_err(e)?;
                        let link = store.share_link(&path, LINK_TTL).await.map_err(e)?;
                        Ok(json!({ "path": path, "link": link }))
                    }
                    _ => Err(format!("{name} is not a drive keyword")),
                }
            };
            s.rt.block_on(fut)
        });
        if let (Ok(j), "SEND FILE") = (&r, name.as_str())
            && !was_replay
        {
            let link = j
                .get("link")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let caption = args.get(1).cloned().unwrap_or_default();
            ctx.out.push(Outbound {
                content: format!(
                    "[{}]({link})",
                    if caption.is_empty() { &args[0] } else { &caption }
                ),
                suggestions: ctx.state.suggestions.clone(),
            });
        }
        if side_effect && r.is_ok() {
            ctx.checkpoint()?;
        }
        r
    })??;
    Ok(v::from_json(&j))
}

#[cfg(test)]
mod tests {
    use super::{clean_path, extension};

    #[test]
    fn extensions_are_the_file_names_lower_cased() {
        assert_eq!(extension("reports/Q1.PDF"), "pdf");
        assert_eq!(extension("a.tar.gz"), "gz");
        assert_eq!(extension("dir.d/noext"), "");
    }

    #[test]
    fn paths_stay_inside_the_drive() {
        assert_eq!(clean_path("a/./b.txt").unwrap(), "a/b.txt");
        assert_eq!(clean_path("/etc/passwd").unwrap(), "etc/passwd");
        assert!(clean_path("../other/x").is_err());
        assert!(clean_path("a/../../x").is_err());
        assert!(clean_path("").is_err());
    }
}
