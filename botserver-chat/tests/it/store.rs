//! The message log's queries on the real databases.

use botserver_chat::store::{self, Session, Stored};
use botstate::testing::TestDb;
use diesel::RunQueryDsl;

fn session(id: &str) -> Session {
    Session {
        id: id.into(),
        bot_id: "b".into(),
        bot_name: "bot".into(),
        user_id: "u".into(),
        anonymous: true,
        channel: "web".into(),
        started: true,
        created_at: 0,
        updated_at: 0,
    }
}

#[test]
fn the_next_pending_message_is_the_oldest_unanswered_one_and_found_through_its_index() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&botstate::CORE_MIGRATIONS, &botserver_chat::MIGRATIONS]);
        let mut conn = db.get().unwrap();
        let c = &mut *conn;
        store::create_session(c, &session("s1")).unwrap();
        store::create_session(c, &session("s2")).unwrap();
        let mut seqs = Vec::new();
        for i in 0..40 {
            let Some(Stored::New(seq)) =
                store::add_user_message(c, "s1", "text", &format!("m{i}"), None).unwrap()
            else {
                panic!("stored");
            };
            seqs.push(seq);
        }
        store::add_user_message(c, "s2", "text", "other", None).unwrap();
        // The first 25 answered (each answer is a bot message in the log too).
        for &seq in &seqs[..25] {
            let out = store::finish_turn(c, "s1", Some(seq), false, &[]).unwrap();
            assert!(out.is_empty());
        }
        let next = store::next_pending(c, "s1").unwrap().expect("one pending");
        assert_eq!((next.seq, next.content.as_str()), (seqs[25], "m25"));
        let after = store::next_pending_after(c, "s1", seqs[30])
            .unwrap()
            .expect("pending after");
        assert_eq!(after.seq, seqs[31]);
        for &seq in &seqs[25..] {
            store::finish_turn(c, "s1", Some(seq), false, &[]).unwrap();
        }
        assert_eq!(store::next_pending(c, "s1").unwrap(), None);
        assert_eq!(store::next_pending(c, "s2").unwrap().unwrap().content, "other");
        if db.backend() == botstate::Backend::Sqlite {
            // The literal condition lets SQLite use the partial index: one entry read,
            // not the whole log of the session.
            #[derive(diesel::QueryableByName)]
            struct Plan {
                #[diesel(sql_type = diesel::sql_types::Text)]
                detail: String,
            }
            let plan: Vec<Plan> = diesel::sql_query(
                "EXPLAIN QUERY PLAN SELECT seq FROM chat_messages WHERE chat_messages.session_id = 's1' \
                 AND chat_messages.status = 'pending' ORDER BY chat_messages.seq LIMIT 1",
            )
            .load(c)
            .unwrap();
            assert!(
                plan.iter().any(|p| p.detail.contains("chat_messages_pending")),
                "{:?}",
                plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
            );
        }
    }
}

/// Storing an answer: once only per message, and nothing at all once the session is
/// deleted (on SQLite without touching the session row first: the message's own update
/// finds both cases).
#[test]
fn an_answer_is_stored_once_and_never_for_a_deleted_session() {
    for tdb in TestDb::all() {
        let db = tdb.migrated(&[&botstate::CORE_MIGRATIONS, &botserver_chat::MIGRATIONS]);
        let mut conn = db.get().unwrap();
        let c = &mut *conn;
        let reply = |s: &str| store::BotText {
            content: s.into(),
            suggestions: vec![],
            kind: "text",
        };
        store::create_session(c, &session("s1")).unwrap();
        let Some(Stored::New(first)) = store::add_user_message(c, "s1", "text", "hi", None).unwrap() else {
            panic!("stored");
        };
        let Some(Stored::New(second)) = store::add_user_message(c, "s1", "text", "again", None).unwrap()
        else {
            panic!("stored");
        };
        let out = store::finish_turn(c, "s1", Some(first), false, &[reply("hello")]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].seq, out[0].content.as_str()), (second + 1, "hello"));
        // The same message answered again (another worker, after a lost lock): nothing.
        assert!(
            store::finish_turn(c, "s1", Some(first), false, &[reply("twice")])
                .unwrap()
                .is_empty()
        );
        // The session deleted before the second answer is stored: nothing, no orphan.
        assert!(store::delete_session(c, "s1").unwrap());
        assert!(
            store::finish_turn(c, "s1", Some(second), false, &[reply("late")])
                .unwrap()
                .is_empty()
        );
        assert!(
            store::finish_turn(c, "s1", None, true, &[reply("start")])
                .unwrap()
                .is_empty()
        );
        let woken = store::finish_turn(c, "s1", None, false, &[reply("woken")]).unwrap();
        assert!(woken.is_empty());
        assert!(store::messages_after(c, "s1", 0, 100).unwrap().is_empty());
    }
}
