//! The task list through the whole router (every middleware, the access rules), on SQLite
//! and, when `BOT_TEST_POSTGRES_URL` is set, on PostgreSQL: create, list and its filters
//! and pages, who sees and changes what, validation, reminders run by the real scheduler
//! runner (and not run for finished or deleted tasks), and `TaskList::create` as the
//! engine calls it for `CREATE TASK`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use botlib::{AppError, BotId, OrgId};
use botserver_core::testing::{TestApp, TokenAuth, test_org, test_principal, test_user};
use botserver_tasks::TasksModule;
use botserver_tasks::runner::now_ms;
use botserver_tasks::scheduler::sj;
use botstate::auth::{Access, Principal, Role};
use botstate::services::NewTask;
use botstate::testing::TestDb;
use botstate::{BotInfo, Subscription};
use diesel::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

fn user_id(token: &str) -> String {
    test_user(token).to_string()
}

fn org(name: &str) -> OrgId {
    test_org(name)
}

/// The callers (an authenticator test double: the bearer token names them). Everyone is
/// in organization `a` except `eve`, who is in `b` and, to show names never cross
/// organizations, is also called Ann.
fn callers() -> TokenAuth {
    let at = |token: &str, name: &str, org: &str, role: Role| Principal {
        name: name.into(),
        ..test_principal(token, org, &[role], &[])
    };
    TokenAuth::default()
        .with("ann", at("ann", "Ann", "a", Role::User))
        .with("bob", at("bob", "bob", "a", Role::User))
        .with("cy", at("cy", "cy", "a", Role::BotAdmin))
        .with("admin", at("admin", "admin", "a", Role::Admin))
        .with("eve", at("eve", "Ann", "b", Role::Admin))
        .with("visitor", at("visitor", "visitor", "a", Role::Anonymous))
}

async fn app_on(db: TestDb) -> TestApp {
    TestApp::with_auth(db, &[&botserver_tasks::MODULE], callers(), |_| {}).await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app.json_as(token, method, path, &body).await;
    (r.status, r.json())
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let r = app.get_as(token, path).await;
    (r.status, r.json())
}

/// Creates a task as `token`; returns it.
async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, task) = call(app, token, Method::POST, "/api/tasks", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body} -> {task}");
    task
}

/// The titles of a list's page, and its `next`.
async fn titles(app: &TestApp, token: &str, query: &str) -> (Vec<String>, Value) {
    let (status, page) = get(app, token, &format!("/api/tasks{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    let items = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect();
    (items, page["next"].clone())
}

fn id(task: &Value) -> String {
    task["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_route_needs_a_signed_in_user_and_is_documented() {
    let app = app_on(TestDb::sqlite()).await;
    let rules: Vec<_> = app
        .rules
        .iter()
        .filter(|r| r.path.starts_with("/api/tasks"))
        .collect();
    assert_eq!(rules.len(), 5, "{rules:?}");
    let doc = serde_json::to_value(botserver_tasks::openapi()).unwrap();
    for r in &rules {
        assert_eq!(r.access, Access::Role(Role::User), "{} {}", r.method, r.path);
        let path = r.path.replace("{id}", "x");
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let anonymous = app
            .send(
                Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{} {}",
            r.method,
            r.path
        );
        let visitor = app.json_as("visitor", method, &path, &json!({})).await;
        assert_eq!(visitor.status, StatusCode::FORBIDDEN, "{} {}", r.method, r.path);
        assert!(
            doc["paths"][&r.path][r.method.to_lowercase()].is_object(),
            "{} {} is not in the OpenAPI document",
            r.method,
            r.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_created_and_listed_with_filters_and_pages() {
    for db in TestDb::all() {
        let app = app_on(db).await;
        let now = now_ms();
        let hour = 3_600_000;
        // Ann's own tasks.
        let a = create(
            &app,
            "ann",
            json!({"title": "  Pay rent ", "due": now - 2 * hour, "project": "home",
                   "tags": ["Home", "money", "home"], "priority": "high", "description": "by transfer"}),
        )
        .await;
        assert_eq!(a["title"], "Pay rent");
        assert_eq!(
            a["assignee"],
            user_id("ann"),
            "the assignee defaults to the caller"
        );
        assert_eq!(a["created_by"], user_id("ann"));
        assert_eq!(a["status"], "open");
        assert_eq!(a["priority"], "high");
        assert_eq!(a["tags"], json!(["home", "money"]));
        assert_eq!(a["project"], "home");
        assert_eq!(a["description"], "by transfer");
        assert_eq!(a["remind_ms"], Value::Null);
        let b = create(
            &app,
            "ann",
            json!({"title": "Book flights", "due": "2999-01-01T10:00:00+02:00", "project": "trip",
                   "tags": ["travel_2999"]}),
        )
        .await;
        let due = chrono::DateTime::parse_from_rfc3339("2999-01-01T08:00:00Z").unwrap();
        assert_eq!(b["due_ms"], json!(due.timestamp_millis()));
        assert_eq!(b["priority"], "normal");
        create(
            &app,
            "ann",
            json!({"title": "Old chore", "due": now - 3 * hour, "status": "done"}),
        )
        .await;
        create(&app, "ann", json!({"title": "Someday"})).await;
        // Bob assigns one to Ann by name (as a script would), and keeps one.
        let d = create(
            &app,
            "bob",
            json!({"title": "Review draft", "assignee": "ann", "due": now - hour}),
        )
        .await;
        assert_eq!(d["assignee"], "ann");
        create(&app, "bob", json!({"title": "Bob's own", "due": now - hour})).await;

        let ann = |q: &'static str| {
            let app = &app;
            async move { titles(app, "ann", q).await.0 }
        };
        let all = ["Pay rent", "Review draft", "Book flights", "Someday", "Old chore"];
        // By due time (those without one last), then creation.
        assert_eq!(
            ann("").await,
            ["Old chore", "Pay rent", "Review draft", "Book flights", "Someday"]
        );
        let mut sorted = ann("?mine=true").await;
        sorted.sort();
        let mut expected = all.map(String::from).to_vec();
        expected.sort();
        assert_eq!(
            sorted, expected,
            "mine: created by Ann, or assigned to her id or name"
        );
        assert_eq!(ann("?overdue=true").await, ["Pay rent", "Review draft"]);
        assert_eq!(ann("?project=home").await, ["Pay rent"]);
        assert_eq!(ann("?status=done").await, ["Old chore"]);
        assert_eq!(ann("?status=DONE").await, ["Old chore"]);
        assert_eq!(ann("?tag=HOME").await, ["Pay rent"]);
        assert_eq!(ann("?tag=hom").await, Vec::<String>::new(), "a tag matches whole");
        assert_eq!(ann("?tag=travel_2999").await, ["Book flights"]);
        assert_eq!(
            ann("?tag=travel%25").await,
            Vec::<String>::new(),
            "LIKE wildcards are literal"
        );
        assert_eq!(
            ann("?tag=travel_299_").await,
            Vec::<String>::new(),
            "LIKE wildcards are literal"
        );
        assert_eq!(ann("?assignee=ANN").await, ["Review draft"]);
        assert_eq!(ann("?overdue=true&project=home&tag=money").await, ["Pay rent"]);

        // Pages.
        let (page1, next) = titles(&app, "ann", "?limit=2").await;
        assert_eq!(page1, ["Old chore", "Pay rent"]);
        let next = next.as_str().expect("a next page").to_string();
        let (page2, next) = titles(&app, "ann", &format!("?limit=2&after={next}")).await;
        assert_eq!(page2, ["Review draft", "Book flights"]);
        let next = next.as_str().expect("a next page").to_string();
        let (page3, next) = titles(&app, "ann", &format!("?limit=2&after={next}")).await;
        assert_eq!(page3, ["Someday"]);
        assert_eq!(next, Value::Null);

        // Bob sees his two; the admin sees all six, and with mine=true only theirs (none).
        // (Both have no due date and may share a creation millisecond: compare as a set.)
        let mut bobs = titles(&app, "bob", "").await.0;
        bobs.sort();
        assert_eq!(bobs, ["Bob's own", "Review draft"]);
        assert_eq!(titles(&app, "admin", "").await.0.len(), 6);
        assert!(titles(&app, "admin", "?mine=true").await.0.is_empty());
        // A bot-admin is a user here.
        assert!(titles(&app, "cy", "").await.0.is_empty());
        // Another organization sees nothing, though its admin is also called Ann.
        assert!(titles(&app, "eve", "").await.0.is_empty());
        assert_eq!(
            get(&app, "eve", &format!("/api/tasks/{}", id(&a))).await.0,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_and_admins_change_everything_the_assignee_only_the_status() {
    for db in TestDb::all() {
        let app = app_on(db).await;
        let task = create(
            &app,
            "bob",
            json!({"title": "Fix the sink", "assignee": user_id("ann"), "tags": ["home"]}),
        )
        .await;
        let path = format!("/api/tasks/{}", id(&task));

        // The assignee sees it and moves its status, nothing else.
        assert_eq!(get(&app, "ann", &path).await.0, StatusCode::OK);
        let (status, t) = call(
            &app,
            "ann",
            Method::PATCH,
            &path,
            json!({"status": "in_progress"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(t["status"], "in_progress");
        assert_eq!(t["tags"], json!(["home"]));
        assert!(t["updated_ms"].as_i64() >= task["updated_ms"].as_i64());
        for body in [
            json!({"title": "Mine now"}),
            json!({"status": "done", "priority": "low"}),
            json!({"assignee": "bob"}),
            json!({"due": null}),
        ] {
            let (status, e) = call(&app, "ann", Method::PATCH, &path, body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {e}");
        }
        assert_eq!(
            call(&app, "ann", Method::DELETE, &path, Value::Null).await.0,
            StatusCode::FORBIDDEN
        );

        // A stranger in the same organization (a bot-admin is a user) and another
        // organization's admin: 404 for everything.
        for token in ["cy", "eve"] {
            assert_eq!(get(&app, token, &path).await.0, StatusCode::NOT_FOUND, "{token}");
            let (status, _) = call(&app, token, Method::PATCH, &path, json!({"status": "done"})).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{token}");
            let (status, _) = call(&app, token, Method::DELETE, &path, Value::Null).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{token}");
        }
        assert_eq!(get(&app, "ann", "/api/tasks/nope").await.0, StatusCode::NOT_FOUND);

        // The creator changes anything; null clears.
        let (status, t) = call(
            &app,
            "bob",
            Method::PATCH,
            &path,
            json!({"title": "Fix the kitchen sink", "priority": "urgent", "due": 1_000, "project": "flat",
                   "tags": [], "description": "washer"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(
            (
                &t["title"],
                &t["priority"],
                &t["due_ms"],
                &t["project"],
                &t["tags"],
                &t["status"]
            ),
            (
                &json!("Fix the kitchen sink"),
                &json!("urgent"),
                &json!(1000),
                &json!("flat"),
                &json!([]),
                &json!("in_progress")
            )
        );
        let (_, t) = call(
            &app,
            "bob",
            Method::PATCH,
            &path,
            json!({"due": null, "project": null}),
        )
        .await;
        assert_eq!((&t["due_ms"], &t["project"]), (&Value::Null, &Value::Null));

        // An admin of the organization sees and changes it too.
        assert_eq!(get(&app, "admin", &path).await.0, StatusCode::OK);
        let (status, t) = call(&app, "admin", Method::PATCH, &path, json!({"assignee": "bob"})).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        // Reassigned away, Ann no longer sees it.
        assert_eq!(get(&app, "ann", &path).await.0, StatusCode::NOT_FOUND);

        // The creator deletes it.
        let (status, _) = call(&app, "bob", Method::DELETE, &path, Value::Null).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(get(&app, "bob", &path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&app, "admin", &path).await.0, StatusCode::NOT_FOUND);

        // An admin deletes anyone's task.
        let other = create(&app, "ann", json!({"title": "Temporary"})).await;
        let (status, _) = call(
            &app,
            "admin",
            Method::DELETE,
            &format!("/api/tasks/{}", id(&other)),
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_naming_the_field() {
    let app = app_on(TestDb::sqlite()).await;
    let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({}), "`title`"),
        (json!({"title": "  "}), "`title`"),
        (json!({"title": 5}), "`title`"),
        (json!({"title": "x".repeat(201)}), "`title`"),
        (json!({"title": "a\nb"}), "`title`"),
        (
            json!({"title": "t", "description": "x".repeat(10_001)}),
            "`description`",
        ),
        (json!({"title": "t", "tags": tags}), "`tags`"),
        (json!({"title": "t", "tags": ["x".repeat(51)]}), "`tags`"),
        (json!({"title": "t", "tags": "home"}), "`tags`"),
        (json!({"title": "t", "tags": [1]}), "`tags`"),
        (json!({"title": "t", "priority": "asap"}), "`priority`"),
        (json!({"title": "t", "status": "later"}), "`status`"),
        (json!({"title": "t", "due": "tomorrow"}), "`due`"),
        (json!({"title": "t", "due": -5}), "`due`"),
        (json!({"title": "t", "due": 1.5}), "`due`"),
        (
            json!({"title": "t", "remind_at": "2026-13-01T00:00:00Z"}),
            "`remind_at`",
        ),
        (json!({"title": "t", "assignee": ""}), "`assignee`"),
        (json!({"title": "t", "project": "p".repeat(101)}), "`project`"),
        (json!({"title": "t", "colour": "red"}), "`colour`"),
        (json!(["t"]), "JSON object"),
    ];
    for (body, field) in cases {
        let (status, e) = call(&app, "ann", Method::POST, "/api/tasks", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"], "bad_request");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    // The longest title and description fit; a title of 200 two-byte characters too.
    create(
        &app,
        "ann",
        json!({"title": "é".repeat(200), "description": "x".repeat(10_000)}),
    )
    .await;

    let task = create(&app, "ann", json!({"title": "t"})).await;
    let path = format!("/api/tasks/{}", id(&task));
    for (body, field) in [
        (json!({"status": "later"}), "`status`"),
        (json!({"title": null}), "`title`"),
        (json!({"remind_at": "soon"}), "`remind_at`"),
        (json!({"id": "x"}), "`id`"),
    ] {
        let (status, e) = call(&app, "ann", Method::PATCH, &path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(field), "{body}: {e}");
    }
    for (query, field) in [
        ("?limit=0", "`limit`"),
        ("?limit=201", "`limit`"),
        ("?mine=maybe", "`mine`"),
        ("?overdue=yes", "`overdue`"),
        ("?status=later", "`status`"),
        ("?after=garbage", "`after`"),
    ] {
        let (status, e) = get(&app, "ann", &format!("/api/tasks{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert!(e["message"].as_str().unwrap().contains(field), "{query}: {e}");
    }
}

/// Waits for the next reminder published on `tasks:reminder`, up to `secs`.
async fn next_reminder(sub: &mut Subscription, secs: u64) -> Option<Value> {
    let msg = tokio::time::timeout(Duration::from_secs(secs), sub.recv())
        .await
        .ok()
        .flatten()?;
    Some(serde_json::from_slice(&msg).unwrap())
}

/// The task as its creator sees it, once `reminded_ms` is set (up to 5 s).
async fn reminded(app: &TestApp, token: &str, task: &str) -> Value {
    let path = format!("/api/tasks/{task}");
    for _ in 0..50 {
        let (_, t) = get(app, token, &path).await;
        if !t["reminded_ms"].is_null() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{task} was not marked reminded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_is_run_by_the_scheduler_and_published() {
    for db in TestDb::all() {
        let app = app_on(db).await;
        let mut sub = app.state.cache.subscribe("tasks:reminder").await.unwrap();
        let at = now_ms() + 1_000;
        let task = create(
            &app,
            "ann",
            json!({"title": "Call the plumber", "assignee": "ann@example.com", "remind_at": at}),
        )
        .await;
        assert_eq!(task["remind_ms"], json!(at));
        assert_eq!(task["reminded_ms"], Value::Null);
        let event = next_reminder(&mut sub, 10).await.expect("a reminder within 10 s");
        assert_eq!(
            event,
            json!({"task": id(&task), "assignee": "ann@example.com", "title": "Call the plumber"})
        );
        let t = reminded(&app, "ann", &id(&task)).await;
        assert!(t["reminded_ms"].as_i64().unwrap() >= at, "{t}");

        // The run's history says what happened (no mail service here: not a failure).
        let m = app.state.extensions.get::<TasksModule>().unwrap();
        let key = format!("task-reminder:{}", id(&task));
        let job: String = app
            .state
            .db
            .run(move |c| Ok(sj::table.filter(sj::name.eq(&key)).select(sj::id).first(c)?))
            .await
            .unwrap();
        let runs = m.scheduler.runs(&job, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].state, "ok");
        assert_eq!(
            runs[0].output.as_deref(),
            Some("reminded ann@example.com of \"Call the plumber\"")
        );

        // The handler itself: a second run, a deleted task, a reminder that moved on.
        assert_eq!(
            m.todos.remind(&id(&task)).await.unwrap(),
            "nothing to remind (already reminded)"
        );
        assert_eq!(
            m.todos.remind("gone").await.unwrap(),
            "nothing to remind (the task was deleted)"
        );
        let later = create(
            &app,
            "ann",
            json!({"title": "Later", "remind_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
        assert_eq!(
            m.todos.remind(&id(&later)).await.unwrap(),
            "nothing to remind yet (the reminder moved to 2999-01-01 00:00 UTC)"
        );
        assert_eq!(
            get(&app, "ann", &format!("/api/tasks/{}", id(&later))).await.1["reminded_ms"],
            Value::Null
        );
        assert_eq!(next_reminder(&mut sub, 1).await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deleted_and_cleared_tasks_are_not_reminded() {
    for db in TestDb::all() {
        let app = app_on(db).await;
        let mut sub = app.state.cache.subscribe("tasks:reminder").await.unwrap();
        let at = now_ms() + 1_000;
        let done = create(&app, "ann", json!({"title": "Done soon", "remind_at": at})).await;
        let gone = create(&app, "ann", json!({"title": "Deleted soon", "remind_at": at})).await;
        let cleared = create(&app, "ann", json!({"title": "Cleared", "remind_at": at})).await;
        let moved = create(&app, "ann", json!({"title": "Moved", "remind_at": at})).await;
        // A reminder set later through PATCH, as a control that the runner is running.
        let control = create(&app, "ann", json!({"title": "Control"})).await;

        let (s, t) = call(
            &app,
            "ann",
            Method::PATCH,
            &format!("/api/tasks/{}", id(&done)),
            json!({"status": "done"}),
        )
        .await;
        assert_eq!((s, &t["status"]), (StatusCode::OK, &json!("done")));
        let (s, _) = call(
            &app,
            "ann",
            Method::DELETE,
            &format!("/api/tasks/{}", id(&gone)),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, t) = call(
            &app,
            "ann",
            Method::PATCH,
            &format!("/api/tasks/{}", id(&cleared)),
            json!({"remind_at": null}),
        )
        .await;
        assert_eq!((s, &t["remind_ms"]), (StatusCode::OK, &Value::Null));
        let later = now_ms() + 3_600_000;
        let (s, _) = call(
            &app,
            "ann",
            Method::PATCH,
            &format!("/api/tasks/{}", id(&moved)),
            json!({"remind_at": later}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = call(
            &app,
            "ann",
            Method::PATCH,
            &format!("/api/tasks/{}", id(&control)),
            json!({"remind_at": at + 500}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);

        let first = next_reminder(&mut sub, 10)
            .await
            .expect("the control is reminded");
        assert_eq!(first["title"], "Control");
        // A while after the control: nothing else came.
        assert_eq!(next_reminder(&mut sub, 2).await, None);
        for task in [&done, &cleared, &moved] {
            let (_, t) = get(&app, "ann", &format!("/api/tasks/{}", id(task))).await;
            assert_eq!(t["reminded_ms"], Value::Null, "{t}");
        }

        // Reopened with its time past: it is reminded now. Moved back to a time that
        // already ran for the control (its reminder's job keeps its history), the control
        // is reminded again.
        let (s, _) = call(
            &app,
            "ann",
            Method::PATCH,
            &format!("/api/tasks/{}", id(&done)),
            json!({"status": "open"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let again = next_reminder(&mut sub, 10)
            .await
            .expect("the reopened task is reminded");
        assert_eq!(again["title"], "Done soon");
        let path = format!("/api/tasks/{}", id(&control));
        call(&app, "ann", Method::PATCH, &path, json!({"remind_at": later})).await;
        let (_, t) = call(&app, "ann", Method::PATCH, &path, json!({"remind_at": at + 500})).await;
        assert_eq!(t["reminded_ms"], Value::Null, "a new time is a new reminder");
        let again = next_reminder(&mut sub, 10)
            .await
            .expect("the control is reminded again");
        assert_eq!(again["title"], "Control");
        reminded(&app, "ann", &id(&control)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_create_tasks_through_the_task_list_trait() {
    for db in TestDb::all() {
        let app = app_on(db).await;
        let shop = BotId::for_name("shop");
        let new = |title: &str| NewTask {
            bot: Some(shop),
            created_by: "bot:shop".into(),
            title: title.into(),
            description: String::new(),
            assignee: Some("ANN".into()),
            due_ms: Some(1_900_000_000_000),
            project: Some("orders".into()),
        };

        // Without the bot registry (or the bot's organization setting): the nil
        // organization, seen by nobody here.
        let id = app.state.todos.create(new("Orphan")).await.unwrap();
        assert_eq!(
            get(&app, "admin", &format!("/api/tasks/{id}")).await.0,
            StatusCode::NOT_FOUND
        );

        let m = app.state.extensions.get::<TasksModule>().unwrap();
        m.todos.use_bots(app.state.bots.clone());
        app.state.bots.publish(BotInfo {
            id: shop,
            name: "shop".into(),
            settings: [("organization".to_string(), org("a").to_string())].into(),
            ..Default::default()
        });
        let id = app.state.todos.create(new("Ship order 7")).await.unwrap();
        // Ann sees it: assigned by her name, without case.
        let (status, t) = get(&app, "ann", &format!("/api/tasks/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        assert_eq!(t["title"], "Ship order 7");
        assert_eq!(t["assignee"], "ANN");
        assert_eq!(t["created_by"], "bot:shop");
        assert_eq!(t["bot_id"], shop.to_string());
        assert_eq!(t["due_ms"], json!(1_900_000_000_000i64));
        assert_eq!(t["project"], "orders");
        assert_eq!(t["status"], "open");
        assert_eq!(
            titles(&app, "ann", "?mine=true&project=orders").await.0,
            ["Ship order 7"]
        );
        // She may move it along, not rename it; the admin may.
        let path = format!("/api/tasks/{id}");
        assert_eq!(
            call(&app, "ann", Method::PATCH, &path, json!({"status": "done"}))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "ann", Method::PATCH, &path, json!({"title": "x"}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(&app, "admin", Method::PATCH, &path, json!({"title": "x"}))
                .await
                .0,
            StatusCode::OK
        );

        // Validated like the REST create; no assignee means the creator.
        let e = app.state.todos.create(new(" ")).await.unwrap_err();
        assert!(
            matches!(&e, AppError::BadRequest(m) if m.contains("`title`")),
            "{e:?}"
        );
        let e = app
            .state
            .todos
            .create(NewTask {
                due_ms: Some(-1),
                ..new("Bad due")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&e, AppError::BadRequest(m) if m.contains("`due`")),
            "{e:?}"
        );
        let id = app
            .state
            .todos
            .create(NewTask {
                assignee: None,
                ..new("Unassigned")
            })
            .await
            .unwrap();
        let (_, t) = get(&app, "admin", &format!("/api/tasks/{id}")).await;
        assert_eq!(t["assignee"], "bot:shop");

        // A setting that is not an organization id is an error, not a silent default.
        app.state.bots.publish(BotInfo {
            id: shop,
            name: "shop".into(),
            settings: [("organization".to_string(), "sales".to_string())].into(),
            ..Default::default()
        });
        let e = app.state.todos.create(new("Lost")).await.unwrap_err();
        assert!(
            matches!(&e, AppError::BadRequest(m) if m.contains("organization")),
            "{e:?}"
        );
    }
}

#[test]
fn the_tasks_table_migrates_up_down_and_up_again() {
    for db in TestDb::all() {
        botstate::testing::check_up_down_up(
            &db.connect(),
            &[&botstate::CORE_MIGRATIONS, &botserver_tasks::MIGRATIONS],
        );
    }
}
