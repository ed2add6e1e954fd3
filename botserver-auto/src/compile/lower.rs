//! Keyword statements to runtime calls: each keyword's arguments are checked here (at
//! compile time, with the line) and put in the fixed order its runtime handler expects.
//! Declarations (`PARAM`, `DESCRIPTION`, `SET SCHEDULE`, `ON …`, `WEBHOOK`, `TABLE`) emit
//! no code: they are collected for the tool schema, the scheduler and the table store.

use super::{Gen, GenResult, Hook, TableBlock, rhai_str};
use crate::ast::{Arg, Expr, ExprKind, KeywordCall, StrSeg};
use crate::lexer::Pos;

/// A keyword's arguments grouped by their connecting words: `HEAR x AS INTEGER WITH "p"`
/// is head `[x]`, then `AS [INTEGER]`, `WITH ["p"]`.
struct Slots<'a> {
    head: Vec<&'a Expr>,
    words: Vec<(String, Vec<&'a Expr>)>,
}

impl<'a> Slots<'a> {
    fn of(args: &'a [Arg]) -> Self {
        let mut s = Slots {
            head: Vec::new(),
            words: Vec::new(),
        };
        for a in args {
            match a {
                Arg::Expr(e) => match s.words.last_mut() {
                    Some((_, group)) => group.push(e),
                    None => s.head.push(e),
                },
                Arg::Word(w) => s.words.push((w.clone(), Vec::new())),
                Arg::Comma => {}
            }
        }
        s
    }

    fn word(&self, w: &str) -> Option<&Vec<&'a Expr>> {
        self.words.iter().find(|(x, _)| x == w).map(|(_, g)| g)
    }

    fn has(&self, w: &str) -> bool {
        self.word(w).is_some()
    }

    /// Every expression in order, connecting words dropped.
    fn all(&self) -> Vec<&'a Expr> {
        let mut v = self.head.clone();
        for (_, g) in &self.words {
            v.extend(g.iter().copied());
        }
        v
    }
}

/// The HEAR types (spec §4).
pub const HEAR_TYPES: [&str; 13] = [
    "TEXT", "STRING", "INTEGER", "NUMBER", "MONEY", "BOOLEAN", "DATE", "EMAIL", "PHONE", "NAME", "URL",
    "UUID", "ANY",
];

fn fail<T>(pos: Pos, m: impl Into<String>) -> GenResult<T> {
    Err((pos, m.into()))
}

fn list(g: &mut Gen, exprs: &[&Expr]) -> GenResult<String> {
    let v = exprs.iter().map(|e| g.expr(e)).collect::<GenResult<Vec<_>>>()?;
    Ok(format!("[{}]", v.join(", ")))
}

fn arg_count(call: &KeywordCall, got: usize, min: usize, max: usize) -> GenResult<()> {
    if got < min || got > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return fail(
            call.pos,
            format!("{} takes {want} argument(s), {got} given", call.keyword.phrase),
        );
    }
    Ok(())
}

/// A filter argument: a string literal's `${}` parts stay values (bound, never spliced into
/// the filter text); any other expression is filter text computed at run time.
pub(super) fn filter(g: &mut Gen, e: &Expr) -> GenResult<String> {
    // The filter's text comes only from string literals; everything else (`${}` parts, and
    // the operands of `&` / `+` joining the filter) is a value, bound, never filter syntax:
    // `FIND "t", "cpf = " & cpf` cannot be turned into `cpf = x OR 1 = 1`.
    enum Piece {
        Text(String),
        Value(String),
    }
    fn collect(g: &mut Gen, e: &Expr, out: &mut Vec<Piece>) -> GenResult<()> {
        match &e.kind {
            ExprKind::Str(segs) => {
                for s in segs {
                    match s {
                        StrSeg::Text(t) => out.push(Piece::Text(t.clone())),
                        StrSeg::Expr(x) => out.push(Piece::Value(g.expr(x)?)),
                    }
                }
            }
            ExprKind::Binary(crate::ast::BinOp::Concat | crate::ast::BinOp::Add, a, b) => {
                collect(g, a, out)?;
                collect(g, b, out)?;
            }
            _ => out.push(Piece::Value(g.expr(e)?)),
        }
        Ok(())
    }
    let mut pieces = Vec::new();
    collect(g, e, &mut pieces)?;
    // A filter held whole in a variable (`FIND "t", f`) is filter text the script built.
    if let [Piece::Value(v)] = pieces.as_slice()
        && !matches!(e.kind, ExprKind::Str(_))
    {
        return Ok(format!("[__str({v})]"));
    }
    // Alternate text (even positions) and values (odd positions), starting and ending
    // with text.
    let mut parts: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut literal_only = true;
    for p in pieces {
        match p {
            Piece::Text(t) => text.push_str(&t),
            Piece::Value(v) => {
                literal_only = false;
                parts.push(rhai_str(&std::mem::take(&mut text)));
                parts.push(v);
            }
        }
    }
    if literal_only && let Err(m) = crate::runtime::filters::check(&text) {
        return fail(e.pos, format!("bad filter: {m}"));
    }
    parts.push(rhai_str(&text));
    Ok(format!("[{}]", parts.join(", ")))
}

fn literal(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(segs) => segs
            .iter()
            .map(|s| match s {
                StrSeg::Text(t) => Some(t.as_str()),
                StrSeg::Expr(_) => None,
            })
            .collect(),
        _ => None,
    }
}

/// The code of a keyword used as a statement; `None` for declarations.
pub(super) fn statement(g: &mut Gen, call: &KeywordCall) -> GenResult<Option<String>> {
    let phrase = call.keyword.phrase;
    let s = Slots::of(&call.args);
    let line = call.pos.line;
    match phrase {
        "PARAM" | "DESCRIPTION" => return Ok(None),
        "SET SCHEDULE" => {
            let cron = match s.head.as_slice() {
                [e] => literal(e),
                _ => None,
            };
            let Some(cron) = cron else {
                return fail(call.pos, "SET SCHEDULE takes one text: a cron expression");
            };
            let fields = cron.split_whitespace().count();
            if fields != 5 && fields != 6 {
                return fail(
                    call.pos,
                    format!(
                        "SET SCHEDULE \"{cron}\": a cron expression has 5 or 6 fields, this has {fields}"
                    ),
                );
            }
            g.hooks.push(Hook::Schedule { cron, line });
            return Ok(None);
        }
        "ON EMAIL" | "ON INSERT OF" | "ON UPDATE OF" | "ON DELETE OF" | "WEBHOOK" | "ON FORM SUBMIT"
        | "ON EVENT" => {
            let arg = match s.head.as_slice() {
                [e] => literal(e),
                _ => None,
            };
            let Some(arg) = arg else {
                return fail(call.pos, format!("{phrase} takes one text"));
            };
            let kind = match phrase {
                "ON EMAIL" => "email",
                "ON INSERT OF" => "insert",
                "ON UPDATE OF" => "update",
                "ON DELETE OF" => "delete",
                "WEBHOOK" => "webhook",
                "ON FORM SUBMIT" => "form",
                _ => "event",
            };
            g.hooks.push(Hook::Event {
                name: format!("{kind}:{arg}"),
                line,
            });
            return Ok(None);
        }
        "HEAR" => {
            let code = hear(g, call, &s)?;
            return Ok(Some(code));
        }
        _ => {}
    }
    let v = value(g, call)?;
    Ok(Some(format!("{v};")))
}

fn hear(g: &mut Gen, call: &KeywordCall, s: &Slots) -> GenResult<String> {
    let [target] = s.head.as_slice() else {
        return fail(
            call.pos,
            "HEAR needs one variable: HEAR name [AS type] [WITH \"prompt\"] [DEFAULT value]",
        );
    };
    if !matches!(
        target.kind,
        ExprKind::Var(_) | ExprKind::Member(..) | ExprKind::Index(..)
    ) {
        return fail(
            target.pos,
            "HEAR stores the answer in a variable: expected a variable name",
        );
    }
    let (mut ty, mut options) = ("\"TEXT\"".to_string(), "[]".to_string());
    if let Some(group) = s.word("AS") {
        match group.as_slice() {
            [] if s.has("TEXT") => ty = "\"TEXT\"".into(),
            [] => return fail(call.pos, "expected a type or menu options after AS"),
            [one] => match &one.kind {
                ExprKind::Var(name) if HEAR_TYPES.contains(&name.to_uppercase().as_str()) => {
                    ty = rhai_str(&name.to_uppercase());
                }
                ExprKind::Var(name) if !g.is_known_var(name) => {
                    return fail(
                        one.pos,
                        format!(
                            "unknown HEAR type {}: expected one of {}, menu options, or a list variable",
                            name.to_uppercase(),
                            HEAR_TYPES[..12].join(", ")
                        ),
                    );
                }
                ExprKind::Var(_) | ExprKind::Array(_) | ExprKind::Member(..) | ExprKind::Call(..) => {
                    ty = "\"MENU\"".into();
                    options = format!("__items({})", g.expr(one)?);
                }
                _ => {
                    ty = "\"MENU\"".into();
                    options = list(g, group)?;
                }
            },
            many => {
                ty = "\"MENU\"".into();
                options = list(g, many)?;
            }
        }
    }
    for (w, group) in &s.words {
        if !matches!(w.as_str(), "AS" | "WITH" | "DEFAULT" | "TEXT") {
            return fail(
                call.pos,
                format!("HEAR does not take {w}: expected AS, WITH or DEFAULT"),
            );
        }
        if matches!(w.as_str(), "WITH" | "DEFAULT") && group.len() != 1 {
            return fail(call.pos, format!("expected one value after {w}"));
        }
    }
    let prompt = match s.word("WITH") {
        Some(g2) => g.expr(g2[0])?,
        None => "()".into(),
    };
    let default = match s.word("DEFAULT") {
        Some(g2) => g.expr(g2[0])?,
        None => "()".into(),
    };
    let value = format!("__k(\"HEAR\", [{ty}, {options}, {prompt}, {default}])");
    g.assign(target, value)
}

/// The code of a keyword that yields a value (also used for statements).
pub(super) fn value(g: &mut Gen, call: &KeywordCall) -> GenResult<String> {
    let phrase = call.keyword.phrase;
    let s = Slots::of(&call.args);
    let k = |args: String| format!("__k({}, {args})", rhai_str(phrase));
    Ok(match phrase {
        "HEAR" => return fail(call.pos, "HEAR is a statement: write HEAR name, not name = HEAR"),
        "NEW OBJECT" => "#{}".into(),
        "NEW ARRAY" => "[]".into(),
        "ADD SUGGESTION" => {
            let (kind, key) = if let Some(t) = s.word("TOOL") {
                ("tool", t.first().copied())
            } else if let Some(t) = s.word("TEXT") {
                ("text", t.first().copied())
            } else {
                ("key", s.head.first().copied())
            };
            let Some(key) = key else {
                return fail(
                    call.pos,
                    "ADD SUGGESTION needs a key: ADD SUGGESTION \"key\" AS \"label\"",
                );
            };
            let key = g.expr(key)?;
            let label = match s.word("AS").and_then(|g2| g2.first()) {
                Some(l) => g.expr(l)?,
                None => key.clone(),
            };
            k(format!("[{}, {key}, {label}]", rhai_str(kind)))
        }
        "SET CONTEXT" => {
            let mut all = s.all();
            if all.len() == 1 {
                all.insert(0, all[0]);
                return fail(
                    call.pos,
                    "SET CONTEXT takes a name and a text: SET CONTEXT \"name\" AS \"text\"",
                );
            }
            arg_count(call, all.len(), 2, 2)?;
            k(list(g, &all)?)
        }
        "SAVE" => {
            let Some((table, rest)) = s.head.split_first() else {
                return fail(call.pos, "SAVE needs a table and a row: SAVE \"table\", row");
            };
            if rest.is_empty() {
                return fail(call.pos, "SAVE needs a row after the table name");
            }
            let names: Vec<String> = rest
                .iter()
                .map(|e| match &e.kind {
                    ExprKind::Var(v) => rhai_str(v),
                    _ => "\"\"".into(),
                })
                .collect();
            let t = g.expr(table)?;
            let vals = list(g, rest)?;
            k(format!("[{t}, [{}], {vals}]", names.join(", ")))
        }
        "FIND" | "FILTER" | "DELETE" | "UPDATE" => {
            let all = s.all();
            let (min, max) = match phrase {
                "FIND" => (1, 3),
                "FILTER" => (2, 2),
                "DELETE" => (1, 2),
                _ => (3, 3),
            };
            arg_count(call, all.len(), min, max)?;
            let mut parts = Vec::new();
            for (i, e) in all.iter().enumerate() {
                // The filter is the second argument (FIND t, filter; DELETE t, filter …).
                if i == 1 && !(phrase == "DELETE" && all.len() == 1) {
                    parts.push(filter(g, e)?);
                } else {
                    parts.push(g.expr(e)?);
                }
            }
            k(format!("[{}]", parts.join(", ")))
        }
        "SORT" => {
            let desc = s.has("DESC");
            let all = s.all();
            arg_count(call, all.len(), 1, 2)?;
            let mut v = list(g, &all)?;
            v.insert_str(v.len() - 1, if all.len() == 1 { ", (), " } else { ", " });
            v.insert_str(v.len() - 1, if desc { "true" } else { "false" });
            k(v)
        }
        "LLM" => {
            let [prompt] = s.head.as_slice() else {
                return fail(call.pos, "LLM takes one prompt: r = LLM \"prompt\"");
            };
            let mode = match s.word("FOR").and_then(|g2| g2.first()) {
                Some(m) => g.expr(m)?,
                None => "()".into(),
            };
            k(format!("[{}, {mode}]", g.expr(prompt)?))
        }
        "SET HEADER" => {
            let all = s.all();
            if let [one] = all.as_slice()
                && let ExprKind::Binary(crate::ast::BinOp::Eq, a, b) = &one.kind
            {
                let (a, b) = (g.expr(a)?, g.expr(b)?);
                return Ok(k(format!("[{a}, {b}]")));
            }
            arg_count(call, all.len(), 2, 2)?;
            k(list(g, &all)?)
        }
        _ => {
            let all = s.all();
            let (min, max) = arity(phrase);
            arg_count(call, all.len(), min, max)?;
            k(list(g, &all)?)
        }
    })
}

/// How many arguments the generic keywords take.
pub(super) fn arity(phrase: &str) -> (usize, usize) {
    match phrase {
        "CLEAR SUGGESTIONS" | "CLEAR TOOLS" | "CLEAR HEADERS" | "KB STATISTICS" | "KB DOCUMENTS COUNT" => {
            (0, 0)
        }
        "TRANSFER TO HUMAN" | "CLEAR KB" => (0, 1),
        "TALK" | "GET SESSION" | "ADD TOOL" | "USE TOOL" | "GET BOT MEMORY" | "GET USER MEMORY"
        | "RECALL" | "USE MODEL" | "USE KB" | "THINK KB" | "USE WEBSITE" | "READ" | "LIST"
        | "DELETE FILE" | "WEATHER" | "IMPORT" | "PRINT" => (1, 1),
        "GET" => (1, 1),
        "SET SESSION"
        | "SET BOT MEMORY"
        | "SET USER MEMORY"
        | "INSERT"
        | "WRITE"
        | "COPY"
        | "MOVE"
        | "UPLOAD"
        | "DOWNLOAD"
        | "TALK TO"
        | "ADD BOT"
        | "DELEGATE"
        | "SAVE FROM UNSTRUCTURED"
        | "EXPORT"
        | "SEND SMS"
        | "SEND MESSAGE"
        | "SEND TO"
        | "MAP"
        | "FILL"
        | "BOT SHARE MEMORY"
        | "MERGE PDF"
        | "COMPRESS"
        | "EXTRACT"
        | "GROUP BY" => (2, 2),
        "REMEMBER" => (2, 3),
        "POST" | "PUT" | "PATCH" => (1, 3),
        "SEARCH" => (2, 3),
        "SEND FILE" => (1, 2),
        "QR CODE" => (1, 2),
        "SEND MAIL" | "SEND EMAIL" => (3, 4),
        "CREATE DRAFT" | "MERGE" | "JOIN" | "AGGREGATE" | "PIVOT" | "GENERATE PDF" | "ADD MEMBER"
        | "GRAPHQL" | "SOAP" => (3, 3),
        "CREATE TASK" => (3, 4),
        "BOOK" => (4, 5),
        "SEND TEMPLATE" => (2, 3),
        "POST TO" => (2, 3),
        "PUBLISH EVENT" => (1, 2),
        "WAIT FOR EVENT" => (1, 2),
        _ => (0, usize::MAX),
    }
}

/// A raw-text block: `BEGIN TALK`, `BEGIN SYSTEM PROMPT`, `BEGIN MAIL`, `TABLE`.
pub(super) fn block(g: &mut Gen, call: &KeywordCall, lines: &[(String, Pos)]) -> GenResult<Option<String>> {
    let phrase = call.keyword.phrase;
    if phrase == "TABLE" {
        let name = match call.args.as_slice() {
            [Arg::Expr(e)] => match &e.kind {
                ExprKind::Var(v) => Some(v.clone()),
                _ => literal(e),
            },
            _ => None,
        };
        let Some(name) = name else {
            return fail(call.pos, "TABLE needs a name: TABLE Customers");
        };
        g.tables.push(TableBlock {
            name,
            lines: lines
                .iter()
                .filter(|(l, _)| !l.trim().is_empty())
                .map(|(l, p)| (l.trim().to_string(), p.line))
                .collect(),
        });
        return Ok(None);
    }
    // The block's common indentation is the script's, not the message's (authors indent
    // a BEGIN TALK inside IF and CASE; Markdown would read 4 spaces as code).
    let indent = lines
        .iter()
        .filter(|(l, _)| !l.trim().is_empty())
        .map(|(l, _)| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text_lines = lines
        .iter()
        .map(|(l, p)| (l.get(indent..).unwrap_or_else(|| l.trim_start()), *p))
        .collect::<Vec<_>>();
    let mut extra = Vec::new();
    if phrase == "BEGIN MAIL" {
        let [Arg::Expr(to)] = call.args.as_slice() else {
            return fail(call.pos, "BEGIN MAIL needs the recipient: BEGIN MAIL to");
        };
        let subject_at = text_lines
            .iter()
            .position(|(l, _)| l.trim_start().to_ascii_lowercase().starts_with("subject:"));
        let Some(i) = subject_at else {
            return fail(call.pos, "BEGIN MAIL needs a `Subject:` line");
        };
        let (subject_line, spos) = text_lines.remove(i);
        let subject = subject_line.trim_start()[8..].trim();
        extra.push(g.expr(to)?);
        extra.push(interpolate(g, subject, spos)?);
    } else if !call.args.is_empty() {
        return fail(call.pos, format!("{phrase} takes no arguments on its line"));
    }
    let mut parts = Vec::new();
    for (l, p) in &text_lines {
        parts.push(interpolate(g, l, *p)?);
    }
    let body = if parts.is_empty() {
        "\"\"".into()
    } else {
        format!("__lines([{}])", parts.join(", "))
    };
    extra.push(body);
    Ok(Some(format!(
        "__k({}, [{}]);",
        rhai_str(phrase),
        extra.join(", ")
    )))
}

/// A text line with `${}` interpolation (the expression may hold quoted text:
/// `Date: ${FORMAT(d, "DD/MM")}`).
fn interpolate(g: &mut Gen, text: &str, pos: Pos) -> GenResult<String> {
    if !text.contains("${") {
        return Ok(rhai_str(text));
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '$' && chars.get(i + 1).is_some_and(|(_, n)| *n == '{') {
            let start = i + 2;
            let (mut depth, mut quoted, mut j) = (1, false, start);
            while j < chars.len() {
                match chars[j].1 {
                    '"' => quoted = !quoted,
                    '{' if !quoted => depth += 1,
                    '}' if !quoted => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return fail(pos, "`${` is not closed: expected `}`");
            }
            let from = chars[start].0.min(text.len());
            let source = &text[from..chars[j].0];
            if !literal.is_empty() {
                parts.push(crate::lexer::StrPart::Text(std::mem::take(&mut literal)));
            }
            parts.push(crate::lexer::StrPart::Expr {
                source: source.to_string(),
                pos: Pos {
                    line: pos.line,
                    col: (at + 3) as u32,
                },
            });
            i = j + 1;
            continue;
        }
        literal.push(c);
        i += 1;
    }
    if !literal.is_empty() {
        parts.push(crate::lexer::StrPart::Text(literal));
    }
    let segs = crate::parser::string_segments(&parts).map_err(|e| (e.pos, e.message))?;
    g.string(&segs)
}

/// `FIND(...)`, `SUMMARIZE(...)` …: keywords and LLM helpers called like functions.
pub(super) fn function_keyword(name: &str, args: &[String]) -> Option<String> {
    let phrase = match name {
        "FIND" | "SEARCH" | "FILTER" | "AGGREGATE" | "LLM" | "READ" | "LIST" | "RECALL" | "IMPORT"
        | "WEATHER" | "GRAPHQL" | "SOAP" | "DELEGATE" => name,
        "SUMMARIZE" | "TRANSLATE" | "SENTIMENT" | "CLASSIFY" => name,
        "JOIN" if args.len() == 3 => "JOIN",
        "GROUP" => return None,
        _ => return None,
    };
    let mut args = args.to_vec();
    if phrase == "LLM" && args.len() == 1 {
        args.push("()".into());
    }
    Some(format!("__k({}, [{}])", rhai_str(phrase), args.join(", ")))
}
