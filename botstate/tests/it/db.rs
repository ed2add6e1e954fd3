use botlib::AppError;
use botstate::db::{CORE_MIGRATIONS, run_migrations};
use botstate::testing::{TestDb, check_up_down_up, check_versions};
use botstate::{AppState, Backend, Config};
use diesel::prelude::*;
use std::time::Duration;

#[test]
fn core_versions_are_unique_and_match_between_backends() {
    check_versions(&[&CORE_MIGRATIONS]);
}

#[test]
fn core_down_undoes_up_on_every_backend() {
    for tdb in TestDb::all() {
        let db = tdb.connect();
        check_up_down_up(&db, &[&CORE_MIGRATIONS]);
    }
}

#[test]
fn migrations_are_idempotent() {
    for tdb in TestDb::all() {
        let db = tdb.connect();
        let mut c = db.get().unwrap();
        let first = run_migrations(&mut c, &[&CORE_MIGRATIONS]).unwrap();
        assert_eq!(first.len(), 1);
        let second = run_migrations(&mut c, &[&CORE_MIGRATIONS]).unwrap();
        assert!(second.is_empty(), "second run applied {second:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_maps_not_found_and_unique_violation() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        diesel::table! { secrets (name) { name -> Text, ciphertext -> Text, updated_at -> BigInt, } }
        let err = db
            .run(|c| {
                Ok(secrets::table
                    .find("absent")
                    .select(secrets::name)
                    .first::<String>(c)?)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound), "{err:?}");
        let insert = |c: &mut botstate::AnyConnection| {
            diesel::insert_into(secrets::table)
                .values((
                    secrets::name.eq("k"),
                    secrets::ciphertext.eq("x"),
                    secrets::updated_at.eq(1i64),
                ))
                .execute(c)
        };
        db.run(move |c| Ok(insert(c)?)).await.unwrap();
        let err = db.run(move |c| Ok(insert(c)?)).await.unwrap_err();
        assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_and_pool_state_report_the_database() {
    for tdb in TestDb::all() {
        let db = tdb.connect();
        db.ping(Duration::from_secs(2)).await.unwrap();
        let (open, _idle, max) = db.pool_state();
        assert!(open >= 1);
        assert_eq!(max, 4);
        let expected = if matches!(tdb.target, botstate::DatabaseTarget::Postgres(_)) {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        assert_eq!(db.backend(), expected);
    }
}

#[test]
fn unreachable_postgres_fails_fast_with_a_named_error() {
    let target = botstate::DatabaseTarget::Postgres("postgres://u:secretpw@127.0.0.1:1/db".into());
    let started = std::time::Instant::now();
    let err = match botstate::Db::connect(
        &target,
        &botstate::db::DbOptions {
            pool_size: 1,
            connect_timeout: Duration::from_secs(1),
        },
    ) {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    assert!(err.contains("unreachable"), "{err}");
    assert!(!err.contains("secretpw"), "password leaked: {err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn app_state_builds_on_every_backend() {
    for tdb in TestDb::all() {
        let mut config = Config::default();
        config.server.data_dir = tdb.data_dir();
        config.database.url = match &tdb.target {
            botstate::DatabaseTarget::Postgres(u) => u.clone(),
            botstate::DatabaseTarget::Sqlite(p) => format!("sqlite://{}", p.display()),
        };
        let state = AppState::build(config, &[&CORE_MIGRATIONS]).await.unwrap();
        state.db.ping(Duration::from_secs(2)).await.unwrap();
        state.cache.ping().await.unwrap();
        // Later domains' services answer "not configured", never a fake success.
        let err = state.llm.chat(Default::default()).await.unwrap_err();
        assert!(matches!(err, AppError::NotConfigured("llm")), "{err:?}");
        let err = state.objects.get("x").await.unwrap_err();
        assert_eq!(err.status(), 501);
        drop(state);
    }
}

/// `Db::write`: 300 concurrent writes (on SQLite group-committed by the writer thread), one in
/// ten failing after it wrote: each failure undoes only its own write, every other write is
/// committed and visible as soon as its caller has its answer.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_commit_alone_and_a_failure_undoes_only_itself() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        diesel::table! { secrets (name) { name -> Text, ciphertext -> Text, updated_at -> BigInt, } }
        let mut set = tokio::task::JoinSet::new();
        for i in 0..300i64 {
            let db = db.clone();
            set.spawn(async move {
                let r = db
                    .write(move |c| {
                        diesel::insert_into(secrets::table)
                            .values((
                                secrets::name.eq(format!("k{i}")),
                                secrets::ciphertext.eq("x"),
                                secrets::updated_at.eq(i),
                            ))
                            .execute(c)?;
                        if i % 10 == 0 {
                            return Err(botstate::DbErr::App(AppError::BadRequest(format!("no {i}"))));
                        }
                        Ok(i)
                    })
                    .await;
                // Committed before the answer: a reader on another connection sees it.
                let seen = db
                    .run(move |c| {
                        Ok(secrets::table
                            .filter(secrets::name.eq(format!("k{i}")))
                            .count()
                            .get_result::<i64>(c)?)
                    })
                    .await
                    .unwrap();
                (i, r, seen)
            });
        }
        while let Some(done) = set.join_next().await {
            let (i, r, seen) = done.unwrap();
            if i % 10 == 0 {
                assert!(
                    matches!(r, Err(AppError::BadRequest(ref m)) if *m == format!("no {i}")),
                    "{r:?}"
                );
                assert_eq!(seen, 0, "k{i} was rolled back");
            } else {
                assert_eq!(r.unwrap(), i);
                assert_eq!(seen, 1, "k{i} is committed when its writer hears back");
            }
        }
        let total: i64 = db
            .run(|c| Ok(secrets::table.count().get_result(c)?))
            .await
            .unwrap();
        assert_eq!(total, 270);
        // A unique violation is the caller's error only.
        let dup = db
            .write(|c| {
                Ok(diesel::insert_into(secrets::table)
                    .values((
                        secrets::name.eq("k1"),
                        secrets::ciphertext.eq("y"),
                        secrets::updated_at.eq(0i64),
                    ))
                    .execute(c)?)
            })
            .await
            .unwrap_err();
        assert!(matches!(dup, AppError::Conflict(_)), "{dup:?}");
    }
}

/// A write that panics fails (with the others of its batch, which may try again), and
/// the writer goes on: later writes commit and are visible.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_write_does_not_stop_later_writes_from_committing() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&CORE_MIGRATIONS]);
        diesel::table! { secrets (name) { name -> Text, ciphertext -> Text, updated_at -> BigInt, } }
        let insert = |name: &'static str| {
            move |c: &mut botstate::AnyConnection| {
                Ok(diesel::insert_into(secrets::table)
                    .values((
                        secrets::name.eq(name),
                        secrets::ciphertext.eq("x"),
                        secrets::updated_at.eq(0i64),
                    ))
                    .execute(c)?)
            }
        };
        let boom = db
            .write::<usize, _>(|c| {
                diesel::insert_into(secrets::table)
                    .values((
                        secrets::name.eq("boom"),
                        secrets::ciphertext.eq("x"),
                        secrets::updated_at.eq(0i64),
                    ))
                    .execute(c)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(boom.is_err());
        db.write(insert("after")).await.unwrap();
        let names: Vec<String> = db
            .run(|c| Ok(secrets::table.select(secrets::name).load(c)?))
            .await
            .unwrap();
        assert_eq!(names, ["after"], "the panicking write left nothing");
    }
}

/// SQLite's write-ahead log stays bounded under steady writes and reads: the writer starts
/// it again once the checkpointer reports it long (without that, SQLite never finds a
/// moment with every page copied and no reader in it, and the log grows with every write).
#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_log_stays_bounded_under_steady_writes_and_reads() {
    let tdb = TestDb::sqlite();
    let db = tdb.migrated(&[&CORE_MIGRATIONS]);
    diesel::table! { secrets (name) { name -> Text, ciphertext -> Text, updated_at -> BigInt, } }
    let wal = match &tdb.target {
        botstate::DatabaseTarget::Sqlite(p) => p.with_extension("db-wal"),
        _ => unreachable!("a SQLite test database"),
    };
    for w in 0..30 {
        db.write(move |c| {
            Ok(diesel::insert_into(secrets::table)
                .values((
                    secrets::name.eq(format!("w{w}")),
                    secrets::ciphertext.eq(""),
                    secrets::updated_at.eq(0i64),
                ))
                .execute(c)?)
        })
        .await
        .unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (db, stop) = (db.clone(), stop.clone());
        readers.spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                db.read(|c| Ok(secrets::table.select(secrets::updated_at).load::<i64>(c)?))
                    .await
                    .unwrap();
                n += 1;
                // A SQLite point read may run inline: let the writers' tasks run too.
                tokio::task::yield_now().await;
            }
            n
        });
    }
    // 30 writers, each rewriting its own 4 KiB value: 117 MiB in all, which the log
    // would hold at the end without being started again.
    let big = "x".repeat(4 * 1024);
    let (writes, mut peak) = (30 * 1000u64, 0u64);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..30 {
        let (db, big) = (db.clone(), big.clone());
        writers.spawn(async move {
            for i in 0..writes / 30 {
                let big = big.clone();
                db.write(move |c| {
                    Ok(diesel::update(secrets::table.find(format!("w{w}")))
                        .set((secrets::ciphertext.eq(big), secrets::updated_at.eq(i as i64)))
                        .execute(c)?)
                })
                .await
                .unwrap();
            }
        });
    }
    while !writers.is_empty() {
        tokio::select! {
            done = writers.join_next() => { done.unwrap().unwrap(); }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    while let Some(n) = readers.join_next().await {
        reads += n.unwrap();
    }
    assert!(reads > 100, "the readers read all along ({reads} reads)");
    let written = writes * 4 * 1024;
    assert!(
        peak < written / 2,
        "the log peaked at {} MiB for {} MiB written",
        peak >> 20,
        written >> 20
    );
}
