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
