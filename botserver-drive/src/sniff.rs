//! What an uploaded file is: its first bytes (magic numbers) win over the name's
//! extension, which wins over what the client declared; text that is valid UTF-8 is
//! `text/plain`, anything else `application/octet-stream`. And how a download is served:
//! types a browser would run or render as a page on our origin (HTML, SVG, XML,
//! JavaScript) are always sent as attachments, so a user's upload can never script the
//! server's pages.

/// Magic numbers of the formats worth recognizing.
const MAGIC: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"\x7fELF", "application/octet-stream"),
    (b"MZ", "application/octet-stream"),
];

/// The type of a file named `name` whose content starts with `head`, given what the
/// client declared.
pub fn content_type(name: &str, head: &[u8], declared: Option<&str>) -> String {
    let by_name = crate::store::keys::content_type_for(name);
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp".into();
    }
    if let Some((_, t)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        // Office documents and OpenDocument files are zip archives: the name tells which.
        if *t == "application/zip"
            && let Some(n) = by_name
            && (n.contains("openxmlformats") || n.contains("opendocument") || n.ends_with("zip"))
        {
            return n.to_string();
        }
        return (*t).to_string();
    }
    if let Some(t) = by_name {
        return t.to_string();
    }
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|d| !d.is_empty() && d != "application/octet-stream" && d.contains('/'));
    if let Some(d) = declared {
        return d;
    }
    // A cut multi-byte character at the end of the sample is still text.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    };
    if valid && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// Whether a browser would run or render `content_type` as a page: such files are only
/// ever sent as attachments.
pub fn must_download(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    ["html", "svg", "xml", "javascript", "ecmascript", "xhtml"]
        .iter()
        .any(|k| t.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_beats_name_beats_declaration() {
        assert_eq!(
            content_type("x.txt", b"%PDF-1.7 ...", Some("text/plain")),
            "application/pdf"
        );
        assert_eq!(
            content_type("r.xlsx", b"PK\x03\x04rest", None),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert_eq!(content_type("a.zip", b"PK\x03\x04", None), "application/zip");
        assert_eq!(
            content_type("notes.md", b"# hi", None),
            "text/markdown; charset=utf-8"
        );
        assert_eq!(
            content_type("blob", b"hello", Some("application/x-thing")),
            "application/x-thing"
        );
        assert_eq!(
            content_type("blob", "héllo".as_bytes(), None),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type("blob", &[0, 159, 146, 150], None),
            "application/octet-stream"
        );
        assert_eq!(content_type("evil.png", b"<script>", None), "image/png");
    }

    #[test]
    fn pages_and_scripts_are_attachments() {
        assert!(must_download("text/html; charset=utf-8"));
        assert!(must_download("image/svg+xml"));
        assert!(must_download("application/javascript"));
        assert!(!must_download("image/png"));
        assert!(!must_download("application/pdf"));
    }
}
