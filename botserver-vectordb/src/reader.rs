//! The server's [`DocumentReader`] (`state.documents`, what BASIC's `READ` uses for
//! documents that are not plain text): [`Extractor`] runs [`extract`](crate::extract) on
//! a blocking thread, within a size limit on what comes in, one on the text that comes
//! out and a time limit, a panic in a parser caught, and joins the document's sections
//! into one text (each section's title on its own line, then its text). Every failure is
//! a 400 naming the file and the reason.

use crate::chunk::Section;
use crate::extract::{self, ExtractError};
use async_trait::async_trait;
use axum::body::Bytes;
use botlib::{AppError, AppResult};
use botstate::services::DocumentReader;
use std::time::Duration;

/// Largest text [`Extractor::default`] gives back, in bytes.
pub const MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;
/// How long [`Extractor::default`] lets one document take.
pub const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Text out of pdf, docx, xlsx, ods, html, csv, json, md and txt files, within limits.
#[derive(Clone, Debug)]
pub struct Extractor {
    /// Largest document read, in bytes ([`extract::MAX_FILE_BYTES`] by default; the
    /// extractor's own limit applies above it).
    pub max_input_bytes: u64,
    /// Largest text given back, in bytes ([`MAX_TEXT_BYTES`] by default).
    pub max_text_bytes: usize,
    /// How long one document may take ([`TIME_LIMIT`] by default). A parser still busy
    /// then is left to finish on its blocking thread; its result is dropped.
    pub time_limit: Duration,
}

impl Default for Extractor {
    fn default() -> Extractor {
        Extractor {
            max_input_bytes: extract::MAX_FILE_BYTES,
            max_text_bytes: MAX_TEXT_BYTES,
            time_limit: TIME_LIMIT,
        }
    }
}

/// Extensions that are text already: [`DocumentReader::reads`] says no to them (a
/// reader is not needed), though [`Extractor`] reads them when asked.
const PLAIN: &[&str] = &["txt", "md", "markdown"];

/// The sections as one text: a section's location on its own line (unless its text
/// starts with it already, as a heading does), then its text; sections apart by a blank
/// line.
pub fn join_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        let text = s.text.trim();
        let title = s.location.trim();
        if text.is_empty() && title.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        if !title.is_empty() && !text.starts_with(title) {
            out.push_str(title);
            if !text.is_empty() {
                out.push('\n');
            }
        }
        out.push_str(text);
    }
    out
}

/// `20 s`; durations that are not whole seconds as `Debug` writes them (`1.5s`, `1ms`).
fn duration_words(d: Duration) -> String {
    if d.as_secs() > 0 && d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{d:?}")
    }
}

impl Extractor {
    fn bad(name: &str, why: impl std::fmt::Display) -> AppError {
        AppError::BadRequest(format!("{name}: {why}"))
    }

    /// `parse`'s result, a panic in it an error rather than a crash.
    fn guarded(
        name: &str,
        parse: impl FnOnce() -> Result<Vec<Section>, ExtractError>,
    ) -> Result<Vec<Section>, ExtractError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::warn!(file = name, panic = %why, "document extraction panicked");
            Err(ExtractError::Invalid(
                "the file could not be read (its parser failed)".into(),
            ))
        })
    }

    /// The text of `data` as `name`'s format, on this thread (no time limit; a panic is
    /// an error).
    fn text_now(name: &str, data: &[u8]) -> Result<String, ExtractError> {
        if PLAIN.contains(&extract::extension(name).as_str()) {
            // Markdown as it is: its headings are in the text already.
            if data.len() as u64 > extract::MAX_FILE_BYTES {
                return Err(ExtractError::TooLarge(data.len() as u64));
            }
            let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            return Ok(String::from_utf8_lossy(data).into_owned());
        }
        let sections = Extractor::guarded(name, || extract::extract(name, data))?;
        Ok(join_sections(&sections))
    }
}

#[async_trait]
impl DocumentReader for Extractor {
    async fn text(&self, name: &str, data: Bytes) -> AppResult<String> {
        let ext = extract::extension(name);
        if !extract::EXTENSIONS.contains(&ext.as_str()) {
            return Err(Extractor::bad(name, ExtractError::Unsupported(ext)));
        }
        if data.len() as u64 > self.max_input_bytes {
            return Err(Extractor::bad(
                name,
                format!(
                    "the file has {} bytes; the limit is {} bytes",
                    data.len(),
                    self.max_input_bytes
                ),
            ));
        }
        let file = name.to_string();
        let job = tokio::task::spawn_blocking(move || Extractor::text_now(&file, &data));
        let text = match tokio::time::timeout(self.time_limit, job).await {
            Err(_) => {
                let limit = duration_words(self.time_limit);
                return Err(Extractor::bad(
                    name,
                    format!("the file could not be read in {limit}"),
                ));
            }
            Ok(Err(join)) => {
                tracing::warn!(file = name, error = %join, "document extraction task failed");
                return Err(Extractor::bad(
                    name,
                    "the file could not be read (its parser failed)",
                ));
            }
            Ok(Ok(r)) => r.map_err(|e| Extractor::bad(name, e))?,
        };
        if text.len() > self.max_text_bytes {
            return Err(Extractor::bad(
                name,
                format!(
                    "its text has {} bytes; the limit is {} bytes",
                    text.len(),
                    self.max_text_bytes
                ),
            ));
        }
        Ok(text)
    }

    fn reads(&self, name: &str) -> bool {
        let ext = extract::extension(name);
        extract::EXTENSIONS.contains(&ext.as_str()) && !PLAIN.contains(&ext.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docx(paragraphs: &[&str]) -> Bytes {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file("word/document.xml", zip::write::SimpleFileOptions::default())
                .unwrap();
            let body: String = paragraphs
                .iter()
                .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
                .collect();
            std::io::Write::write_all(
                &mut z,
                format!("<w:document><w:body>{body}</w:body></w:document>").as_bytes(),
            )
            .unwrap();
            z.finish().unwrap();
        }
        Bytes::from(buf.into_inner())
    }

    fn bad_request(r: AppResult<String>) -> String {
        match r {
            Err(AppError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn sections_join_with_their_titles_once() {
        let text = join_sections(&[
            Section::new("Prices", "Tea | 3"),
            Section::new("Returns", "Returns\n\nWithin 30 days."),
            Section::new("", "  "),
            Section::new("", "No title."),
        ]);
        assert_eq!(text, "Prices\nTea | 3\n\nReturns\n\nWithin 30 days.\n\nNo title.");
    }

    #[test]
    fn it_reads_structured_formats_and_leaves_plain_text_alone() {
        let r = Extractor::default();
        for name in [
            "a.pdf",
            "dir/B.DOCX",
            "c.xlsx",
            "d.ods",
            "e.html",
            "f.csv",
            "g.json",
        ] {
            assert!(r.reads(name), "{name}");
        }
        for name in ["a.txt", "b.md", "c.bas", "d.exe", "noext"] {
            assert!(!r.reads(name), "{name}");
        }
    }

    #[tokio::test]
    async fn a_docx_gives_its_text() {
        let text = Extractor::default()
            .text("memo.docx", docx(&["Dear team,", "the office opens at 9."]))
            .await
            .unwrap();
        assert_eq!(text, "Dear team,\n\nthe office opens at 9.");
        let md = Extractor::default()
            .text("a.md", Bytes::from_static(b"# Title\n\nbody\n"))
            .await
            .unwrap();
        assert_eq!(md, "# Title\n\nbody\n");
        let csv = Extractor::default()
            .text("a.csv", Bytes::from_static(b"name,price\ntea,3\n"))
            .await
            .unwrap();
        assert_eq!(csv, "rows 1-1\nname: tea\nprice: 3");
    }

    #[tokio::test]
    async fn failures_are_400s_that_name_the_file_and_the_reason() {
        let r = Extractor::default();
        let m = bad_request(r.text("broken.docx", Bytes::from_static(b"nope")).await);
        assert!(m.starts_with("broken.docx: not a .docx (zip) file"), "{m}");
        let m = bad_request(r.text("tool.exe", Bytes::from_static(b"MZ")).await);
        assert!(m.starts_with("tool.exe: unsupported document type `.exe`"), "{m}");

        let small = Extractor {
            max_input_bytes: 10,
            ..Extractor::default()
        };
        let m = bad_request(small.text("a.csv", Bytes::from_static(b"0123456789a")).await);
        assert_eq!(m, "a.csv: the file has 11 bytes; the limit is 10 bytes");

        let short = Extractor {
            max_text_bytes: 5,
            ..Extractor::default()
        };
        let m = bad_request(short.text("m.docx", docx(&["far too long"])).await);
        assert_eq!(m, "m.docx: its text has 12 bytes; the limit is 5 bytes");
    }

    #[tokio::test]
    async fn a_document_that_takes_too_long_is_a_400() {
        let hurried = Extractor {
            time_limit: Duration::from_millis(1),
            ..Extractor::default()
        };
        // About 4 MB of CSV: far more than a millisecond's work.
        let mut csv = String::from("a,b,c\n");
        while csv.len() < 4 << 20 {
            csv.push_str("\"some, quoted\",text,12345\n");
        }
        let m = bad_request(hurried.text("big.csv", Bytes::from(csv)).await);
        assert_eq!(m, "big.csv: the file could not be read in 1ms");
        assert_eq!(duration_words(Extractor::default().time_limit), "20 s");
    }

    #[test]
    fn a_panicking_parser_is_an_error() {
        let e = Extractor::guarded("odd.pdf", || panic!("index out of bounds")).unwrap_err();
        assert_eq!(
            Extractor::bad("odd.pdf", e).to_string(),
            "odd.pdf: the file could not be read (its parser failed)"
        );
        let ok = Extractor::guarded("a.txt", || Ok(vec![Section::new("", "fine")])).unwrap();
        assert_eq!(ok[0].text, "fine");
    }
}
