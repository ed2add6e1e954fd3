//! Test support shared by every crate's tests: throw-away databases on both backends and
//! the rule for tests that need a real service.
//!
//! A test that needs PostgreSQL or Redis reads `BOT_TEST_POSTGRES_URL` /
//! `BOT_TEST_REDIS_URL`. When the variable is missing it skips with a note, except under
//! `CI=true`, where a missing service is a failure (so CI can never pass by skipping).

use crate::config::DatabaseTarget;
use crate::db::{AnyConnection, Db, DbOptions, MigrationSet, revert_all, run_migrations};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::path::PathBuf;

/// The URL of a real service for tests, or `None` (skip) outside CI.
///
/// # Panics
/// When the variable is missing and `CI=true`.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} is not set, and CI=true: this test needs the real service");
            }
            eprintln!("note: {var} not set; skipping the part of this test that needs it");
            None
        }
    }
}

/// A throw-away database, deleted on drop.
pub struct TestDb {
    /// Where it is.
    pub target: DatabaseTarget,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh SQLite file in a fresh temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("botserver-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TestDb {
            target: DatabaseTarget::Sqlite(dir.join("test.db")),
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh PostgreSQL database on the server at `BOT_TEST_POSTGRES_URL`, or `None`
    /// when that is not set (outside CI).
    pub fn postgres() -> Option<TestDb> {
        let admin_url = service_url("BOT_TEST_POSTGRES_URL")?;
        let name = format!("bt_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("BOT_TEST_POSTGRES_URL unreachable: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("BOT_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            target: DatabaseTarget::Postgres(url.to_string()),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// SQLite always, plus PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres());
        dbs
    }

    /// A pool on this database.
    pub fn connect(&self) -> Db {
        Db::connect(
            &self.target,
            &DbOptions {
                pool_size: 4,
                ..Default::default()
            },
        )
        .expect("connect to test database")
    }

    /// A pool on this database with `sets` migrated.
    pub fn migrated(&self, sets: &[&MigrationSet]) -> Db {
        let db = self.connect();
        run_migrations(&mut db.get().expect("connection"), sets).expect("migrations apply");
        db
    }

    /// The data directory to use with this database (a temp folder for SQLite).
    pub fn data_dir(&self) -> PathBuf {
        match &self.cleanup {
            Cleanup::Dir(dir) => dir.clone(),
            Cleanup::Postgres { name, .. } => {
                let dir = std::env::temp_dir().join(format!("botserver-test-{name}"));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                dir
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("botserver-test-{name}")));
            }
        }
    }
}

#[derive(QueryableByName)]
struct SchemaLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

const SQLITE_SCHEMA: &str = "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS line \
     FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
     AND name <> '__diesel_schema_migrations' ORDER BY type, name";

const POSTGRES_SCHEMA: &str = "SELECT line FROM ( \
     SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
       || ' ' || COALESCE(column_default, '') AS line \
       FROM information_schema.columns WHERE table_schema = 'public' \
       AND table_name <> '__diesel_schema_migrations' \
     UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
       AND tablename <> '__diesel_schema_migrations' \
     UNION ALL SELECT 'type ' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
       WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') \
     UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
       WHERE n.nspname = 'public' \
   ) s ORDER BY line";

/// Every table, column, index (and on PostgreSQL every type and function) of the
/// database, one line each, so two schemas can be compared.
pub fn schema_snapshot(conn: &mut AnyConnection) -> Vec<String> {
    let lines: Vec<SchemaLine> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(SQLITE_SCHEMA).load(c),
        AnyConnection::Postgresql(c) => diesel::sql_query(POSTGRES_SCHEMA).load(c),
    }
    .expect("read schema");
    lines.into_iter().map(|l| l.line).collect()
}

/// Checks a list of migration sets on one database: they apply, `down` of each set
/// returns the schema to what it was before the set, and applying again gives the same
/// schema as the first time.
pub fn check_up_down_up(db: &Db, sets: &[&MigrationSet]) {
    let mut conn = db.get().expect("connection");
    let empty = schema_snapshot(&mut conn);
    let mut before_each = Vec::new();
    for set in sets {
        before_each.push(schema_snapshot(&mut conn));
        run_migrations(&mut conn, &[set]).expect("up applies");
    }
    let full = schema_snapshot(&mut conn);
    assert_ne!(full, empty, "migrations created nothing");
    for (set, before) in sets.iter().zip(&before_each).rev() {
        revert_all(&mut conn, set).expect("down applies");
        assert_eq!(
            &schema_snapshot(&mut conn),
            before,
            "down of `{}` does not undo its up",
            set.name
        );
    }
    run_migrations(&mut conn, sets).expect("up applies again");
    assert_eq!(
        schema_snapshot(&mut conn),
        full,
        "re-applying gives another schema"
    );
}

/// Checks that migration versions are unique across `sets` and that each set has the
/// same versions for both backends.
pub fn check_versions(sets: &[&MigrationSet]) {
    let mut seen = std::collections::BTreeMap::new();
    for set in sets {
        let (sqlite, postgres) = crate::db::migration_versions(set);
        assert!(!sqlite.is_empty(), "`{}` has no migrations", set.name);
        assert_eq!(
            sqlite, postgres,
            "`{}`: sqlite and postgres versions differ",
            set.name
        );
        for v in sqlite {
            if let Some(other) = seen.insert(v.clone(), set.name) {
                panic!(
                    "migration version {v} is used by both `{other}` and `{}`",
                    set.name
                );
            }
        }
    }
}
