//! A BM25 lexical index over chunks, in memory, with documents added and removed
//! incrementally (the knowledge base keeps one per bot and rebuilds it from the chunks
//! table at start, so it never needs its own file).
//!
//! Tokens: lower case, split at anything not alphanumeric (Unicode), Latin diacritics
//! stripped (`ação` → `acao`), a tiny English and Portuguese stopword list dropped.
//! Removing a document leaves its postings in place, marked dead, until dead chunks
//! outnumber live ones; then the postings are rebuilt.

use std::collections::HashMap;
use std::sync::Arc;

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is",
    "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which", "who",
    "why", "with", "you", "your", "can", "my", "me", "we", "our", "o", "os", "as", "um", "uma", "de", "da",
    "do", "das", "dos", "e", "em", "no", "na", "nos", "nas", "que", "para", "por", "com", "se",
];

/// `c` without its diacritic, for the Latin letters that have one.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ř' => 'r',
        'ś' | 'ş' | 'š' | 'ŝ' => 's',
        'ţ' | 'ť' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        'ß' => 's',
        c => c,
    }
}

/// The tokens of `text`, in order, stopwords dropped.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut flush = |cur: &mut String| {
        if !cur.is_empty() && !STOPWORDS.contains(&cur.as_str()) {
            out.push(cur.clone());
        }
        cur.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                cur.push(fold(l));
            }
        } else {
            flush(&mut cur);
        }
    }
    flush(&mut cur);
    out
}

/// What a chunk is, for the index: its id, its document and its group (the knowledge base).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    /// The chunk's id.
    pub id: String,
    /// The document it belongs to (removed together).
    pub doc: Arc<str>,
    /// A group searches can be narrowed to (the knowledge base).
    pub group: Arc<str>,
}

struct Slot {
    chunk: ChunkRef,
    len: u32,
    /// Distinct term ids, for document-frequency upkeep on removal.
    terms: Vec<u32>,
}

/// One lexical hit.
#[derive(Clone, Debug, PartialEq)]
pub struct LexicalHit {
    /// The chunk.
    pub chunk: ChunkRef,
    /// BM25 score (higher is better).
    pub score: f32,
}

/// A BM25 index (see the module's documentation).
#[derive(Default)]
pub struct Bm25Index {
    terms: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    df: Vec<u32>,
    slots: Vec<Option<Slot>>,
    docs: HashMap<Arc<str>, Vec<u32>>,
    live: usize,
    dead: usize,
    total_len: u64,
}

impl Bm25Index {
    /// Live chunks.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no chunk is indexed.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Documents indexed.
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// The groups (knowledge bases) with at least one chunk.
    pub fn groups(&self) -> Vec<Arc<str>> {
        let mut g: Vec<Arc<str>> = self
            .docs
            .values()
            .filter_map(|slots| slots.first())
            .filter_map(|&s| self.slots[s as usize].as_ref().map(|s| s.chunk.group.clone()))
            .collect();
        g.sort();
        g.dedup();
        g
    }

    /// Replaces document `doc` with `chunks` (`(id, text)` pairs) in `group`.
    pub fn replace_document(&mut self, group: &str, doc: &str, chunks: &[(String, String)]) {
        self.remove_document(doc);
        let doc: Arc<str> = Arc::from(doc);
        let group: Arc<str> = Arc::from(group);
        let mut slots = Vec::with_capacity(chunks.len());
        for (id, text) in chunks {
            let slot = self.slots.len() as u32;
            let mut tf: HashMap<u32, u32> = HashMap::new();
            let tokens = tokenize(text);
            for t in &tokens {
                let next = self.terms.len() as u32;
                let id = *self.terms.entry(t.clone()).or_insert(next);
                if id == next {
                    self.postings.push(Vec::new());
                    self.df.push(0);
                }
                *tf.entry(id).or_default() += 1;
            }
            let mut terms: Vec<u32> = Vec::with_capacity(tf.len());
            for (term, n) in tf {
                self.postings[term as usize].push((slot, n));
                self.df[term as usize] += 1;
                terms.push(term);
            }
            self.slots.push(Some(Slot {
                chunk: ChunkRef {
                    id: id.clone(),
                    doc: doc.clone(),
                    group: group.clone(),
                },
                len: tokens.len() as u32,
                terms,
            }));
            self.live += 1;
            self.total_len += tokens.len() as u64;
            slots.push(slot);
        }
        if !slots.is_empty() {
            self.docs.insert(doc, slots);
        }
    }

    /// Removes every chunk of `doc`; returns how many.
    pub fn remove_document(&mut self, doc: &str) -> usize {
        let Some(slots) = self.docs.remove(doc) else {
            return 0;
        };
        for &s in &slots {
            if let Some(slot) = self.slots[s as usize].take() {
                for t in slot.terms {
                    self.df[t as usize] -= 1;
                }
                self.total_len -= u64::from(slot.len);
                self.live -= 1;
                self.dead += 1;
            }
        }
        if self.dead > 1024 && self.dead > self.live {
            self.compact();
        }
        slots.len()
    }

    /// Rebuilds the postings without dead chunks.
    fn compact(&mut self) {
        let mut renumber = vec![u32::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(self.live);
        for (old, slot) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if let Some(slot) = slot {
                renumber[old] = slots.len() as u32;
                slots.push(Some(slot));
            }
        }
        self.slots = slots;
        for list in &mut self.postings {
            list.retain_mut(|(s, _)| {
                let n = renumber[*s as usize];
                *s = n;
                n != u32::MAX
            });
        }
        for list in self.docs.values_mut() {
            for s in list.iter_mut() {
                *s = renumber[*s as usize];
            }
        }
        self.dead = 0;
    }

    /// The best `top_k` chunks for `query` among those `keep` accepts.
    pub fn search(&self, query: &str, top_k: usize, keep: &dyn Fn(&ChunkRef) -> bool) -> Vec<LexicalHit> {
        if self.live == 0 || top_k == 0 {
            return Vec::new();
        }
        let mut qterms: Vec<u32> = tokenize(query)
            .iter()
            .filter_map(|t| self.terms.get(t).copied())
            .collect();
        qterms.sort_unstable();
        qterms.dedup();
        let n = self.live as f32;
        let avg = (self.total_len as f32 / n).max(1.0);
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for t in qterms {
            let df = self.df[t as usize] as f32;
            if df == 0.0 {
                continue;
            }
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(slot, tf) in &self.postings[t as usize] {
                let Some(s) = &self.slots[slot as usize] else {
                    continue;
                };
                let tf = tf as f32;
                let norm = K1 * (1.0 - B + B * s.len as f32 / avg);
                *scores.entry(slot).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<(u32, f32)> = scores
            .into_iter()
            .filter(|(slot, _)| {
                self.slots[*slot as usize]
                    .as_ref()
                    .is_some_and(|s| keep(&s.chunk))
            })
            .collect();
        let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if hits.len() > top_k {
            hits.select_nth_unstable_by(top_k - 1, by_score);
            hits.truncate(top_k);
        }
        hits.sort_unstable_by(by_score);
        hits.into_iter()
            .filter_map(|(slot, score)| {
                self.slots[slot as usize].as_ref().map(|s| LexicalHit {
                    chunk: s.chunk.clone(),
                    score,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(texts: &[&str]) -> Vec<(String, String)> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("c{i}"), t.to_string()))
            .collect()
    }

    #[test]
    fn tokens_are_lower_case_without_diacritics_or_stopwords() {
        assert_eq!(
            tokenize("The Ação, São-Paulo! naïve café 42x"),
            vec!["acao", "sao", "paulo", "naive", "cafe", "42x"]
        );
    }

    #[test]
    fn rarer_terms_and_shorter_chunks_rank_higher() {
        let mut ix = Bm25Index::default();
        ix.replace_document(
            "kb",
            "a",
            &chunks(&["refund policy for orders", "shipping of orders"]),
        );
        ix.replace_document(
            "kb",
            "b",
            &chunks(&["orders orders orders and a refund mentioned once among many words here"]),
        );
        let hits = ix.search("refund orders", 10, &|_| true);
        assert_eq!(hits.len(), 3);
        assert_eq!(&*hits[0].chunk.doc, "a");
        assert_eq!(hits[0].chunk.id, "c0");
        assert!(ix.search("nothing matches", 10, &|_| true).is_empty());
    }

    #[test]
    fn documents_are_replaced_and_removed_and_groups_filter() {
        let mut ix = Bm25Index::default();
        ix.replace_document("one", "a", &chunks(&["apple pie"]));
        ix.replace_document("two", "b", &chunks(&["apple juice"]));
        assert_eq!(ix.search("apple", 10, &|c| &*c.group == "two").len(), 1);
        ix.replace_document("one", "a", &chunks(&["banana bread"]));
        assert_eq!(ix.search("apple", 10, &|_| true).len(), 1);
        assert_eq!(ix.remove_document("b"), 1);
        assert!(ix.search("apple", 10, &|_| true).is_empty());
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.groups().len(), 1);
    }

    #[test]
    fn compaction_keeps_results_identical() {
        let mut ix = Bm25Index::default();
        for d in 0..3000 {
            ix.replace_document(
                "kb",
                &format!("d{d}"),
                &chunks(&[&format!("word{} common", d % 50)]),
            );
        }
        for d in 0..2500 {
            ix.remove_document(&format!("d{d}"));
        }
        assert!(ix.slots.len() < 2000, "compacted");
        assert_eq!(ix.len(), 500);
        let hits = ix.search("word7", 100, &|_| true);
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.chunk.doc.ends_with('7')));
        ix.replace_document("kb", "d2999", &chunks(&["fresh"]));
        assert_eq!(ix.search("fresh", 5, &|_| true).len(), 1);
    }
}
