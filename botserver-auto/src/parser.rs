//! Parsing BASIC expressions (spec §2) into [`Expr`] trees.
//!
//! Precedence, loosest first: `OR ||` · `AND &&` · `NOT !` · comparisons
//! (`= == <> != < <= > >=`, `IN`, `NOT IN`) · `&` · `+ -` · `* / MOD` · unary `-` ·
//! `^` (right-assoc) · postfix (`.member`, `[index]`, calls). So `-2^2` is -4 and
//! `a & b = c` compares the concatenation, as in other BASICs. Nesting is capped, so hostile
//! input ends in an error, never a stack overflow.

use crate::ast::{BinOp, Expr, ExprKind, StrSeg, UnOp};
use crate::lexer::{self, LexError, Pos, StrPart, Tok, Token};
use std::fmt;

/// A parse error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Where the problem is.
    pub pos: Pos,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ParseError {}

impl From<LexError> for ParseError {
    fn from(e: LexError) -> Self {
        ParseError {
            pos: e.pos,
            message: e.message,
        }
    }
}

/// How deep expressions may nest (guards the stack against hostile input).
const MAX_DEPTH: u32 = 64;

/// A cursor over a token list.
pub struct Parser<'t> {
    tokens: &'t [Token],
    i: usize,
    depth: u32,
}

fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None | Some(Tok::Newline) => "the end of the line".into(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Number(n)) => format!("the number {n}"),
        Some(Tok::Str(_)) => "a string".into(),
        Some(Tok::Op(o)) => format!("`{o}`"),
    }
}

/// Words that cannot be variable names inside expressions.
const RESERVED: [&str; 9] = ["AND", "OR", "NOT", "MOD", "IN", "TRUE", "FALSE", "NULL", "THEN"];

impl<'t> Parser<'t> {
    /// A parser at the start of `tokens`.
    pub fn new(tokens: &'t [Token]) -> Self {
        Parser {
            tokens,
            i: 0,
            depth: 0,
        }
    }

    /// The next token, if any.
    pub fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.i)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'t Token> {
        self.tokens.get(self.i + ahead)
    }

    fn here(&self) -> Pos {
        self.peek()
            .or_else(|| self.tokens.last())
            .map_or(Pos { line: 1, col: 1 }, |t| t.pos)
    }

    /// The cursor's index into the token list.
    pub fn position(&self) -> usize {
        self.i
    }

    /// Moves the cursor to token `i`.
    pub fn seek(&mut self, i: usize) {
        self.i = i.min(self.tokens.len());
    }

    /// Takes the next token.
    pub fn advance(&mut self) -> Option<&'t Token> {
        let t = self.tokens.get(self.i);
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    /// An error at the next token: "expected {what}, found …".
    pub fn expected<T>(&self, what: &str) -> Result<T, ParseError> {
        Err(ParseError {
            pos: self.here(),
            message: format!("expected {what}, found {}", describe(self.peek())),
        })
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_op(op)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_word(w)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            self.expected(&format!("`{op}`"))
        }
    }

    /// Whether the cursor is at the end of the line (or of the input).
    pub fn at_line_end(&self) -> bool {
        self.peek().is_none_or(|t| t.tok == Tok::Newline)
    }

    /// Parses one expression.
    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        let pos = self.here();
        self.nested(pos, Self::or)
    }

    /// Runs `f` one level deeper, refusing input that nests beyond [`MAX_DEPTH`] (every
    /// recursive step of the grammar goes through here, so hostile input cannot overflow
    /// the stack).
    fn nested<T>(
        &mut self,
        pos: Pos,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError {
                pos,
                message: format!("expression nests deeper than {MAX_DEPTH} levels"),
            });
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn binary(&mut self, op: BinOp, left: Expr, right: Expr) -> Expr {
        let pos = left.pos;
        Expr {
            kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
            pos,
        }
    }

    /// One left-associative level: `next (op next)*`, where an operator is a symbol or a
    /// word (`AND`, `MOD`) from `ops`.
    fn left_assoc(
        &mut self,
        next: fn(&mut Self) -> Result<Expr, ParseError>,
        ops: &[(&str, BinOp)],
    ) -> Result<Expr, ParseError> {
        let mut left = next(self)?;
        loop {
            let Some(op) = ops.iter().find_map(|(text, op)| {
                let is_word = text.chars().all(|c| c.is_ascii_alphabetic());
                let hit = if is_word {
                    self.eat_word(text)
                } else {
                    self.eat_op(text)
                };
                hit.then_some(*op)
            }) else {
                return Ok(left);
            };
            let right = next(self)?;
            left = self.binary(op, left, right);
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(Self::and, &[("OR", BinOp::Or), ("||", BinOp::Or)])
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(Self::not, &[("AND", BinOp::And), ("&&", BinOp::And)])
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        let pos = self.here();
        // `NOT IN` belongs to a comparison, not to a leading NOT.
        if (self.peek().is_some_and(|t| t.is_word("NOT"))
            && !self.peek_at(1).is_some_and(|t| t.is_word("IN")))
            || self.peek().is_some_and(|t| t.is_op("!"))
        {
            self.i += 1;
            let inner = self.nested(pos, Self::not)?;
            return Ok(Expr {
                kind: ExprKind::Unary(UnOp::Not, Box::new(inner)),
                pos,
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.concat()?;
        loop {
            let op = match self.peek().map(|t| &t.tok) {
                Some(Tok::Op("=" | "==")) => BinOp::Eq,
                Some(Tok::Op("<>" | "!=")) => BinOp::Ne,
                Some(Tok::Op("<")) => BinOp::Lt,
                Some(Tok::Op("<=")) => BinOp::Le,
                Some(Tok::Op(">")) => BinOp::Gt,
                Some(Tok::Op(">=")) => BinOp::Ge,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                    self.i += 1;
                    let list = self.concat()?;
                    let pos = left.pos;
                    left = Expr {
                        kind: ExprKind::In {
                            value: Box::new(left),
                            list: Box::new(list),
                            negated: false,
                        },
                        pos,
                    };
                    continue;
                }
                Some(Tok::Word(w))
                    if w.eq_ignore_ascii_case("NOT") && self.peek_at(1).is_some_and(|t| t.is_word("IN")) =>
                {
                    self.i += 2;
                    let list = self.concat()?;
                    let pos = left.pos;
                    left = Expr {
                        kind: ExprKind::In {
                            value: Box::new(left),
                            list: Box::new(list),
                            negated: true,
                        },
                        pos,
                    };
                    continue;
                }
                _ => return Ok(left),
            };
            self.i += 1;
            let right = self.concat()?;
            left = self.binary(op, left, right);
        }
    }

    fn concat(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(Self::additive, &[("&", BinOp::Concat)])
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(Self::multiplicative, &[("+", BinOp::Add), ("-", BinOp::Sub)])
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(
            Self::unary,
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("MOD", BinOp::Mod)],
        )
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let pos = self.here();
        if self.eat_op("-") {
            let inner = self.nested(pos, Self::unary)?;
            return Ok(Expr {
                kind: ExprKind::Unary(UnOp::Neg, Box::new(inner)),
                pos,
            });
        }
        if self.eat_op("+") {
            return self.nested(pos, Self::unary);
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.postfix()?;
        if self.eat_op("^") {
            // Right-associative, and binds tighter than a unary minus on its left only.
            let exponent = self.nested(base.pos, Self::unary)?;
            return Ok(self.binary(BinOp::Pow, base, exponent));
        }
        Ok(base)
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        loop {
            if self.eat_op(".") {
                match self.advance().map(|t| &t.tok) {
                    Some(Tok::Word(name)) => {
                        let pos = e.pos;
                        e = Expr {
                            kind: ExprKind::Member(Box::new(e), name.to_lowercase()),
                            pos,
                        };
                    }
                    _ => {
                        self.i -= 1;
                        return self.expected("a member name after `.`");
                    }
                }
            } else if self.eat_op("[") {
                let index = self.expr()?;
                self.expect_op("]")?;
                let pos = e.pos;
                e = Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(index)),
                    pos,
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn list_until(&mut self, close: &str) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        if self.eat_op(close) {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat_op(close) {
                return Ok(items);
            }
            if !self.eat_op(",") {
                return self.expected(&format!("`,` or `{close}`"));
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let pos = self.here();
        let Some(token) = self.peek() else {
            return self.expected("an expression");
        };
        let kind = match &token.tok {
            Tok::Number(n) => {
                self.i += 1;
                ExprKind::Num(*n)
            }
            Tok::Str(parts) => {
                self.i += 1;
                ExprKind::Str(string_segments(parts)?)
            }
            Tok::Op("(") => {
                self.i += 1;
                let inner = self.expr()?;
                self.expect_op(")")?;
                return Ok(inner);
            }
            Tok::Op("[") => {
                self.i += 1;
                ExprKind::Array(self.list_until("]")?)
            }
            Tok::Op("{") => {
                self.i += 1;
                ExprKind::Object(self.object()?)
            }
            Tok::Word(w) => {
                let upper = w.to_ascii_uppercase();
                let literal = match upper.as_str() {
                    "TRUE" => Some(ExprKind::Bool(true)),
                    "FALSE" => Some(ExprKind::Bool(false)),
                    "NULL" => Some(ExprKind::Null),
                    _ => None,
                };
                // `MOD(17, 5)` is the library function, `a MOD b` the operator.
                let called = upper == "MOD" && self.tokens.get(self.i + 1).is_some_and(|t| t.is_op("("));
                if RESERVED.contains(&upper.as_str()) && literal.is_none() && !called {
                    return self.expected("an expression");
                }
                self.i += 1;
                // `ERROR MESSAGE`: the text of the last error ON ERROR RESUME NEXT caught.
                if upper == "ERROR" && self.peek().is_some_and(|t| t.is_word("MESSAGE")) {
                    self.i += 1;
                    return Ok(Expr {
                        kind: ExprKind::Var("error_message".into()),
                        pos,
                    });
                }
                match literal {
                    Some(kind) => kind,
                    None if self.eat_op("(") => ExprKind::Call(upper, self.list_until(")")?),
                    None => ExprKind::Var(w.to_lowercase()),
                }
            }
            _ => return self.expected("an expression"),
        };
        Ok(Expr { kind, pos })
    }

    fn object(&mut self) -> Result<Vec<(String, Expr)>, ParseError> {
        let mut fields = Vec::new();
        if self.eat_op("}") {
            return Ok(fields);
        }
        loop {
            let key = match self.advance().map(|t| &t.tok) {
                Some(Tok::Str(parts)) => match parts.as_slice() {
                    [StrPart::Text(k)] => k.clone(),
                    _ => {
                        self.i -= 1;
                        return self.expected("a plain key (no `${}`) in an object");
                    }
                },
                Some(Tok::Word(w)) => w.clone(),
                _ => {
                    self.i -= 1;
                    return self.expected("a key in an object");
                }
            };
            if !self.eat_op(":") {
                return self.expected("`:` after an object key");
            }
            fields.push((key, self.expr()?));
            if self.eat_op("}") {
                return Ok(fields);
            }
            if !self.eat_op(",") {
                return self.expected("`,` or `}`");
            }
        }
    }
}

/// Parses the `${…}` parts of a string literal.
pub(crate) fn string_segments(parts: &[StrPart]) -> Result<Vec<StrSeg>, ParseError> {
    parts
        .iter()
        .map(|p| match p {
            StrPart::Text(t) => Ok(StrSeg::Text(t.clone())),
            StrPart::Expr { source, pos } => {
                let mut tokens = lexer::lex_at(source, *pos)?;
                // `lex` ends lines with Newline; an interpolation is one expression.
                if tokens.last().is_some_and(|t| t.tok == Tok::Newline) {
                    tokens.pop();
                }
                let mut p = Parser::new(&tokens);
                let e = p.expr()?;
                if p.peek().is_some() {
                    return p.expected("the end of the `${}` expression");
                }
                Ok(StrSeg::Expr(e))
            }
        })
        .collect()
}

/// Parses a whole source text as one expression (for tests, filters and the REPL).
pub fn parse_expr(src: &str) -> Result<Expr, ParseError> {
    let tokens = lexer::lex(src)?;
    let mut p = Parser::new(&tokens);
    let e = p.expr()?;
    if !p.at_line_end() {
        return p.expected("the end of the expression");
    }
    p.advance();
    if p.peek().is_some() {
        return p.expected("a single line");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of a tree, so expectations read like the source.
    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Num(n) => format!("{n}"),
            ExprKind::Str(segs) => segs
                .iter()
                .map(|s| match s {
                    StrSeg::Text(t) => format!("{t:?}"),
                    StrSeg::Expr(e) => format!("${{{}}}", show(e)),
                })
                .collect::<Vec<_>>()
                .join("+"),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Null => "null".into(),
            ExprKind::Var(v) => v.clone(),
            ExprKind::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
            ExprKind::Object(fields) => {
                format!(
                    "{{{}}}",
                    fields
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", show(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            ExprKind::Unary(op, e) => format!("({op:?} {})", show(e)),
            ExprKind::Binary(op, a, b) => format!("({op:?} {} {})", show(a), show(b)),
            ExprKind::In { value, list, negated } => {
                format!(
                    "({}In {} {})",
                    if *negated { "Not" } else { "" },
                    show(value),
                    show(list)
                )
            }
            ExprKind::Member(e, m) => format!("{}.{m}", show(e)),
            ExprKind::Index(e, i) => format!("{}[{}]", show(e), show(i)),
            ExprKind::Call(f, args) => {
                format!("{f}({})", args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
        }
    }

    fn p(src: &str) -> String {
        show(&parse_expr(src).unwrap_or_else(|e| panic!("{e} in {src:?}")))
    }

    #[test]
    fn arithmetic_precedence_and_associativity() {
        assert_eq!(p("1 + 2 * 3"), "(Add 1 (Mul 2 3))");
        assert_eq!(p("(1 + 2) * 3"), "(Mul (Add 1 2) 3)");
        assert_eq!(p("10 - 4 - 3"), "(Sub (Sub 10 4) 3)");
        assert_eq!(p("2 ^ 3 ^ 2"), "(Pow 2 (Pow 3 2))");
        assert_eq!(p("-2 ^ 2"), "(Neg (Pow 2 2))");
        assert_eq!(p("7 MOD 3 * 2"), "(Mul (Mod 7 3) 2)");
        assert_eq!(p("-3.5"), "(Neg 3.5)");
    }

    #[test]
    fn concatenation_sits_between_arithmetic_and_comparison() {
        assert_eq!(p("a & b = c"), "(Eq (Concat a b) c)");
        assert_eq!(p("\"ID: \" & 1 + 2"), "(Concat \"ID: \" (Add 1 2))");
    }

    #[test]
    fn logic_words_and_symbols() {
        assert_eq!(
            p("a = 1 AND b <> 2 OR NOT c"),
            "(Or (And (Eq a 1) (Ne b 2)) (Not c))"
        );
        assert_eq!(
            p("a == 1 && b != 2 || !c"),
            "(Or (And (Eq a 1) (Ne b 2)) (Not c))"
        );
        assert_eq!(p("not x and y"), "(And (Not x) y)");
    }

    #[test]
    fn membership_with_in_and_not_in() {
        assert_eq!(p("x IN [1, 2]"), "(In x [1, 2])");
        assert_eq!(p("x NOT IN list AND y"), "(And (NotIn x list) y)");
    }

    #[test]
    fn literals_members_indexes_and_calls() {
        assert_eq!(p("TRUE"), "true");
        assert_eq!(p("null"), "null");
        assert_eq!(p("{ \"name\": n, age: 3 }"), "{name: n, age: 3}");
        assert_eq!(p("[]"), "[]");
        assert_eq!(p("order.Items[0].Price"), "order.items[0].price");
        assert_eq!(p("len(trim(Name))"), "LEN(TRIM(name))");
        assert_eq!(p("NOW()"), "NOW()");
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(p("Name"), p("NAME"));
    }

    #[test]
    fn strings_interpolate_expressions() {
        assert_eq!(
            p("\"Hi ${user.name}, ${n + 1} left\""),
            "\"Hi \"+${user.name}+\", \"+${(Add n 1)}+\" left\""
        );
    }

    #[test]
    fn errors_point_at_the_problem_and_say_what_was_expected() {
        let e = parse_expr("1 +").unwrap_err();
        assert_eq!(e.message, "expected an expression, found the end of the line");
        let e = parse_expr("f(1, 2").unwrap_err();
        assert!(e.message.starts_with("expected `,` or `)`"), "{e}");
        let e = parse_expr("a b").unwrap_err();
        assert_eq!(
            (e.pos.col, e.message.as_str()),
            (3, "expected the end of the expression, found `b`")
        );
        let e = parse_expr("x.1").unwrap_err();
        assert!(e.message.contains("member name"), "{e}");
        let e = parse_expr("\"${1 +}\"").unwrap_err();
        assert_eq!(e.pos.col, 6, "{e}"); // at the `+` that lacks its right side
        let e = parse_expr("{ a 1 }").unwrap_err();
        assert!(e.message.contains("`:`"), "{e}");
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_expr(&deep).unwrap_err().message.contains("nests deeper"));
        let negs = format!("{}1", "-".repeat(5000));
        assert!(parse_expr(&negs).unwrap_err().message.contains("nests deeper"));
        let pluses = format!("{}1", "+".repeat(5000));
        assert!(parse_expr(&pluses).unwrap_err().message.contains("nests deeper"));
        let pows = format!("2{}", "^2".repeat(5000));
        assert!(parse_expr(&pows).unwrap_err().message.contains("nests deeper"));
        let nots = format!("{}x", "NOT ".repeat(5000));
        assert!(parse_expr(&nots).unwrap_err().message.contains("nests deeper"));
    }
}
