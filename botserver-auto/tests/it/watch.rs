//! The bots folder watcher: new, changed and removed packages take effect; unchanged ones
//! are not reloaded; a broken script keeps its last good version and shows its error.

use crate::support::{backend, state_on};
use botlib::BotId;
use botserver_auto::dialog::Dialogs;
use botserver_auto::runtime::{Services, SessionInfo};
use botserver_auto::watch;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn write(dir: &Path, bot: &str, file: &str, src: &str) {
    let d = dir.join(format!("{bot}.gbai/{bot}.gbdialog"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(file), src).unwrap();
}

fn info(bot: &str, session: &str) -> SessionInfo {
    SessionInfo {
        bot_id: BotId::for_name(bot),
        bot_name: bot.into(),
        session_id: session.into(),
        user_id: "u".into(),
        user_name: String::new(),
        user_email: String::new(),
        user_phone: String::new(),
        channel: "test".into(),
        language: "en".into(),
    }
}

async fn say(d: &Dialogs, bot: &str, session: &str) -> Vec<String> {
    d.turn(info(bot, session), None)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.content)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_folder_is_followed_and_a_broken_script_keeps_its_last_good_version() {
    let db = backend();
    let state = state_on(&db).await;
    let d = Arc::new(Dialogs::new(Arc::new(Services::new(&state).unwrap())));
    let dir = tempfile::tempdir().unwrap();
    let mut seen = BTreeMap::new();

    write(dir.path(), "w", "start.bas", "TALK \"v1\"\n");
    let c = watch::sync(&d, dir.path(), &mut seen).await;
    assert_eq!(c.loaded, ["w"]);
    assert_eq!(say(&d, "w", "a").await, ["v1"]);

    // Nothing changed: nothing reloaded.
    assert_eq!(watch::sync(&d, dir.path(), &mut seen).await, Default::default());

    write(dir.path(), "w", "start.bas", "TALK \"v2\"\n");
    assert_eq!(watch::sync(&d, dir.path(), &mut seen).await.loaded, ["w"]);
    assert_eq!(say(&d, "w", "b").await, ["v2"]);

    // A broken change: the last good version keeps serving, the error is visible.
    write(dir.path(), "w", "start.bas", "TALK \"v3\"\nPUBLISH x\n");
    watch::sync(&d, dir.path(), &mut seen).await;
    assert_eq!(say(&d, "w", "c").await, ["v2"]);
    let pkg = d.package(BotId::for_name("w")).unwrap();
    assert_eq!(pkg.errors.len(), 1);
    assert!(
        pkg.errors[0]
            .to_string()
            .starts_with("start.bas:2:1: unknown keyword PUBLISH")
    );

    std::fs::remove_dir_all(dir.path().join("w.gbai")).unwrap();
    assert_eq!(watch::sync(&d, dir.path(), &mut seen).await.removed, ["w"]);
    assert!(d.package(BotId::for_name("w")).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_package_takes_effect_within_two_seconds() {
    let db = backend();
    let state = state_on(&db).await;
    let d = Arc::new(Dialogs::new(Arc::new(Services::new(&state).unwrap())));
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(watch::run(
        d.clone(),
        dir.path().to_path_buf(),
        BTreeMap::new(),
        async move {
            let _ = rx.await;
        },
    ));
    let written = Instant::now();
    write(dir.path(), "late", "start.bas", "TALK \"here\"\n");
    while d.package(BotId::for_name("late")).is_none() {
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "not loaded within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(say(&d, "late", "s").await, ["here"]);
    tx.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_bot_ships_in_the_binary_and_works_without_a_model() {
    let pkg = watch::builtin_default();
    assert!(pkg.errors.is_empty(), "{:?}", pkg.errors);
    assert_eq!(pkg.config["bot-name"], "Default bot");
    let db = backend();
    let state = state_on(&db).await;
    let d = Arc::new(Dialogs::new(Arc::new(Services::new(&state).unwrap())));
    d.install(pkg).await.unwrap();
    let out = d.turn(info("default", "d"), None).await.unwrap();
    let said: Vec<&str> = out.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        said,
        [
            "Hello! I am the default bot of this botserver.",
            "What would you like to know?"
        ]
    );
    assert_eq!(out.messages[1].suggestions.len(), 4);
    let said = d
        .turn(info("default", "d"), Some("1".into()))
        .await
        .unwrap()
        .messages;
    assert!(
        said[0].content.starts_with("I run dialogs written in BASIC"),
        "{said:?}"
    );
    assert_eq!(said[1].content, "What would you like to know?");
    let said = d
        .turn(info("default", "d"), Some("goodbye".into()))
        .await
        .unwrap()
        .messages;
    assert_eq!(said[0].content, "Goodbye! Write again whenever you like.");
    assert_eq!(d.outcome("d").await.unwrap().unwrap().0, "done");
}
