//! Text out of documents: `.md` and `.txt` (Markdown headings become sections), `.html`
//! (tags, scripts and styles dropped, entities decoded, `h1`-`h3` become sections), `.csv`
//! (each row as `column: value` lines, in blocks of rows), `.json` (flattened to
//! `path: value` lines), `.docx` (a zip: `word/document.xml` read with a light XML pass,
//! heading styles become sections), `.xlsx` and `.ods` spreadsheets (zips read with the
//! same XML pass: one section per sheet, named after it, one line per non-empty row with
//! its cells joined by ` | `) and `.pdf` (one section per page, with the `pdf` feature, on
//! by default). Files over [`MAX_FILE_BYTES`] are refused; what is inflated out of a zip
//! is capped ([`MAX_INFLATED_BYTES`] in all), and so are a spreadsheet's cells
//! ([`MAX_CELLS`]) and its repeated rows and columns, so a small malicious file cannot
//! take the server's memory; every failure says what is wrong with the file.

use crate::chunk::Section;
use std::fmt;
use std::io::Read;

/// Largest document read, in bytes.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// Largest content inflated out of one zip (`.docx`, `.xlsx`, `.ods`), all its entries
/// together, in bytes (a zip bomb stops here).
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Most cells read out of one spreadsheet (empty cells between values count, trailing
/// ones do not).
pub const MAX_CELLS: usize = 1_000_000;
/// Columns of a spreadsheet row read (as many as Excel has: `A`…`XFD`).
const MAX_COLUMNS: usize = 16_384;
/// Most copies made of a repeated non-empty `.ods` row or cell
/// (`table:number-rows-repeated`, `table:number-columns-repeated`).
const MAX_REPEAT: usize = 1_000;
/// CSV rows per section.
const CSV_ROWS_PER_SECTION: usize = 20;
/// JSON items per section (top-level array elements).
const JSON_ITEMS_PER_SECTION: usize = 20;

/// Extensions of the documents a knowledge base reads.
pub const EXTENSIONS: &[&str] = &[
    "md", "markdown", "txt", "html", "htm", "csv", "json", "docx", "xlsx", "ods", "pdf",
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
        "xlsx" => xlsx(bytes),
        "ods" => ods(bytes),
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

/// One piece of an XML document, from [`xml_tokens`].
#[derive(Debug, PartialEq, Eq)]
enum Xml<'a> {
    /// A start tag or an empty element (`<a/>`): its name and its source between `<` and
    /// `>` (for [`attr`]).
    Open {
        name: &'a str,
        tag: &'a str,
        empty: bool,
    },
    /// An end tag's name.
    Close(&'a str),
    /// Text between tags, entities not decoded yet.
    Text(&'a str),
    /// The literal text of a CDATA section.
    CData(&'a str),
}

/// The tags and texts of an XML document, in order: a light pass (no validation, no
/// namespaces resolved) that skips declarations, processing instructions and comments,
/// and never fails (a truncated document ends early).
fn xml_tokens(xml: &str) -> impl Iterator<Item = Xml<'_>> {
    let mut i = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = &xml[i..];
            if rest.is_empty() {
                return None;
            }
            if !rest.starts_with('<') {
                let n = rest.find('<').unwrap_or(rest.len());
                i += n;
                return Some(Xml::Text(&rest[..n]));
            }
            if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let n = body.find("]]>").unwrap_or(body.len());
                i += (9 + n + 3).min(rest.len());
                return Some(Xml::CData(&body[..n]));
            }
            if rest.starts_with("<!--") {
                i += rest.find("-->").map_or(rest.len(), |e| e + 3);
                continue;
            }
            // The closing `>`, outside quoted attribute values.
            let mut quote = None;
            let close = rest.char_indices().skip(1).find_map(|(n, c)| {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, '>') => return Some(n),
                    _ => {}
                }
                None
            });
            let Some(close) = close else {
                i = xml.len();
                return None;
            };
            let tag = &rest[1..close];
            i += close + 1;
            if tag.starts_with(['?', '!']) {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                return Some(Xml::Close(name.trim()));
            }
            let empty = tag.ends_with('/');
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default();
            return Some(Xml::Open { name, tag, empty });
        }
    })
}

/// A tag's name without its namespace prefix (`x:c` is `c`).
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// The raw value of attribute `name` (with its prefix, as written) in a tag's source
/// (entities not decoded).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(p) = tag[from..].find(name) {
        let start = from + p;
        from = start + name.len();
        if !tag[..start].ends_with(char::is_whitespace) {
            continue;
        }
        let Some(value) = tag[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let q = value.chars().next()?;
        if q == '"' || q == '\'' {
            return value[1..].split(q).next();
        }
        return None;
    }
    None
}

/// A zip's entries, read under one budget of inflated bytes ([`MAX_INFLATED_BYTES`] for
/// all of them together), so neither one huge entry nor many large ones get through.
struct Zip<'a> {
    archive: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    /// `docx`, `xlsx`, `ods`: for the messages.
    kind: &'static str,
    /// Bytes that may still be inflated.
    budget: u64,
}

impl<'a> Zip<'a> {
    fn open(bytes: &'a [u8], kind: &'static str) -> Result<Zip<'a>, ExtractError> {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| ExtractError::Invalid(format!("not a .{kind} (zip) file: {e}")))?;
        Ok(Zip {
            archive,
            kind,
            budget: MAX_INFLATED_BYTES,
        })
    }

    /// The text of entry `name`, `None` when there is no such entry.
    fn text(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        let kind = self.kind;
        let file = match self.archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(ExtractError::Invalid(format!("damaged .{kind}: {name}: {e}"))),
        };
        let mut data = Vec::new();
        file.take(self.budget + 1)
            .read_to_end(&mut data)
            .map_err(|e| ExtractError::Invalid(format!("damaged .{kind}: {name}: {e}")))?;
        if data.len() as u64 > self.budget {
            return Err(ExtractError::Invalid(format!(
                "the .{kind}'s content inflates to more than {MAX_INFLATED_BYTES} bytes"
            )));
        }
        self.budget -= data.len() as u64;
        Ok(Some(String::from_utf8_lossy(&data).into_owned()))
    }

    /// The text of entry `name`, which the format requires.
    fn required(&mut self, name: &str) -> Result<String, ExtractError> {
        let kind = self.kind;
        self.text(name)?
            .ok_or_else(|| ExtractError::Invalid(format!("not a .{kind} file: no {name} inside")))
    }
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
                let v = attr(tag, "w:val").unwrap_or_default().to_ascii_lowercase();
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
    let xml = Zip::open(bytes, "docx")?.required("word/document.xml")?;
    Ok(docx_xml(&xml))
}

/// The cells one spreadsheet may still produce ([`MAX_CELLS`]).
struct CellBudget(usize);

impl CellBudget {
    fn take(&mut self, n: usize) -> Result<(), ExtractError> {
        self.0 = self.0.checked_sub(n).ok_or_else(|| {
            ExtractError::Invalid(format!("the spreadsheet has more than {MAX_CELLS} cells"))
        })?;
        Ok(())
    }
}

/// A cell's text on one line: line breaks and tabs become spaces, the ends trimmed.
fn cell_line(text: &str) -> String {
    text.trim().replace(['\r', '\n', '\t'], " ")
}

/// Puts a non-empty cell's text in column `col` (from 0) of `row`, the columns before it
/// left empty. Empty text adds nothing (so a row never ends in empty cells); a column
/// past [`MAX_COLUMNS`] is dropped; one before the row's end (out of order) goes at
/// the end.
fn place(row: &mut Vec<String>, col: usize, text: &str, budget: &mut CellBudget) -> Result<(), ExtractError> {
    let text = cell_line(text);
    if text.is_empty() || col >= MAX_COLUMNS {
        return Ok(());
    }
    let col = col.max(row.len());
    budget.take(col + 1 - row.len())?;
    row.resize(col, String::new());
    row.push(text);
    Ok(())
}

/// A sheet's section: its rows, one a line; `None` when it has none.
fn sheet_section(name: String, lines: Vec<String>) -> Option<Section> {
    (!lines.is_empty()).then(|| Section::new(name, lines.join("\n")))
}

/// The column (from 0) of a cell reference such as `B3` or `$AA$10`.
fn xlsx_column(reference: &str) -> Option<usize> {
    let letters = reference.trim_start_matches('$');
    let letters = &letters[..letters
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(letters.len())];
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let n = letters.bytes().fold(0usize, |n, b| {
        n * 26 + (b.to_ascii_uppercase() - b'A') as usize + 1
    });
    Some(n - 1)
}

/// `xl/sharedStrings.xml`: the text of each `si` (its `t`, or its runs' `t` joined;
/// phonetic guides, `rPh`, left out).
fn xlsx_shared_strings(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut in_si, mut in_t, mut in_phonetic) = (false, false, false);
    for token in xml_tokens(xml) {
        match token {
            Xml::Open { name, empty, .. } => match local(name) {
                "si" if empty => out.push(String::new()),
                "si" => {
                    in_si = true;
                    current.clear();
                }
                "t" => in_t = !empty,
                "rPh" => in_phonetic = !empty,
                _ => {}
            },
            Xml::Close(name) => match local(name) {
                "si" => {
                    in_si = false;
                    out.push(std::mem::take(&mut current));
                }
                "t" => in_t = false,
                "rPh" => in_phonetic = false,
                _ => {}
            },
            Xml::Text(t) if in_si && in_t && !in_phonetic => current.push_str(&decode_entities(t)),
            Xml::CData(t) if in_si && in_t && !in_phonetic => current.push_str(t),
            _ => {}
        }
    }
    out
}

/// The rows of one `xl/worksheets/sheetN.xml`, one line each: a cell of type `s` is a
/// shared string, `inlineStr` its `<is>` text, `b` `TRUE` or `FALSE`, any other (numbers,
/// dates as their serial numbers, formula results, errors) its `<v>` as written; cells
/// are placed by their reference (`r="C2"`), the gaps left empty.
fn xlsx_sheet(xml: &str, shared: &[String], budget: &mut CellBudget) -> Result<Vec<String>, ExtractError> {
    let mut lines = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut next_col = 0;
    // The open cell: its column and type.
    let mut cell: Option<(usize, String)> = None;
    let (mut value, mut inline) = (String::new(), String::new());
    let (mut in_v, mut in_is, mut in_t, mut in_phonetic) = (false, false, false, false);
    for token in xml_tokens(xml) {
        match token {
            Xml::Open { name, tag, empty } => match local(name) {
                "row" => {
                    row.clear();
                    next_col = 0;
                }
                "c" => {
                    let col = attr(tag, "r").and_then(xlsx_column).unwrap_or(next_col);
                    next_col = col.saturating_add(1);
                    value.clear();
                    inline.clear();
                    cell = (!empty).then(|| (col, attr(tag, "t").unwrap_or("n").to_string()));
                }
                "v" => in_v = !empty && cell.is_some(),
                "is" => in_is = !empty && cell.is_some(),
                "t" => in_t = !empty && in_is,
                "rPh" => in_phonetic = !empty,
                _ => {}
            },
            Xml::Close(name) => match local(name) {
                "v" => in_v = false,
                "is" => in_is = false,
                "t" => in_t = false,
                "rPh" => in_phonetic = false,
                "c" => {
                    if let Some((col, kind)) = cell.take() {
                        let text = match kind.as_str() {
                            "s" => value
                                .trim()
                                .parse::<usize>()
                                .ok()
                                .and_then(|i| shared.get(i))
                                .map_or("", String::as_str),
                            "inlineStr" => &inline,
                            "b" => match value.trim() {
                                "1" => "TRUE",
                                "0" => "FALSE",
                                other => other,
                            },
                            _ => &value,
                        };
                        place(&mut row, col, text, budget)?;
                    }
                }
                "row" => {
                    if !row.is_empty() {
                        lines.push(row.join(" | "));
                    }
                    row.clear();
                }
                _ => {}
            },
            Xml::Text(t) | Xml::CData(t) => {
                let t = if matches!(token, Xml::Text(_)) {
                    decode_entities(t)
                } else {
                    t.to_string()
                };
                if in_v {
                    value.push_str(&t);
                } else if in_t && !in_phonetic {
                    inline.push_str(&t);
                }
            }
        }
    }
    Ok(lines)
}

/// An `.xlsx` workbook: its sheets in the order of `xl/workbook.xml`, each found through
/// `xl/_rels/workbook.xml.rels` (else `xl/worksheets/sheetN.xml` by position); one
/// section per sheet with rows, named after the sheet.
fn xlsx(bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    let mut zip = Zip::open(bytes, "xlsx")?;
    let workbook = zip.required("xl/workbook.xml")?;
    let mut targets = std::collections::HashMap::new();
    for token in xml_tokens(&zip.text("xl/_rels/workbook.xml.rels")?.unwrap_or_default()) {
        if let Xml::Open { name, tag, .. } = token
            && local(name) == "Relationship"
            && let (Some(id), Some(target)) = (attr(tag, "Id"), attr(tag, "Target"))
        {
            let target = decode_entities(target);
            let path = match target.strip_prefix('/') {
                Some(absolute) => absolute.to_string(),
                None => format!("xl/{}", target.trim_start_matches("./")),
            };
            targets.insert(id.to_string(), path);
        }
    }
    let mut sheets = Vec::new();
    for token in xml_tokens(&workbook) {
        if let Xml::Open { name, tag, .. } = token
            && local(name) == "sheet"
        {
            let n = sheets.len() + 1;
            let title = attr(tag, "name").map_or_else(|| format!("Sheet{n}"), decode_entities);
            let path = attr(tag, "r:id")
                .and_then(|id| targets.get(id).cloned())
                .unwrap_or_else(|| format!("xl/worksheets/sheet{n}.xml"));
            sheets.push((title, path));
        }
    }
    let shared = xlsx_shared_strings(&zip.text("xl/sharedStrings.xml")?.unwrap_or_default());
    let mut budget = CellBudget(MAX_CELLS);
    let mut out = Vec::new();
    for (title, path) in sheets {
        // A sheet the workbook names but the zip lacks is skipped (chart sheets have no
        // cells either).
        let Some(xml) = zip.text(&path)? else {
            tracing::debug!(sheet = %title, path, "xlsx sheet without a worksheet part");
            continue;
        };
        out.extend(sheet_section(title, xlsx_sheet(&xml, &shared, &mut budget)?));
    }
    Ok(out)
}

/// A number attribute of an `.ods` tag (a repeat count), at least 1.
fn ods_count(tag: &str, name: &str) -> usize {
    attr(tag, name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// The open `.ods` cell.
struct OdsCell {
    /// `table:number-columns-repeated`.
    repeat: usize,
    /// `office:value` (or the date, time, boolean or string value), for a cell without text.
    value: String,
    /// Its paragraphs' text.
    text: String,
}

impl OdsCell {
    fn of(tag: &str) -> OdsCell {
        let value = [
            "office:value",
            "office:date-value",
            "office:time-value",
            "office:boolean-value",
            "office:string-value",
        ]
        .iter()
        .find_map(|a| attr(tag, a))
        .map(decode_entities)
        .unwrap_or_default();
        OdsCell {
            repeat: ods_count(tag, "table:number-columns-repeated"),
            value,
            text: String::new(),
        }
    }

    /// Puts the cell (its repeats) at column `*col` of `row` and moves `*col` past it.
    fn finish(
        self,
        row: &mut Vec<String>,
        col: &mut usize,
        budget: &mut CellBudget,
    ) -> Result<(), ExtractError> {
        let text = if self.text.trim().is_empty() {
            &self.value
        } else {
            &self.text
        };
        if !text.trim().is_empty() {
            for i in 0..self.repeat.min(MAX_REPEAT) {
                place(row, col.saturating_add(i), text, budget)?;
            }
        }
        *col = col.saturating_add(self.repeat);
        Ok(())
    }
}

/// The `content.xml` of an `.ods`: one section per `table:table` with rows, named by
/// `table:name`. A cell's text is its paragraphs' (`text:p`, joined by spaces; notes,
/// `office:annotation`, left out), else its `office:value`; repeated rows and columns
/// are honoured up to [`MAX_REPEAT`] copies each (empty ones cost nothing: a sheet's
/// million trailing empty rows are just skipped).
fn ods_content(xml: &str) -> Result<Vec<Section>, ExtractError> {
    let mut out = Vec::new();
    let mut budget = CellBudget(MAX_CELLS);
    let mut sheet: Option<(String, Vec<String>)> = None;
    let mut sheets = 0;
    let mut row: Vec<String> = Vec::new();
    let (mut col, mut row_repeat) = (0usize, 1usize);
    let mut cell: Option<OdsCell> = None;
    let (mut paragraphs, mut notes) = (0usize, 0usize);
    for token in xml_tokens(xml) {
        match token {
            Xml::Open { name, tag, empty } => match name {
                "table:table" if !empty => {
                    sheets += 1;
                    let title =
                        attr(tag, "table:name").map_or_else(|| format!("Sheet{sheets}"), decode_entities);
                    sheet = Some((title, Vec::new()));
                }
                "table:table-row" => {
                    row.clear();
                    col = 0;
                    row_repeat = ods_count(tag, "table:number-rows-repeated");
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let c = OdsCell::of(tag);
                    if empty {
                        c.finish(&mut row, &mut col, &mut budget)?;
                    } else {
                        cell = Some(c);
                        paragraphs = 0;
                    }
                }
                "office:annotation" if !empty => notes += 1,
                "text:p" | "text:h" if notes == 0 => {
                    if let Some(c) = cell.as_mut()
                        && !c.text.is_empty()
                    {
                        c.text.push(' ');
                    }
                    if !empty {
                        paragraphs += 1;
                    }
                }
                "text:s" if notes == 0 && paragraphs > 0 => {
                    if let Some(c) = cell.as_mut() {
                        let n = ods_count(tag, "text:c").min(MAX_REPEAT);
                        c.text.extend(std::iter::repeat_n(' ', n));
                    }
                }
                "text:tab" | "text:line-break" if notes == 0 && paragraphs > 0 => {
                    if let Some(c) = cell.as_mut() {
                        c.text.push(' ');
                    }
                }
                _ => {}
            },
            Xml::Close(name) => match name {
                "office:annotation" => notes = notes.saturating_sub(1),
                "text:p" | "text:h" if notes == 0 => paragraphs = paragraphs.saturating_sub(1),
                "table:table-cell" | "table:covered-table-cell" => {
                    if let Some(c) = cell.take() {
                        c.finish(&mut row, &mut col, &mut budget)?;
                    }
                }
                "table:table-row" => {
                    if !row.is_empty()
                        && let Some((_, lines)) = sheet.as_mut()
                    {
                        let line = row.join(" | ");
                        let copies = row_repeat.min(MAX_REPEAT);
                        budget.take(row.len() * (copies - 1))?;
                        lines.extend(std::iter::repeat_n(line, copies));
                    }
                    row.clear();
                }
                "table:table" => {
                    if let Some((title, lines)) = sheet.take() {
                        out.extend(sheet_section(title, lines));
                    }
                }
                _ => {}
            },
            Xml::Text(t) | Xml::CData(t) if notes == 0 && paragraphs > 0 => {
                if let Some(c) = cell.as_mut() {
                    if matches!(token, Xml::Text(_)) {
                        c.text.push_str(&decode_entities(t));
                    } else {
                        c.text.push_str(t);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// An OpenDocument spreadsheet: its `content.xml` (see [`ods_content`]).
fn ods(bytes: &[u8]) -> Result<Vec<Section>, ExtractError> {
    ods_content(&Zip::open(bytes, "ods")?.required("content.xml")?)
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

    /// A zip of `files` (path, content).
    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            for (path, content) in files {
                z.start_file(*path, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut z, content.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    /// A two-sheet workbook: shared strings (one in rich-text runs, with a phonetic
    /// guide), an inline string, numbers, a boolean, a gap, an empty row, a trailing empty
    /// cell, `x:`-prefixed tags in the second sheet, and sheets whose parts are not in
    /// workbook order.
    fn sample_xlsx() -> Vec<u8> {
        zip_of(&[
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0"?><workbook xmlns:r="r"><sheets>
                <sheet name="Prices" sheetId="1" r:id="rId7"/>
                <sheet name="R&amp;D &gt; notes" sheetId="2" r:id="rId3"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<Relationships><Relationship Id="rId3" Type="ws" Target="worksheets/sheet1.xml"/>
                <Relationship Id="rId7" Type="ws" Target="/xl/worksheets/sheet2.xml"/></Relationships>"#,
            ),
            (
                "xl/sharedStrings.xml",
                r#"<sst count="3"><si><t>Item</t></si><si><t>Price</t></si>
                <si><r><t>Green </t></r><r><rPr><b/></rPr><t>tea &amp; honey</t></r><rPh><t>ignored</t></rPh></si>
                <si><t/></si></sst>"#,
            ),
            (
                "xl/worksheets/sheet2.xml",
                r#"<worksheet><sheetData>
                <row r="1" spans="1:3"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
                <row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>3.5</v></c><c r="D2" t="b"><v>1</v></c>
                  <c r="E2" t="s"><v>3</v></c><c r="F2" s="4"/></row>
                <row r="3"><c r="A3" s="1"/></row>
                <row r="4"><c r="C4" t="inlineStr"><is><t>inline &lt;text&gt;</t></is></c><c><f>SUM(B2)</f><v>3.5</v></c></row>
                </sheetData></worksheet>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                r#"<x:worksheet><x:sheetData><x:row><x:c r="B1" t="str"><x:v>formula text</x:v></x:c></x:row>
                </x:sheetData></x:worksheet>"#,
            ),
        ])
    }

    #[test]
    fn an_xlsx_gives_one_section_per_sheet_and_a_line_per_row() {
        let s = extract("book.XLSX", &sample_xlsx()).unwrap();
        let got: Vec<(&str, &str)> = s.iter().map(|s| (s.location.as_str(), s.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    "Prices",
                    "Item | Price\nGreen tea & honey | 3.5 |  | TRUE\n |  | inline <text> | 3.5"
                ),
                ("R&D > notes", " | formula text"),
            ]
        );
    }

    #[test]
    fn an_xlsx_without_relationships_finds_sheets_by_position() {
        let book = zip_of(&[
            (
                "xl/workbook.xml",
                r#"<workbook><sheets><sheet name="One"/><sheet name="Two"/><sheet name="Chart"/></sheets></workbook>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                r#"<worksheet><sheetData/></worksheet>"#,
            ),
            (
                "xl/worksheets/sheet2.xml",
                r#"<worksheet><sheetData><row><c><v>1</v></c><c><v>2</v></c></row></sheetData></worksheet>"#,
            ),
        ]);
        let s = extract("b.xlsx", &book).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!((s[0].location.as_str(), s[0].text.as_str()), ("Two", "1 | 2"));
    }

    #[test]
    fn xlsx_cell_references_become_columns() {
        assert_eq!(xlsx_column("A1"), Some(0));
        assert_eq!(xlsx_column("$AA$10"), Some(26));
        assert_eq!(xlsx_column("XFD1048576"), Some(MAX_COLUMNS - 1));
        assert_eq!(xlsx_column("12"), None);
        assert_eq!(xlsx_column("ABCD1"), None);
    }

    fn sample_ods() -> Vec<u8> {
        zip_of(&[
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
            (
                "content.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content><office:body><office:spreadsheet>
<table:table table:name="Stock &amp; prices"><table:table-column table:number-columns-repeated="5"/>
<table:table-row><table:table-cell office:value-type="string"><text:p>Item</text:p></table:table-cell>
  <table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>Price</text:p></table:table-cell>
  <table:table-cell table:number-columns-repeated="1020"/></table:table-row>
<table:table-row table:number-rows-repeated="2"><table:table-cell><text:p>Pen</text:p>
  <office:annotation><text:p>a note</text:p></office:annotation></table:table-cell>
  <table:table-cell office:value-type="float" office:value="7" table:number-columns-repeated="3"/>
  <table:table-cell office:value-type="currency" office:value="2.5"><text:p>2,50 <text:span>€</text:span></text:p></table:table-cell>
</table:table-row>
<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
<table:table-row><table:table-cell><text:p>two</text:p><text:p>lines<text:s text:c="2"/>spaced</text:p></table:table-cell>
  <table:covered-table-cell/><table:table-cell office:boolean-value="true" office:value-type="boolean"/></table:table-row>
</table:table>
<table:table table:name="Empty"><table:table-row><table:table-cell/></table:table-row></table:table>
<table:table table:name="Second"><table:table-row><table:table-cell table:number-columns-repeated="2"><text:p>x</text:p></table:table-cell></table:table-row></table:table>
</office:spreadsheet></office:body></office:document-content>"#,
            ),
        ])
    }

    #[test]
    fn an_ods_honours_repeats_and_values_without_text() {
        let s = extract("sheet.ods", &sample_ods()).unwrap();
        let got: Vec<(&str, &str)> = s.iter().map(|s| (s.location.as_str(), s.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    "Stock & prices",
                    "Item |  |  | Price\nPen | 7 | 7 | 7 | 2,50 €\nPen | 7 | 7 | 7 | 2,50 €\ntwo lines  spaced |  | true"
                ),
                ("Second", "x | x"),
            ]
        );
    }

    #[test]
    fn ods_repetition_is_capped_and_cells_are_counted() {
        let table = |rows: &str| format!("<table:table table:name=\"T\">{rows}</table:table>");
        let row = |rows: u64, cols: u64| {
            format!(
                "<table:table-row table:number-rows-repeated=\"{rows}\">\
                 <table:table-cell table:number-columns-repeated=\"{cols}\"><text:p>v</text:p></table:table-cell>\
                 </table:table-row>"
            )
        };
        // A value repeated over a billion columns and rows: MAX_REPEAT copies of each.
        let s = ods_content(&table(&row(1_000_000_000, 1_000_000_000))).unwrap();
        let lines: Vec<&str> = s[0].text.lines().collect();
        assert_eq!(lines.len(), MAX_REPEAT);
        assert_eq!(lines[0].split(" | ").count(), MAX_REPEAT);
        // Twice that is over MAX_CELLS: a clear error, not a memory blow-up.
        let e = ods_content(&table(&row(1000, 1000).repeat(2))).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("the spreadsheet has more than {MAX_CELLS} cells")
        );
        // Values past the last column, after a long empty run: dropped.
        let far = table(
            "<table:table-row><table:table-cell table:number-columns-repeated=\"99999\"/>\
             <table:table-cell><text:p>far</text:p></table:table-cell>\
             <table:table-cell><text:p>near</text:p></table:table-cell></table:table-row>",
        );
        assert!(ods_content(&far).unwrap().is_empty());
    }

    #[test]
    fn corrupt_spreadsheets_are_clear_errors() {
        let e = extract("a.xlsx", b"PK\x03\x04 not really").unwrap_err();
        assert!(e.to_string().starts_with("not a .xlsx (zip) file"), "{e}");
        let e = extract("a.xlsx", &zip_of(&[("word/document.xml", "<w:p/>")])).unwrap_err();
        assert_eq!(e.to_string(), "not a .xlsx file: no xl/workbook.xml inside");
        let e = extract("a.ods", b"").unwrap_err();
        assert!(e.to_string().starts_with("not a .ods (zip) file"), "{e}");
        let e = extract("a.ods", &zip_of(&[("mimetype", "x")])).unwrap_err();
        assert_eq!(e.to_string(), "not a .ods file: no content.xml inside");
        // Truncated XML reads what is there rather than failing or hanging.
        let cut = zip_of(&[
            (
                "xl/workbook.xml",
                r#"<workbook><sheets><sheet name="A"/></sheets>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                r#"<worksheet><sheetData><row><c t="inlineStr"><is><t>ok</t></is></c></row><row><c"#,
            ),
        ]);
        assert_eq!(extract("a.xlsx", &cut).unwrap()[0].text, "ok");
    }

    #[test]
    fn zip_entries_share_one_inflation_budget() {
        let data = zip_of(&[("a.xml", "0123456789"), ("b.xml", "0123456789")]);
        let mut zip = Zip::open(&data, "xlsx").unwrap();
        zip.budget = 15;
        assert_eq!(zip.text("a.xml").unwrap().as_deref(), Some("0123456789"));
        let e = zip.text("b.xml").unwrap_err();
        assert!(e.to_string().contains("inflates to more than"), "{e}");
        assert_eq!(zip.text("missing.xml").unwrap(), None);
    }

    #[test]
    fn the_xml_pass_handles_quotes_comments_and_cdata() {
        let xml = r#"<?xml version="1.0"?><!-- <c> --><a x='1>2' y="q"><b/>t &amp; u<![CDATA[<raw>]]></a>"#;
        let tokens: Vec<Xml<'_>> = xml_tokens(xml).collect();
        assert_eq!(
            tokens,
            [
                Xml::Open {
                    name: "a",
                    tag: r#"a x='1>2' y="q""#,
                    empty: false
                },
                Xml::Open {
                    name: "b",
                    tag: "b/",
                    empty: true
                },
                Xml::Text("t &amp; u"),
                Xml::CData("<raw>"),
                Xml::Close("a"),
            ]
        );
        assert_eq!(attr(r#"a x='1>2' y="q""#, "x"), Some("1>2"));
        assert_eq!(attr(r#"row spans="1:3" s="2""#, "s"), Some("2"));
        assert_eq!(attr(r#"row spans="1:3""#, "s"), None);
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
        assert!(is_supported("Budget.xlsx") && is_supported("budget.ods"));
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
