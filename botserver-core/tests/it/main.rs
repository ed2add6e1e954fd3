//! Integration tests of the core: the middleware stack and operational routes in process,
//! then serving, TLS and shutdown on real sockets.

mod harness;
mod middleware;
mod operational;
mod serving;
