//! The filter language of `FIND`, `UPDATE`, `DELETE` and `FILTER`: small, safe, never SQL.
//!
//! A filter arrives as [`FilterPiece`]s: the compiler cuts `"name = ${x} AND age > 3"` into
//! `Text("name = ")`, `Value(x)`, `Text(" AND age > 3")`, so an interpolated value is always
//! a value, never syntax (`x' OR 1=1 --` is just a strange name).
//!
//! Grammar (keywords and column names are case-insensitive):
//!
//! ```text
//! filter     := or
//! or         := and { OR and }                       (also ||)
//! and        := not { AND not }                      (also &&; AND binds tighter than OR)
//! not        := NOT not | "(" or ")" | comparison    (also !)
//! comparison := column op value | column [NOT] LIKE value | column IS [NOT] NULL
//! op         := = | == | <> | != | < | <= | > | >=
//! value      := "text" | 'text' | number | TRUE | FALSE | NULL | bare words | ${value}
//! ```
//!
//! Strings take `""` (or `''`) for a quote inside, and may contain interpolations
//! (`'${x}'` is the value `x` itself, `"Dr. ${x}"` a string). Bare words are text
//! (`city = New York` compares with `"New York"`).
//!
//! Semantics, the same in memory ([`Filter::matches`]) and in SQL ([`Filter::to_sql`]):
//! `col = NULL` and `col = ""` both mean "is empty" (missing, `NULL` or `""`), `<>` the
//! opposite; an empty column never equals, orders or is `LIKE` anything, and always is
//! `<>` and `NOT LIKE` a non-empty value; numbers compare numerically (also against a
//! numeric string), strings as strings (case-sensitive); `LIKE` is case-insensitive with
//! `%` (any run) and `_` (one character) and no escape character.

use super::sql::{Binder, quote};
use super::tables::{ColumnDef, ColumnType, MAX_IDENT};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt;

/// One piece of a filter as the script wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterPiece {
    /// Filter text (syntax and literal values).
    Text(String),
    /// An interpolated value (`${...}`): always a value, never syntax.
    Value(Value),
}

/// A filter that does not parse, or names an unknown column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// What is wrong, for the author.
    pub message: String,
    /// Where: a character offset into the filter text, where each interpolated value
    /// counts as one character.
    pub offset: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

impl std::error::Error for FilterError {}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`, `==`, `IS NULL`.
    Eq,
    /// `<>`, `!=`, `IS NOT NULL`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `LIKE`.
    Like,
    /// `NOT LIKE`.
    NotLike,
}

/// One `column op value` test.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The column, lowercase.
    pub column: String,
    /// The operator.
    pub op: CmpOp,
    /// The value (never an array or object).
    pub value: Value,
    /// Where the column name starts.
    pub offset: usize,
    /// Where the value starts.
    pub value_offset: usize,
}

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterExpr {
    /// All of these.
    And(Vec<FilterExpr>),
    /// Any of these.
    Or(Vec<FilterExpr>),
    /// Not this.
    Not(Box<FilterExpr>),
    /// A comparison.
    Cmp(Comparison),
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expr: FilterExpr,
}

/// The SQL dialect a filter is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?` placeholders.
    Sqlite,
    /// PostgreSQL: `$1`, `$2`, ... placeholders.
    Postgres,
}

/// A parameter to bind, typed for its column (`None` binds `NULL` of that type).
#[derive(Clone, Debug, PartialEq)]
pub enum SqlParam {
    /// Text (also dates, date-times and JSON, cast on PostgreSQL).
    Text(Option<String>),
    /// A 64-bit integer.
    Integer(Option<i64>),
    /// A double.
    Float(Option<f64>),
    /// A boolean.
    Bool(Option<bool>),
}

/// A compiled `WHERE` condition and its parameters, in placeholder order.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlWhere {
    /// The condition (without the `WHERE` keyword).
    pub sql: String,
    /// The parameters to bind.
    pub params: Vec<SqlParam>,
}

impl Filter {
    /// Parses a filter from its pieces.
    pub fn parse(pieces: &[FilterPiece]) -> Result<Filter, FilterError> {
        let units = units(pieces);
        let tokens = lex(&units)?;
        let mut p = Parser {
            toks: tokens,
            pos: 0,
            end: units.len(),
            depth: 0,
        };
        if p.toks.is_empty() {
            return Err(FilterError {
                message: "the filter is empty".into(),
                offset: 0,
            });
        }
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            let message = if t.tok == Tok::RParen {
                "unexpected ')'".to_string()
            } else {
                format!("expected AND or OR, found {}", t.describe())
            };
            return Err(FilterError {
                message,
                offset: t.offset,
            });
        }
        Ok(Filter { expr })
    }

    /// Parses filter text without interpolated values.
    pub fn parse_str(text: &str) -> Result<Filter, FilterError> {
        Filter::parse(&[FilterPiece::Text(text.to_string())])
    }

    /// Parses a filter and checks that it names only `columns` (case-insensitive).
    pub fn parse_with_columns(pieces: &[FilterPiece], columns: &[&str]) -> Result<Filter, FilterError> {
        let f = Filter::parse(pieces)?;
        f.check_columns(columns)?;
        Ok(f)
    }

    /// The parsed expression.
    pub fn expr(&self) -> &FilterExpr {
        &self.expr
    }

    /// The columns the filter names, lowercase, each once, in order of appearance.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in comparisons(&self.expr) {
            if !out.contains(&c.column.as_str()) {
                out.push(&c.column);
            }
        }
        out
    }

    /// Fails with "unknown column x" for the first column not in `columns`.
    pub fn check_columns(&self, columns: &[&str]) -> Result<(), FilterError> {
        for c in comparisons(&self.expr) {
            if !columns.iter().any(|k| k.eq_ignore_ascii_case(&c.column)) {
                return Err(FilterError {
                    message: format!("unknown column {}", c.column),
                    offset: c.offset,
                });
            }
        }
        Ok(())
    }

    /// Whether a row (an object) passes the filter. Column names match case-insensitively.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        eval(&self.expr, row)
    }

    /// Compiles the filter to a SQL condition over `columns` (quoted column names, values
    /// as parameters converted to each column's type). With `strict`, a column not in
    /// `columns` is an error ("unknown column x"); without, it is an empty column.
    /// PostgreSQL placeholders start at `$first_param`.
    pub fn to_sql(
        &self,
        dialect: Dialect,
        columns: &[ColumnDef],
        strict: bool,
        first_param: usize,
    ) -> Result<SqlWhere, FilterError> {
        let mut b = Binder::new(dialect, first_param);
        let sql = self.write_sql(columns, strict, &mut b)?;
        Ok(SqlWhere {
            sql,
            params: b.params,
        })
    }

    /// Writes the condition, adding its parameters to `b`.
    pub(crate) fn write_sql(
        &self,
        columns: &[ColumnDef],
        strict: bool,
        b: &mut Binder,
    ) -> Result<String, FilterError> {
        expr_sql(&self.expr, columns, strict, b)
    }
}

fn comparisons(e: &FilterExpr) -> Vec<&Comparison> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            FilterExpr::And(v) | FilterExpr::Or(v) => stack.extend(v.iter().rev()),
            FilterExpr::Not(x) => stack.push(x),
            FilterExpr::Cmp(c) => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Lexing

enum Unit {
    C(char),
    V(Value),
}

fn units(pieces: &[FilterPiece]) -> Vec<Unit> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            FilterPiece::Text(t) => out.extend(t.chars().map(Unit::C)),
            FilterPiece::Value(v) => out.push(Unit::V(v.clone())),
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// An identifier-shaped word (column, keyword or bare text).
    Word(String),
    /// Any other bare word (text only).
    Bare(String),
    /// A number literal.
    Num(Value),
    /// A quoted string.
    Str(String),
    /// An interpolated value.
    Val(Value),
    /// A comparison operator.
    Op(CmpOp),
    LParen,
    RParen,
}

struct Token {
    tok: Tok,
    offset: usize,
    /// The source text (for messages and bare-word runs).
    text: String,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::Val(_) => "an interpolated value".into(),
            _ => format!("'{}'", self.text),
        }
    }
}

fn is_word_char(units: &[Unit], i: usize) -> bool {
    match units.get(i) {
        Some(Unit::C(c)) => {
            if c.is_whitespace() || "()=<>!\"".contains(*c) {
                return false;
            }
            if *c == '&' || *c == '|' {
                return !matches!(units.get(i + 1), Some(Unit::C(n)) if n == c);
            }
            true
        }
        _ => false,
    }
}

fn lex(units: &[Unit]) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    let ch = |i: usize| match units.get(i) {
        Some(Unit::C(c)) => Some(*c),
        _ => None,
    };
    while i < units.len() {
        let start = i;
        let c = match &units[i] {
            Unit::V(v) => {
                out.push(Token {
                    tok: Tok::Val(v.clone()),
                    offset: i,
                    text: "${...}".into(),
                });
                i += 1;
                continue;
            }
            Unit::C(c) => *c,
        };
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = ch(i + 1);
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
            ('=', _) => (Tok::Op(CmpOp::Eq), 1),
            ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
            ('<', Some('>')) => (Tok::Op(CmpOp::Ne), 2),
            ('<', _) => (Tok::Op(CmpOp::Lt), 1),
            ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
            ('>', _) => (Tok::Op(CmpOp::Gt), 1),
            ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
            ('!', _) => (Tok::Word("not".into()), 1),
            ('&', Some('&')) => (Tok::Word("and".into()), 2),
            ('|', Some('|')) => (Tok::Word("or".into()), 2),
            ('"' | '\'', _) => {
                let (tok, end) = lex_string(units, i, c)?;
                let text = if let Tok::Str(s) = &tok {
                    s.clone()
                } else {
                    "${...}".into()
                };
                out.push(Token {
                    tok,
                    offset: start,
                    text,
                });
                i = end;
                continue;
            }
            _ => {
                let mut word = String::new();
                while is_word_char(units, i) {
                    if let Some(c) = ch(i) {
                        word.push(c);
                    }
                    i += 1;
                }
                out.push(Token {
                    tok: classify(&word),
                    offset: start,
                    text: word,
                });
                continue;
            }
        };
        let text: String = (start..start + len).filter_map(ch).collect();
        out.push(Token {
            tok,
            offset: start,
            text,
        });
        i += len;
    }
    Ok(out)
}

/// A quoted string starting at `start`; returns the token and the index after it.
fn lex_string(units: &[Unit], start: usize, q: char) -> Result<(Tok, usize), FilterError> {
    let mut parts: Vec<Result<String, Value>> = Vec::new();
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match units.get(i) {
            None => {
                return Err(FilterError {
                    message: "unterminated string: a closing quote is missing".into(),
                    offset: start,
                });
            }
            Some(Unit::C(c)) if *c == q => {
                if matches!(units.get(i + 1), Some(Unit::C(n)) if *n == q) {
                    text.push(q);
                    i += 2;
                } else {
                    i += 1;
                    break;
                }
            }
            Some(Unit::C(c)) => {
                text.push(*c);
                i += 1;
            }
            Some(Unit::V(v)) => {
                if !text.is_empty() {
                    parts.push(Ok(std::mem::take(&mut text)));
                }
                parts.push(Err(v.clone()));
                i += 1;
            }
        }
    }
    if !text.is_empty() {
        parts.push(Ok(text));
    }
    // `'${x}'` is the value itself; anything else is a string with the values' text.
    if let [Err(v)] = parts.as_slice() {
        return Ok((Tok::Val(v.clone()), i));
    }
    let s = parts
        .into_iter()
        .map(|p| match p {
            Ok(t) => t,
            Err(v) => text_of(&v),
        })
        .collect();
    Ok((Tok::Str(s), i))
}

fn classify(word: &str) -> Tok {
    if let Some(n) = parse_number(word) {
        Tok::Num(n)
    } else if is_ident(word) {
        Tok::Word(word.to_string())
    } else {
        Tok::Bare(word.to_string())
    }
}

/// A letter or `_`, then letters, digits and `_`.
fn is_ident(w: &str) -> bool {
    let mut chars = w.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `-3`, `10`, `2.5`, `.5`, `1e3`: a number literal, as a JSON number.
pub(crate) fn parse_number(w: &str) -> Option<Value> {
    let body = w.strip_prefix(['-', '+']).unwrap_or(w);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(k) => (&body[..k], Some(&body[k + 1..])),
        None => (body, None),
    };
    let mut dots = 0;
    let mut digits = 0;
    for c in mantissa.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dots += 1,
            _ => return None,
        }
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    if dots == 0
        && exponent.is_none()
        && let Ok(i) = w.parse::<i64>()
    {
        return Some(Value::from(i));
    }
    let f: f64 = w.parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

// ---------------------------------------------------------------------------------------
// Parsing

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    end: usize,
    /// Nesting of `NOT` and parentheses, capped so hostile input cannot exhaust the stack.
    depth: u32,
}

/// How deep `NOT` and parentheses may nest.
const MAX_FILTER_DEPTH: u32 = 64;

fn is_kw(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

const KEYWORDS: [&str; 8] = ["and", "or", "not", "like", "is", "true", "false", "null"];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_is_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| is_kw(&t.tok, kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.peek_is_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.offset)
    }

    fn or(&mut self) -> Result<FilterExpr, FilterError> {
        let mut items = vec![self.and()?];
        while self.eat_kw("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            FilterExpr::Or(items)
        })
    }

    fn and(&mut self) -> Result<FilterExpr, FilterError> {
        let mut items = vec![self.not()?];
        while self.eat_kw("and") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            FilterExpr::And(items)
        })
    }

    fn not(&mut self) -> Result<FilterExpr, FilterError> {
        self.depth += 1;
        let r = if self.depth > MAX_FILTER_DEPTH {
            Err(FilterError {
                message: format!("the filter nests deeper than {MAX_FILTER_DEPTH} levels"),
                offset: self.here(),
            })
        } else {
            self.not_inner()
        };
        self.depth -= 1;
        r
    }

    fn not_inner(&mut self) -> Result<FilterExpr, FilterError> {
        if self.eat_kw("not") {
            return Ok(FilterExpr::Not(Box::new(self.not()?)));
        }
        if self.peek().is_some_and(|t| t.tok == Tok::LParen) {
            let open = self.here();
            self.pos += 1;
            let e = self.or()?;
            if self.peek().is_some_and(|t| t.tok == Tok::RParen) {
                self.pos += 1;
                return Ok(e);
            }
            let message = match self.peek() {
                Some(t) => format!(
                    "expected ')' (to close the '(' at character {}), found {}",
                    open + 1,
                    t.describe()
                ),
                None => format!("missing ')' to close the '(' at character {}", open + 1),
            };
            return Err(FilterError {
                message,
                offset: self.here(),
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<FilterExpr, FilterError> {
        let offset = self.here();
        let column = match self.peek() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => w.to_ascii_lowercase(),
            Some(t) => {
                return Err(FilterError {
                    message: format!("expected a column name, found {}", t.describe()),
                    offset,
                });
            }
            None => {
                let message = match self.pos.checked_sub(1).and_then(|k| self.toks.get(k)) {
                    Some(prev) => format!("expected a condition after {}", prev.describe()),
                    None => "expected a column name".into(),
                };
                return Err(FilterError { message, offset });
            }
        };
        if column.len() > MAX_IDENT {
            return Err(FilterError {
                message: format!("column name {column} is longer than {MAX_IDENT} characters"),
                offset,
            });
        }
        self.pos += 1;
        let op_token = self.peek().map(|t| (t.tok.clone(), t.text.clone()));
        let (op, op_text) = match op_token {
            Some((Tok::Op(op), text)) => {
                self.pos += 1;
                (op, text)
            }
            Some((t, _)) if is_kw(&t, "like") => {
                self.pos += 1;
                (CmpOp::Like, "LIKE".to_string())
            }
            Some((t, _))
                if is_kw(&t, "not") && self.toks.get(self.pos + 1).is_some_and(|n| is_kw(&n.tok, "like")) =>
            {
                self.pos += 2;
                (CmpOp::NotLike, "NOT LIKE".to_string())
            }
            Some((t, _)) if is_kw(&t, "is") => {
                self.pos += 1;
                let negated = self.eat_kw("not");
                let value_offset = self.here();
                if !self.eat_kw("null") {
                    return Err(FilterError {
                        message: format!("expected NULL after 'IS{}'", if negated { " NOT" } else { "" }),
                        offset: value_offset,
                    });
                }
                return Ok(FilterExpr::Cmp(Comparison {
                    column,
                    op: if negated { CmpOp::Ne } else { CmpOp::Eq },
                    value: Value::Null,
                    offset,
                    value_offset,
                }));
            }
            _ => {
                return Err(FilterError {
                    message: format!("expected a comparison (=, <>, <, <=, >, >=, LIKE) after '{column}'"),
                    offset: self.here(),
                });
            }
        };
        let value_offset = self.here();
        let value = self.value(&op_text)?;
        Ok(FilterExpr::Cmp(Comparison {
            column,
            op,
            value,
            offset,
            value_offset,
        }))
    }

    fn value(&mut self, op: &str) -> Result<Value, FilterError> {
        let offset = self.here();
        let missing = || FilterError {
            message: format!("expected a value after '{op}'"),
            offset,
        };
        let Some(t) = self.peek() else {
            return Err(missing());
        };
        let value = match &t.tok {
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Num(n) => n.clone(),
            Tok::Val(v) => {
                if v.is_array() || v.is_object() {
                    return Err(FilterError {
                        message: format!("an interpolated list or object cannot be compared with '{op}'"),
                        offset,
                    });
                }
                v.clone()
            }
            Tok::Word(w) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                "and" | "or" | "not" => return Err(missing()),
                _ => return Ok(self.bare_run()),
            },
            Tok::Bare(_) => return Ok(self.bare_run()),
            Tok::Op(_) | Tok::LParen | Tok::RParen => return Err(missing()),
        };
        self.pos += 1;
        Ok(value)
    }

    /// Bare words up to AND, OR, a parenthesis or an operator, joined by single spaces.
    fn bare_run(&mut self) -> Value {
        let mut words: Vec<String> = Vec::new();
        while let Some(t) = self.peek() {
            let more = match &t.tok {
                Tok::Word(_) => !(is_kw(&t.tok, "and") || is_kw(&t.tok, "or")),
                Tok::Bare(_) | Tok::Num(_) => true,
                _ => false,
            };
            if !more {
                break;
            }
            words.push(t.text.clone());
            self.pos += 1;
        }
        Value::String(words.join(" "))
    }
}

// ---------------------------------------------------------------------------------------
// In memory

fn lookup<'a>(row: &'a Map<String, Value>, column: &str) -> Option<&'a Value> {
    row.get(column).or_else(|| {
        row.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(column))
            .map(|(_, v)| v)
    })
}

/// Missing, `NULL` or `""`.
pub(crate) fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

fn is_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// The text of a value: strings as they are, numbers and booleans written out, `NULL` as
/// nothing, lists and objects as JSON.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A number, or a string holding one.
pub(crate) fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s.trim()).and_then(|n| n.as_f64()),
        _ => None,
    }
}

/// A boolean, also from `1`/`0` and `"yes"`, `"no"`, `"on"`, `"off"`, `"y"`, `"n"`,
/// `"true"`, `"false"` (case-insensitive).
pub(crate) fn truth(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Some(true),
            "false" | "no" | "n" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Equality as filters see it: numbers numerically (also against a numeric string),
/// booleans against booleans, `"true"`/`"yes"`/... (see [`truth`]) and 1/0, strings exactly.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) if !(a.is_boolean() || b.is_boolean()) => {
            match (numeric(a), numeric(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }
        }
        (Value::Bool(x), other) | (other, Value::Bool(x)) => match other {
            Value::Bool(y) => x == y,
            Value::String(_) => truth(other) == Some(*x),
            Value::Number(n) => n.as_f64() == Some(if *x { 1.0 } else { 0.0 }),
            _ => false,
        },
        (Value::String(x), Value::String(y)) => x == y,
        _ => a == b,
    }
}

/// Order as filters see it: numerically when one side is a number and the other a number
/// or numeric string, strings as strings, `false < true`; otherwise not comparable.
fn loose_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_) | Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            numeric(a)?.partial_cmp(&numeric(b)?)
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `LIKE`, case-insensitive: `%` any run of characters, `_` exactly one.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn eval(e: &FilterExpr, row: &Map<String, Value>) -> bool {
    match e {
        FilterExpr::And(v) => v.iter().all(|e| eval(e, row)),
        FilterExpr::Or(v) => v.iter().any(|e| eval(e, row)),
        FilterExpr::Not(e) => !eval(e, row),
        FilterExpr::Cmp(c) => compare(lookup(row, &c.column), c.op, &c.value),
    }
}

fn compare(have: Option<&Value>, op: CmpOp, want: &Value) -> bool {
    match op {
        CmpOp::Like => !is_null(have) && like(&text_of(have.unwrap_or(&Value::Null)), &text_of(want)),
        CmpOp::NotLike => is_null(have) || !like(&text_of(have.unwrap_or(&Value::Null)), &text_of(want)),
        CmpOp::Eq if is_empty(Some(want)) => is_empty(have),
        CmpOp::Ne if is_empty(Some(want)) => !is_empty(have),
        CmpOp::Eq => have.is_some_and(|h| !h.is_null() && loose_eq(h, want)),
        CmpOp::Ne => !have.is_some_and(|h| !h.is_null() && loose_eq(h, want)),
        _ => {
            let (Some(h), false) = (have.filter(|h| !h.is_null()), want.is_null()) else {
                return false;
            };
            let Some(ord) = loose_cmp(h, want) else {
                return false;
            };
            match op {
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQL

fn expr_sql(
    e: &FilterExpr,
    columns: &[ColumnDef],
    strict: bool,
    b: &mut Binder,
) -> Result<String, FilterError> {
    Ok(match e {
        FilterExpr::And(v) | FilterExpr::Or(v) => {
            let glue = if matches!(e, FilterExpr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts = v
                .iter()
                .map(|e| expr_sql(e, columns, strict, b))
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(glue))
        }
        FilterExpr::Not(e) => format!("(NOT {})", expr_sql(e, columns, strict, b)?),
        FilterExpr::Cmp(c) => cmp_sql(c, columns, strict, b)?,
    })
}

const ALWAYS: &str = "(1 = 1)";
const NEVER: &str = "(1 = 0)";

fn cmp_sql(
    c: &Comparison,
    columns: &[ColumnDef],
    strict: bool,
    b: &mut Binder,
) -> Result<String, FilterError> {
    let empty_value = is_empty(Some(&c.value));
    let Some(col) = columns.iter().find(|d| d.name == c.column) else {
        if strict {
            return Err(FilterError {
                message: format!("unknown column {}", c.column),
                offset: c.offset,
            });
        }
        // A column no row has yet: empty everywhere, as in memory.
        let always = match c.op {
            CmpOp::Eq => empty_value,
            CmpOp::Ne => !empty_value,
            CmpOp::NotLike => true,
            _ => false,
        };
        return Ok(if always { ALWAYS } else { NEVER }.to_string());
    };
    let q = quote(&col.name);
    let text_column = col.ty == ColumnType::Text;
    Ok(match c.op {
        CmpOp::Eq if empty_value => {
            if text_column {
                format!("({q} IS NULL OR {q} = '')")
            } else {
                format!("({q} IS NULL)")
            }
        }
        CmpOp::Ne if empty_value => {
            if text_column {
                format!("({q} IS NOT NULL AND {q} <> '')")
            } else {
                format!("({q} IS NOT NULL)")
            }
        }
        CmpOp::Like | CmpOp::NotLike => {
            let ph = b.push_text(text_of(&c.value));
            let test = match b.dialect {
                Dialect::Sqlite => format!("{q} LIKE {ph}"),
                Dialect::Postgres => format!("CAST({q} AS TEXT) ILIKE {ph} ESCAPE ''"),
            };
            if c.op == CmpOp::Like {
                format!("({q} IS NOT NULL AND {test})")
            } else {
                format!("({q} IS NULL OR NOT ({test}))")
            }
        }
        _ if c.value.is_null() => NEVER.to_string(),
        op => {
            let param = col.ty.compare_param(&c.value).map_err(|m| FilterError {
                message: format!("{m} (column {})", col.name),
                offset: c.value_offset,
            })?;
            let ph = b.push(param, col.ty);
            let sym = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "<>",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                _ => ">=",
            };
            if op == CmpOp::Ne {
                format!("({q} IS NULL OR {q} <> {ph})")
            } else {
                format!("({q} IS NOT NULL AND {q} {sym} {ph})")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn parse(s: &str) -> Filter {
        Filter::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> FilterError {
        Filter::parse_str(s).expect_err(s)
    }

    fn cmp(column: &str, op: CmpOp, value: Value) -> FilterExpr {
        FilterExpr::Cmp(Comparison {
            column: column.into(),
            op,
            value,
            offset: 0,
            value_offset: 0,
        })
    }

    /// The expression with offsets zeroed, to compare shapes.
    fn shape(e: &FilterExpr) -> FilterExpr {
        match e {
            FilterExpr::And(v) => FilterExpr::And(v.iter().map(shape).collect()),
            FilterExpr::Or(v) => FilterExpr::Or(v.iter().map(shape).collect()),
            FilterExpr::Not(x) => FilterExpr::Not(Box::new(shape(x))),
            FilterExpr::Cmp(c) => cmp(&c.column, c.op, c.value.clone()),
        }
    }

    #[test]
    fn every_operator_and_value_form_parses() {
        let cases = [
            ("a = 1", cmp("a", CmpOp::Eq, json!(1))),
            ("a == -2.5", cmp("a", CmpOp::Eq, json!(-2.5))),
            ("a <> 'x'", cmp("a", CmpOp::Ne, json!("x"))),
            ("a != \"y\"", cmp("a", CmpOp::Ne, json!("y"))),
            ("a < 1", cmp("a", CmpOp::Lt, json!(1))),
            ("a <= 1", cmp("a", CmpOp::Le, json!(1))),
            ("a > 1", cmp("a", CmpOp::Gt, json!(1))),
            ("a>=1", cmp("a", CmpOp::Ge, json!(1))),
            ("a like \"ab%\"", cmp("a", CmpOp::Like, json!("ab%"))),
            ("a NOT LIKE 'x_'", cmp("a", CmpOp::NotLike, json!("x_"))),
            ("Flag = TRUE", cmp("flag", CmpOp::Eq, json!(true))),
            ("flag = false", cmp("flag", CmpOp::Eq, json!(false))),
            ("a = NULL", cmp("a", CmpOp::Eq, Value::Null)),
            ("a IS NULL", cmp("a", CmpOp::Eq, Value::Null)),
            ("a is not null", cmp("a", CmpOp::Ne, Value::Null)),
            ("name = John", cmp("name", CmpOp::Eq, json!("John"))),
            ("city = New York", cmp("city", CmpOp::Eq, json!("New York"))),
            ("mail = a@b.com", cmp("mail", CmpOp::Eq, json!("a@b.com"))),
            ("d >= 2024-01-05", cmp("d", CmpOp::Ge, json!("2024-01-05"))),
            ("name = 'O''Brien'", cmp("name", CmpOp::Eq, json!("O'Brien"))),
            (
                "name = \"say \"\"hi\"\"\"",
                cmp("name", CmpOp::Eq, json!("say \"hi\"")),
            ),
            ("name = O'Brien", cmp("name", CmpOp::Eq, json!("O'Brien"))),
            ("name = ''", cmp("name", CmpOp::Eq, json!(""))),
        ];
        for (src, want) in cases {
            assert_eq!(shape(parse(src).expr()), want, "{src}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_and_not_group() {
        let f = parse("a = 1 OR b = 2 AND c = 3");
        assert_eq!(
            shape(f.expr()),
            FilterExpr::Or(vec![
                cmp("a", CmpOp::Eq, json!(1)),
                FilterExpr::And(vec![cmp("b", CmpOp::Eq, json!(2)), cmp("c", CmpOp::Eq, json!(3))]),
            ])
        );
        let f = parse("(a = 1 || b = 2) && NOT c = 3");
        assert_eq!(
            shape(f.expr()),
            FilterExpr::And(vec![
                FilterExpr::Or(vec![cmp("a", CmpOp::Eq, json!(1)), cmp("b", CmpOp::Eq, json!(2))]),
                FilterExpr::Not(Box::new(cmp("c", CmpOp::Eq, json!(3)))),
            ])
        );
        assert_eq!(f.columns(), vec!["a", "b", "c"]);
    }

    #[test]
    fn interpolated_values_stay_values_even_when_they_look_like_sql() {
        let evil = "x' OR 1=1 --";
        let f = Filter::parse(&[
            FilterPiece::Text("name = ".into()),
            FilterPiece::Value(json!(evil)),
            FilterPiece::Text(" AND age > 3".into()),
        ])
        .unwrap();
        assert_eq!(
            shape(f.expr()),
            FilterExpr::And(vec![
                cmp("name", CmpOp::Eq, json!(evil)),
                cmp("age", CmpOp::Gt, json!(3))
            ])
        );
        assert!(!f.matches(&row(json!({"name": "x", "age": 10}))));
        assert!(f.matches(&row(json!({"name": evil, "age": 10}))));
        // Quoted, the value is still the value itself.
        let f = Filter::parse(&[
            FilterPiece::Text("name = '".into()),
            FilterPiece::Value(json!(evil)),
            FilterPiece::Text("'".into()),
        ])
        .unwrap();
        assert_eq!(shape(f.expr()), cmp("name", CmpOp::Eq, json!(evil)));
        // Inside a longer string it is text of that string.
        let f = Filter::parse(&[
            FilterPiece::Text("name LIKE \"%".into()),
            FilterPiece::Value(json!(evil)),
            FilterPiece::Text("%\"".into()),
        ])
        .unwrap();
        assert_eq!(
            shape(f.expr()),
            cmp("name", CmpOp::Like, json!(format!("%{evil}%")))
        );
        // A value piece can never be a column or an operator.
        let e = Filter::parse(&[
            FilterPiece::Value(json!("name")),
            FilterPiece::Text(" = 1".into()),
        ])
        .unwrap_err();
        assert_eq!(e.message, "expected a column name, found an interpolated value");
        let e = Filter::parse(&[
            FilterPiece::Text("a ".into()),
            FilterPiece::Value(json!("=")),
            FilterPiece::Text(" 1".into()),
        ])
        .unwrap_err();
        assert!(e.message.starts_with("expected a comparison"), "{}", e.message);
        // Written out as text, the injection does not parse.
        assert!(Filter::parse_str("name = 'x' OR 1=1 --'").is_err());
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let e = err("name =");
        assert_eq!(e.message, "expected a value after '='");
        assert_eq!(e.offset, 6);
        let e = err("name = AND b = 1");
        assert_eq!((e.message.as_str(), e.offset), ("expected a value after '='", 7));
        assert_eq!(err("").message, "the filter is empty");
        assert_eq!(err("   ").message, "the filter is empty");
        assert!(err("name").message.starts_with("expected a comparison"));
        assert_eq!(err("3 = a").message, "expected a column name, found '3'");
        let e = err("(a = 1");
        assert!(e.message.starts_with("missing ')'"), "{}", e.message);
        assert_eq!(err("a = 1)").message, "unexpected ')'");
        assert_eq!(err("a = 1 b = 2").message, "expected AND or OR, found 'b'");
        assert_eq!(err("a = x b = 2").message, "expected AND or OR, found '='");
        assert_eq!(err("a = 1 AND").message, "expected a condition after 'AND'");
        let e = err("a = \"open");
        assert_eq!(
            (e.message.as_str(), e.offset),
            ("unterminated string: a closing quote is missing", 4)
        );
        assert!(err("a IS 3").message.starts_with("expected NULL"));
        let long = "c".repeat(64);
        assert!(err(&format!("{long} = 1")).message.contains("longer than 63"));
        let e = Filter::parse(&[
            FilterPiece::Text("a = ".into()),
            FilterPiece::Value(json!([1, 2])),
        ])
        .unwrap_err();
        assert!(e.message.contains("list or object"), "{}", e.message);
        // Offsets count characters, an interpolated value as one.
        let e = Filter::parse(&[
            FilterPiece::Text("é = ".into()),
            FilterPiece::Value(json!(1)),
            FilterPiece::Text(" AND".into()),
        ])
        .unwrap_err();
        assert_eq!(e.offset, 0);
        let e = Filter::parse(&[
            FilterPiece::Text("a = ".into()),
            FilterPiece::Value(json!(1)),
            FilterPiece::Text(" AND ".into()),
        ])
        .unwrap_err();
        assert_eq!(e.offset, 10);
    }

    #[test]
    fn unknown_columns_are_reported_when_the_columns_are_known() {
        let pieces = [FilterPiece::Text("Name = 1 AND agee > 2".into())];
        let e = Filter::parse_with_columns(&pieces, &["name", "age"]).unwrap_err();
        assert_eq!(e.message, "unknown column agee");
        assert_eq!(e.offset, 13);
        assert!(Filter::parse_with_columns(&pieces, &["NAME", "agee"]).is_ok());
    }

    #[test]
    fn matching_compares_numbers_numerically_and_strings_as_strings() {
        let r = row(json!({"Name": "Ana", "age": 30, "score": "7.5", "zip": "09", "vip": true, "note": ""}));
        let yes = [
            "name = Ana",
            "NAME == 'Ana'",
            "age = 30",
            "age = '30'",
            "age > 4",
            "age >= 30.0",
            "score > 10 OR score < 8",
            "score = 7.50",
            "zip < '1'",
            "vip = TRUE",
            "vip = 'true'",
            "vip <> false",
            "name LIKE 'a%'",
            "name like '_N_'",
            "name NOT LIKE 'b%'",
            "note = NULL",
            "note = ''",
            "missing IS NULL",
            "missing <> 3",
            "missing NOT LIKE '%'",
            "NOT (age < 18)",
            "name <> ana",
        ];
        for f in yes {
            assert!(parse(f).matches(&r), "{f} should match");
        }
        let no = [
            "name = ana",
            "age < 30",
            "age = 'thirty'",
            "zip > 1 AND zip < 5",
            "vip = false",
            "name LIKE 'b%'",
            "name LIKE 'an'",
            "note <> ''",
            "missing = 3",
            "missing < 3",
            "missing > 3",
            "missing LIKE '%'",
            "age > NULL",
            "name IS NULL",
        ];
        for f in no {
            assert!(!parse(f).matches(&r), "{f} should not match");
        }
    }

    #[test]
    fn like_handles_wildcards_and_case() {
        assert!(like("Hello World", "hello%"));
        assert!(like("Hello World", "%WORLD"));
        assert!(like("Hello World", "%o w%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("ÉCOLE", "é%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("aaa", "%a%a%a%"));
        assert!(!like("aa", "%a%a%a%"));
    }

    fn cols() -> Vec<ColumnDef> {
        vec![
            ColumnDef::new("name", ColumnType::Text),
            ColumnDef::new("age", ColumnType::Integer),
            ColumnDef::new("born", ColumnType::Date),
        ]
    }

    #[test]
    fn sql_binds_every_value_as_a_parameter() {
        let f = Filter::parse(&[
            FilterPiece::Text("name = ".into()),
            FilterPiece::Value(json!("x' OR 1=1 --")),
            FilterPiece::Text(" AND (age > '3' OR born < 2024-01-01) AND name LIKE 'a%'".into()),
        ])
        .unwrap();
        let w = f.to_sql(Dialect::Sqlite, &cols(), true, 1).unwrap();
        assert_eq!(
            w.sql,
            "((\"name\" IS NOT NULL AND \"name\" = ?) AND ((\"age\" IS NOT NULL AND \"age\" > ?) OR \
             (\"born\" IS NOT NULL AND \"born\" < ?)) AND (\"name\" IS NOT NULL AND \"name\" LIKE ?))"
        );
        assert!(!w.sql.contains("OR 1=1"));
        assert_eq!(
            w.params,
            vec![
                SqlParam::Text(Some("x' OR 1=1 --".into())),
                SqlParam::Integer(Some(3)),
                SqlParam::Text(Some("2024-01-01".into())),
                SqlParam::Text(Some("a%".into())),
            ]
        );
        let w = f.to_sql(Dialect::Postgres, &cols(), true, 3).unwrap();
        assert!(w.sql.contains("\"name\" = $3"), "{}", w.sql);
        assert!(w.sql.contains("\"age\" > $4"), "{}", w.sql);
        assert!(w.sql.contains("\"born\" < CAST($5 AS DATE)"), "{}", w.sql);
        assert!(
            w.sql.contains("CAST(\"name\" AS TEXT) ILIKE $6 ESCAPE ''"),
            "{}",
            w.sql
        );
    }

    #[test]
    fn sql_reports_unknown_columns_and_bad_values_when_strict() {
        let e = parse("nme = 1")
            .to_sql(Dialect::Sqlite, &cols(), true, 1)
            .unwrap_err();
        assert_eq!(e.message, "unknown column nme");
        let w = parse("nme = 1 OR nme <> 1")
            .to_sql(Dialect::Sqlite, &cols(), false, 1)
            .unwrap();
        assert_eq!(w.sql, "((1 = 0) OR (1 = 1))");
        assert!(w.params.is_empty());
        let e = parse("age > abc")
            .to_sql(Dialect::Sqlite, &cols(), true, 1)
            .unwrap_err();
        assert!(e.message.contains("column age"), "{}", e.message);
        assert_eq!(e.offset, 6);
        let w = parse("name = NULL AND age <> ''")
            .to_sql(Dialect::Sqlite, &cols(), true, 1)
            .unwrap();
        assert_eq!(
            w.sql,
            "((\"name\" IS NULL OR \"name\" = '') AND (\"age\" IS NOT NULL))"
        );
    }
}
