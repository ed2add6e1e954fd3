//! The botserver meta-crate: the binary (`src/main.rs`) and the one place that lists the
//! domains this build serves ([`modules::enabled`]), which tests use too.

pub mod modules;
