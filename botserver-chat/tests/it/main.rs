//! The chat end to end, in process: a real server on a loopback port with the real BASIC
//! engine, real sockets and real HTTP, on SQLite (and PostgreSQL when configured).

mod page;
mod protocol;
mod store;
mod support;
