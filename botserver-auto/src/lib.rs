//! The BASIC dialect bots are written in (shared/spec/basic.md is the contract).
//!
//! In progress: this crate holds the lexer and the expression parser. Statements, the compiler to Rhai, the durable
//! dialog runtime and the keyword services arrive with the rest of issue 4; until then the
//! crate is not part of the server and owns no route or table.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use lexer::{LexError, Pos, StrPart, Tok, Token, lex};
pub use parser::{ParseError, parse_expr};
