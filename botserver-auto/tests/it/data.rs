//! The bot's own tables on every backend of `TestDb::all()` (SQLite always, PostgreSQL when
//! `BOT_TEST_POSTGRES_URL` is set): definitions, typed round trips, filters compiled to
//! SQL agreeing with the in-memory ones, injection attempts, row operations, limits and
//! tenancy.

use botlib::BotId;
use botserver_auto::data::{
    self, DataError, Filter, FilterPiece, TableDef, Tables, rows, tables::ColumnType,
};
use botstate::AnyConnection;
use botstate::testing::TestDb;
use serde_json::{Map, Value, json};

/// Runs `test` on a fresh database of each backend, with this crate's migrations applied.
fn each_backend(test: impl Fn(&mut AnyConnection, &str)) {
    for db in TestDb::all() {
        let pool = db.migrated(&[&botserver_auto::MIGRATIONS]);
        let backend = pool.backend().name();
        let mut conn = pool.get().expect("connection");
        data::ensure_catalog(&mut conn).expect("the catalog SQL applies over the migration");
        test(&mut conn, backend);
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn f(text: &str) -> Filter {
    Filter::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ids(rows: &[Map<String, Value>], col: &str) -> Vec<Value> {
    rows.iter().map(|r| r[col].clone()).collect()
}

fn define(t: &Tables, c: &mut AnyConnection, name: &str, lines: &[&str]) -> Vec<String> {
    let def = TableDef::parse(name, lines).expect("definition parses");
    t.define(c, &def).expect("definition applies")
}

fn invalid(result: Result<impl std::fmt::Debug, DataError>) -> String {
    match result {
        Err(DataError::Invalid(m)) => m,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

const CONTACTS: [&str; 8] = [
    "Id integer key",
    "Name string(20)",
    "Age integer",
    "Score number",
    "Vip boolean",
    "Born date",
    "Seen datetime",
    "Tags json",
];

#[test]
fn a_defined_table_stores_typed_values_and_returns_them_typed() {
    each_backend(|c, backend| {
        let bot = BotId::for_name("typed");
        let t = Tables::new(bot);
        let added = define(&t, c, "Contacts", &CONTACTS);
        assert_eq!(
            added,
            vec!["id", "name", "age", "score", "vip", "born", "seen", "tags"]
        );

        let key = t
            .save(
                c,
                "contacts.csv",
                &obj(json!({
                    "ID": 1, "Name": "Ana", "age": "30", "score": 7.5, "vip": "yes",
                    "born": "1990-05-01", "seen": "2024-03-05T10:00:00+01:00", "tags": ["a", {"b": 2}]
                })),
            )
            .unwrap();
        assert_eq!(key, json!(1), "{backend}");
        t.save(
            c,
            "CONTACTS",
            &obj(json!({"id": "2", "name": "Bo", "age": 41, "score": 3, "vip": false, "tags": null})),
        )
        .unwrap();

        let found = t.find(c, "contacts", None, None).unwrap();
        assert_eq!(
            Value::Array(found.into_iter().map(Value::Object).collect()),
            json!([
                {"id": 1, "name": "Ana", "age": 30, "score": 7.5, "vip": true, "born": "1990-05-01",
                 "seen": "2024-03-05T09:00:00", "tags": ["a", {"b": 2}]},
                {"id": 2, "name": "Bo", "age": 41, "score": 3, "vip": false, "born": null,
                 "seen": null, "tags": null},
            ]),
            "{backend}"
        );

        // SAVE with an existing key updates only the fields it carries.
        assert_eq!(
            t.save(c, "contacts", &obj(json!({"id": 1, "age": 31}))).unwrap(),
            json!(1)
        );
        let ana = t.find(c, "contacts", Some(&f("id = 1")), None).unwrap();
        assert_eq!(
            (ana[0]["name"].clone(), ana[0]["age"].clone()),
            (json!("Ana"), json!(31))
        );

        let info = t.describe(c, "contacts.xlsx").unwrap().expect("catalogued");
        let hex = bot.as_uuid().simple().to_string();
        assert_eq!(info.physical, format!("bt_{}_contacts", &hex[..12]));
        assert!(info.defined);
        assert_eq!(info.key, "id");
        assert_eq!(t.list(c).unwrap(), vec!["contacts"]);

        // Values that do not fit are refused with a message naming the column.
        let m = invalid(t.save(c, "contacts", &obj(json!({"id": 3, "nickname": "x"}))));
        assert!(m.contains("has no column nickname"), "{m}");
        let m = invalid(t.save(c, "contacts", &obj(json!({"id": 3, "name": "a".repeat(21)}))));
        assert!(m.contains("column name") && m.contains("longer than 20"), "{m}");
        let m = invalid(t.save(c, "contacts", &obj(json!({"id": 3, "age": "old"}))));
        assert!(
            m.contains("column age") && m.contains("'old' is not a whole number"),
            "{m}"
        );
        let m = invalid(t.save(c, "contacts", &obj(json!({"id": 3, "born": "yesterday"}))));
        assert!(m.contains("not a date"), "{m}");
        let m = invalid(t.save(c, "contacts", &obj(json!({"name": "no key"}))));
        assert!(m.contains("needs a value for its key column id"), "{m}");
        match t.insert(c, "contacts", &obj(json!({"id": 2, "name": "again"}))) {
            Err(DataError::Conflict(m)) => assert!(m.contains("already has a row with key 2"), "{m}"),
            other => panic!("{backend}: expected a conflict, got {other:?}"),
        }
        assert_eq!(t.insert(c, "contacts", &obj(json!({"id": 3}))).unwrap(), json!(3));
        // A filter naming a column the definition lacks is an error.
        match t.find(c, "contacts", Some(&f("nickname = x")), None) {
            Err(DataError::Filter(e)) => assert_eq!(e.message, "unknown column nickname"),
            other => panic!("{backend}: expected a filter error, got {other:?}"),
        }
        assert_eq!(t.find(c, "contacts", None, None).unwrap().len(), 3);
    });
}

#[test]
fn tables_without_a_definition_are_created_on_first_write_and_grow_with_the_data() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("inferred"));
        assert!(t.find(c, "notes", None, None).unwrap().is_empty());
        assert_eq!(t.delete(c, "notes", &f("id = 1")).unwrap(), 0);
        assert_eq!(
            t.update(c, "notes", &f("id = 1"), &obj(json!({"a": 1}))).unwrap(),
            0
        );

        let first = t
            .save(c, "notes", &obj(json!({"text": "hi", "empty": null})))
            .unwrap();
        let first_id = first.as_str().expect("a generated text key");
        assert_eq!(uuid::Uuid::parse_str(first_id).unwrap().get_version_num(), 4);
        t.save(
            c,
            "notes.csv",
            &obj(json!({"id": "n2", "text": "yo", "stars": 3, "done": true, "meta": {"k": [1]}})),
        )
        .unwrap();
        t.save(
            c,
            "notes",
            &obj(json!({"id": "n3", "stars": "4.5", "done": "no"})),
        )
        .unwrap();

        let info = t.describe(c, "notes").unwrap().unwrap();
        assert!(!info.defined);
        let types: Vec<(&str, ColumnType)> = info.columns.iter().map(|c| (c.name.as_str(), c.ty)).collect();
        assert_eq!(
            types,
            vec![
                ("id", ColumnType::Text),
                ("text", ColumnType::Text),
                ("done", ColumnType::Boolean),
                ("meta", ColumnType::Json),
                ("stars", ColumnType::Number),
            ],
            "{backend}"
        );
        let all = t.find(c, "notes", None, None).unwrap();
        assert_eq!(
            ids(&all, "id"),
            vec![json!(first_id), json!("n2"), json!("n3")],
            "{backend}"
        );
        assert_eq!(
            Value::Object(all[0].clone()),
            json!({"id": first_id, "text": "hi", "done": null, "meta": null, "stars": null})
        );
        assert_eq!(
            Value::Object(all[1].clone()),
            json!({"id": "n2", "text": "yo", "done": true, "meta": {"k": [1]}, "stars": 3})
        );
        assert_eq!(
            (all[2]["stars"].clone(), all[2]["done"].clone()),
            (json!(4.5), json!(false))
        );

        // A column no row has yet is empty everywhere, not an error.
        assert_eq!(
            t.find(c, "notes", Some(&f("colour = red")), None).unwrap().len(),
            0
        );
        assert_eq!(
            t.find(c, "notes", Some(&f("colour <> red")), None).unwrap().len(),
            3
        );
        // Type of a grown column holds: text into a number column is refused.
        let m = invalid(t.save(c, "notes", &obj(json!({"id": "n4", "stars": "many"}))));
        assert!(m.contains("column stars"), "{m}");
        // Names are validated.
        let m = invalid(t.save(c, "notes", &obj(json!({"first name": "x"}))));
        assert!(m.contains("must start with a letter"), "{m}");
        let m = invalid(t.save(c, "notes", &obj(json!({"A": 1, "a": 2}))));
        assert!(m.contains("twice"), "{m}");
        let m = invalid(t.save(c, "notes; DROP TABLE bot_tables", &obj(json!({"a": 1}))));
        assert!(m.contains("table name"), "{m}");
        assert_eq!(t.find(c, "notes", None, None).unwrap().len(), 3);
    });
}

#[test]
fn redefining_a_table_adds_columns_and_keeps_the_data() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("redefine"));
        // A table first written without a definition...
        t.save(c, "leads", &obj(json!({"id": "l1", "name": "Ana", "budget": 10})))
            .unwrap();
        // ...then defined: new columns are added, existing ones kept with their data.
        let added = define(
            &t,
            c,
            "leads",
            &["id string key", "name string", "phone string", "since date"],
        );
        assert_eq!(added, vec!["phone", "since"], "{backend}");
        let added = define(
            &t,
            c,
            "leads",
            &["name integer", "phone string", "email string(50)"],
        );
        assert_eq!(added, vec!["email"], "{backend}");
        let info = t.describe(c, "leads").unwrap().unwrap();
        assert!(info.defined);
        assert_eq!(
            info.column("name").unwrap().ty,
            ColumnType::Text,
            "types never change"
        );
        assert!(info.column("budget").is_some(), "columns are never dropped");
        t.save(
            c,
            "leads",
            &obj(json!({"id": "l2", "name": "Bo", "phone": "555", "since": "2024-01-31"})),
        )
        .unwrap();
        let rows = t.find(c, "leads", None, None).unwrap();
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            json!([
                {"id": "l1", "name": "Ana", "budget": 10, "phone": null, "since": null, "email": null},
                {"id": "l2", "name": "Bo", "budget": null, "phone": "555", "since": "2024-01-31", "email": null},
            ]),
            "{backend}"
        );
        // Now that it is defined, fields outside the definition are refused.
        let m = invalid(t.save(c, "leads", &obj(json!({"id": "l3", "fax": "1"}))));
        assert!(m.contains("has no column fax"), "{m}");
    });
}

#[test]
fn sql_filters_agree_with_in_memory_filters() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("filters"));
        define(
            &t,
            c,
            "people",
            &[
                "name string",
                "age integer",
                "score number",
                "vip boolean",
                "city string",
                "born date",
            ],
        );
        let people = json!([
            {"id": "a", "name": "Ana", "age": 30, "score": 7.5, "vip": true, "city": "Rio", "born": "1994-02-01"},
            {"id": "b", "name": "bob", "age": 17, "score": 4, "vip": false, "city": "", "born": "2007-06-30"},
            {"id": "c", "name": "Carla", "age": 45, "score": 9.25, "city": "Lisbon", "born": "1979-12-24"},
            {"id": "d", "name": "dora", "score": 5.5, "vip": true},
            {"id": "e", "name": "Ed O'Hara", "age": 30, "vip": false, "city": "Rio"},
        ]);
        for p in people.as_array().unwrap() {
            t.save(c, "people", &obj(p.clone())).unwrap();
        }
        let all = t.find(c, "people", None, None).unwrap();
        let all_values: Vec<Value> = all.iter().cloned().map(Value::Object).collect();
        let filters = [
            "age > 29",
            "age >= '30'",
            "age > 29.5",
            "age = 30 AND city = Rio",
            "name = Ana",
            "name <> Ana",
            "name == 'Ed O''Hara'",
            "city = ''",
            "city = NULL",
            "city IS NOT NULL",
            "city <> NULL",
            "city <> Rio",
            "name LIKE 'a%'",
            "name like '%O%'",
            "name NOT LIKE '_o%'",
            "vip = TRUE",
            "vip = 'yes'",
            "NOT vip = TRUE",
            "vip <> false",
            "score < 5.5 OR age IS NULL",
            "(age > 20 AND age < 40) OR city = Lisbon",
            "age > 20 AND (age < 40 OR city = Lisbon)",
            "born < 1990-01-01",
            "born >= '2000-01-01' OR NOT (score > 5)",
            "NOT (age > 30)",
            "age < NULL",
            "score = 9.25",
            "score = '7.50'",
        ];
        for text in filters {
            let filter = f(text);
            let sql = t.find(c, "people", Some(&filter), None).unwrap();
            let memory = rows::filter(&all_values, &filter);
            let memory_ids: Vec<Value> = memory.iter().map(|r| r["id"].clone()).collect();
            assert_eq!(ids(&sql, "id"), memory_ids, "{backend}: {text}");
        }
        // And some answers checked by hand.
        let by_hand: [(&str, &[&str]); 6] = [
            ("age > 29", &["a", "c", "e"]),
            ("city = ''", &["b", "d"]),
            ("city <> Rio", &["b", "c", "d"]),
            ("name LIKE 'a%'", &["a"]),
            ("NOT vip = TRUE", &["b", "c", "e"]),
            ("age = 30 AND city = Rio OR name = dora", &["a", "d", "e"]),
        ];
        for (text, want) in by_hand {
            let got = ids(&t.find(c, "people", Some(&f(text)), None).unwrap(), "id");
            let want: Vec<Value> = want.iter().map(|s| json!(s)).collect();
            assert_eq!(got, want, "{backend}: {text}");
        }
        // A value that does not fit the column type is a filter error, not a database one.
        match t.find(c, "people", Some(&f("age > old")), None) {
            Err(DataError::Filter(e)) => assert!(e.message.contains("column age"), "{}", e.message),
            other => panic!("{backend}: expected a filter error, got {other:?}"),
        }
    });
}

#[test]
fn interpolated_values_are_bound_never_spliced() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("injection"));
        for (id, name) in [("1", "Ana"), ("2", "Bo")] {
            t.save(c, "users", &obj(json!({"id": id, "name": name}))).unwrap();
        }
        let evil = "x' OR 1=1 --";
        let by_name = |v: &str| {
            Filter::parse(&[FilterPiece::Text("name = ".into()), FilterPiece::Value(json!(v))]).unwrap()
        };
        assert!(
            t.find(c, "users", Some(&by_name(evil)), None).unwrap().is_empty(),
            "{backend}"
        );
        assert_eq!(t.delete(c, "users", &by_name(evil)).unwrap(), 0);
        assert_eq!(
            t.update(c, "users", &by_name(evil), &obj(json!({"name": "pwned"})))
                .unwrap(),
            0
        );
        let quoted = Filter::parse(&[
            FilterPiece::Text("name = '".into()),
            FilterPiece::Value(json!("Ana' OR name <> '")),
            FilterPiece::Text("'".into()),
        ])
        .unwrap();
        assert!(
            t.find(c, "users", Some(&quoted), None).unwrap().is_empty(),
            "{backend}"
        );
        // Stored and found again verbatim.
        let tricky = [evil, "Robert'); DROP TABLE users;--", "\"quoted\" \\ back", "%_"];
        for (i, name) in tricky.iter().enumerate() {
            t.save(c, "users", &obj(json!({"id": format!("t{i}"), "name": name})))
                .unwrap();
        }
        for (i, name) in tricky.iter().enumerate() {
            let found = t.find(c, "users", Some(&by_name(name)), None).unwrap();
            assert_eq!(
                ids(&found, "id"),
                vec![json!(format!("t{i}"))],
                "{backend}: {name}"
            );
            assert_eq!(found[0]["name"], json!(name));
        }
        assert_eq!(t.find(c, "users", None, None).unwrap().len(), 6);
        // `%` and `_` in SEARCH are literal characters.
        assert_eq!(
            ids(&t.search(c, "users", "%_", None).unwrap(), "id"),
            vec![json!("t3")]
        );
        assert_eq!(t.list(c).unwrap(), vec!["users"]);
    });
}

#[test]
fn update_delete_merge_and_search() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("ops"));
        define(
            &t,
            c,
            "customers",
            &[
                "email string key",
                "name string",
                "city string",
                "visits integer",
                "vip boolean",
            ],
        );
        for (email, name, city, visits) in [
            ("ana@x.org", "Ana Lima", "Rio", 3),
            ("bo@x.org", "Bo Ek", "Rio", 0),
            ("cy@x.org", "Cy Rios", "Lisbon", 7),
        ] {
            t.insert(
                c,
                "customers",
                &obj(json!({"email": email, "name": name, "city": city, "visits": visits})),
            )
            .unwrap();
        }
        // UPDATE counts the rows changed.
        let n = t
            .update(c, "customers", &f("city = Rio"), &obj(json!({"vip": true})))
            .unwrap();
        assert_eq!(n, 2, "{backend}");
        let vips = t.find(c, "customers", Some(&f("vip = TRUE")), None).unwrap();
        assert_eq!(ids(&vips, "email"), vec![json!("ana@x.org"), json!("bo@x.org")]);
        let m = invalid(t.update(c, "customers", &f("city = Rio"), &obj(json!({"email": ""}))));
        assert!(m.contains("cannot be emptied"), "{m}");

        // MERGE by the key: one update, one insert.
        let n = t
            .merge(
                c,
                "customers",
                &[
                    obj(json!({"email": "ana@x.org", "visits": 4})),
                    obj(json!({"email": "di@x.org", "name": "Di", "city": "Porto", "visits": 1})),
                ],
                "Email",
            )
            .unwrap();
        assert_eq!(n, 2, "{backend}");
        let ana = t
            .find(c, "customers", Some(&f("email = 'ana@x.org'")), None)
            .unwrap();
        assert_eq!(
            (ana[0]["visits"].clone(), ana[0]["name"].clone()),
            (json!(4), json!("Ana Lima"))
        );

        // MERGE by another column: every row with that value is updated, or one inserted.
        let n = t
            .merge(
                c,
                "customers",
                &[
                    obj(json!({"city": "Rio", "visits": 10})),
                    obj(json!({"city": "Faro", "email": "ed@x.org", "name": "Ed"})),
                ],
                "city",
            )
            .unwrap();
        assert_eq!(n, 2);
        let rio = t.find(c, "customers", Some(&f("city = Rio")), None).unwrap();
        assert_eq!(ids(&rio, "visits"), vec![json!(10), json!(10)], "{backend}");
        assert_eq!(t.find(c, "customers", None, None).unwrap().len(), 5);
        let m = invalid(t.merge(c, "customers", &[obj(json!({"name": "no city"}))], "city"));
        assert!(m.contains("has no city"), "{m}");

        // SEARCH: every word somewhere in the text columns, case-insensitive.
        let mut hits = |text: &str| ids(&t.search(c, "customers", text, None).unwrap(), "email");
        assert_eq!(
            hits("rio"),
            vec![json!("ana@x.org"), json!("bo@x.org"), json!("cy@x.org")]
        );
        assert_eq!(hits("RIO lima"), vec![json!("ana@x.org")]);
        assert_eq!(hits("lisbon cy"), vec![json!("cy@x.org")]);
        assert_eq!(hits("x.org faro"), vec![json!("ed@x.org")]);
        assert!(hits("rio nobody").is_empty());
        assert!(hits("   ").is_empty());
        assert_eq!(t.search(c, "customers", "rio", Some(1)).unwrap().len(), 1);

        // DELETE counts the rows removed.
        assert_eq!(
            t.delete(c, "customers", &f("visits >= 10 OR city = Faro"))
                .unwrap(),
            3
        );
        assert_eq!(t.delete(c, "customers", &f("visits >= 10")).unwrap(), 0);
        let left = t.find(c, "customers", None, None).unwrap();
        assert_eq!(
            ids(&left, "email"),
            vec![json!("cy@x.org"), json!("di@x.org")],
            "{backend}"
        );
    });
}

#[test]
fn one_bot_never_reaches_another_bots_tables() {
    each_backend(|c, backend| {
        let a = Tables::new(BotId::for_name("alpha"));
        let b = Tables::new(BotId::for_name("beta"));
        define(&a, c, "contacts", &["name string", "secret string"]);
        a.save(
            c,
            "contacts",
            &obj(json!({"id": "1", "name": "Ana", "secret": "a-only"})),
        )
        .unwrap();

        assert!(b.find(c, "contacts", None, None).unwrap().is_empty(), "{backend}");
        assert!(b.search(c, "contacts", "a-only", None).unwrap().is_empty());
        assert!(b.describe(c, "contacts").unwrap().is_none());
        assert!(b.list(c).unwrap().is_empty());
        assert_eq!(b.delete(c, "contacts", &f("id = 1")).unwrap(), 0);
        assert_eq!(
            b.update(c, "contacts", &f("id = 1"), &obj(json!({"secret": "x"})))
                .unwrap(),
            0
        );

        // B's own table of the same name is another table, with B's own columns.
        b.save(
            c,
            "contacts",
            &obj(json!({"id": "1", "name": "Bo", "colour": "red"})),
        )
        .unwrap();
        let pa = a.describe(c, "contacts").unwrap().unwrap();
        let pb = b.describe(c, "contacts").unwrap().unwrap();
        assert_ne!(pa.physical, pb.physical);
        assert!(!pb.defined);
        assert_eq!(b.delete(c, "contacts", &f("id <> ''")).unwrap(), 1);
        let rows = a.find(c, "contacts", None, None).unwrap();
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            json!([{"id": "1", "name": "Ana", "secret": "a-only"}]),
            "{backend}"
        );

        // Two bots whose ids share the first 12 hex digits still get separate tables.
        let twin1 = Tables::new(uuid::Uuid::from_u128(0x1234_5678_9abc_4000_8000_0000_0000_0001));
        let twin2 = Tables::new(uuid::Uuid::from_u128(0x1234_5678_9abc_4000_8000_0000_0000_0002));
        twin1.save(c, "log", &obj(json!({"line": "one"}))).unwrap();
        twin2.save(c, "log", &obj(json!({"line": "two"}))).unwrap();
        let p1 = twin1.describe(c, "log").unwrap().unwrap().physical;
        let p2 = twin2.describe(c, "log").unwrap().unwrap().physical;
        assert_ne!(p1, p2);
        assert_eq!(
            ids(&twin1.find(c, "log", None, None).unwrap(), "line"),
            vec![json!("one")]
        );
        assert_eq!(
            ids(&twin2.find(c, "log", None, None).unwrap(), "line"),
            vec![json!("two")]
        );
    });
}

#[test]
fn limits_on_rows_columns_and_names_hold() {
    each_backend(|c, backend| {
        let t = Tables::new(BotId::for_name("limits")).with_max_rows(3);
        assert_eq!(t.max_rows(), 3);
        for i in 0..5 {
            t.save(
                c,
                "items",
                &obj(json!({"id": format!("i{i}"), "label": format!("item {i}")})),
            )
            .unwrap();
        }
        assert_eq!(
            ids(&t.find(c, "items", None, None).unwrap(), "id"),
            vec![json!("i0"), json!("i1"), json!("i2")],
            "{backend}"
        );
        assert_eq!(t.find(c, "items", None, Some(2)).unwrap().len(), 2);
        assert_eq!(t.find(c, "items", None, Some(100)).unwrap().len(), 3);
        assert_eq!(t.find(c, "items", None, Some(0)).unwrap().len(), 0);
        assert_eq!(t.search(c, "items", "item", None).unwrap().len(), 3);

        // At most 200 columns, whether in one row or grown over several.
        let wide: Map<String, Value> = (0..201).map(|i| (format!("c{i}"), json!(i))).collect();
        let m = invalid(t.save(c, "wide", &wide));
        assert!(m.contains("at most 200"), "{m}");
        let half: Map<String, Value> = (0..150).map(|i| (format!("c{i}"), json!(i))).collect();
        t.save(c, "wide", &half).unwrap();
        let more: Map<String, Value> = (150..210).map(|i| (format!("c{i}"), json!(i))).collect();
        let m = invalid(t.save(c, "wide", &more));
        assert!(m.contains("at most 200"), "{m}");
        // A table just under the limit reads back whole (several JSON chunks per row).
        let row = &t.find(c, "wide", None, None).unwrap()[0];
        assert_eq!(row.len(), 151, "{backend}");
        assert_eq!((row["c0"].clone(), row["c149"].clone()), (json!(0), json!(149)));

        // Names longer than 63 characters are refused; 63 fit.
        let long = "n".repeat(63);
        t.save(c, &long, &obj(json!({long.clone(): 1}))).unwrap();
        assert_eq!(t.find(c, &long, None, None).unwrap()[0][&long], json!(1));
        let m = invalid(t.save(c, &"n".repeat(64), &obj(json!({"a": 1}))));
        assert!(m.contains("longer than 63"), "{m}");
        let m = invalid(t.save(c, "items", &obj(json!({"n".repeat(64): 1}))));
        assert!(m.contains("longer than 63"), "{m}");
    });
}

#[test]
fn another_instance_reads_the_same_catalog() {
    for db in TestDb::all() {
        let pool = db.connect();
        let backend = pool.backend().name();
        let mut first = pool.get().expect("connection");
        let mut second = pool.get().expect("a second connection");
        data::ensure_catalog(&mut first).unwrap();
        let bot = BotId::for_name("shared");
        // Two handles on two connections, as two server instances would have.
        let one = Tables::new(bot);
        let two = Tables::new(*bot.as_uuid());
        define(
            &one,
            &mut first,
            "flags",
            &["name string key", "on boolean", "weight number"],
        );
        two.save(
            &mut second,
            "flags",
            &obj(json!({"name": "dark", "on": 1, "weight": "2"})),
        )
        .unwrap();
        let rows = one.find(&mut first, "flags", None, None).unwrap();
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            json!([{"name": "dark", "on": true, "weight": 2}]),
            "{backend}"
        );
        let m = invalid(one.save(&mut first, "flags", &obj(json!({"name": "x", "extra": 1}))));
        assert!(m.contains("has no column extra"), "{m}");
    }
}

#[test]
fn the_catalog_migration_applies_reverts_and_reapplies() {
    use diesel::connection::SimpleConnection;
    for db in TestDb::all() {
        let pool = db.connect();
        let mut conn = pool.get().expect("connection");
        let (up, down) = match &mut *conn {
            AnyConnection::Sqlite(_) => (
                include_str!("../../migrations/sqlite/2026-11-26-000200_bot_tables/up.sql"),
                include_str!("../../migrations/sqlite/2026-11-26-000200_bot_tables/down.sql"),
            ),
            AnyConnection::Postgresql(_) => (
                include_str!("../../migrations/postgres/2026-11-26-000200_bot_tables/up.sql"),
                include_str!("../../migrations/postgres/2026-11-26-000200_bot_tables/down.sql"),
            ),
        };
        let empty = botstate::testing::schema_snapshot(&mut conn);
        conn.batch_execute(up).expect("up applies");
        let full = botstate::testing::schema_snapshot(&mut conn);
        assert!(full.iter().any(|l| l.contains("bot_tables")), "{full:?}");
        conn.batch_execute(down).expect("down applies");
        assert_eq!(
            botstate::testing::schema_snapshot(&mut conn),
            empty,
            "down undoes up"
        );
        data::ensure_catalog(&mut conn).expect("up applies again");
        assert_eq!(
            botstate::testing::schema_snapshot(&mut conn),
            full,
            "the same schema again"
        );
    }
}
