//! The scheduler on a real database (SQLite, and PostgreSQL when `BOT_TEST_POSTGRES_URL`
//! is set): registrations, every-second ticks run once each by several runners at once,
//! retries then failure, a crashed run taken over, missed-run policies, pause and resume,
//! events with their data, and the webhook and jobs routes.

use async_trait::async_trait;
use axum::http::{Method, Request, StatusCode};
use botlib::{AppError, AppResult, BotId};
use botserver_core::access::Routes;
use botserver_core::testing::{TestApp, TokenAuth, test_principal};
use botserver_core::{InstallFuture, Module};
use botserver_tasks::runner::{Runner, SchedulerMetrics, now_ms};
use botserver_tasks::scheduler::{DbScheduler, JobRow, RunRow, SchedulerConfig, sj, sr, state};
use botstate::auth::Role;
use botstate::services::{
    DialogEngine, JobSpec, Scheduler, ScriptCall, ToolOutput, Trigger, TurnInput, TurnOutput,
};
use botstate::testing::TestDb;
use botstate::{AppState, BotInfo, Db};
use diesel::prelude::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A test double of the BASIC engine: records every script run; `fail.bas` always fails,
/// `slow.bas` takes a second, anything else returns its `body`.
#[derive(Default)]
struct EngineDouble(Mutex<Vec<ScriptCall>>);

#[async_trait]
impl DialogEngine for EngineDouble {
    async fn run_turn(&self, _: TurnInput) -> AppResult<TurnOutput> {
        Err(AppError::NotConfigured("turns"))
    }
    async fn run_script(&self, call: ScriptCall) -> AppResult<ToolOutput> {
        self.0.lock().unwrap().push(call.clone());
        match call.script.as_str() {
            "fail.bas" => Err(AppError::bad_request("fail.bas:1: always fails")),
            "slow.bas" => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(ToolOutput {
                    result: Value::Null,
                    messages: vec!["slow done".into()],
                })
            }
            _ => Ok(ToolOutput {
                result: call.payload.clone(),
                messages: vec![format!("ran {}", call.script)],
            }),
        }
    }
}

impl EngineDouble {
    fn calls(&self, script: &str) -> Vec<ScriptCall> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.script == script)
            .cloned()
            .collect()
    }
}

fn fast() -> SchedulerConfig {
    SchedulerConfig {
        poll: Duration::from_millis(50),
        lease: Duration::from_millis(900),
        max_attempts: 3,
        missed_after: Duration::from_secs(60),
        run_timeout: Duration::from_secs(10),
        retry_base: Duration::from_millis(100),
    }
}

fn dbs() -> Vec<TestDb> {
    let mut out = vec![TestDb::sqlite()];
    out.extend(TestDb::postgres());
    out
}

fn migrated(db: &TestDb) -> Db {
    db.migrated(&[&botstate::CORE_MIGRATIONS, &botserver_tasks::MIGRATIONS])
}

fn job(bot: BotId, name: &str, script: &str, trigger: Trigger) -> JobSpec {
    JobSpec {
        bot,
        name: name.into(),
        script: script.into(),
        trigger,
    }
}

fn cron(expr: &str) -> Trigger {
    Trigger::Cron {
        expr: expr.into(),
        tz: "UTC".into(),
    }
}

async fn runs_of(db: &Db, job: &str) -> Vec<RunRow> {
    let job = job.to_string();
    db.run(move |c| {
        Ok(sr::table
            .filter(sr::job_id.eq(&job))
            .order(sr::due_ms.asc())
            .select(RunRow::as_select())
            .load(c)?)
    })
    .await
    .unwrap()
}

fn runner(sched: &Arc<DbScheduler>, engine: &Arc<EngineDouble>) -> Arc<Runner> {
    let metrics = SchedulerMetrics::register(&botstate::Metrics::default());
    Arc::new(Runner::new(sched.clone(), engine.clone(), metrics))
}

async fn wait_until<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_validated_replaced_and_removed() {
    for db in dbs() {
        let d = migrated(&db);
        let sched = DbScheduler::new(d.clone(), fast());
        let bot = BotId::for_name("shop");
        let rejected = sched
            .sync_bot_jobs(
                bot,
                vec![
                    job(bot, "daily.bas:1", "daily.bas", cron("0 9 * * 1-5")),
                    job(bot, "bad.bas:2", "bad.bas", cron("61 * * * *")),
                    job(
                        bot,
                        "tz.bas:3",
                        "tz.bas",
                        Trigger::Cron {
                            expr: "* * * * *".into(),
                            tz: "Mars/Olympus".into(),
                        },
                    ),
                    job(
                        bot,
                        "hook.bas:1",
                        "hook.bas",
                        Trigger::Event {
                            name: "webhook:Orders".into(),
                        },
                    ),
                ],
            )
            .await
            .unwrap();
        let names: Vec<&str> = rejected.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["bad.bas:2", "tz.bas:3"]);
        assert!(rejected[0].reason.contains("malformed cron"), "{rejected:?}");
        assert!(rejected[1].reason.contains("unknown time zone"), "{rejected:?}");
        let jobs = sched.jobs(bot).await.unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            ["daily.bas:1", "hook.bas:1"],
            "nothing scheduled for the bad ones"
        );
        let daily = &jobs[0];
        let due = daily.next_due_ms.unwrap();
        assert!(due > now_ms() && due % 60_000 == 0, "{due}");
        assert_eq!(jobs[1].event, "webhook:orders");
        assert_eq!(jobs[1].next_due_ms, None);

        // A paused job stays paused across a recompile that keeps its line; a removed
        // line removes its job.
        sched.set_paused(daily, true).await.unwrap();
        sched
            .sync_bot_jobs(
                bot,
                vec![job(bot, "daily.bas:1", "daily2.bas", cron("0 9 * * 1-5"))],
            )
            .await
            .unwrap();
        let jobs = sched.jobs(bot).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].paused);
        assert_eq!(jobs[0].script, "daily2.bas");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runners_run_each_tick_of_an_every_second_job_exactly_once() {
    for db in dbs() {
        let d = migrated(&db);
        let sched = Arc::new(DbScheduler::new(d.clone(), fast()));
        let engine = Arc::new(EngineDouble::default());
        let bot = BotId::for_name("ticker");
        sched
            .sync_bot_jobs(bot, vec![job(bot, "tick.bas:1", "tick.bas", cron("* * * * * *"))])
            .await
            .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        // Three runners, as three instances would have (each its own scheduler handle).
        let mut handles = Vec::new();
        for _ in 0..3 {
            let s = Arc::new(DbScheduler::new(d.clone(), fast()));
            handles.push(tokio::spawn(runner(&s, &engine).run(stop.child_token())));
        }
        tokio::time::sleep(Duration::from_millis(5200)).await;
        stop.cancel();
        for h in handles {
            h.await.unwrap();
        }
        let id = sched.jobs(bot).await.unwrap()[0].id.clone();
        let runs = runs_of(&d, &id).await;
        let ticks: Vec<i64> = runs.iter().map(|r| r.due_ms).collect();
        assert!(ticks.len() >= 4, "{ticks:?}");
        for pair in ticks.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                1000,
                "consecutive seconds, none twice: {ticks:?}"
            );
        }
        let calls = engine.calls("tick.bas");
        let mut seen: Vec<i64> = calls
            .iter()
            .map(|c| c.payload["due_ms"].as_i64().unwrap())
            .collect();
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), before, "a tick ran twice");
        let instances: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.instance.as_str()).collect();
        assert!(!instances.is_empty());
        assert!(
            runs.iter()
                .all(|r| r.state == state::OK || r.state == state::RUNNING),
            "{runs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_with_back_off_then_failed() {
    for db in dbs() {
        let d = migrated(&db);
        let sched = Arc::new(DbScheduler::new(d.clone(), fast()));
        let engine = Arc::new(EngineDouble::default());
        let bot = BotId::for_name("flaky");
        sched
            .sync_bot_jobs(
                bot,
                vec![job(
                    bot,
                    "fail.bas:1",
                    "fail.bas",
                    Trigger::At { at_ms: now_ms() },
                )],
            )
            .await
            .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let h = tokio::spawn(runner(&sched, &engine).run(stop.child_token()));
        let id = sched.jobs(bot).await.unwrap()[0].id.clone();
        let done = wait_until(Duration::from_secs(10), || {
            let (d, id) = (d.clone(), id.clone());
            async move {
                runs_of(&d, &id)
                    .await
                    .first()
                    .is_some_and(|r| r.state == state::FAILED)
            }
        })
        .await;
        stop.cancel();
        h.await.unwrap();
        assert!(done, "not failed in time: {:?}", runs_of(&d, &id).await);
        let run = &runs_of(&d, &id).await[0];
        assert_eq!(run.attempt, 3);
        assert!(run.error.as_deref().unwrap().contains("always fails"), "{run:?}");
        let calls = engine.calls("fail.bas");
        assert_eq!(calls.len(), 3, "three attempts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_instance_died_is_taken_over_after_its_lease() {
    for db in dbs() {
        let d = migrated(&db);
        let sched = Arc::new(DbScheduler::new(d.clone(), fast()));
        let engine = Arc::new(EngineDouble::default());
        let bot = BotId::for_name("crashy");
        sched
            .sync_bot_jobs(
                bot,
                vec![job(
                    bot,
                    "job.bas:1",
                    "job.bas",
                    Trigger::At {
                        at_ms: now_ms() + 3_600_000,
                    },
                )],
            )
            .await
            .unwrap();
        let j = sched.jobs(bot).await.unwrap().remove(0);
        // What a killed instance leaves: a run marked running whose lease ran out.
        let dead = RunRow {
            id: "dead-run".into(),
            job_id: j.id.clone(),
            due_ms: now_ms() - 5000,
            state: state::RUNNING.into(),
            attempt: 1,
            instance: "killed".into(),
            lease_until_ms: now_ms() - 1,
            next_attempt_ms: 0,
            started_ms: now_ms() - 5000,
            ended_ms: None,
            error: None,
            output: None,
            trigger_source: "schedule".into(),
            payload: None,
        };
        d.write(move |c| {
            diesel::insert_into(sr::table).values(&dead).execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
        let r = runner(&sched, &engine);
        r.pass().await.unwrap();
        let ok = wait_until(Duration::from_secs(5), || {
            let (d, id) = (d.clone(), j.id.clone());
            async move {
                runs_of(&d, &id)
                    .await
                    .iter()
                    .any(|r| r.id == "dead-run" && r.state == state::OK)
            }
        })
        .await;
        assert!(ok, "{:?}", runs_of(&d, &j.id).await);
        let run = runs_of(&d, &j.id)
            .await
            .into_iter()
            .find(|r| r.id == "dead-run")
            .unwrap();
        assert_eq!(run.attempt, 2);
        assert_eq!(run.instance, r.instance());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_follow_the_policy_and_pause_holds() {
    let db = TestDb::sqlite();
    let d = migrated(&db);
    let sched = Arc::new(DbScheduler::new(d.clone(), fast()));
    let engine = Arc::new(EngineDouble::default());
    let bot = BotId::for_name("sleepy");
    sched
        .sync_bot_jobs(
            bot,
            vec![
                job(bot, "once.bas:1", "once.bas", cron("0 * * * *")),
                job(bot, "skip.bas:1", "skip.bas", cron("0 * * * *")),
            ],
        )
        .await
        .unwrap();
    let jobs = sched.jobs(bot).await.unwrap();
    let skip = jobs.iter().find(|j| j.script == "skip.bas").unwrap().clone();
    sched.set_missed(&skip, "skip").await.unwrap();
    assert!(sched.set_missed(&skip, "sometimes").await.is_err());
    // Everything was down for three hours: both jobs' next tick is long past.
    let past = (now_ms() / 3_600_000 - 3) * 3_600_000;
    d.write(move |c| {
        diesel::update(sj::table)
            .set(sj::next_due_ms.eq(Some(past)))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    let r = runner(&sched, &engine);
    r.pass().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for j in sched.jobs(bot).await.unwrap() {
        let runs = runs_of(&d, &j.id).await;
        assert_eq!(runs.len(), 1, "one run for three hours of missed ticks: {runs:?}");
        let expected = if j.script == "skip.bas" {
            state::SKIPPED
        } else {
            state::OK
        };
        assert_eq!(runs[0].state, expected, "{j:?}");
        assert!(j.next_due_ms.unwrap() > now_ms(), "continues from now");
    }
    assert_eq!(engine.calls("once.bas").len(), 1);
    assert!(engine.calls("skip.bas").is_empty());

    // Paused: not claimed even when due; resumed: continues from now.
    let once: JobRow = sched
        .jobs(bot)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.script == "once.bas")
        .unwrap();
    sched.set_paused(&once, true).await.unwrap();
    d.write(move |c| {
        diesel::update(sj::table)
            .set(sj::next_due_ms.eq(Some(now_ms() - 10)))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    r.pass().await.unwrap();
    assert_eq!(runs_of(&d, &once.id).await.len(), 1);
    sched.set_paused(&once, false).await.unwrap();
    let resumed = sched.job(bot, &once.id).await.unwrap();
    assert!(!resumed.paused && resumed.next_due_ms.unwrap() > now_ms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_run_now_carry_their_data_and_use_the_current_script() {
    for db in dbs() {
        let d = migrated(&db);
        let sched = Arc::new(DbScheduler::new(d.clone(), fast()));
        let engine = Arc::new(EngineDouble::default());
        let bot = BotId::for_name("events");
        sched
            .sync_bot_jobs(
                bot,
                vec![job(
                    bot,
                    "on-insert.bas:1",
                    "on-insert.bas",
                    Trigger::Event {
                        name: "insert:orders".into(),
                    },
                )],
            )
            .await
            .unwrap();
        assert_eq!(
            sched
                .fire_event(bot, "insert:ORDERS", json!({"id": 7}))
                .await
                .unwrap(),
            1
        );
        assert_eq!(sched.fire_event(bot, "insert:other", json!({})).await.unwrap(), 0);
        let r = runner(&sched, &engine);
        r.pass().await.unwrap();
        let ran = wait_until(Duration::from_secs(5), || {
            let e = engine.clone();
            async move { !e.calls("on-insert.bas").is_empty() }
        })
        .await;
        assert!(ran);
        let call = &engine.calls("on-insert.bas")[0];
        assert_eq!(call.payload, json!({"id": 7}));
        assert_eq!(call.event, "insert:orders");

        // The script of an edited line is what runs next.
        sched
            .sync_bot_jobs(
                bot,
                vec![job(
                    bot,
                    "on-insert.bas:1",
                    "on-insert-v2.bas",
                    Trigger::Event {
                        name: "insert:orders".into(),
                    },
                )],
            )
            .await
            .unwrap();
        let j = sched.jobs(bot).await.unwrap().remove(0);
        sched.queue_run(&j, "manual").await.unwrap();
        r.pass().await.unwrap();
        let ran = wait_until(Duration::from_secs(5), || {
            let e = engine.clone();
            async move { !e.calls("on-insert-v2.bas").is_empty() }
        })
        .await;
        assert!(ran);
        let runs = runs_of(&d, &j.id).await;
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().any(|r| r.trigger_source == "manual"));
    }
}

// ---- The routes: webhooks and the jobs API ----

/// Sets the engine test double as `state.dialogs`.
fn install_engine(state: &mut AppState) -> InstallFuture<'_> {
    Box::pin(async move {
        state.dialogs = Arc::new(EngineDouble::default());
        Ok(())
    })
}

fn no_routes(_: Arc<AppState>) -> Routes {
    Routes::new()
}

const ENGINE_DOUBLE: Module = Module {
    name: "engine-double",
    router: no_routes,
    migrations: None,
    openapi: utoipa::openapi::OpenApi::default,
    install: Some(install_engine),
    start: None,
};

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
    let mut b = Request::builder().method(Method::POST).uri(path);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let r = app.send(b.body(axum::body::Body::from(body)).unwrap()).await;
    let v = if r.body.is_empty() { Value::Null } else { r.json() };
    (r.status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_need_their_secret_and_are_recorded() {
    let callers = TokenAuth::default()
        .with(
            "shop-admin",
            test_principal("shop-admin", "o", &[Role::BotAdmin], &["shop"]),
        )
        .with("user", test_principal("user", "o", &[Role::User], &[]));
    let app = TestApp::with_auth(
        TestDb::sqlite(),
        &[&ENGINE_DOUBLE, &botserver_tasks::MODULE],
        callers,
        |_| {},
    )
    .await;
    let shop = BotId::for_name("shop");
    app.state.bots.publish(BotInfo {
        id: shop,
        name: "shop".into(),
        settings: [("webhook-orders-key".to_string(), "s3cret-value".to_string())].into(),
        ..Default::default()
    });
    app.state
        .scheduler
        .sync_bot_jobs(
            shop,
            vec![
                job(
                    shop,
                    "orders.bas:1",
                    "orders.bas",
                    Trigger::Event {
                        name: "webhook:orders".into(),
                    },
                ),
                job(
                    shop,
                    "open.bas:1",
                    "open.bas",
                    Trigger::Event {
                        name: "webhook:open".into(),
                    },
                ),
            ],
        )
        .await
        .unwrap();
    let url = "/api/bots/shop/webhooks/orders";
    let body = br#"{"id": 42}"#.to_vec();
    let key = |k: &str| vec![("x-webhook-key", k.to_string())];
    assert_eq!(
        post(&app, url, &[], body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&app, url, &key("wrong"), body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = post(&app, url, &key("s3cret-value"), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["result"], json!({"id": 42}));
    assert_eq!(v["messages"], json!(["ran orders.bas"]));
    let sig = vec![(
        "x-signature-256",
        format!("sha256={}", hmac_hex("s3cret-value", &body)),
    )];
    assert_eq!(post(&app, url, &sig, body.clone()).await.0, StatusCode::OK);
    let forged = vec![("x-signature-256", format!("sha256={}", hmac_hex("other", &body)))];
    assert_eq!(
        post(&app, url, &forged, body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    // No secret configured for `open`: refused, nothing runs.
    assert_eq!(
        post(&app, "/api/bots/shop/webhooks/open", &key("x"), body.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = post(&app, url, &key("s3cret-value"), b"{not json".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = post(&app, url, &key("s3cret-value"), vec![b' '; 300 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    // A name without a secret of its own is refused before anything says whether it exists.
    assert_eq!(
        post(
            &app,
            "/api/bots/shop/webhooks/none",
            &key("s3cret-value"),
            body.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &app,
            "/api/bots/nobot/webhooks/orders",
            &key("s3cret-value"),
            body.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // The jobs API: the bot's admins only; the two accepted calls are in the history.
    assert_eq!(
        app.get_as("user", "/api/bots/shop/jobs").await.status,
        StatusCode::FORBIDDEN
    );
    let jobs = app.get_as("shop-admin", "/api/bots/shop/jobs").await.json();
    let orders = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["script"] == "orders.bas")
        .unwrap();
    let id = orders["id"].as_str().unwrap();
    let runs = app
        .get_as("shop-admin", &format!("/api/bots/shop/jobs/{id}/runs"))
        .await
        .json();
    let states: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ok", "ok"], "{runs}");
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["trigger_source"] == "webhook")
    );
    for action in ["pause", "resume"] {
        let r = app
            .json_as(
                "shop-admin",
                Method::POST,
                &format!("/api/bots/shop/jobs/{id}/{action}"),
                &Value::Null,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{action}");
        assert_eq!(r.json()["paused"], action == "pause");
        // A paused webhook refuses its calls (nothing runs); resumed, it answers again.
        let expected = if action == "pause" {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        assert_eq!(
            post(&app, url, &key("s3cret-value"), body.clone()).await.0,
            expected,
            "{action}"
        );
    }
    let r = app
        .json_as(
            "shop-admin",
            Method::PATCH,
            &format!("/api/bots/shop/jobs/{id}"),
            &json!({"missed": "skip"}),
        )
        .await;
    assert_eq!(r.json()["missed"], "skip");
    let r = app
        .json_as(
            "shop-admin",
            Method::POST,
            &format!("/api/bots/shop/jobs/{id}/run"),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let ran = wait_until(Duration::from_secs(5), || async {
        let runs = app
            .get_as("shop-admin", &format!("/api/bots/shop/jobs/{id}/runs"))
            .await
            .json();
        runs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger_source"] == "manual" && r["state"] == "ok")
    })
    .await;
    assert!(ran, "the queued run ran on the app's own runner");
}
