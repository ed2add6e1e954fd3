//! Every migration this build carries, across all enabled domains.

use botserver_core::Module;
use botstate::testing::{TestDb, check_up_down_up, check_versions};

fn all_sets() -> Vec<&'static botstate::MigrationSet> {
    Module::migration_sets(&botserver::modules::enabled())
}

#[test]
fn versions_are_unique_across_every_domain() {
    check_versions(&all_sets());
}

#[test]
fn down_undoes_up_on_every_backend() {
    for db in TestDb::all() {
        check_up_down_up(&db.connect(), &all_sets());
    }
}
