//! Shared types of botserver: the id newtypes, the chat protocol's wire types and the one
//! error type every crate returns.
//!
//! This crate owns vocabulary, not behaviour: it has no I/O, no async runtime and no web
//! framework, so every other crate can depend on it without paying for anything.
//! The HTTP mapping of [`AppError`] is data here (a status number and a JSON body); the
//! web framework glue lives in `botserver-core`.

pub mod error;
pub mod ids;
pub mod net;
pub mod protocol;

pub use error::{AppError, AppResult, ErrorBody};
pub use ids::{BotId, MessageId, OrgId, SessionId, UserId};
