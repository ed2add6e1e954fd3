//! Text out of documents: `.md` and `.txt` (Markdown headings become sections), `.html`
//! (tags, scripts and styles dropped, entities decoded, `h1`-`h3` become sections), `.csv`
//! (each row as `column: value` lines, in blocks of rows), `.json` (flattened to
//! `path: value` lines), `.docx` (a zip: `word/document.xml` read with a light XML pass,
//! heading styles become sections) and `.pdf` (one section per page, with the `pdf`
//! feature, on by default). Files over [`MAX_FILE_BYTES`] are refused; every failure says
//! what is wrong with the file.

use crate::chunk::Section;
use std::fmt;
use std::io::Read;

/// Largest document read, in bytes.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// Largest text inflated out of a `.docx`, in bytes (a zip bomb stops here).
const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// CSV rows per section.
const CSV_ROWS_PER_SECTION: usize = 20;
/// JSON items per section (top-level array elements).
const JSON_ITEMS_PER_SECTION: usize = 20;

/// Extensions of the documents a knowledge base reads.
pub const EXTENSIONS: &[&str] = &[
    "md", "markdown", "txt", "html", "htm", "csv", "json", "docx", "pdf",
];

/// Why a document gave no text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    /// Not a type this server reads (the extension).
    Unsupported(String),
    /// Over [`MAX_FILE_BYTES`] (its size).
    TooLarge(u64),
    /// The file is damaged or not what its extension says; the message says how.
    Invalid(String),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Unsupported(ext) => write!(
                f,
                "unsupported document type `.{ext}` (supported: {})",
                EXTENSIONS.join(", ")
            ),
            ExtractError::TooLarge(n) => {
                write!(f, "the file has {n} bytes; the limit is {MAX_FILE_BYTES} bytes")
            }
            ExtractError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ExtractError {}

/// The lower-case extension of `name`.
pub fn extension(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a file of this name is a document a knowledge base reads.
pub fn is_supported(name: &str) -> bool {
    EXTENSIONS.contains(&extension(name).as_str())
}

/// The text of a document, as sections. `name` picks the format by its extension.
pub fn extract(name: &str, bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ExtractError::TooLarge(bytes.len() as u64));
    }
    let ext = extension(name);
    match ext.as_str() {
        "md" | "markdown" => Ok(markdown(&text_of(bytes))),
        "txt" => Ok(vec![Section::new("", text_of(bytes))]),
        "html" | "htm" => Ok(html(&text_of(bytes))),
        "csv" => Ok(csv(&text_of(bytes))),
        "json" => json(bytes),
        "docx" => docx(bytes),
        "pdf" => pdf(bytes),
        _ => Err(ExtractError::Unsupported(ext)),
    }
}

/// UTF-8 (a BOM dropped); invalid bytes become U+FFFD rather than failing the file.
fn text_of(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Sections at Markdown headings (`#` lines outside code fences); the location is the
/// path of headings (`Install > Linux`).
pub fn markdown(text: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut fence = false;
    let location = |path: &[(usize, String)]| {
        path.iter()
            .map(|(_, h)| h.as_str())
            .collect::<Vec<_>>()
            .join(" > ")
    };
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = !fence;
        }
        let level = t.chars().take_while(|&c| c == '#').count();
        let is_heading = !fence
            && (1..=6).contains(&level)
            && t[level..].starts_with([' ', '\t'])
            && line.len() - t.len() < 4;
        if is_heading {
            if !current.trim().is_empty() {
                out.push(Section::new(location(&path), std::mem::take(&mut current)));
            }
            current.clear();
            let title = t[level..].trim().trim_end_matches('#').trim().to_string();
            path.retain(|(l, _)| *l < level);
            path.push((level, title));
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push(Section::new(location(&path), current));
    }
    out
}

/// `&amp;`, `&lt;`, `&#233;`, `&#xE9;` … decoded; unknown entities kept as they are.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| c == ';' || c == '&' || c.is_whitespace())
            .map(|e| e + 1);
        let decoded = match end {
            Some(e) if rest.as_bytes()[e] == b';' && e <= 12 => {
                let name = &rest[1..e];
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "mdash" => Some('—'),
                    "ndash" => Some('–'),
                    "hellip" => Some('…'),
                    "copy" => Some('©'),
                    _ => name
                        .strip_prefix("#x")
                        .or_else(|| name.strip_prefix("#X"))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32),
                };
                c.map(|c| (c, e + 1))
            }
            _ => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tags after which text continues on a new paragraph.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "dd",
    "dt",
    "main",
    "nav",
    "aside",
    "form",
    "title",
    "td",
    "th",
];

/// Text of an HTML page: elements whose content is not text (`script`, `style`, `head`
/// except its `title`, `noscript`, `template`, `svg`) dropped, comments dropped, block
/// elements separated by blank lines, `h1`-`h3` start sections named by their text.
pub fn html(src: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut location = String::new();
    let mut text = String::new();
    let mut heading: Option<String> = None;
    let lower = src.to_ascii_lowercase();
    let mut i = 0;
    let bytes = src.as_bytes();
    let flush_text = |buf: &mut String, text: &mut String, heading: &mut Option<String>| {
        let t = decode_entities(buf);
        buf.clear();
        if let Some(h) = heading.as_mut() {
            h.push_str(&t);
        }
        text.push_str(&t);
    };
    let mut buf = String::new();
    while i < src.len() {
        if bytes[i] != b'<' {
            let next = src[i..].find('<').map_or(src.len(), |n| i + n);
            buf.push_str(&src[i..next]);
            i = next;
            continue;
        }
        if lower[i..].starts_with("<!--") {
            i = lower[i..].find("-->").map_or(src.len(), |e| i + e + 3);
            continue;
        }
        let close = match src[i..].find('>') {
            Some(e) => i + e,
            None => break,
        };
        let tag_start = i;
        let tag_src = &lower[i + 1..close];
        let closing = tag_src.starts_with('/');
        let name: String = tag_src
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        i = close + 1;
        flush_text(&mut buf, &mut text, &mut heading);
        if !closing
            && matches!(
                name.as_str(),
                "script" | "style" | "noscript" | "template" | "svg" | "head"
            )
        {
            // Skip to the matching close tag; a head still gives its title.
            let end_tag = format!("</{name}");
            let end = lower[i..].find(&end_tag).map_or(src.len(), |e| i + e);
            if name == "head"
                && let Some(t0) = lower[i..end].find("<title")
            {
                let t0 = i + t0;
                if let Some(gt) = src[t0..end].find('>') {
                    let t1 = lower[t0..end].find("</title").map_or(end, |e| t0 + e);
                    let title = decode_entities(src[t0 + gt + 1..t1].trim());
                    if !title.is_empty() {
                        text.push_str(&title);
                        text.push_str("\n\n");
                    }
                }
            }
            i = lower[end..].find('>').map_or(src.len(), |e| end + e + 1);
            continue;
        }
        let is_heading = matches!(name.as_str(), "h1" | "h2" | "h3");
        if is_heading && !closing {
            if !text.trim().is_empty() {
                sections.push(Section::new(location.clone(), std::mem::take(&mut text)));
            }
            text.clear();
            heading = Some(String::new());
        }
        if is_heading
            && closing
            && let Some(h) = heading.take()
        {
            location = h.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        if BLOCK_TAGS.contains(&name.as_str()) {
            text.push_str("\n\n");
        } else if name == "img" {
            // Alternative text is text a reader would see.
            if let Some(a) = tag_src.find("alt=") {
                let attr = &src[tag_start + 1 + a + 4..close];
                let q = attr.chars().next().unwrap_or(' ');
                let alt = if q == '"' || q == '\'' {
                    attr[1..].split(q).next().unwrap_or_default()
                } else {
                    attr.split_whitespace().next().unwrap_or_default()
                };
                text.push(' ');
                text.push_str(&decode_entities(alt));
                text.push(' ');
            }
        } else {
            text.push(' ');
        }
    }
    flush_text(&mut buf, &mut text, &mut heading);
    if !text.trim().is_empty() {
        sections.push(Section::new(location, text));
    }
    for s in &mut sections {
        s.text = tidy(&s.text);
    }
    sections.retain(|s| !s.text.is_empty());
    sections
}

/// Runs of spaces collapsed inside lines; more than one blank line collapsed to one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&l);
    }
    out
}

/// CSV records (RFC 4180: quoted fields, doubled quotes, newlines inside quotes); the
/// separator is `,` or, when the first line has more of them, `;`.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    let first = text.lines().next().unwrap_or_default();
    let sep = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, c) if c == sep => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.trim().is_empty()) {
                    records.push(std::mem::take(&mut record));
                }
                record.clear();
            }
            (false, c) => field.push(c),
        }
    }
    record.push(field);
    if record.iter().any(|f| !f.trim().is_empty()) {
        records.push(record);
    }
    records
}

/// Rows as `column: value` lines (one paragraph per row), in sections of
/// [`CSV_ROWS_PER_SECTION`] rows named `rows a-b` (data rows, from 1).
fn csv(text: &str) -> Vec<Section> {
    let records = csv_records(text);
    let Some((header, rows)) = records.split_first() else {
        return Vec::new();
    };
    if rows.is_empty() {
        return vec![Section::new("", header.join(", "))];
    }
    rows.chunks(CSV_ROWS_PER_SECTION)
        .enumerate()
        .map(|(n, block)| {
            let first = n * CSV_ROWS_PER_SECTION + 1;
            let text = block
                .iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .filter(|(_, v)| !v.trim().is_empty())
                        .map(
                            |(i, v)| match header.get(i).map(|h| h.trim()).filter(|h| !h.is_empty()) {
                                Some(h) => format!("{h}: {}", v.trim()),
                                None => v.trim().to_string(),
                            },
                        )
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect::<Vec<_>>()
                .join("\n\n");
            Section::new(format!("rows {first}-{}", first + block.len() - 1), text)
        })
        .collect()
}

fn flatten_json(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&p, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten_json(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) if prefix.is_empty() => out.push(s.clone()),
        Value::String(s) => out.push(format!("{prefix}: {s}")),
        other if prefix.is_empty() => out.push(other.to_string()),
        other => out.push(format!("{prefix}: {other}")),
    }
}

/// `path: value` lines; a top-level array gives one paragraph per element, in sections
/// of [`JSON_ITEMS_PER_SECTION`] named `items a-b`.
fn json(bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    let v: serde_json::Value = serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| ExtractError::Invalid(format!("not valid JSON: {e}")))?;
    match &v {
        serde_json::Value::Array(items) => Ok(items
            .chunks(JSON_ITEMS_PER_SECTION)
            .enumerate()
            .map(|(n, block)| {
                let text = block
                    .iter()
                    .map(|item| {
                        let mut lines = Vec::new();
                        flatten_json("", item, &mut lines);
                        lines.join("\n")
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n");
                let first = n * JSON_ITEMS_PER_SECTION + 1;
                Section::new(format!("items {first}-{}", first + block.len() - 1), text)
            })
            .collect()),
        _ => {
            let mut lines = Vec::new();
            flatten_json("", &v, &mut lines);
            Ok(vec![Section::new("", lines.join("\n"))])
        }
    }
}

/// The value of attribute `name` in a tag's source.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let i = tag.find(&format!("{name}=\""))?;
    let rest = &tag[i + name.len() + 2..];
    rest.split('"').next()
}

/// Text of `word/document.xml`: paragraphs (`w:p`) separated by blank lines, runs'
/// text (`w:t`), tabs and breaks; a paragraph styled `Heading…` or `Title` starts a
/// section named by its text.
pub fn docx_xml(xml: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut location = String::new();
    let mut text = String::new();
    let mut para = String::new();
    let mut para_heading = false;
    let mut in_text = false;
    let mut i = 0;
    while i < xml.len() {
        if xml.as_bytes()[i] != b'<' {
            let next = xml[i..].find('<').map_or(xml.len(), |n| i + n);
            if in_text {
                para.push_str(&decode_entities(&xml[i..next]));
            }
            i = next;
            continue;
        }
        let Some(close) = xml[i..].find('>').map(|e| i + e) else {
            break;
        };
        let tag = &xml[i + 1..close];
        i = close + 1;
        let closing = tag.starts_with('/');
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        match (name, closing) {
            ("w:t", false) => in_text = !self_closing,
            ("w:t", true) => in_text = false,
            ("w:tab", false) => para.push('\t'),
            ("w:br" | "w:cr", false) => para.push('\n'),
            ("w:pStyle", false) => {
                let v = attribute(tag, "w:val").unwrap_or_default().to_ascii_lowercase();
                para_heading = v.starts_with("heading") || v == "title";
            }
            ("w:p", true) => {
                let p = para.trim().to_string();
                if para_heading && !p.is_empty() {
                    if !text.trim().is_empty() {
                        sections.push(Section::new(location.clone(), std::mem::take(&mut text)));
                    }
                    text.clear();
                    location = p.split_whitespace().collect::<Vec<_>>().join(" ");
                }
                if !p.is_empty() {
                    text.push_str(&p);
                    text.push_str("\n\n");
                }
                para.clear();
                para_heading = false;
            }
            _ => {}
        }
    }
    if !text.trim().is_empty() {
        sections.push(Section::new(location, text));
    }
    sections
}

fn docx(bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ExtractError::Invalid(format!("not a .docx (zip) file: {e}")))?;
    let file = archive
        .by_name("word/document.xml")
        .map_err(|_| ExtractError::Invalid("not a .docx file: no word/document.xml inside".into()))?;
    let mut xml = Vec::new();
    file.take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut xml)
        .map_err(|e| ExtractError::Invalid(format!("damaged .docx: {e}")))?;
    if xml.len() as u64 > MAX_INFLATED_BYTES {
        return Err(ExtractError::Invalid(format!(
            "the document's text inflates to more than {MAX_INFLATED_BYTES} bytes"
        )));
    }
    Ok(docx_xml(&String::from_utf8_lossy(&xml)))
}

#[cfg(feature = "pdf")]
fn pdf(bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    let doc = lopdf::Document::load_mem(bytes)
        .map_err(|e| ExtractError::Invalid(format!("not a readable PDF: {e}")))?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    if pages.is_empty() {
        return Err(ExtractError::Invalid("the PDF has no pages".into()));
    }
    let mut out = Vec::new();
    for n in pages {
        // A page whose text cannot be decoded is skipped rather than failing the file.
        match doc.extract_text(&[n]) {
            Ok(t) if !t.trim().is_empty() => out.push(Section::new(format!("page {n}"), t)),
            Ok(_) => {}
            Err(e) => tracing::debug!(page = n, error = %e, "pdf page without readable text"),
        }
    }
    if out.is_empty() {
        return Err(ExtractError::Invalid(
            "the PDF has no extractable text (a scan needs OCR first)".into(),
        ));
    }
    Ok(out)
}

#[cfg(not(feature = "pdf"))]
fn pdf(_: &[u8]) -> Result<Vec<Section>, ExtractError> {
    Err(ExtractError::Invalid(
        "this server was built without PDF support (feature `pdf` of botserver-vectordb)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_sections_follow_the_heading_path_and_ignore_code_fences() {
        let s = markdown("intro\n# Install\ntext\n## Linux\napt\n```\n# not a heading\n```\n# Use\nrun\n");
        let locs: Vec<&str> = s.iter().map(|s| s.location.as_str()).collect();
        assert_eq!(locs, vec!["", "Install", "Install > Linux", "Use"]);
        assert!(s[2].text.contains("# not a heading"));
    }

    #[test]
    fn html_keeps_text_and_drops_scripts_styles_and_comments() {
        let page = r#"<html><head><title>T &amp; C</title><style>p{}</style></head>
            <body><script>var x = "<p>no</p>";</script><!-- hidden -->
            <h1>Prices</h1><p>One&nbsp;euro &lt;each&gt;</p><img src="a" alt="a cat">
            <h2>Refunds</h2><ul><li>within 30 days</li><li>with &#233;&#xE9;</li></ul></body></html>"#;
        let s = html(page);
        let all: String = s.iter().map(|s| s.text.clone()).collect::<Vec<_>>().join("|");
        assert!(
            !all.contains("var x") && !all.contains("p{}") && !all.contains("hidden"),
            "{all}"
        );
        assert!(all.contains("T & C"));
        assert!(all.contains("One euro <each>"));
        assert!(all.contains("a cat"));
        assert!(all.contains("with éé"));
        let locs: Vec<&str> = s.iter().map(|s| s.location.as_str()).collect();
        assert_eq!(locs, vec!["", "Prices", "Refunds"]);
    }

    #[test]
    fn csv_rows_become_column_value_lines() {
        let s = extract("a.csv", b"name,price\n\"Tea, green\",3\n\"say \"\"hi\"\"\",\n").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].location, "rows 1-2");
        assert_eq!(s[0].text, "name: Tea, green\nprice: 3\n\nname: say \"hi\"");
    }

    #[test]
    fn json_is_flattened_to_paths() {
        let s = extract("a.json", br#"{"a": {"b": [1, "x"]}, "c": null}"#).unwrap();
        assert_eq!(s[0].text, "a.b[0]: 1\na.b[1]: x");
        let s = extract("a.json", br#"[{"q": "why"}, {"q": "how"}]"#).unwrap();
        assert_eq!(s[0].text, "q: why\n\nq: how");
        assert!(matches!(
            extract("a.json", b"{oops"),
            Err(ExtractError::Invalid(_))
        ));
    }

    #[test]
    fn docx_paragraphs_and_headings() {
        let xml = r#"<w:document><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Returns</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Send it </w:t></w:r><w:r><w:t>back &amp; wait</w:t></w:r></w:p>
            </w:body></w:document>"#;
        let s = docx_xml(xml);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].location, "Returns");
        assert_eq!(s[0].text, "Returns\n\nSend it back & wait\n\n");
    }

    #[test]
    fn a_real_docx_zip_is_read_and_a_broken_one_is_a_clear_error() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file("word/document.xml", zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, b"<w:p><w:r><w:t>hello docx</w:t></w:r></w:p>").unwrap();
            z.finish().unwrap();
        }
        let s = extract("x.docx", buf.get_ref()).unwrap();
        assert_eq!(s[0].text.trim(), "hello docx");
        let e = extract("x.docx", b"not a zip").unwrap_err();
        assert!(e.to_string().contains("not a .docx"), "{e}");
    }

    #[test]
    fn unsupported_and_oversized_files_are_refused() {
        assert_eq!(
            extract("a.exe", b"x"),
            Err(ExtractError::Unsupported("exe".into()))
        );
        let big = vec![b'a'; MAX_FILE_BYTES as usize + 1];
        assert!(matches!(extract("a.txt", &big), Err(ExtractError::TooLarge(_))));
        assert!(is_supported("docs/A.PDF"));
        assert!(!is_supported("notes"));
    }

    #[cfg(feature = "pdf")]
    #[test]
    fn pdf_pages_give_their_text() {
        let pdf = crate::testing::tiny_pdf(&["Refund policy page one", "Shipping times page two"]);
        let s = extract("a.pdf", &pdf).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].location, "page 1");
        assert!(s[0].text.contains("Refund policy"), "{:?}", s[0].text);
        assert!(s[1].text.contains("Shipping times"));
        assert!(extract("a.pdf", b"%PDF-1.4 garbage").is_err());
    }
}
