//! The compiler: a parsed script becomes Rhai source, with a map from every generated line
//! back to its BASIC line, plus what the script declares (its tool, schedules, event hooks
//! and table definitions). The runtime compiles that source once per content hash.
//!
//! How BASIC maps onto Rhai: the script's variables live in one object map bound as `this`
//! (so SUBs and FUNCTIONs, which Rhai keeps apart from the caller's scope, still reach
//! them); names are lowercased and prefixed (`v_name`, `p_sub`) so no BASIC name collides
//! with a Rhai word; every operator goes through a runtime function with BASIC's
//! forgiving semantics; every keyword is one call to `__k("KEYWORD", [args])`, the single
//! door to the outside world, which is where the journal sits.

mod lower;

pub use lower::HEAR_TYPES;

use crate::ast::{BinOp, ExitKind, Expr, ExprKind, Stmt, StmtKind, StrSeg, UnOp, Value};
use crate::lexer::Pos;
use crate::runtime::builtins;
use crate::tools::{self, ToolSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A compile error, located in its script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// The script's file name (`start.bas`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

impl std::error::Error for CompileError {}

/// A declaration the scheduler or the event system acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `SET SCHEDULE "cron"`.
    Schedule {
        /// The cron expression (5 or 6 fields).
        cron: String,
        /// Its line.
        line: u32,
    },
    /// `ON EMAIL`, `ON INSERT OF`, `ON EVENT`, `ON FORM SUBMIT`, `WEBHOOK` …: the event name
    /// is `<kind>:<argument>` (`webhook:orders`, `insert:contacts`).
    Event {
        /// The event name.
        name: String,
        /// Its line.
        line: u32,
    },
}

/// A `TABLE` block: its name and its field lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableBlock {
    /// The table name as written.
    pub name: String,
    /// The field lines, with their line numbers.
    pub lines: Vec<(String, u32)>,
}

/// One script compiled to Rhai source.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The script's file name.
    pub file: String,
    /// Generated Rhai source.
    pub source: String,
    /// BASIC line of every generated line (index 0 is generated line 1).
    pub lines: Vec<u32>,
    /// The tool this script declares, if any.
    pub tool: Option<ToolSpec>,
    /// Schedules and event hooks.
    pub hooks: Vec<Hook>,
    /// Table definitions.
    pub tables: Vec<TableBlock>,
}

/// Longest IF/SELECT chain emitted as `else if`s.
const FLAT_CHAIN: usize = 32;

/// Variables every script has: `err`/`error_message` (set by ON ERROR RESUME NEXT).
const IMPLICIT_GLOBALS: [&str; 2] = ["err", "error_message"];

/// Compiles one script. `globals` are names bound before the script runs (tool parameters
/// and `param-*` config values), so SUBs see them as globals.
pub fn compile(file: &str, src: &str) -> Result<Compiled, CompileError> {
    let located = |pos: Pos, message: String| CompileError {
        file: file.to_string(),
        line: pos.line,
        col: pos.col,
        message,
    };
    let stmts = crate::parse_script(src).map_err(|e| located(e.pos, e.message))?;
    let stem = file.rsplit('/').next().unwrap_or(file);
    let stem = stem.strip_suffix(".bas").unwrap_or(stem);
    let tool = tools::tool_of(stem, &stmts).map_err(|e| located(e.pos, e.message))?;
    let mut g = Gen {
        out: Vec::new(),
        lines: Vec::new(),
        procs: BTreeMap::new(),
        globals: BTreeSet::new(),
        locals: None,
        loops: Vec::new(),
        temp: 0,
        on_error: false,
        in_function: None,
        hooks: Vec::new(),
        tables: Vec::new(),
    };
    for name in IMPLICIT_GLOBALS {
        g.globals.insert(name.to_string());
    }
    if let Some(t) = &tool {
        for p in &t.params {
            g.globals.insert(p.name.to_lowercase());
        }
    }
    collect_procs(&stmts, &mut g.procs).map_err(|(pos, m)| located(pos, m))?;
    collect_assigned(&stmts, &mut g.globals, false);
    mentioned(&stmts, &mut g.globals);
    g.main(&stmts, tool.as_ref())
        .map_err(|(pos, m)| located(pos, m))?;
    Ok(Compiled {
        file: file.to_string(),
        source: g.out.join("\n"),
        lines: g.lines,
        tool,
        hooks: g.hooks,
        tables: g.tables,
    })
}

type GenResult<T> = Result<T, (Pos, String)>;

/// A declared SUB or FUNCTION.
#[derive(Clone, Debug)]
struct ProcInfo {
    params: usize,
    is_function: bool,
}

fn collect_procs(stmts: &[Stmt], procs: &mut BTreeMap<String, ProcInfo>) -> GenResult<()> {
    for s in stmts {
        if let StmtKind::Procedure {
            name,
            params,
            is_function,
            ..
        } = &s.kind
        {
            if procs.contains_key(name) {
                return Err((s.pos, format!("{} is declared twice", name.to_uppercase())));
            }
            if builtins::arity(&name.to_uppercase()).is_some() && *is_function {
                // A script's own FUNCTION wins over the library's; allowed, nothing to do.
            }
            procs.insert(
                name.clone(),
                ProcInfo {
                    params: params.len(),
                    is_function: *is_function,
                },
            );
        }
    }
    Ok(())
}

/// Names assigned by `stmts` (not descending into procedures unless `into_procs`).
fn collect_assigned(stmts: &[Stmt], out: &mut BTreeSet<String>, into_procs: bool) {
    for s in stmts {
        match &s.kind {
            StmtKind::Assign { target, .. } => {
                if let Some(root) = root_var(target) {
                    out.insert(root.to_string());
                }
            }
            StmtKind::Keyword(call) if call.keyword.phrase == "HEAR" => {
                if let Some(crate::ast::Arg::Expr(e)) = call.args.first()
                    && let Some(root) = root_var(e)
                {
                    out.insert(root.to_string());
                }
            }
            StmtKind::For { var, body, .. } | StmtKind::ForEach { var, body, .. } => {
                out.insert(var.clone());
                collect_assigned(body, out, into_procs);
            }
            StmtKind::With { target, .. } => {
                out.insert(target.clone());
            }
            StmtKind::If { branches, otherwise } => {
                for (_, b) in branches {
                    collect_assigned(b, out, into_procs);
                }
                collect_assigned(otherwise, out, into_procs);
            }
            StmtKind::Select { cases, otherwise, .. } => {
                for (_, b) in cases {
                    collect_assigned(b, out, into_procs);
                }
                collect_assigned(otherwise, out, into_procs);
            }
            StmtKind::While { body, .. } | StmtKind::DoLoop { body, .. } => {
                collect_assigned(body, out, into_procs)
            }
            StmtKind::Procedure { body, .. } if into_procs => collect_assigned(body, out, into_procs),
            _ => {}
        }
    }
}

/// Every variable read or written by top-level statements (not inside procedures): a
/// name the script's main body mentions is the script's, even when a SUB assigns it.
fn mentioned(stmts: &[Stmt], out: &mut BTreeSet<String>) {
    fn expr(e: &Expr, out: &mut BTreeSet<String>) {
        match &e.kind {
            ExprKind::Var(v) => {
                out.insert(v.clone());
            }
            ExprKind::Str(segs) => {
                for s in segs {
                    if let StrSeg::Expr(x) = s {
                        expr(x, out);
                    }
                }
            }
            ExprKind::Array(items) | ExprKind::Call(_, items) => items.iter().for_each(|x| expr(x, out)),
            ExprKind::Object(fields) => fields.iter().for_each(|(_, x)| expr(x, out)),
            ExprKind::Unary(_, x) | ExprKind::Member(x, _) => expr(x, out),
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
                expr(a, out);
                expr(b, out);
            }
            ExprKind::In { value, list, .. } => {
                expr(value, out);
                expr(list, out);
            }
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Null => {}
        }
    }
    fn args(a: &[crate::ast::Arg], out: &mut BTreeSet<String>) {
        for x in a {
            if let crate::ast::Arg::Expr(e) = x {
                expr(e, out);
            }
        }
    }
    for s in stmts {
        match &s.kind {
            StmtKind::Assign { target, value } => {
                expr(target, out);
                match value {
                    Value::Expr(e) => expr(e, out),
                    Value::Keyword(k) => args(&k.args, out),
                }
            }
            StmtKind::If { branches, otherwise } => {
                for (c, b) in branches {
                    expr(c, out);
                    mentioned(b, out);
                }
                mentioned(otherwise, out);
            }
            StmtKind::Select {
                subject,
                cases,
                otherwise,
            } => {
                expr(subject, out);
                for (vals, b) in cases {
                    vals.iter().for_each(|v| expr(v, out));
                    mentioned(b, out);
                }
                mentioned(otherwise, out);
            }
            StmtKind::For {
                from, to, step, body, ..
            } => {
                expr(from, out);
                expr(to, out);
                if let Some(st) = step {
                    expr(st, out);
                }
                mentioned(body, out);
            }
            StmtKind::ForEach { items, body, .. } => {
                expr(items, out);
                mentioned(body, out);
            }
            StmtKind::While { cond, body } => {
                expr(cond, out);
                mentioned(body, out);
            }
            StmtKind::DoLoop { test, body, .. } => {
                if let Some(crate::ast::LoopTest::While(c) | crate::ast::LoopTest::Until(c)) = test {
                    expr(c, out);
                }
                mentioned(body, out);
            }
            StmtKind::With { fields, .. } => fields.iter().for_each(|(_, e)| expr(e, out)),
            StmtKind::Call { args: a, .. } | StmtKind::CallScript { args: a, .. } => {
                a.iter().for_each(|e| expr(e, out))
            }
            StmtKind::Return(Some(e)) | StmtKind::Throw(e) | StmtKind::Wait(e) | StmtKind::Print(e) => {
                expr(e, out)
            }
            // A HEAR's AS word is a type or a menu, not a mention of the variable.
            StmtKind::Keyword(k) if k.keyword.phrase == "HEAR" => {
                let mut after_as = false;
                for a in &k.args {
                    match a {
                        crate::ast::Arg::Word(w) => after_as = w == "AS",
                        crate::ast::Arg::Expr(e) if !after_as => expr(e, out),
                        _ => {}
                    }
                }
            }
            StmtKind::Keyword(k) | StmtKind::Block { call: k, .. } => args(&k.args, out),
            _ => {}
        }
    }
}

fn root_var(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Var(v) => Some(v),
        ExprKind::Member(inner, _) | ExprKind::Index(inner, _) => root_var(inner),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoopKind {
    For,
    Do,
    While,
}

struct LoopFrame {
    kind: LoopKind,
    id: usize,
    /// Outer loops an EXIT inside this one leaves (each needs a check after this loop).
    crossing: BTreeSet<usize>,
}

struct Gen {
    out: Vec<String>,
    lines: Vec<u32>,
    procs: BTreeMap<String, ProcInfo>,
    globals: BTreeSet<String>,
    /// Inside a procedure: its local names.
    locals: Option<BTreeSet<String>>,
    loops: Vec<LoopFrame>,
    temp: usize,
    on_error: bool,
    /// Inside a procedure: `Some(is_function)`.
    in_function: Option<bool>,
    hooks: Vec<Hook>,
    tables: Vec<TableBlock>,
}

/// The Rhai name of a BASIC variable (`v_` + the lowercased name, any character outside
/// ASCII letters, digits and `_` written as `_XHEX_`), so every BASIC name is a valid Rhai
/// identifier that cannot clash with a Rhai word. Also the key of the variable in the
/// script's variable map.
pub fn var_key(name: &str) -> String {
    mangle("v_", name)
}

fn mangle(prefix: &str, name: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + name.len());
    out.push_str(prefix);
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            // Names are lowercased, so an uppercase escape can never clash with one.
            out.push_str(&format!("_X{:X}_", c as u32));
        }
    }
    out
}

/// Escapes text as a Rhai string literal.
pub(crate) fn rhai_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn num_literal(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else if n.is_finite() && n.abs() < 1e15 && n.abs() > 1e-6 {
        format!("{n:?}")
    } else {
        format!("__num({})", rhai_str(&n.to_string()))
    }
}

impl Gen {
    fn emit(&mut self, line: u32, code: impl Into<String>) {
        self.out.push(code.into());
        self.lines.push(line);
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.temp += 1;
        format!("__{prefix}{}", self.temp)
    }

    fn main(&mut self, stmts: &[Stmt], tool: Option<&ToolSpec>) -> GenResult<()> {
        self.emit(0, "fn __main() {");
        // A tool started as a dialog (a suggestion button) asks for what it was not given.
        for p in tool.map(|t| t.params.as_slice()).unwrap_or_default() {
            if p.optional {
                continue;
            }
            use crate::tools::ParamType as T;
            let (ty, options) = if p.choices.is_empty() {
                let ty = match p.ty {
                    T::Integer => "INTEGER",
                    T::Number => "NUMBER",
                    T::Boolean => "BOOLEAN",
                    T::Date => "DATE",
                    T::Email => "EMAIL",
                    T::Phone => "PHONE",
                    T::String | T::Array | T::Object => "TEXT",
                };
                (ty, "[]".to_string())
            } else {
                let opts: Vec<String> = p.choices.iter().map(|c| rhai_str(c)).collect();
                ("MENU", format!("[{}]", opts.join(", ")))
            };
            let mut prompt = p.description.clone().unwrap_or_else(|| format!("{}?", p.name));
            if let Some(ex) = &p.example {
                prompt.push_str(&format!(" (e.g. {ex})"));
            }
            let v = format!("this.{}", var_key(&p.name));
            self.emit(
                0,
                format!(
                    "if __isempty({v}) {{ {v} = __k(\"HEAR\", [\"{ty}\", {options}, {}, ()]); }}",
                    rhai_str(&prompt)
                ),
            );
        }
        self.block(stmts)?;
        self.emit(0, "}");
        for s in stmts {
            if let StmtKind::Procedure {
                name,
                params,
                body,
                is_function,
            } = &s.kind
            {
                self.procedure(s.pos, name, params, body, *is_function)?;
            }
        }
        Ok(())
    }

    fn procedure(
        &mut self,
        pos: Pos,
        name: &str,
        params: &[String],
        body: &[Stmt],
        is_function: bool,
    ) -> GenResult<()> {
        let mut assigned = BTreeSet::new();
        collect_assigned(body, &mut assigned, false);
        let mut locals: BTreeSet<String> = params.iter().cloned().collect();
        for a in assigned {
            if !self.globals.contains(&a) {
                locals.insert(a);
            }
        }
        let args: Vec<String> = params.iter().map(|p| var_key(p)).collect();
        self.emit(
            pos.line,
            format!("fn {}({}) {{", mangle("p_", name), args.join(", ")),
        );
        for l in locals.iter().filter(|l| !params.contains(l)) {
            self.emit(pos.line, format!("let {} = ();", var_key(l)));
        }
        let saved = (self.locals.replace(locals), self.on_error, self.in_function);
        self.on_error = false;
        self.in_function = Some(is_function);
        self.block(body)?;
        self.locals = saved.0;
        self.on_error = saved.1;
        self.in_function = saved.2;
        self.emit(pos.line, "}");
        Ok(())
    }

    /// Whether `name` is a variable the script assigns or mentions (or a parameter).
    pub(crate) fn is_known_var(&self, name: &str) -> bool {
        self.globals.contains(name) || self.locals.as_ref().is_some_and(|l| l.contains(name))
    }

    fn var(&self, name: &str) -> String {
        match &self.locals {
            Some(l) if l.contains(name) => var_key(name),
            _ => format!("this.{}", var_key(name)),
        }
    }

    fn block(&mut self, stmts: &[Stmt]) -> GenResult<()> {
        let saved = self.on_error;
        for s in stmts {
            self.stmt(s)?;
        }
        self.on_error = saved;
        Ok(())
    }

    /// Emits a simple statement, wrapped for ON ERROR RESUME NEXT when it is active.
    fn simple(&mut self, line: u32, code: String) {
        if self.on_error {
            let err = self.var("err");
            let msg = self.var("error_message");
            self.emit(
                line,
                format!("try {{ {code} }} catch (__e) {{ {err} = 1; {msg} = __errmsg(__e); }}"),
            );
        } else {
            self.emit(line, code);
        }
    }

    fn stmt(&mut self, s: &Stmt) -> GenResult<()> {
        let line = s.pos.line;
        match &s.kind {
            StmtKind::Assign { target, value } => {
                let v = match value {
                    Value::Expr(e) => self.expr(e)?,
                    Value::Keyword(call) => lower::value(self, call)?,
                };
                let code = self.assign(target, v)?;
                self.simple(line, code);
            }
            StmtKind::If { branches, otherwise } => {
                let mut arms = Vec::with_capacity(branches.len());
                for (cond, body) in branches {
                    arms.push((
                        cond.pos.line,
                        format!("__truthy({})", self.expr(cond)?),
                        body.as_slice(),
                    ));
                }
                self.chain(line, arms, otherwise)?;
            }
            StmtKind::Select {
                subject,
                cases,
                otherwise,
            } => {
                let t = self.fresh("c");
                let subj = self.expr(subject)?;
                self.emit(line, format!("let {t} = {subj};"));
                let mut arms = Vec::with_capacity(cases.len());
                for (values, body) in cases {
                    let vals = values
                        .iter()
                        .map(|v| self.expr(v))
                        .collect::<GenResult<Vec<_>>>()?;
                    let l = values.first().map_or(line, |v| v.pos.line);
                    arms.push((l, format!("__case({t}, [{}])", vals.join(", ")), body.as_slice()));
                }
                self.chain(line, arms, otherwise)?;
            }
            StmtKind::For {
                var,
                from,
                to,
                step,
                body,
            } => {
                let v = self.var(var);
                let (f, t) = (self.expr(from)?, self.expr(to)?);
                let st = match step {
                    Some(e) => self.expr(e)?,
                    None => "1".into(),
                };
                let (tt, ts) = (self.fresh("to"), self.fresh("st"));
                let id = self.open_loop(line, LoopKind::For);
                self.emit(
                    line,
                    format!("{v} = __num_of({f}); let {tt} = __num_of({t}); let {ts} = __num_of({st});"),
                );
                self.emit(line, format!("while __for_ok({v}, {tt}, {ts}) {{"));
                self.block(body)?;
                self.emit(line, format!("{v} = __add({v}, {ts});"));
                self.close_loop(line, id);
            }
            StmtKind::ForEach { var, items, body } => {
                let v = self.var(var);
                let list = self.expr(items)?;
                let it = self.fresh("it");
                let id = self.open_loop(line, LoopKind::For);
                self.emit(line, format!("for {it} in __items({list}) {{ {v} = {it};"));
                self.block(body)?;
                self.close_loop(line, id);
            }
            StmtKind::While { cond, body } => {
                let c = self.expr(cond)?;
                let id = self.open_loop(line, LoopKind::While);
                self.emit(line, format!("while __truthy({c}) {{"));
                self.block(body)?;
                self.close_loop(line, id);
            }
            StmtKind::DoLoop {
                test,
                test_at_end,
                body,
            } => {
                let id = self.open_loop(line, LoopKind::Do);
                let cond = |g: &mut Gen, t: &crate::ast::LoopTest| -> GenResult<String> {
                    Ok(match t {
                        crate::ast::LoopTest::While(c) => format!("!__truthy({})", g.expr(c)?),
                        crate::ast::LoopTest::Until(c) => format!("__truthy({})", g.expr(c)?),
                    })
                };
                self.emit(line, "loop {");
                if let (Some(t), false) = (test, test_at_end) {
                    let c = cond(self, t)?;
                    self.emit(line, format!("if {c} {{ break; }}"));
                }
                self.block(body)?;
                if let (Some(t), true) = (test, test_at_end) {
                    let c = cond(self, t)?;
                    self.emit(line, format!("if {c} {{ break; }}"));
                }
                self.close_loop(line, id);
            }
            StmtKind::Exit(kind) => self.exit(s.pos, *kind)?,
            StmtKind::With { target, fields } => {
                let v = self.var(target);
                self.simple(line, format!("{v} = __obj({v});"));
                for (name, e) in fields {
                    let val = self.expr(e)?;
                    self.simple(
                        e.pos.line,
                        format!("{v} = __set({v}, {}, {val});", rhai_str(name)),
                    );
                }
            }
            StmtKind::Procedure { .. } => {} // emitted after __main
            StmtKind::Call { name, args } => {
                let code = self.call_proc(s.pos, name, args)?;
                self.simple(line, format!("{code};"));
            }
            StmtKind::CallScript { script, args } => {
                let sc = self.expr(script)?;
                let a = args.iter().map(|e| self.expr(e)).collect::<GenResult<Vec<_>>>()?;
                self.simple(line, format!("__k(\"CALL\", [{sc}, [{}]]);", a.join(", ")));
            }
            StmtKind::Return(e) => {
                let v = match e {
                    Some(e) => self.expr(e)?,
                    None => "()".into(),
                };
                self.emit(line, format!("return {v};"));
            }
            StmtKind::OnError(on) => {
                self.on_error = *on;
                if *on {
                    let (err, msg) = (self.var("err"), self.var("error_message"));
                    self.emit(line, format!("{err} = 0; {msg} = \"\";"));
                }
            }
            StmtKind::Throw(e) => {
                let v = self.expr(e)?;
                self.simple(line, format!("throw __str({v});"));
            }
            StmtKind::Wait(e) => {
                let v = self.expr(e)?;
                self.simple(line, format!("__k(\"WAIT\", [{v}]);"));
            }
            StmtKind::Print(e) => {
                let v = self.expr(e)?;
                self.simple(line, format!("__k(\"PRINT\", [{v}]);"));
            }
            StmtKind::Keyword(call) => {
                if let Some(code) = lower::statement(self, call)? {
                    self.simple(line, code);
                }
            }
            StmtKind::Block { call, lines } => {
                if let Some(code) = lower::block(self, call, lines)? {
                    self.simple(line, code);
                }
            }
        }
        Ok(())
    }

    /// An IF / SELECT chain: each arm's condition (Rhai code) and body, then the ELSE.
    /// Short chains are plain `else if`s; long ones become flat `if`s guarded by a
    /// "matched" flag, since Rhai nests one level per `else if` and caps nesting.
    fn chain(&mut self, line: u32, arms: Vec<(u32, String, &[Stmt])>, otherwise: &[Stmt]) -> GenResult<()> {
        if arms.len() <= FLAT_CHAIN {
            let open = if arms.is_empty() { "{" } else { "} else {" };
            for (i, (l, cond, body)) in arms.into_iter().enumerate() {
                let head = if i == 0 { "if" } else { "} else if" };
                self.emit(l, format!("{head} {cond} {{"));
                self.block(body)?;
            }
            self.emit(line, open);
            self.block(otherwise)?;
            self.emit(line, "}");
            return Ok(());
        }
        let m = self.fresh("m");
        self.emit(line, format!("let {m} = false;"));
        for (l, cond, body) in arms {
            self.emit(l, format!("if !{m} && {cond} {{ {m} = true;"));
            self.block(body)?;
            self.emit(line, "}");
        }
        self.emit(line, format!("if !{m} {{"));
        self.block(otherwise)?;
        self.emit(line, "}");
        Ok(())
    }

    fn open_loop(&mut self, line: u32, kind: LoopKind) -> usize {
        let id = self.fresh("x");
        let n = self.temp;
        self.emit(line, format!("let {id} = false;"));
        self.loops.push(LoopFrame {
            kind,
            id: n,
            crossing: BTreeSet::new(),
        });
        n
    }

    fn close_loop(&mut self, line: u32, id: usize) {
        let frame = self.loops.pop().expect("loop frames are balanced");
        debug_assert_eq!(frame.id, id);
        self.emit(line, "}");
        for target in frame.crossing {
            self.emit(line, format!("if __x{target} {{ break; }}"));
        }
    }

    fn exit(&mut self, pos: Pos, kind: ExitKind) -> GenResult<()> {
        let wanted = match kind {
            ExitKind::Sub | ExitKind::Function => {
                return match (self.in_function, kind) {
                    (Some(false), ExitKind::Sub) | (Some(true), ExitKind::Function) => {
                        self.emit(pos.line, "return ();");
                        Ok(())
                    }
                    _ => Err((pos, format!("EXIT {kind:?} outside a {kind:?}").to_uppercase())),
                };
            }
            ExitKind::For => LoopKind::For,
            ExitKind::Do => LoopKind::Do,
            ExitKind::While => LoopKind::While,
        };
        let Some(at) = self.loops.iter().rposition(|f| f.kind == wanted) else {
            return Err((
                pos,
                format!("EXIT {:?} outside a {:?} loop", kind, kind).to_uppercase(),
            ));
        };
        let target = self.loops[at].id;
        if at + 1 == self.loops.len() {
            self.emit(pos.line, "break;");
        } else {
            for f in &mut self.loops[at + 1..] {
                f.crossing.insert(target);
            }
            self.emit(pos.line, format!("__x{target} = true; break;"));
        }
        Ok(())
    }

    fn call_proc(&mut self, pos: Pos, name: &str, args: &[Expr]) -> GenResult<String> {
        let Some(info) = self.procs.get(name).cloned() else {
            return Err((pos, format!("unknown SUB or FUNCTION {}", name.to_uppercase())));
        };
        if args.len() != info.params {
            return Err((
                pos,
                format!(
                    "{} takes {} argument(s), {} given",
                    name.to_uppercase(),
                    info.params,
                    args.len()
                ),
            ));
        }
        let a = args.iter().map(|e| self.expr(e)).collect::<GenResult<Vec<_>>>()?;
        Ok(format!("this.{}({})", mangle("p_", name), a.join(", ")))
    }

    /// `target = value` as Rhai.
    fn assign(&mut self, target: &Expr, value: String) -> GenResult<String> {
        let mut path = Vec::new();
        let mut e = target;
        loop {
            match &e.kind {
                ExprKind::Var(v) => {
                    let v = self.var(v);
                    if path.is_empty() {
                        return Ok(format!("{v} = {value};"));
                    }
                    path.reverse();
                    return Ok(format!("{v} = __set_path({v}, [{}], {value});", path.join(", ")));
                }
                ExprKind::Member(inner, name) => {
                    path.push(rhai_str(name));
                    e = inner;
                }
                ExprKind::Index(inner, index) => {
                    path.push(self.expr(index)?);
                    e = inner;
                }
                _ => return Err((target.pos, "expected a variable before `=`".into())),
            }
        }
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> GenResult<String> {
        Ok(match &e.kind {
            ExprKind::Num(n) => num_literal(*n),
            ExprKind::Str(segs) => self.string(segs)?,
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Null => "()".into(),
            ExprKind::Var(v) => self.var(v),
            ExprKind::Array(items) => {
                let a = items
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<GenResult<Vec<_>>>()?;
                format!("[{}]", a.join(", "))
            }
            ExprKind::Object(fields) => {
                let mut parts = Vec::new();
                for (k, v) in fields {
                    parts.push(format!("{}: {}", rhai_str(k), self.expr(v)?));
                }
                format!("#{{{}}}", parts.join(", "))
            }
            ExprKind::Unary(UnOp::Not, x) => format!("!__truthy({})", self.expr(x)?),
            ExprKind::Unary(UnOp::Neg, x) => format!("__neg({})", self.expr(x)?),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                match op {
                    BinOp::Or => format!("(__truthy({a}) || __truthy({b}))"),
                    BinOp::And => format!("(__truthy({a}) && __truthy({b}))"),
                    BinOp::Eq => format!("__eq({a}, {b})"),
                    BinOp::Ne => format!("!__eq({a}, {b})"),
                    BinOp::Lt => format!("(__cmp({a}, {b}) < 0)"),
                    BinOp::Le => format!("(__cmp({a}, {b}) <= 0)"),
                    BinOp::Gt => format!("(__cmp({a}, {b}) > 0)"),
                    BinOp::Ge => format!("(__cmp({a}, {b}) >= 0)"),
                    BinOp::Concat => format!("__concat({a}, {b})"),
                    BinOp::Add => format!("__add({a}, {b})"),
                    BinOp::Sub => format!("__sub({a}, {b})"),
                    BinOp::Mul => format!("__mul({a}, {b})"),
                    BinOp::Div => format!("__div({a}, {b})"),
                    BinOp::Mod => format!("__mod({a}, {b})"),
                    BinOp::Pow => format!("__pow({a}, {b})"),
                }
            }
            ExprKind::In { value, list, negated } => {
                let (v, l) = (self.expr(value)?, self.expr(list)?);
                format!("{}__in({l}, {v})", if *negated { "!" } else { "" })
            }
            ExprKind::Member(x, name) => format!("__get({}, {})", self.expr(x)?, rhai_str(name)),
            ExprKind::Index(x, i) => format!("__get({}, {})", self.expr(x)?, self.expr(i)?),
            ExprKind::Call(name, args) => self.call(e.pos, name, args)?,
        })
    }

    fn string(&mut self, segs: &[StrSeg]) -> GenResult<String> {
        match segs {
            [] => Ok("\"\"".into()),
            [StrSeg::Text(t)] => Ok(rhai_str(t)),
            _ => {
                let mut parts = Vec::new();
                for s in segs {
                    parts.push(match s {
                        StrSeg::Text(t) => rhai_str(t),
                        StrSeg::Expr(e) => format!("__str({})", self.expr(e)?),
                    });
                }
                Ok(format!("({})", parts.join(" + ")))
            }
        }
    }

    fn call(&mut self, pos: Pos, name: &str, args: &[Expr]) -> GenResult<String> {
        let lower = name.to_lowercase();
        if self.procs.get(&lower).is_some_and(|p| p.is_function) {
            return self.call_proc(pos, &lower, args);
        }
        if self.procs.contains_key(&lower) {
            return Err((
                pos,
                format!("{name} is a SUB: use CALL {name}, it returns no value"),
            ));
        }
        let mut a = Vec::with_capacity(args.len());
        for (i, e) in args.iter().enumerate() {
            // FIND("t", "name = ${x}"): the filter's values stay bound, as in the statement.
            if i == 1 && matches!(name, "FIND" | "FILTER") {
                a.push(lower::filter(self, e)?);
            } else {
                a.push(self.expr(e)?);
            }
        }
        if let Some(code) = lower::function_keyword(name, &a) {
            let (min, max) = match name {
                "SUMMARIZE" | "SENTIMENT" => (1, 1),
                "TRANSLATE" | "CLASSIFY" => (2, 2),
                "FIND" => (1, 3),
                "FILTER" => (2, 2),
                "LLM" => (1, 2),
                other => lower::arity(other),
            };
            if a.len() < min || a.len() > max {
                return Err((
                    pos,
                    format!("{name} takes {min} to {max} argument(s), {} given", a.len()),
                ));
            }
            return Ok(code);
        }
        let Some((min, max)) = builtins::arity(name) else {
            return Err((pos, format!("unknown function {name}")));
        };
        if a.len() < min || a.len() > max {
            let takes = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err((
                pos,
                format!("{name} takes {takes} argument(s), {} given", a.len()),
            ));
        }
        Ok(format!("__f({}, [{}])", rhai_str(name), a.join(", ")))
    }
}
