//! The lexer of the BASIC dialect (shared/spec/basic.md §1): case-insensitive words,
//! one statement per line with ` _` continuation, `'` / `REM ` / `//` comments, strings
//! with `""` escapes and `${expr}` interpolation, numbers and operators. Every token and
//! every error carries its line and column, so an author always learns where.

use std::fmt;

/// A position in the source: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One piece of a string literal.
#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    /// Literal text (with `""` already turned into `"`).
    Text(String),
    /// The source of a `${…}` expression and where it starts, parsed later.
    Expr { source: String, pos: Pos },
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A word: keyword, function or variable name, as written (compare with
    /// [`Token::is_word`], which ignores case).
    Word(String),
    /// A number literal.
    Number(f64),
    /// A string literal.
    Str(Vec<StrPart>),
    /// An operator or punctuation: `+ - * / ^ & = == <> != < <= > >= && || ! ( ) [ ] { } , . : ;`.
    Op(&'static str),
    /// The end of a statement line.
    Newline,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it starts.
    pub pos: Pos,
}

impl Token {
    /// Whether this is the word `w`, ignoring case.
    pub fn is_word(&self, w: &str) -> bool {
        matches!(&self.tok, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    /// Whether this is the operator `op`.
    pub fn is_op(&self, op: &str) -> bool {
        matches!(&self.tok, Tok::Op(x) if *x == op)
    }
}

/// A lexing error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong, for the author.
    pub message: String,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for LexError {}

/// Operators, longest first so `<=` wins over `<`.
const OPS: [&str; 27] = [
    "==", "<>", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "^", "&", "=", "<", ">", "!", "(", ")",
    "[", "]", "{", "}", ",", ".", ":", ";",
];

/// Largest source accepted (a script is text written by a person).
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    out: Vec<Token>,
}

/// Splits a script into tokens. Comments disappear; continued lines become one line;
/// every statement line ends with [`Tok::Newline`].
pub fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    lex_at(src, Pos { line: 1, col: 1 })
}

/// Lexes `src` as if it started at `start` (used for `${…}` expressions inside strings,
/// so their errors point into the string).
pub fn lex_at(src: &str, start: Pos) -> Result<Vec<Token>, LexError> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(LexError {
            pos: start,
            message: format!("script is larger than {MAX_SOURCE_BYTES} bytes"),
        });
    }
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: start.line,
        col: start.col,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

impl Lexer {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            message: message.into(),
        })
    }

    fn push(&mut self, tok: Tok, pos: Pos) {
        self.out.push(Token { tok, pos });
    }

    /// Ends a statement line, never emitting two newlines in a row or one first.
    fn newline(&mut self, pos: Pos) {
        if self.out.last().is_some_and(|t| t.tok != Tok::Newline) {
            self.push(Tok::Newline, pos);
        }
    }

    /// Whether only blanks (or a comment) follow on this line before the newline.
    fn rest_of_line_is_blank(&self, from: usize) -> bool {
        let mut j = from;
        while let Some(&c) = self.chars.get(j) {
            match c {
                ' ' | '\t' | '\r' => j += 1,
                '\n' | '\'' => return true,
                _ => return false,
            }
        }
        true
    }

    /// Whether the previous character ends a value (`x.1` is member access, not `x 0.1`).
    fn right_after_value(&self) -> bool {
        let adjacent = self.i > 0 && !matches!(self.chars[self.i - 1], ' ' | '\t' | '\n' | '\r');
        adjacent
            && self.out.last().is_some_and(|t| {
                matches!(
                    t.tok,
                    Tok::Word(_) | Tok::Number(_) | Tok::Str(_) | Tok::Op(")") | Tok::Op("]")
                )
            })
    }

    fn at_line_start(&self) -> bool {
        self.out.last().is_none_or(|t| t.tok == Tok::Newline)
    }

    fn skip_to_line_end(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn run(&mut self) -> Result<(), LexError> {
        while let Some(c) = self.peek(0) {
            let pos = self.pos();
            match c {
                '\n' => {
                    self.bump();
                    self.newline(pos);
                }
                ' ' | '\t' | '\r' | '\u{feff}' => {
                    self.bump();
                }
                '\'' => self.skip_to_line_end(),
                '/' if self.peek(1) == Some('/') && self.at_line_start() => self.skip_to_line_end(),
                '_' if self.rest_of_line_is_blank(self.i + 1)
                    && self.i > 0
                    && matches!(self.chars[self.i - 1], ' ' | '\t') =>
                {
                    // Line continuation: drop the `_` and the end of line.
                    self.bump();
                    self.skip_to_line_end();
                    self.bump();
                }
                '"' => self.string()?,
                c if c.is_ascii_digit()
                    || (c == '.'
                        && self.peek(1).is_some_and(|d| d.is_ascii_digit())
                        && !self.right_after_value()) =>
                {
                    self.number()?
                }
                c if c.is_alphabetic() || c == '_' => self.word(),
                _ => self.op(pos)?,
            }
        }
        let end = self.pos();
        self.newline(end);
        Ok(())
    }

    fn word(&mut self) {
        let pos = self.pos();
        let mut w = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_alphanumeric() || c == '_' || c == '$' {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if w.eq_ignore_ascii_case("REM")
            && self.at_line_start()
            && self
                .peek(0)
                .is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r')
        {
            self.skip_to_line_end();
            return;
        }
        self.push(Tok::Word(w), pos);
    }

    fn number(&mut self) -> Result<(), LexError> {
        let pos = self.pos();
        let mut s = String::new();
        let mut dot = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                s.push(c);
            } else if c == '.' && !dot && self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                dot = true;
                s.push(c);
            } else {
                break;
            }
            self.bump();
        }
        if self.peek(0).is_some_and(|c| c.is_alphabetic() || c == '_') {
            return self.err(
                self.pos(),
                format!("expected a space or an operator after the number {s}"),
            );
        }
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                self.push(Tok::Number(n), pos);
                Ok(())
            }
            _ => self.err(pos, format!("number {s} is too large")),
        }
    }

    fn op(&mut self, pos: Pos) -> Result<(), LexError> {
        for op in OPS {
            let matches = op.chars().enumerate().all(|(k, oc)| self.peek(k) == Some(oc));
            if matches {
                for _ in 0..op.chars().count() {
                    self.bump();
                }
                self.push(Tok::Op(op), pos);
                return Ok(());
            }
        }
        let c = self.peek(0).unwrap_or(' ');
        self.err(pos, format!("unexpected character `{c}`"))
    }

    fn string(&mut self) -> Result<(), LexError> {
        let start = self.pos();
        self.bump(); // opening quote
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek(0) {
                None | Some('\n') => {
                    return self.err(
                        start,
                        "string is not closed: expected `\"` before the end of the line",
                    );
                }
                Some('"') if self.peek(1) == Some('"') => {
                    self.bump();
                    self.bump();
                    text.push('"');
                }
                Some('"') => {
                    self.bump();
                    break;
                }
                Some('$') if self.peek(1) == Some('{') => {
                    if !text.is_empty() {
                        parts.push(StrPart::Text(std::mem::take(&mut text)));
                    }
                    let open = self.pos();
                    self.bump();
                    self.bump();
                    let expr_pos = self.pos();
                    let source = self.interpolation(open)?;
                    if source.trim().is_empty() {
                        return self.err(open, "expected an expression inside `${}`");
                    }
                    parts.push(StrPart::Expr {
                        source,
                        pos: expr_pos,
                    });
                }
                Some(c) => {
                    self.bump();
                    text.push(c);
                }
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(StrPart::Text(text));
        }
        self.push(Tok::Str(parts), start);
        Ok(())
    }

    /// The source of a `${…}` up to its matching `}` (strings and braces inside count).
    fn interpolation(&mut self, open: Pos) -> Result<String, LexError> {
        let mut depth = 0u32;
        let mut src = String::new();
        let mut in_string = false;
        loop {
            let Some(c) = self.peek(0) else {
                return self.err(open, "`${` is not closed: expected `}`");
            };
            if c == '\n' {
                return self.err(
                    open,
                    "`${` is not closed: expected `}` before the end of the line",
                );
            }
            if in_string {
                if c == '"' && self.peek(1) == Some('"') {
                    src.push_str("\"\"");
                    self.bump();
                    self.bump();
                    continue;
                }
                if c == '"' {
                    in_string = false;
                }
            } else {
                match c {
                    '"' => in_string = true,
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        self.bump();
                        return Ok(src);
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            src.push(c);
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn statements_end_with_newlines_and_blank_lines_vanish() {
        assert_eq!(
            toks("TALK \"hi\"\n\n\nx = 1"),
            vec![
                w("TALK"),
                Tok::Str(vec![StrPart::Text("hi".into())]),
                Tok::Newline,
                w("x"),
                Tok::Op("="),
                Tok::Number(1.0),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn words_keep_their_spelling_and_compare_without_case() {
        let t = lex("tAlK x").unwrap();
        assert!(t[0].is_word("TALK"));
        assert_eq!(t[0].tok, w("tAlK"));
    }

    #[test]
    fn comments_of_every_kind_are_dropped() {
        let src = "' whole line\nREM another\n// and this\nx = 1 ' trailing\nrem\nREMARK = 2";
        assert_eq!(
            toks(src),
            vec![
                w("x"),
                Tok::Op("="),
                Tok::Number(1.0),
                Tok::Newline,
                w("REMARK"),
                Tok::Op("="),
                Tok::Number(2.0),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn a_quote_inside_a_string_is_not_a_comment() {
        assert_eq!(
            toks("TALK \"it's\""),
            vec![
                w("TALK"),
                Tok::Str(vec![StrPart::Text("it's".into())]),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn line_continuation_joins_lines() {
        assert_eq!(
            toks("x = 1 + _\n    2\ny = a_b"),
            vec![
                w("x"),
                Tok::Op("="),
                Tok::Number(1.0),
                Tok::Op("+"),
                Tok::Number(2.0),
                Tok::Newline,
                w("y"),
                Tok::Op("="),
                w("a_b"),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn doubled_quotes_escape_and_interpolation_is_kept_with_its_position() {
        let t = lex("TALK \"Say \"\"hi\"\", ${name}!\"").unwrap();
        assert_eq!(
            t[1].tok,
            Tok::Str(vec![
                StrPart::Text("Say \"hi\", ".into()),
                StrPart::Expr {
                    source: "name".into(),
                    pos: Pos { line: 1, col: 21 }
                },
                StrPart::Text("!".into()),
            ])
        );
    }

    #[test]
    fn interpolation_may_hold_strings_and_braces() {
        let t = lex(r#"x = "${FORMAT(d, "}")} and ${ {"a": 1}.a }""#).unwrap();
        let Tok::Str(parts) = &t[2].tok else { panic!() };
        assert!(matches!(&parts[0], StrPart::Expr { source, .. } if source == r#"FORMAT(d, "}")"#));
        assert!(matches!(&parts[2], StrPart::Expr { source, .. } if source == r#" {"a": 1}.a "#));
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            toks("a <= b <> c == d != e >= f && g || !h"),
            vec![
                w("a"),
                Tok::Op("<="),
                w("b"),
                Tok::Op("<>"),
                w("c"),
                Tok::Op("=="),
                w("d"),
                Tok::Op("!="),
                w("e"),
                Tok::Op(">="),
                w("f"),
                Tok::Op("&&"),
                w("g"),
                Tok::Op("||"),
                Tok::Op("!"),
                w("h"),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn numbers_are_integers_or_decimals() {
        assert_eq!(
            toks("10 3.5 .25"),
            vec![
                Tok::Number(10.0),
                Tok::Number(3.5),
                Tok::Number(0.25),
                Tok::Newline
            ]
        );
        let e = lex("x = 12abc").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 7 });
        assert!(e.message.contains("after the number 12"), "{e}");
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let e = lex("x = 1\nTALK \"unclosed\ny = 2").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 6 });
        assert!(e.message.contains("expected `\"`"), "{e}");
        let e = lex("TALK \"${name\"").unwrap_err();
        assert!(e.message.contains("expected `}`"), "{e}");
        let e = lex("x = 1 @ 2").unwrap_err();
        assert_eq!(
            (e.pos, e.message.as_str()),
            (Pos { line: 1, col: 7 }, "unexpected character `@`")
        );
        let e = lex("TALK \"${}\"").unwrap_err();
        assert!(e.message.contains("expected an expression"), "{e}");
    }

    #[test]
    fn oversized_sources_are_refused() {
        let big = "x".repeat(MAX_SOURCE_BYTES + 1);
        assert!(lex(&big).unwrap_err().message.contains("larger than"));
    }
}
