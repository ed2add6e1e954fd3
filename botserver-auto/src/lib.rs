//! The BASIC dialect bots are written in (shared/spec/basic.md is the contract).
//!
//! In progress: this crate holds the lexer and the parser (expressions, statements and the
//! keyword registry the language reference is generated from), and scripts as tools
//! (JSON Schema, OpenAI and MCP shapes, argument coercion). The compiler to Rhai, the
//! durable dialog runtime and the keyword services arrive with the rest of issue 4; until
//! then the crate is not part of the server and owns no route or table.

pub mod ast;
pub mod compile;
pub mod data;
pub mod dialog;
pub mod hooks;
pub mod keywords;
pub mod lexer;
pub mod net;
pub mod package;
pub mod parser;
pub mod runtime;
mod schema;
pub mod statements;
pub mod tools;

/// This crate's tables: durable conversations, script versions, bot memory and the bot
/// tables' catalog.
pub const MIGRATIONS: botstate::MigrationSet = botstate::MigrationSet {
    name: "auto",
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

pub use lexer::{LexError, Pos, StrPart, Tok, Token, lex};
pub use parser::{ParseError, parse_expr};
pub use statements::parse_script;
