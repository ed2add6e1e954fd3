//! The BASIC engine's hot paths: compiling a 1,000-line script, running a 50-statement
//! turn, resuming a conversation after 100 earlier HEARs (the journal replay), and what a
//! parked conversation costs (printed: bytes of its row; it holds no memory in process).
//!
//! `cargo bench -p botserver-auto --bench engine`

use botserver_auto::package::Package;
use botserver_auto::runtime::{self, Entry, Limits, Outcome, RunCtx, Services, SessionInfo};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

/// A 1,000-line script mixing what authors write.
fn thousand_lines() -> String {
    let mut s = String::new();
    let mut n = 0;
    while s.lines().count() < 1000 {
        s.push_str(&format!(
            "x{n} = {n} * 2 + LEN(\"abc\")\nIF x{n} > 10 AND NOT done THEN\n  TALK \"Value ${{x{n}}} is big\"\nELSE\n  total = total + x{n}\nEND IF\nFOR i = 1 TO 3\n  list = PUSH(list, i & \"-\" & x{n})\nNEXT\nSELECT CASE x{n} MOD 3\n  CASE 0\n    kind = \"zero\"\n  CASE ELSE\n    kind = UCASE(\"other\")\nEND SELECT\n"
        ));
        n += 1;
    }
    s
}

/// 50 statements: assignments, arithmetic, string functions, conditions, a loop, TALKs.
const TURN_50: &str = r##"a = 1
b = 2
c = a + b
d = c * 10
name = "Ana"
greeting = "Hello, " + name
upper = UCASE(greeting)
n = LEN(upper)
IF n > 5 THEN
  big = TRUE
ELSE
  big = FALSE
END IF
total = 0
FOR i = 1 TO 5
  total = total + i
NEXT
items = ["a", "b", "c"]
joined = JOIN(items, "-")
first = items[0]
obj = { "k": 1, "v": "x" }
kv = obj.k + 1
s1 = LEFT(greeting, 5)
s2 = RIGHT(greeting, 3)
s3 = MID(greeting, 2, 3)
t = TRIM("  x  ")
r = REPLACE(greeting, "Ana", "Bia")
IF "b" IN items THEN
  found = 1
END IF
m = MAX(a, b, c)
avg = AVG([1, 2, 3])
TALK greeting
TALK "Total: " + total
TALK joined
f = FORMAT(1234.5, "#,##0.00")
TALK f
TALK "Done " + m
RETURN total
"##;

struct NoScripts;
impl runtime::ScriptSource for NoScripts {
    fn program(&self, file: &str) -> Result<Arc<runtime::Program>, String> {
        Err(format!("no {file}"))
    }
}

fn ctx(services: &Arc<Services>, journal: Vec<Entry>) -> RunCtx {
    let mut ctx = RunCtx::new(
        services.clone(),
        SessionInfo {
            bot_id: botlib::BotId::for_name("bench"),
            bot_name: "bench".into(),
            session_id: "s".into(),
            user_id: "u".into(),
            user_name: "Ana".into(),
            user_email: String::new(),
            user_phone: String::new(),
            channel: "bench".into(),
            language: "en".into(),
        },
        Limits::default(),
        Arc::new(NoScripts),
        Arc::new(BTreeMap::new()),
    );
    ctx.journal = journal;
    ctx.clock = Some(0);
    ctx
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = botstate::testing::TestDb::sqlite();
    let services = rt.block_on(async {
        let mut config = botstate::Config::default();
        config.server.data_dir = db.data_dir();
        if let botstate::DatabaseTarget::Sqlite(p) = &db.target {
            config.database.url = format!("sqlite://{}", p.display());
        }
        let state =
            botstate::AppState::build(config, &[&botstate::CORE_MIGRATIONS, &botserver_auto::MIGRATIONS])
                .await
                .unwrap();
        Arc::new(Services::new(&state).unwrap())
    });
    let _guard = rt.enter();

    let src = thousand_lines();
    assert!((1000..1020).contains(&src.lines().count()));
    c.bench_function("compile a 1,000-line script", |b| {
        b.iter(|| runtime::compile_uncached("big.bas", black_box(&src)).unwrap())
    });

    c.bench_function("  of which: BASIC to Rhai source", |b| {
        b.iter(|| botserver_auto::compile::compile("big.bas", black_box(&src)).unwrap())
    });

    let turn = runtime::program("turn.bas", TURN_50).unwrap();
    c.bench_function("run a 50-statement turn", |b| {
        b.iter(|| {
            let (outcome, ctx) = runtime::run(&turn, rhai::Map::new(), ctx(&services, Vec::new()));
            assert!(matches!(outcome, Outcome::Done(_)));
            black_box(ctx.out.len())
        })
    });

    let hears = runtime::program(
        "hears.bas",
        "total = 0\nFOR i = 1 TO 101\n  HEAR n AS INTEGER\n  total = total + n\nNEXT\nTALK total\n",
    )
    .unwrap();
    let journal: Vec<Entry> = (0..100)
        .map(|i| Entry {
            k: "HEAR".into(),
            v: serde_json::json!(i),
            e: None,
        })
        .collect();
    c.bench_function("resume after 100 HEARs (replay)", |b| {
        b.iter(|| {
            let (outcome, _) = runtime::run(&hears, rhai::Map::new(), ctx(&services, journal.clone()));
            assert!(matches!(outcome, Outcome::Suspended(_)));
        })
    });

    // What a parked conversation costs: its row (nothing stays in process memory).
    let pkg = Package::from_sources(
        "bench",
        [(
            "start.bas".to_string(),
            "TALK \"Hi\"\nHEAR name AS NAME WITH \"Your name?\"\nTALK name\n".to_string(),
        )]
        .into(),
        BTreeMap::new(),
    );
    let (outcome, ctx1) = runtime::run(
        &pkg.programs["start.bas"],
        rhai::Map::new(),
        ctx(&services, Vec::new()),
    );
    assert!(matches!(outcome, Outcome::Suspended(_)));
    let journal = serde_json::to_string(&ctx1.journal).unwrap();
    let state = serde_json::to_string(&ctx1.state).unwrap();
    let info = serde_json::to_string(&ctx1.session).unwrap();
    let versions =
        serde_json::to_string(&BTreeMap::from([("start.bas", &pkg.programs["start.bas"].hash)])).unwrap();
    let row = journal.len() + state.len() + info.len() + versions.len() + 36 * 3 + 64;
    println!(
        "parked conversation: {row} bytes of row (journal {} B, state {} B, session {} B, versions {} B); 0 bytes in process",
        journal.len(),
        state.len(),
        info.len(),
        versions.len()
    );
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(engine);
