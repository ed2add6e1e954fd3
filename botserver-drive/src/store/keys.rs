//! The shape of object keys, shared by every store: a key is a non-empty relative path of
//! `/`-separated segments (no leading or trailing `/`, no empty, `.` or `..` segment, no
//! `\`, no NUL or other control character, at most [`MAX_KEY_BYTES`] bytes), so the same
//! key names the same object on disk and in a bucket and can never climb out of the
//! store's root. A prefix for listing is empty, a key followed by `/`, or the beginning of
//! a key. [`content_type_for`] guesses a MIME type from a name's extension.

use botlib::{AppError, AppResult};

/// The longest key accepted, in bytes (S3's own limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks that `key` is a valid object key; 400 naming the problem otherwise.
pub fn check_key(key: &str) -> AppResult<()> {
    if key.is_empty() {
        return Err(bad("the key is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(bad(format!("the key is longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.starts_with('/') {
        return Err(bad("the key starts with `/` (keys are relative paths)"));
    }
    if key.ends_with('/') {
        return Err(bad("the key ends with `/` (a key names a file, not a folder)"));
    }
    check_chars(key)?;
    for segment in key.split('/') {
        match segment {
            "" => return Err(bad("the key has an empty segment (`//`)")),
            "." => return Err(bad("the key has a `.` segment")),
            ".." => return Err(bad("the key has a `..` segment")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a listing prefix: empty, or a valid key optionally followed by one `/`.
pub fn check_prefix(prefix: &str) -> AppResult<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    if prefix.starts_with('/') {
        return Err(bad("the prefix starts with `/` (keys are relative paths)"));
    }
    let stem = prefix.strip_suffix('/').unwrap_or(prefix);
    check_key(stem).map_err(|e| match e {
        AppError::BadRequest(m) => AppError::BadRequest(m.replacen("the key", "the prefix", 1)),
        other => other,
    })
}

fn check_chars(key: &str) -> AppResult<()> {
    for c in key.chars() {
        if c == '\0' {
            return Err(bad("the key contains a NUL character"));
        }
        if c == '\\' {
            return Err(bad("the key contains `\\` (use `/` between folders)"));
        }
        if c.is_control() {
            return Err(bad("the key contains a control character"));
        }
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

/// The MIME type of a file named `name`, guessed from its extension (case-insensitive);
/// `None` for an unknown or missing extension.
pub fn content_type_for(name: &str) -> Option<&'static str> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() {
        // `.env`, `.gitignore`: a hidden file without an extension.
        return None;
    }
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "wav" => "audio/wav",
        "bas" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str) -> String {
        match check_key(key) {
            Err(AppError::BadRequest(m)) => m,
            other => panic!("{key:?} should be refused with 400, got {other:?}"),
        }
    }

    #[test]
    fn good_keys_pass() {
        for key in [
            "a",
            "a.txt",
            "docs/report 2024.pdf",
            "x/y/z/w.bin",
            ".hidden",
            "a/.env",
            "a/..b",
            "a/b..",
            "ünïcödé/文件.txt",
            "a-b_c~d(1)+=,;@$&!'",
        ] {
            check_key(key).unwrap_or_else(|e| panic!("{key:?} refused: {e}"));
        }
        check_key(&"k".repeat(MAX_KEY_BYTES)).unwrap();
    }

    #[test]
    fn bad_keys_name_the_problem() {
        assert!(message("").contains("empty"));
        assert!(message("/abs").contains("starts with `/`"));
        assert!(message("dir/").contains("ends with `/`"));
        assert!(message("a//b").contains("empty segment"));
        assert!(message("a/./b").contains("`.` segment"));
        assert!(message(".").contains("`.` segment"));
        assert!(message("../x").contains("`..` segment"));
        assert!(message("a/../b").contains("`..` segment"));
        assert!(message("a/..").contains("`..` segment"));
        assert!(message("a\\b").contains('\\'));
        assert!(message("a\0b").contains("NUL"));
        assert!(message("a\nb").contains("control"));
        assert!(message("a\u{7f}b").contains("control"));
        assert!(message(&"k".repeat(MAX_KEY_BYTES + 1)).contains("1024"));
        // Multi-byte characters count in bytes.
        assert!(message(&"é".repeat(513)).contains("1024"));
    }

    #[test]
    fn prefixes() {
        for p in ["", "a/", "a", "a/b/", "a/b", "a/.h"] {
            check_prefix(p).unwrap_or_else(|e| panic!("{p:?} refused: {e}"));
        }
        for p in ["/", "/a/", "a//", "../", "a/../", "a\\", "a\0/", "a//b/"] {
            match check_prefix(p) {
                Err(AppError::BadRequest(m)) => {
                    assert!(m.contains("prefix") && !m.ends_with("is empty"), "{p:?}: {m}")
                }
                other => panic!("{p:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn content_types_from_extensions() {
        assert_eq!(content_type_for("a.txt"), Some("text/plain; charset=utf-8"));
        assert_eq!(content_type_for("dir/REPORT.PDF"), Some("application/pdf"));
        assert_eq!(content_type_for("x.jpeg"), Some("image/jpeg"));
        assert_eq!(content_type_for("x.jpg"), Some("image/jpeg"));
        assert_eq!(content_type_for("start.bas"), Some("text/plain; charset=utf-8"));
        assert_eq!(content_type_for("data.csv"), Some("text/csv; charset=utf-8"));
        assert_eq!(
            content_type_for("sheet.xlsx").map(|t| t.contains("spreadsheetml")),
            Some(true)
        );
        assert_eq!(content_type_for("a.json"), Some("application/json"));
        assert_eq!(content_type_for("s.svg"), Some("image/svg+xml"));
        assert_eq!(content_type_for("song.mp3"), Some("audio/mpeg"));
        assert_eq!(content_type_for("archive.tar.zip"), Some("application/zip"));
        assert_eq!(content_type_for("noext"), None);
        assert_eq!(content_type_for("dir.txt/noext"), None);
        assert_eq!(content_type_for(".env"), None);
        assert_eq!(content_type_for("a.unknown"), None);
        assert_eq!(content_type_for("trailing."), None);
        let all = [
            "txt", "md", "html", "css", "js", "json", "csv", "xml", "pdf", "png", "jpg", "jpeg", "gif",
            "webp", "svg", "zip", "docx", "xlsx", "pptx", "odt", "ods", "mp3", "mp4", "wav", "bas",
        ];
        for ext in all {
            assert!(content_type_for(&format!("f.{ext}")).is_some(), "{ext}");
        }
    }
}
