//! Tests of the botserver binary as a user runs it: the CLI, configuration errors, and a
//! real server process on embedded defaults and on PostgreSQL + Redis.

mod bots_api;
mod chat;
mod cli;
mod drive;
mod durability;
mod kb;
mod llm;
mod migrations;
mod packages_api;
mod process;
mod scheduler;
mod server;
