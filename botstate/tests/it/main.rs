//! Integration tests of botstate, on SQLite and (when configured) PostgreSQL and Redis.

mod cache;
mod config_load;
mod db;
mod secrets;
