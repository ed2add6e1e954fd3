//! The scheduler's cost, on SQLite (and on PostgreSQL when `BOT_TEST_POSTGRES_URL` is
//! set):
//!
//! - **overhead per run**: 5,000 runs queued at once, drained by one runner whose engine
//!   (a test double) returns at once, so what is measured is claiming, starting and
//!   recording a run;
//! - **due-to-start lag**: 1,000 every-second jobs (6-field cron), all due in the same
//!   second, for 10 s, with one and with three runners: p50, p99 and max of the
//!   delay from a tick's due time to its script starting, over every run.
//!
//! ```sh
//! cargo bench -p botserver-tasks --bench lag
//! ```

use async_trait::async_trait;
use botlib::{AppError, AppResult, BotId};
use botserver_tasks::runner::{Runner, SchedulerMetrics};
use botserver_tasks::scheduler::{DbScheduler, SchedulerConfig, sr, state};
use botstate::Db;
use botstate::services::{
    DialogEngine, JobSpec, Scheduler, ScriptCall, ToolOutput, Trigger, TurnInput, TurnOutput,
};
use botstate::testing::TestDb;
use diesel::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A test double of the engine: every script returns at once, after noting how late it
/// started (now minus the tick it runs, from the run's `body`).
#[derive(Default)]
struct InstantEngine(std::sync::Mutex<Vec<i64>>);

#[async_trait]
impl DialogEngine for InstantEngine {
    async fn run_turn(&self, _: TurnInput) -> AppResult<TurnOutput> {
        Err(AppError::NotConfigured("turns"))
    }
    async fn run_script(&self, call: ScriptCall) -> AppResult<ToolOutput> {
        if call.payload["source"] == "schedule"
            && let Some(due) = call.payload["due_ms"].as_i64()
        {
            self.0
                .lock()
                .unwrap()
                .push(botserver_tasks::runner::now_ms() - due);
        }
        Ok(ToolOutput {
            result: serde_json::Value::Null,
            messages: Vec::new(),
        })
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        poll: Duration::from_millis(250),
        ..SchedulerConfig::default()
    }
}

fn runner(db: &Db, engine: &Arc<InstantEngine>) -> Arc<Runner> {
    let sched = Arc::new(DbScheduler::new(db.clone(), config()));
    let metrics = SchedulerMetrics::register(&botstate::Metrics::default());
    Arc::new(Runner::new(sched, engine.clone(), metrics))
}

async fn count(db: &Db, st: &'static str) -> i64 {
    db.run(move |c| Ok(sr::table.filter(sr::state.eq(st)).count().get_result::<i64>(c)?))
        .await
        .unwrap()
}

async fn overhead(db: &Db) {
    let sched = DbScheduler::new(db.clone(), config());
    let bot = BotId::for_name("queue");
    sched
        .sync_bot_jobs(
            bot,
            vec![JobSpec {
                bot,
                name: "q.bas:1".into(),
                script: "q.bas".into(),
                trigger: Trigger::Event { name: "go".into() },
            }],
        )
        .await
        .unwrap();
    let job = sched.jobs(bot).await.unwrap().remove(0);
    const N: i64 = 5000;
    for _ in 0..N {
        // Distinct due times: one run per millisecond slot.
        loop {
            if sched.queue_run(&job, "bench").await.is_ok() {
                break;
            }
        }
    }
    let r = runner(db, &Arc::new(InstantEngine::default()));
    let started = Instant::now();
    while count(db, state::OK).await < N {
        r.pass().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    println!(
        "  overhead: {N} queued runs drained in {:.2} s: {:.0} runs/s, {:.2} ms per run",
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / N as f64
    );
}

async fn lag(db: &Db, runners: usize) {
    let sched = DbScheduler::new(db.clone(), config());
    let mut bots = Vec::new();
    for i in 0..1000 {
        let bot = BotId::for_name(&format!("lag-{runners}-{i}"));
        bots.push(bot);
        let spec = JobSpec {
            bot,
            name: "tick.bas:1".into(),
            script: "tick.bas".into(),
            trigger: Trigger::Cron {
                expr: "* * * * * *".into(),
                tz: "UTC".into(),
            },
        };
        sched.sync_bot_jobs(bot, vec![spec]).await.unwrap();
    }
    let engine = Arc::new(InstantEngine::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let handles: Vec<_> = (0..runners)
        .map(|_| tokio::spawn(runner(db, &engine).run(stop.child_token())))
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.cancel();
    for h in handles {
        h.await.unwrap();
    }
    for bot in &bots {
        sched.sync_bot_jobs(*bot, Vec::new()).await.unwrap();
    }
    db.write(|c| {
        diesel::delete(sr::table.filter(sr::trigger_source.eq("schedule"))).execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    let mut lags = engine.0.lock().unwrap().clone();
    lags.sort();
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize];
    println!(
        "  lag, 1,000 jobs due each second, {runners} runner(s), 10 s: {} runs ({:.0}/s), p50 {} ms, p99 {} ms, max {} ms",
        lags.len(),
        lags.len() as f64 / 10.0,
        at(0.5),
        at(0.99),
        lags.last().unwrap()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut dbs = vec![("SQLite", TestDb::sqlite())];
    if let Some(pg) = TestDb::postgres() {
        dbs.push(("PostgreSQL", pg));
    }
    for (name, db) in &dbs {
        let d = db.migrated(&[&botstate::CORE_MIGRATIONS, &botserver_tasks::MIGRATIONS]);
        println!("{name}:");
        overhead(&d).await;
        lag(&d, 1).await;
        lag(&d, 3).await;
    }
}
