//! The syntax tree of BASIC expressions (statements arrive with the rest of issue 4).

use crate::lexer::Pos;

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `OR`, `||`
    Or,
    /// `AND`, `&&`
    And,
    /// `=`, `==` (in an expression, `=` compares)
    Eq,
    /// `<>`, `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&` (string concatenation)
    Concat,
    /// `+` (adds numbers; concatenates when either side is a string)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `MOD`
    Mod,
    /// `^` (right-associative)
    Pow,
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `NOT`, `!`
    Not,
    /// `-`
    Neg,
}

/// One piece of an interpolated string.
#[derive(Clone, Debug, PartialEq)]
pub enum StrSeg {
    /// Literal text.
    Text(String),
    /// A `${…}` expression.
    Expr(Expr),
}

/// An expression and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it starts.
    pub pos: Pos,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number.
    Num(f64),
    /// A string, possibly interpolated.
    Str(Vec<StrSeg>),
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
    /// A variable, by its lowercased name (names are case-insensitive).
    Var(String),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{ "k": v }` (keys may also be bare words)
    Object(Vec<(String, Expr)>),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x IN list` / `x NOT IN list`
    In {
        /// The value looked for.
        value: Box<Expr>,
        /// Where it is looked for.
        list: Box<Expr>,
        /// `NOT IN`
        negated: bool,
    },
    /// `a.b`
    Member(Box<Expr>, String),
    /// `a[i]`
    Index(Box<Expr>, Box<Expr>),
    /// `F(x, y)`, by the function's uppercased name.
    Call(String, Vec<Expr>),
}

/// A keyword statement's argument, as written: expressions, separating commas and the
/// connecting words (`AS`, `WITH`, `DEFAULT`, `TO`, …) that give them their roles.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// An expression.
    Expr(Expr),
    /// A connecting word, uppercase.
    Word(String),
    /// `,`
    Comma,
}

/// A keyword used as a statement or as a value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeywordCall {
    /// The registry entry.
    pub keyword: &'static crate::keywords::Keyword,
    /// What followed the phrase.
    pub args: Vec<Arg>,
    /// Where the phrase starts.
    pub pos: Pos,
}

/// The right side of an assignment.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A plain expression.
    Expr(Expr),
    /// A keyword that produces a value (`rows = FIND "t"`).
    Keyword(KeywordCall),
}

/// How a `DO` loop tests its condition.
#[derive(Clone, Debug, PartialEq)]
pub enum LoopTest {
    /// `WHILE c`
    While(Expr),
    /// `UNTIL c`
    Until(Expr),
}

/// What `EXIT` leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// `EXIT FOR`
    For,
    /// `EXIT DO`
    Do,
    /// `EXIT WHILE`
    While,
    /// `EXIT SUB`
    Sub,
    /// `EXIT FUNCTION`
    Function,
}

/// A statement and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What it is.
    pub kind: StmtKind,
    /// Where it starts.
    pub pos: Pos,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `x = e`, `LET x = e`, `SET x = e`, `obj.k = e`, `a[i] = e`.
    Assign { target: Expr, value: Value },
    /// `IF … THEN … ELSEIF … ELSE … END IF` (and the one-line form).
    If {
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    /// `SELECT CASE e` / `SWITCH e`.
    Select {
        subject: Expr,
        cases: Vec<(Vec<Expr>, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    /// `FOR i = a TO b [STEP s]` … `NEXT`.
    For {
        var: String,
        from: Expr,
        to: Expr,
        step: Option<Expr>,
        body: Vec<Stmt>,
    },
    /// `FOR EACH x IN list` … `NEXT`.
    ForEach {
        var: String,
        items: Expr,
        body: Vec<Stmt>,
    },
    /// `WHILE c` … `WEND`.
    While { cond: Expr, body: Vec<Stmt> },
    /// `DO [WHILE|UNTIL c]` … `LOOP [WHILE|UNTIL c]`.
    DoLoop {
        test: Option<LoopTest>,
        test_at_end: bool,
        body: Vec<Stmt>,
    },
    /// `EXIT …`
    Exit(ExitKind),
    /// `WITH obj` / `field = e` lines / `END WITH`.
    With {
        target: String,
        fields: Vec<(String, Expr)>,
    },
    /// `SUB name(params)` / `FUNCTION name(params)` … `END SUB|FUNCTION`.
    Procedure {
        name: String,
        params: Vec<String>,
        body: Vec<Stmt>,
        is_function: bool,
    },
    /// `CALL name(args)`.
    Call { name: String, args: Vec<Expr> },
    /// `CALL "other.bas", args`.
    CallScript { script: Expr, args: Vec<Expr> },
    /// `RETURN [e]`.
    Return(Option<Expr>),
    /// `ON ERROR RESUME NEXT` (`true`) / `ON ERROR GOTO 0` (`false`).
    OnError(bool),
    /// `THROW e`.
    Throw(Expr),
    /// `WAIT seconds`.
    Wait(Expr),
    /// `PRINT e` (a log line for the author).
    Print(Expr),
    /// A keyword statement.
    Keyword(KeywordCall),
    /// A keyword block: its head, and its body as raw text lines.
    Block {
        call: KeywordCall,
        lines: Vec<(String, Pos)>,
    },
}
