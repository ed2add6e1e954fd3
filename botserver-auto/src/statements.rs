//! Parsing whole scripts (spec §3 and the keyword tables) into statements.
//!
//! Raw-text blocks (`BEGIN TALK`, `BEGIN SYSTEM PROMPT`, `BEGIN MAIL`, `TABLE`) are cut out
//! of the source before lexing, since their lines are prose or field lists, not code; the
//! line numbers of everything else stay as written.

use crate::ast::{Arg, ExitKind, Expr, ExprKind, KeywordCall, LoopTest, Stmt, StmtKind, Value};
use crate::keywords::{self, Use};
use crate::lexer::{self, Pos, Tok, Token};
use crate::parser::{ParseError, Parser};
use std::collections::HashMap;

/// Words that join a keyword's arguments and give them roles.
const CONNECTORS: [&str; 17] = [
    "AS",
    "WITH",
    "DEFAULT",
    "TO",
    "OF",
    "LIKE",
    "DESCRIPTION",
    "ENUM",
    "OPTIONAL",
    "TRIGGER",
    "DESC",
    "ASC",
    "FOR",
    "BY",
    "OPTIMIZE",
    "BOT",
    "TOOL",
];

/// Raw-text blocks: the opening phrase and its closing line.
const RAW_BLOCKS: [(&str, &str); 4] = [
    ("BEGIN SYSTEM PROMPT", "END SYSTEM PROMPT"),
    ("BEGIN TALK", "END TALK"),
    ("BEGIN MAIL", "END MAIL"),
    ("TABLE", "END TABLE"),
];

fn words_upper(line: &str) -> String {
    line.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Raw text lines of blocks, by the line of their opening phrase.
type RawBlocks = HashMap<u32, Vec<(String, Pos)>>;

/// Cuts raw blocks out of `src`: their lines become blank (keeping numbering) and are
/// returned by the line of their opening phrase.
fn cut_raw_blocks(src: &str) -> Result<(String, RawBlocks), ParseError> {
    let lines: Vec<&str> = src.split('\n').collect();
    let mut kept: Vec<String> = Vec::with_capacity(lines.len());
    let mut blocks = HashMap::new();
    let mut i = 0;
    while i < lines.len() {
        let head = words_upper(lines[i]);
        let open = RAW_BLOCKS
            .iter()
            .find(|(open, _)| head == *open || head.starts_with(&format!("{open} ")));
        let Some((open, close)) = open else {
            kept.push(lines[i].to_string());
            i += 1;
            continue;
        };
        let start = i as u32 + 1;
        kept.push(lines[i].to_string());
        let mut body = Vec::new();
        i += 1;
        loop {
            let Some(line) = lines.get(i) else {
                return Err(ParseError {
                    pos: Pos { line: start, col: 1 },
                    message: format!("{open} is not closed: expected {close}"),
                });
            };
            kept.push(String::new());
            i += 1;
            if words_upper(line) == *close {
                break;
            }
            body.push((
                line.trim_end_matches('\r').to_string(),
                Pos {
                    line: i as u32,
                    col: 1,
                },
            ));
        }
        blocks.insert(start, body);
    }
    Ok((kept.join("\n"), blocks))
}

/// Parses a whole script.
pub fn parse_script(src: &str) -> Result<Vec<Stmt>, ParseError> {
    let (code, blocks) = cut_raw_blocks(src)?;
    let tokens = lexer::lex(&code)?;
    let mut s = Script {
        p: Parser::new(&tokens),
        tokens: &tokens,
        blocks,
        depth: 0,
    };
    let (body, end) = s.block(&[])?;
    debug_assert!(end.is_none());
    Ok(body)
}

struct Script<'t> {
    p: Parser<'t>,
    tokens: &'t [Token],
    blocks: RawBlocks,
    depth: u32,
}

/// How deep blocks may nest (IF in FOR in SUB …): far beyond any real script, and short
/// of the stack.
const MAX_BLOCK_DEPTH: u32 = 64;

impl<'t> Script<'t> {
    fn index(&self) -> usize {
        self.p.position()
    }

    fn word_at(&self, ahead: usize) -> Option<&'t str> {
        match self.tokens.get(self.index() + ahead).map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn at_words(&self, words: &[&str]) -> bool {
        words
            .iter()
            .enumerate()
            .all(|(k, w)| self.word_at(k).is_some_and(|x| x.eq_ignore_ascii_case(w)))
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.p.advance();
        }
    }

    fn next_token(&mut self) -> Option<&'t Token> {
        self.p.advance()
    }

    fn pos(&self) -> Pos {
        self.p
            .peek()
            .or(self.tokens.last())
            .map_or(Pos { line: 1, col: 1 }, |t| t.pos)
    }

    fn end_of_statement(&mut self) -> Result<(), ParseError> {
        match self.p.peek().map(|t| &t.tok) {
            None => Ok(()),
            Some(Tok::Newline) => {
                self.next_token();
                Ok(())
            }
            _ => self.p.expected("the end of the line"),
        }
    }

    /// Statements until one of `ends` (word sequences) starts a line; returns which.
    fn block(&mut self, ends: &[&[&str]]) -> Result<(Vec<Stmt>, Option<usize>), ParseError> {
        let mut body = Vec::new();
        loop {
            if self.p.peek().is_none() {
                return Ok((body, None));
            }
            if let Some(k) = ends.iter().position(|e| self.at_words(e)) {
                return Ok((body, Some(k)));
            }
            body.push(self.statement()?);
        }
    }

    fn block_until(
        &mut self,
        ends: &[&[&str]],
        opener: &str,
        opened: Pos,
    ) -> Result<(Vec<Stmt>, usize), ParseError> {
        match self.block(ends)? {
            (body, Some(k)) => Ok((body, k)),
            (_, None) => Err(ParseError {
                pos: opened,
                message: format!(
                    "{opener} is not closed: expected {}",
                    ends.iter().map(|e| e.join(" ")).collect::<Vec<_>>().join(" or ")
                ),
            }),
        }
    }

    fn name(&mut self, what: &str) -> Result<String, ParseError> {
        match self.p.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) => {
                let w = w.to_lowercase();
                self.next_token();
                Ok(w)
            }
            _ => self.p.expected(what),
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), ParseError> {
        if self.at_words(&[w]) {
            self.next_token();
            Ok(())
        } else {
            self.p.expected(&format!("`{w}`"))
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.p.expr()
    }

    fn statement(&mut self) -> Result<Stmt, ParseError> {
        let pos = self.pos();
        self.depth += 1;
        if self.depth > MAX_BLOCK_DEPTH {
            return Err(ParseError {
                pos,
                message: format!("blocks nest deeper than {MAX_BLOCK_DEPTH} levels"),
            });
        }
        let kind = self.statement_kind(pos);
        self.depth -= 1;
        let kind = kind?;
        self.end_of_statement()?;
        Ok(Stmt { kind, pos })
    }

    fn statement_kind(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        let Some(first) = self.word_at(0) else {
            return self.p.expected("a statement");
        };
        let upper = first.to_ascii_uppercase();
        let next_is_assign = self.tokens.get(self.index() + 1).is_some_and(|t| {
            t.is_op("=") || t.is_op(".") || (t.is_op("[") && self.assigns_after_index(self.index() + 1))
        });
        if !next_is_assign {
            match upper.as_str() {
                "IF" => return self.if_statement(pos),
                "SELECT" if self.at_words(&["SELECT", "CASE"]) => return self.select(pos, 2, false),
                "SWITCH" => return self.select(pos, 1, true),
                "FOR" if self.at_words(&["FOR", "EACH"]) => return self.for_each(pos),
                "FOR" => return self.for_loop(pos),
                "WHILE" => {
                    self.next_token();
                    let cond = self.expr()?;
                    self.end_of_statement()?;
                    let (body, _) = self.block_until(&[&["WEND"], &["END", "WHILE"]], "WHILE", pos)?;
                    self.skip(if self.at_words(&["WEND"]) { 1 } else { 2 });
                    return Ok(StmtKind::While { cond, body });
                }
                "DO" => return self.do_loop(pos),
                "EXIT" => {
                    self.next_token();
                    let kind = match self.word_at(0).map(|w| w.to_ascii_uppercase()).as_deref() {
                        Some("FOR") => ExitKind::For,
                        Some("DO") => ExitKind::Do,
                        Some("WHILE") => ExitKind::While,
                        Some("SUB") => ExitKind::Sub,
                        Some("FUNCTION") => ExitKind::Function,
                        _ => return self.p.expected("FOR, DO, WHILE, SUB or FUNCTION after EXIT"),
                    };
                    self.next_token();
                    return Ok(StmtKind::Exit(kind));
                }
                "WITH" => return self.with(pos),
                "SUB" | "FUNCTION" => return self.procedure(pos, upper == "FUNCTION"),
                "CALL" => return self.call(),
                "RETURN" => {
                    self.next_token();
                    let value = if self.p.at_line_end() {
                        None
                    } else {
                        Some(self.expr()?)
                    };
                    return Ok(StmtKind::Return(value));
                }
                "ON" if self.at_words(&["ON", "ERROR"]) => {
                    self.skip(2);
                    if self.at_words(&["RESUME", "NEXT"]) {
                        self.skip(2);
                        return Ok(StmtKind::OnError(true));
                    }
                    if self.at_words(&["GOTO"])
                        && self
                            .tokens
                            .get(self.index() + 1)
                            .is_some_and(|t| t.tok == Tok::Number(0.0))
                    {
                        self.skip(2);
                        return Ok(StmtKind::OnError(false));
                    }
                    return self.p.expected("RESUME NEXT or GOTO 0 after ON ERROR");
                }
                "THROW" => {
                    self.next_token();
                    return Ok(StmtKind::Throw(self.expr()?));
                }
                "WAIT" if !self.at_words(&["WAIT", "FOR", "EVENT"]) => {
                    self.next_token();
                    return Ok(StmtKind::Wait(self.expr()?));
                }
                "PRINT" => {
                    self.next_token();
                    return Ok(StmtKind::Print(self.expr()?));
                }
                "LET" => {
                    self.next_token();
                    return self.assignment();
                }
                "SET"
                    if self
                        .tokens
                        .get(self.index() + 2)
                        .is_some_and(|t| t.is_op("=") || t.is_op(".") || t.is_op("["))
                        && keywords::longest_match(self.words_ahead())
                            .is_none_or(|(k, _)| k.phrase == "SET") =>
                {
                    self.next_token();
                    return self.assignment();
                }
                _ => {}
            }
            if let Some((kw, n)) = keywords::longest_match(self.words_ahead()) {
                let call_pos = self.pos();
                self.skip(n);
                let args = self.args(kw.phrase)?;
                let call = KeywordCall {
                    keyword: kw,
                    args,
                    pos: call_pos,
                };
                if kw.usage == Use::Block {
                    let lines = self.blocks.remove(&call_pos.line).unwrap_or_default();
                    return Ok(StmtKind::Block { call, lines });
                }
                return Ok(StmtKind::Keyword(call));
            }
            if !self.tokens.get(self.index() + 1).is_some_and(|t| t.is_op("=")) {
                let first = first.to_string();
                return Err(ParseError {
                    pos,
                    message: format!("unknown keyword {}", first.to_ascii_uppercase()),
                });
            }
        }
        self.assignment()
    }

    /// Whether the line, from the `[` at `open`, is an indexed assignment (`a[0] = 1`)
    /// rather than a keyword whose argument is an array (`COMPRESS ["a.txt"], "a.zip"`):
    /// an `=` outside brackets follows.
    fn assigns_after_index(&self, open: usize) -> bool {
        let mut depth = 0i32;
        for t in &self.tokens[open..] {
            match &t.tok {
                Tok::Newline => return false,
                Tok::Op("[") | Tok::Op("(") | Tok::Op("{") => depth += 1,
                Tok::Op("]") | Tok::Op(")") | Tok::Op("}") => depth -= 1,
                Tok::Op("=") if depth == 0 => return true,
                Tok::Op(",") if depth == 0 => return false,
                _ => {}
            }
        }
        false
    }

    fn words_ahead(&self) -> impl Iterator<Item = &'t str> + Clone + 't {
        let start = self.index();
        self.tokens[start.min(self.tokens.len())..]
            .iter()
            .map_while(|t| match &t.tok {
                Tok::Word(w) => Some(w.as_str()),
                _ => None,
            })
    }

    /// A keyword's arguments: expressions, commas and connecting words, to the line end
    /// (or to `ELSE` in a one-line IF).
    fn args(&mut self, phrase: &str) -> Result<Vec<Arg>, ParseError> {
        let mut args = Vec::new();
        // `KB STATISTICS()`: empty parentheses after the phrase are no argument.
        if self.p.peek().is_some_and(|t| t.is_op("("))
            && self.tokens.get(self.index() + 1).is_some_and(|t| t.is_op(")"))
        {
            self.skip(2);
        }
        loop {
            if self.p.at_line_end() || self.at_words(&["ELSE"]) {
                return Ok(args);
            }
            if let Some(w) = self.word_at(0)
                && (CONNECTORS.iter().any(|c| c.eq_ignore_ascii_case(w))
                    || (w.eq_ignore_ascii_case("TEXT")
                        && self
                            .tokens
                            .get(self.index() + 1)
                            .is_some_and(|t| matches!(t.tok, Tok::Str(_)))))
                && !self
                    .tokens
                    .get(self.index() + 1)
                    .is_some_and(|t| t.is_op("(") || t.is_op("."))
            {
                args.push(Arg::Word(w.to_ascii_uppercase()));
                self.next_token();
                continue;
            }
            if self.p.peek().is_some_and(|t| t.is_op(",")) {
                args.push(Arg::Comma);
                self.next_token();
                continue;
            }
            // `POST TO "network" image, caption`: the network needs no comma after it.
            let juxtaposed = phrase == "POST TO" && args.len() == 1;
            if matches!(args.last(), Some(Arg::Expr(_))) && !juxtaposed {
                return self.p.expected("`,` or the end of the line");
            }
            if juxtaposed {
                args.push(Arg::Comma);
            }
            args.push(Arg::Expr(self.expr()?));
        }
    }

    fn assignment(&mut self) -> Result<StmtKind, ParseError> {
        let target = self.expr_until_assign()?;
        if !matches!(
            target.kind,
            ExprKind::Var(_) | ExprKind::Member(..) | ExprKind::Index(..)
        ) {
            return Err(ParseError {
                pos: target.pos,
                message: "expected a variable before `=`".into(),
            });
        }
        if !self.p.peek().is_some_and(|t| t.is_op("=")) {
            return self.p.expected("`=`");
        }
        self.next_token();
        // `x = FIND …`: a keyword that yields a value, unless the word is a variable in an
        // expression (`x = list & "a"`) or a function call (`x = SORT(a)` is a keyword too).
        // A one-word keyword followed by `(` is a function call (`x = JOIN(list, ",")`).
        if let Some((kw, n)) = keywords::longest_match(self.words_ahead())
            && kw.usage == Use::Both
            && !self.tokens.get(self.index() + n).is_some_and(|t| {
                t.is_op("&")
                    || t.is_op("+")
                    || t.is_op("*")
                    || t.is_op("=")
                    || t.is_op(".")
                    || t.is_op("[")
                    || (n == 1 && t.is_op("("))
            })
        {
            let pos = self.pos();
            self.skip(n);
            let args = self.args(kw.phrase)?;
            return Ok(StmtKind::Assign {
                target,
                value: Value::Keyword(KeywordCall {
                    keyword: kw,
                    args,
                    pos,
                }),
            });
        }
        Ok(StmtKind::Assign {
            target,
            value: Value::Expr(self.expr()?),
        })
    }

    /// The target of an assignment: a variable with members and indexes, stopping at `=`.
    fn expr_until_assign(&mut self) -> Result<Expr, ParseError> {
        let pos = self.pos();
        let mut target = Expr {
            kind: ExprKind::Var(self.name("a variable")?),
            pos,
        };
        loop {
            if self.p.peek().is_some_and(|t| t.is_op(".")) {
                self.next_token();
                let member = self.name("a member name after `.`")?;
                target = Expr {
                    kind: ExprKind::Member(Box::new(target), member),
                    pos,
                };
            } else if self.p.peek().is_some_and(|t| t.is_op("[")) {
                self.next_token();
                let index = self.expr()?;
                if !self.p.peek().is_some_and(|t| t.is_op("]")) {
                    return self.p.expected("`]`");
                }
                self.next_token();
                target = Expr {
                    kind: ExprKind::Index(Box::new(target), Box::new(index)),
                    pos,
                };
            } else {
                return Ok(target);
            }
        }
    }

    fn if_statement(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        self.next_token();
        let cond = self.expr()?;
        self.expect_word("THEN")?;
        if !self.p.at_line_end() {
            // One-line IF: IF c THEN stmt [ELSE stmt]
            let then_pos = self.pos();
            let then = Stmt {
                kind: self.statement_kind(then_pos)?,
                pos: then_pos,
            };
            let mut otherwise = Vec::new();
            if self.at_words(&["ELSE"]) {
                self.next_token();
                let else_pos = self.pos();
                otherwise.push(Stmt {
                    kind: self.statement_kind(else_pos)?,
                    pos: else_pos,
                });
            }
            return Ok(StmtKind::If {
                branches: vec![(cond, vec![then])],
                otherwise,
            });
        }
        self.end_of_statement()?;
        let ends: &[&[&str]] = &[&["ELSEIF"], &["ELSE", "IF"], &["ELSE"], &["END", "IF"]];
        let mut branches = Vec::new();
        let mut cond = cond;
        loop {
            let (body, which) = self.block_until(ends, "IF", pos)?;
            branches.push((cond, body));
            match which {
                0 | 1 => {
                    self.skip(if which == 0 { 1 } else { 2 });
                    cond = self.expr()?;
                    self.expect_word("THEN")?;
                    self.end_of_statement()?;
                }
                2 => {
                    self.skip(1);
                    self.end_of_statement()?;
                    let (otherwise, _) = self.block_until(&[&["END", "IF"]], "ELSE", pos)?;
                    self.skip(2);
                    return Ok(StmtKind::If { branches, otherwise });
                }
                _ => {
                    self.skip(2);
                    return Ok(StmtKind::If {
                        branches,
                        otherwise: Vec::new(),
                    });
                }
            }
        }
    }

    fn select(&mut self, pos: Pos, head_words: usize, switch: bool) -> Result<StmtKind, ParseError> {
        self.skip(head_words);
        let subject = self.expr()?;
        self.end_of_statement()?;
        let end: &[&str] = if switch {
            &["END", "SWITCH"]
        } else {
            &["END", "SELECT"]
        };
        let opener = if switch { "SWITCH" } else { "SELECT CASE" };
        // Blank lines before the first CASE are allowed; statements are not.
        let mut cases = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            if self.at_words(end) {
                self.skip(2);
                return Ok(StmtKind::Select {
                    subject,
                    cases,
                    otherwise,
                });
            }
            let is_default = self.at_words(&["CASE", "ELSE"]) || (switch && self.at_words(&["DEFAULT"]));
            if is_default {
                self.skip(if self.at_words(&["DEFAULT"]) { 1 } else { 2 });
                self.end_of_statement()?;
                let (body, _) = self.block_until(&[&["CASE"], &["DEFAULT"], end], opener, pos)?;
                otherwise = body;
                continue;
            }
            if !self.at_words(&["CASE"]) {
                if self.p.peek().is_none() {
                    return Err(ParseError {
                        pos,
                        message: format!("{opener} is not closed: expected {}", end.join(" ")),
                    });
                }
                return self.p.expected("CASE");
            }
            self.skip(1);
            let mut values = vec![self.expr()?];
            while self.p.peek().is_some_and(|t| t.is_op(",")) {
                self.next_token();
                values.push(self.expr()?);
            }
            self.end_of_statement()?;
            let (body, _) = self.block_until(&[&["CASE"], &["DEFAULT"], end], opener, pos)?;
            cases.push((values, body));
        }
    }

    fn next_line(&mut self, var: &str) -> Result<(), ParseError> {
        self.skip(1); // NEXT
        if let Some(w) = self.word_at(0) {
            if !w.eq_ignore_ascii_case(var) {
                return self.p.expected(&format!("NEXT {var}"));
            }
            self.skip(1);
        }
        Ok(())
    }

    fn for_loop(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        self.next_token();
        let var = self.name("a counter variable after FOR")?;
        if !self.p.peek().is_some_and(|t| t.is_op("=")) {
            return self.p.expected("`=` after the FOR variable");
        }
        self.next_token();
        let from = self.expr()?;
        self.expect_word("TO")?;
        let to = self.expr()?;
        let step = if self.at_words(&["STEP"]) {
            self.next_token();
            Some(self.expr()?)
        } else {
            None
        };
        self.end_of_statement()?;
        let (body, _) = self.block_until(&[&["NEXT"]], "FOR", pos)?;
        self.next_line(&var)?;
        Ok(StmtKind::For {
            var,
            from,
            to,
            step,
            body,
        })
    }

    fn for_each(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        self.skip(2);
        let var = self.name("a variable after FOR EACH")?;
        self.expect_word("IN")?;
        let items = self.expr()?;
        self.end_of_statement()?;
        let (body, _) = self.block_until(&[&["NEXT"]], "FOR EACH", pos)?;
        self.next_line(&var)?;
        Ok(StmtKind::ForEach { var, items, body })
    }

    fn loop_test(&mut self) -> Result<Option<LoopTest>, ParseError> {
        if self.at_words(&["WHILE"]) {
            self.next_token();
            return Ok(Some(LoopTest::While(self.expr()?)));
        }
        if self.at_words(&["UNTIL"]) {
            self.next_token();
            return Ok(Some(LoopTest::Until(self.expr()?)));
        }
        Ok(None)
    }

    fn do_loop(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        self.next_token();
        let head = self.loop_test()?;
        self.end_of_statement()?;
        let (body, _) = self.block_until(&[&["LOOP"]], "DO", pos)?;
        self.skip(1);
        let tail = self.loop_test()?;
        match (head, tail) {
            (Some(_), Some(_)) => Err(ParseError {
                pos,
                message: "a DO loop tests at its start or its end, not both".into(),
            }),
            (Some(t), None) => Ok(StmtKind::DoLoop {
                test: Some(t),
                test_at_end: false,
                body,
            }),
            (None, t) => Ok(StmtKind::DoLoop {
                test_at_end: t.is_some(),
                test: t,
                body,
            }),
        }
    }

    fn with(&mut self, pos: Pos) -> Result<StmtKind, ParseError> {
        self.next_token();
        let target = self.name("an object variable after WITH")?;
        self.end_of_statement()?;
        let mut fields = Vec::new();
        loop {
            if self.at_words(&["END", "WITH"]) {
                self.skip(2);
                return Ok(StmtKind::With { target, fields });
            }
            if self.p.peek().is_none() {
                return Err(ParseError {
                    pos,
                    message: "WITH is not closed: expected END WITH".into(),
                });
            }
            // `.field = e` and `field = e` are both accepted.
            if self.p.peek().is_some_and(|t| t.is_op(".")) {
                self.next_token();
            }
            let field = self.name("a field name")?;
            if !self.p.peek().is_some_and(|t| t.is_op("=")) {
                return self.p.expected("`=` after the field name");
            }
            self.next_token();
            fields.push((field, self.expr()?));
            self.end_of_statement()?;
        }
    }

    fn procedure(&mut self, pos: Pos, is_function: bool) -> Result<StmtKind, ParseError> {
        self.next_token();
        let name = self.name("a name")?;
        let mut params = Vec::new();
        if self.p.peek().is_some_and(|t| t.is_op("(")) {
            self.next_token();
            while !self.p.peek().is_some_and(|t| t.is_op(")")) {
                params.push(self.name("a parameter name")?);
                // `AS type` on a parameter is accepted and ignored.
                if self.at_words(&["AS"]) {
                    self.skip(2);
                }
                if self.p.peek().is_some_and(|t| t.is_op(",")) {
                    self.next_token();
                } else if !self.p.peek().is_some_and(|t| t.is_op(")")) {
                    return self.p.expected("`,` or `)`");
                }
            }
            self.next_token();
        }
        self.end_of_statement()?;
        let (end, opener) = if is_function {
            (["END", "FUNCTION"], "FUNCTION")
        } else {
            (["END", "SUB"], "SUB")
        };
        let (body, _) = self.block_until(&[&end], opener, pos)?;
        self.skip(2);
        Ok(StmtKind::Procedure {
            name,
            params,
            body,
            is_function,
        })
    }

    fn call(&mut self) -> Result<StmtKind, ParseError> {
        self.next_token();
        if matches!(self.p.peek().map(|t| &t.tok), Some(Tok::Str(_))) {
            let script = self.expr()?;
            let mut args = Vec::new();
            while self.p.peek().is_some_and(|t| t.is_op(",")) {
                self.next_token();
                args.push(self.expr()?);
            }
            return Ok(StmtKind::CallScript { script, args });
        }
        let name = self.name("a procedure name or a script after CALL")?;
        let mut args = Vec::new();
        if self.p.peek().is_some_and(|t| t.is_op("(")) {
            self.next_token();
            while !self.p.peek().is_some_and(|t| t.is_op(")")) {
                args.push(self.expr()?);
                if self.p.peek().is_some_and(|t| t.is_op(",")) {
                    self.next_token();
                } else if !self.p.peek().is_some_and(|t| t.is_op(")")) {
                    return self.p.expected("`,` or `)`");
                }
            }
            self.next_token();
        }
        Ok(StmtKind::Call { name, args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Vec<Stmt> {
        parse_script(src).unwrap_or_else(|e| panic!("{e}\nin:\n{src}"))
    }

    fn kinds(src: &str) -> Vec<String> {
        parse(src)
            .iter()
            .map(|s| match &s.kind {
                StmtKind::Keyword(k) => format!("kw {}", k.keyword.phrase),
                StmtKind::Block { call, lines } => {
                    format!("block {} ({} lines)", call.keyword.phrase, lines.len())
                }
                StmtKind::Assign {
                    value: Value::Keyword(k),
                    ..
                } => format!("assign from {}", k.keyword.phrase),
                StmtKind::Assign { .. } => "assign".into(),
                other => format!("{other:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect()
    }

    #[test]
    fn assignments_in_every_form() {
        assert_eq!(
            kinds("x = 1\nLET y = 2\nSET z = 3\norder.total = 5\nitems[0] = 1"),
            vec!["assign"; 5]
        );
        let s =
            parse("rows = FIND \"orders\", \"total > 3\"\nv = GET BOT MEMORY(\"k\")\nlist = [1]\nn = LEN(x)");
        assert!(
            matches!(&s[0].kind, StmtKind::Assign { value: Value::Keyword(k), .. } if k.keyword.phrase == "FIND")
        );
        assert!(
            matches!(&s[1].kind, StmtKind::Assign { value: Value::Keyword(k), .. } if k.keyword.phrase == "GET BOT MEMORY")
        );
        assert!(
            matches!(
                &s[2].kind,
                StmtKind::Assign {
                    value: Value::Expr(_),
                    ..
                }
            ),
            "a variable named like a keyword"
        );
        assert!(matches!(
            &s[3].kind,
            StmtKind::Assign {
                value: Value::Expr(_),
                ..
            }
        ));
    }

    #[test]
    fn if_in_block_and_one_line_forms() {
        let s = parse(
            "IF a THEN\n  x = 1\nELSEIF b THEN\n  x = 2\nELSE IF c THEN\n  x = 3\nELSE\n  x = 4\nEND IF",
        );
        let StmtKind::If { branches, otherwise } = &s[0].kind else {
            panic!()
        };
        assert_eq!((branches.len(), otherwise.len()), (3, 1));
        let s = parse("IF a THEN TALK \"yes\" ELSE TALK \"no\"");
        let StmtKind::If { branches, otherwise } = &s[0].kind else {
            panic!()
        };
        assert_eq!((branches[0].1.len(), otherwise.len()), (1, 1));
    }

    #[test]
    fn loops_of_every_kind() {
        let src = "FOR i = 1 TO 10 STEP 2\n x = i\nNEXT i\nFOR EACH r IN rows\n TALK r.name\nNEXT\n\
                   WHILE a < 3\n a = a + 1\nWEND\nDO WHILE a > 0\n a = a - 1\nLOOP\nDO UNTIL done\nLOOP\n\
                   DO\n EXIT DO\nLOOP UNTIL a = 3\n";
        assert_eq!(
            kinds(src),
            vec!["For", "ForEach", "While", "DoLoop", "DoLoop", "DoLoop"]
        );
        let s = parse("DO\nLOOP WHILE x");
        assert!(matches!(
            s[0].kind,
            StmtKind::DoLoop {
                test_at_end: true,
                ..
            }
        ));
    }

    #[test]
    fn select_case_and_switch() {
        let s =
            parse("SELECT CASE answer\n  CASE \"a\", \"b\"\n    x = 1\n  CASE ELSE\n    x = 2\nEND SELECT");
        let StmtKind::Select { cases, otherwise, .. } = &s[0].kind else {
            panic!()
        };
        assert_eq!((cases.len(), cases[0].0.len(), otherwise.len()), (1, 2, 1));
        let s = parse("SWITCH n\nCASE 1\n x = 1\nDEFAULT\n x = 0\nEND SWITCH");
        assert!(
            matches!(&s[0].kind, StmtKind::Select { cases, otherwise, .. } if cases.len() == 1 && otherwise.len() == 1)
        );
    }

    #[test]
    fn procedures_calls_and_the_rest() {
        let src = "SUB greet(name)\n TALK name\nEND SUB\nFUNCTION twice(n AS NUMBER)\n RETURN n * 2\nEND FUNCTION\n\
                   CALL greet(\"a\")\nCALL \"other.bas\", 1, 2\nON ERROR RESUME NEXT\nON ERROR GOTO 0\nTHROW \"bad\"\n\
                   WAIT 5\nPRINT x\nRETURN\nWITH person\n name = \"a\"\n .age = 3\nEND WITH";
        assert_eq!(
            kinds(src),
            vec![
                "Procedure",
                "Procedure",
                "Call",
                "CallScript",
                "OnError",
                "OnError",
                "Throw",
                "Wait",
                "Print",
                "Return",
                "With"
            ]
        );
    }

    #[test]
    fn keywords_take_their_longest_phrase_and_raw_blocks_keep_text() {
        let src = "TALK \"hi\"\nHEAR age AS INTEGER WITH \"How old?\" DEFAULT 18\nSET BOT MEMORY \"k\", 1\n\
                   DELETE FILE \"a.txt\"\nBEGIN TALK\nIt's ${name}'s turn: don't panic!\nEND TALK\n\
                   TABLE customers\n  id integer key\n  name string(100)\nEND TABLE\nWAIT FOR EVENT \"paid\"";
        assert_eq!(
            kinds(src),
            vec![
                "kw TALK",
                "kw HEAR",
                "kw SET BOT MEMORY",
                "kw DELETE FILE",
                "block BEGIN TALK (1 lines)",
                "block TABLE (2 lines)",
                "kw WAIT FOR EVENT"
            ]
        );
        let s = parse(src);
        let StmtKind::Keyword(hear) = &s[1].kind else {
            panic!()
        };
        let words: Vec<_> = hear
            .args
            .iter()
            .filter_map(|a| {
                if let Arg::Word(w) = a {
                    Some(w.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(words, vec!["AS", "WITH", "DEFAULT"]);
        let StmtKind::Block { lines, .. } = &s[4].kind else {
            panic!()
        };
        assert_eq!(
            lines[0],
            (
                "It's ${name}'s turn: don't panic!".to_string(),
                Pos { line: 6, col: 1 }
            )
        );
        // Lines after a raw block keep their numbers.
        assert_eq!(s[6].pos.line, 12);
    }

    #[test]
    fn unknown_keywords_and_unclosed_blocks_are_located_errors() {
        let e = parse_script("TALK \"a\"\n\nPUBLISH x").unwrap_err();
        assert_eq!((e.pos.line, e.message.as_str()), (3, "unknown keyword PUBLISH"));
        let e = parse_script("IF a THEN\n x = 1\n").unwrap_err();
        assert_eq!(
            (e.pos.line, e.message.as_str()),
            (
                1,
                "IF is not closed: expected ELSEIF or ELSE IF or ELSE or END IF"
            )
        );
        let e = parse_script("FOR i = 1 TO 3\nNEXT j").unwrap_err();
        assert!(e.message.contains("expected NEXT i"), "{e}");
        let e = parse_script("BEGIN TALK\nhello").unwrap_err();
        assert!(e.message.contains("expected END TALK"), "{e}");
        let e = parse_script("x = ").unwrap_err();
        assert!(e.message.starts_with("expected an expression"), "{e}");
        let e = parse_script("TALK \"a\" \"b\"").unwrap_err();
        assert!(e.pos.line == 1, "{e}");
        let e = parse_script("SELECT CASE x\n y = 1\nEND SELECT").unwrap_err();
        assert!(e.message.contains("expected CASE"), "{e}");
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = "IF a THEN\n".repeat(5000) + "END IF\n".repeat(5000).as_str();
        assert!(parse_script(&deep).unwrap_err().message.contains("nest deeper"));
    }

    #[test]
    fn keywords_and_names_ignore_case() {
        assert_eq!(
            kinds("talk \"a\"\nIf X Then\nEnd If\nset bot memory \"k\", 1"),
            vec!["kw TALK", "If", "kw SET BOT MEMORY"]
        );
    }
}
