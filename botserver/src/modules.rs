//! The one place that decides which domains this build serves: one Cargo feature per
//! domain crate, all on by default.

use botserver_core::Module;

/// The domains compiled into this build, in the order their routers are merged.
pub fn enabled() -> Vec<&'static Module> {
    // One cfg-gated push per domain: a vec![] literal cannot hold cfg'd elements readably.
    #[allow(unused_mut, clippy::vec_init_then_push)]
    let mut modules: Vec<&'static Module> = Vec::new();
    #[cfg(feature = "auth")]
    modules.push(&botserver_auth::MODULE);
    modules
}
