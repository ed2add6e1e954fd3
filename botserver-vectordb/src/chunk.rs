//! Cutting a document's text into overlapping chunks for retrieval.
//!
//! A document arrives as [`Section`]s (a Markdown heading's text, a PDF page, a block of CSV
//! rows), each with a location. Each section is cut on its own, so a chunk never spans two
//! headings: into paragraphs (blank lines), a paragraph longer than a chunk into sentences,
//! a sentence longer than a chunk at spaces, and a word longer than a chunk anywhere. Pieces
//! are then packed greedily up to the chunk size, and each chunk after the first of a
//! section starts with the last whole pieces of the one before, up to the overlap. Sizes
//! count characters (`kb-chunk-size`, `kb-chunk-overlap`; a value ending in `t` or `tokens`
//! counts approximate tokens, 4 characters each).

/// A part of a document with its place in it (a heading, a page; empty when unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// Where it is (`Install > Linux`, `page 3`, `rows 1-40`).
    pub location: String,
    /// Its text.
    pub text: String,
}

impl Section {
    /// A section.
    pub fn new(location: impl Into<String>, text: impl Into<String>) -> Section {
        Section {
            location: location.into(),
            text: text.into(),
        }
    }
}

/// One chunk of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Its number in the document, from 0.
    pub ordinal: usize,
    /// Where it comes from: the section's location, with `part N` when the section needed
    /// more than one chunk.
    pub location: String,
    /// The text.
    pub text: String,
}

/// Chunk size and overlap, in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkOpts {
    /// Most characters in a chunk.
    pub size: usize,
    /// Characters of the previous chunk repeated at the start of the next one (at most).
    pub overlap: usize,
}

/// Default chunk size in characters (about 250 tokens).
pub const DEFAULT_CHUNK_SIZE: usize = 1000;
/// Default overlap in characters.
pub const DEFAULT_CHUNK_OVERLAP: usize = 150;
/// Approximate characters per token, for sizes given in tokens.
pub const CHARS_PER_TOKEN: usize = 4;

impl Default for ChunkOpts {
    fn default() -> Self {
        ChunkOpts {
            size: DEFAULT_CHUNK_SIZE,
            overlap: DEFAULT_CHUNK_OVERLAP,
        }
    }
}

/// `800` (characters), `200t` / `200 tokens` (approximate tokens); `None` when unreadable.
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim().to_ascii_lowercase();
    for suffix in ["tokens", "token", "t"] {
        if let Some(n) = v.strip_suffix(suffix) {
            return n.trim().parse::<usize>().ok().map(|n| n * CHARS_PER_TOKEN);
        }
    }
    v.strip_suffix("chars").unwrap_or(&v).trim().parse().ok()
}

impl ChunkOpts {
    /// From the bot's settings (`kb-chunk-size`, `kb-chunk-overlap`), defaults for missing
    /// or unreadable values; the size is at least 100 characters and the overlap at most
    /// half of it.
    pub fn from_settings(size: Option<&str>, overlap: Option<&str>) -> ChunkOpts {
        let size = size
            .and_then(parse_size)
            .unwrap_or(DEFAULT_CHUNK_SIZE)
            .clamp(100, 100_000);
        let overlap = overlap
            .and_then(parse_size)
            .unwrap_or(DEFAULT_CHUNK_OVERLAP)
            .min(size / 2);
        ChunkOpts { size, overlap }
    }

    /// What identifies this chunking (stored with a document, so a change re-chunks it).
    pub fn signature(&self) -> String {
        format!("{}:{}", self.size, self.overlap)
    }
}

/// A piece of text that is never cut further unless it is too long, and whether a
/// paragraph starts with it.
struct Piece<'a> {
    text: &'a str,
    starts_paragraph: bool,
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `text` cut at sentence ends (`.`, `!`, `?`, `;` or `:` followed by a space), keeping the
/// punctuation.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '.' | '!' | '?' | ';' | '。') && chars.peek().is_some_and(|(_, n)| n.is_whitespace())
        {
            let end = i + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// `text` cut into pieces of at most `max` characters, at whitespace when possible.
fn hard_split(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while char_len(rest) > max {
        // Byte offset of the `max`th character.
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..limit]
            .rfind(char::is_whitespace)
            .filter(|&i| i > limit / 2)
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        if !head.trim().is_empty() {
            out.push(head.trim());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn pieces(text: &str, max: usize) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for para in split_paragraphs(text) {
        let parts: Vec<&str> = if char_len(para) <= max {
            vec![para]
        } else {
            sentences(para)
                .into_iter()
                .flat_map(|s| hard_split(s, max))
                .collect()
        };
        for (n, t) in parts.into_iter().enumerate() {
            out.push(Piece {
                text: t,
                starts_paragraph: n == 0,
            });
        }
    }
    out
}

/// Paragraphs: runs of lines separated by blank lines, trimmed, empty ones dropped.
fn split_paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push(text[s..end].trim());
            }
        } else {
            if start.is_none() {
                start = Some(offset);
            }
            end = offset + line.len();
        }
        offset += line.len();
    }
    if let Some(s) = start {
        out.push(text[s..end].trim());
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Cuts `sections` into chunks (see the module's documentation). Chunks are numbered
/// across the whole document.
pub fn chunk(sections: &[Section], opts: &ChunkOpts) -> Vec<Chunk> {
    let size = opts.size.max(1);
    let overlap = opts.overlap.min(size / 2);
    let mut out = Vec::new();
    for section in sections {
        let pieces = pieces(&section.text, size);
        if pieces.is_empty() {
            continue;
        }
        let mut texts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < pieces.len() {
            // Joined length of pieces[a..b], counting 2 characters per separator.
            let joined = |a: usize, b: usize| -> usize {
                pieces[a..b]
                    .iter()
                    .map(|p| char_len(p.text) + 2)
                    .sum::<usize>()
                    .saturating_sub(2)
            };
            // Start with the overlap: the last whole pieces of the previous chunk that fit,
            // leaving room for at least the next new piece.
            let mut start = i;
            while start > 0 && joined(start - 1, i) <= overlap {
                start -= 1;
            }
            while start < i && joined(start, i + 1) > size {
                start += 1;
            }
            let mut end = i + 1;
            while end < pieces.len() && joined(start, end + 1) <= size {
                end += 1;
            }
            let len = joined(start, end);
            let mut text = String::with_capacity(len);
            for (n, p) in pieces[start..end].iter().enumerate() {
                if n > 0 {
                    text.push_str(if p.starts_paragraph { "\n\n" } else { " " });
                }
                text.push_str(p.text);
            }
            texts.push(text);
            i = end;
        }
        let many = texts.len() > 1;
        for (n, text) in texts.into_iter().enumerate() {
            let location = match (section.location.is_empty(), many) {
                (true, _) => format!("part {}", n + 1),
                (false, true) => format!("{} (part {})", section.location, n + 1),
                (false, false) => section.location.clone(),
            };
            out.push(Chunk {
                ordinal: out.len(),
                location,
                text,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: usize, overlap: usize) -> ChunkOpts {
        ChunkOpts { size, overlap }
    }

    #[test]
    fn a_short_section_is_one_chunk_with_its_location() {
        let c = chunk(
            &[Section::new("Intro", "Hello world.\n\nSecond paragraph.")],
            &opts(100, 10),
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].location, "Intro");
        assert_eq!(c[0].text, "Hello world.\n\nSecond paragraph.");
    }

    #[test]
    fn long_text_cuts_at_sentences_with_overlap_and_never_exceeds_the_size() {
        let text = (0..40)
            .map(|i| format!("Sentence number {i} says something."))
            .collect::<Vec<_>>()
            .join(" ");
        let c = chunk(&[Section::new("", text.clone())], &opts(200, 60));
        assert!(c.len() > 5);
        for (n, ch) in c.iter().enumerate() {
            assert!(char_len(&ch.text) <= 200, "{}", ch.text);
            assert!(ch.text.ends_with('.'), "cut at a sentence end: {:?}", ch.text);
            assert_eq!(ch.location, format!("part {}", n + 1));
            assert_eq!(ch.ordinal, n);
        }
        // Each chunk after the first starts with the previous chunk's last sentence.
        for w in c.windows(2) {
            let last = w[0].text.rsplit(". ").next().unwrap();
            assert!(
                w[1].text.starts_with(last.trim_end_matches('.')),
                "{:?} / {:?}",
                w[0],
                w[1]
            );
        }
        // Nothing is lost.
        for i in 0..40 {
            assert!(c.iter().any(|ch| ch.text.contains(&format!("number {i} "))));
        }
    }

    #[test]
    fn words_longer_than_a_chunk_are_cut_anywhere_and_unicode_is_safe() {
        let text = "é".repeat(250);
        let c = chunk(&[Section::new("x", text)], &opts(100, 0));
        assert_eq!(c.len(), 3);
        assert!(c.iter().all(|ch| char_len(&ch.text) <= 100));
        assert_eq!(c[2].location, "x (part 3)");
    }

    #[test]
    fn sections_are_chunked_separately_and_numbered_across_the_document() {
        let c = chunk(
            &[
                Section::new("A", "alpha"),
                Section::new("B", "   "),
                Section::new("C", "gamma"),
            ],
            &opts(100, 10),
        );
        assert_eq!(
            c.iter()
                .map(|c| (c.ordinal, c.location.as_str()))
                .collect::<Vec<_>>(),
            vec![(0, "A"), (1, "C")]
        );
    }

    #[test]
    fn settings_accept_characters_or_tokens() {
        assert_eq!(parse_size("800"), Some(800));
        assert_eq!(parse_size("200 tokens"), Some(800));
        assert_eq!(parse_size("50t"), Some(200));
        assert_eq!(parse_size("abc"), None);
        let o = ChunkOpts::from_settings(Some("300"), Some("1000"));
        assert_eq!(o, opts(300, 150));
        assert_eq!(ChunkOpts::from_settings(None, None), ChunkOpts::default());
    }
}
