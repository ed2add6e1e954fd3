//! Robustness of the lexer: generated and mutated inputs never panic, and every failure
//! is an error located inside the input.

mod admin;
mod data;
mod dialogs;
mod examples;
mod net;
mod support;
mod watch;

use botserver_auto::lexer::{Pos, lex};
use botserver_auto::{parse_expr, parse_script};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: [&str; 6] = [
    "TALK \"Hello, ${name}!\"\nHEAR answer AS \"Yes\", \"No\"\n",
    "FOR i = 1 TO 10 STEP 2\n  x = x + i ' sum\nNEXT i\n",
    "IF a <= 3 AND NOT b THEN\n  TALK \"a\" & \"b\"\nELSE\n  TALK \"\"\"quoted\"\"\"\nEND IF\n",
    "rows = FIND \"orders.csv\", \"total > ${min} AND status = \"\"open\"\"\"\n",
    "x = { \"k\": [1, 2.5, .3], \"n\": NULL } _\n  .k[0]\nREM done\n// also done\n",
    "SET BOT MEMORY \"k\", v\nvalue = GET BOT MEMORY(\"k\")\n",
];

const PIECES: [&str; 24] = [
    "\"", "\"\"", "${", "}", "{", "_", " _\n", "\n", "'", "REM ", "//", "(", ")", "[", "]", "<=", "<>", "&&",
    ".", "12", "3.", "x", "é", "\t",
];

fn check(src: &str) {
    match parse_script(src) {
        Err(e) => {
            let lines = src.split('\n').count() as u32;
            assert!(
                e.pos.line >= 1 && e.pos.line <= lines.max(1),
                "script error {e} outside {src:?}"
            );
            assert!(!e.message.is_empty());
        }
        // What parses must compile to valid Rhai, or fail with a located BASIC error:
        // generated code never breaks (no way to smuggle Rhai syntax through).
        Ok(_) => {
            if let Err(e) = botserver_auto::runtime::compile_uncached("f.bas", src) {
                assert!(
                    !e.message.starts_with("internal compiler error"),
                    "{e} for {src:?}"
                );
                let lines = src.split('\n').count() as u32;
                assert!(
                    e.line >= 1 && e.line <= lines.max(1),
                    "compile error {e} outside {src:?}"
                );
            }
        }
    }
    if let Err(e) = parse_expr(src) {
        let lines = src.split('\n').count() as u32;
        assert!(
            e.pos.line >= 1 && e.pos.line <= lines.max(1),
            "parse error {e} outside {src:?}"
        );
    }
    match lex(src) {
        Ok(tokens) => {
            for t in tokens {
                assert!(
                    t.pos.line >= 1 && t.pos.col >= 1,
                    "bad position {:?} in {src:?}",
                    t.pos
                );
            }
        }
        Err(e) => {
            let lines = src.split('\n').count() as u32;
            assert!(
                e.pos >= Pos { line: 1, col: 1 } && e.pos.line <= lines,
                "error {e} outside {src:?}"
            );
            assert!(!e.message.is_empty());
        }
    }
}

#[test]
fn a_hundred_thousand_generated_and_mutated_inputs_never_panic_the_lexer_the_parsers_or_the_compiler() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..100_000 {
        let src = if round % 2 == 0 {
            // Mutate a valid script: insert, delete or replace a few characters.
            let mut chars: Vec<char> = SEEDS[rng.below(SEEDS.len())].chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len() + 1);
                match rng.below(3) {
                    0 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        for (k, c) in piece.chars().enumerate() {
                            chars.insert((at + k).min(chars.len()), c);
                        }
                    }
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => {
                        chars[at] = PIECES[rng.below(PIECES.len())].chars().next().unwrap()
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect::<String>()
        } else {
            // Build one from pieces and random characters.
            let mut s = String::new();
            for _ in 0..rng.below(40) {
                if rng.below(4) == 0 {
                    s.push(char::from_u32(rng.below(0x250) as u32).unwrap_or('?'));
                } else {
                    s.push_str(PIECES[rng.below(PIECES.len())]);
                }
            }
            s
        };
        check(&src);
    }
}

#[test]
fn every_seed_script_lexes_and_parses() {
    for seed in SEEDS {
        lex(seed).unwrap_or_else(|e| panic!("{e} in {seed:?}"));
        parse_script(seed).unwrap_or_else(|e| panic!("{e} in {seed:?}"));
    }
}

/// The shipped reference is the registry's own rendering; regenerate it with
/// `UPDATE_REFERENCE=1 cargo test -p botserver-auto` after changing the registry.
#[test]
fn the_shipped_language_reference_matches_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keywords.md");
    let generated = botserver_auto::keywords::reference_markdown();
    if std::env::var("UPDATE_REFERENCE").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "docs/keywords.md is out of date: run with UPDATE_REFERENCE=1"
    );
}
