//! The data keywords (spec §6) at run time: SAVE, INSERT, UPDATE, DELETE, MERGE, FIND and
//! SEARCH on the bot's tables ([`crate::data::tables`]), journaled (writes are made durable
//! before the script goes on), and FILTER, AGGREGATE, JOIN, GROUP BY and SORT in memory.

use super::filters;
use super::values as v;
use super::{runtime_error, with_ctx};
use crate::compile::TableBlock;
use crate::data::{TableDef, Tables, rows};
use botlib::BotId;
use botstate::AnyConnection;
use rhai::{Array, Dynamic, EvalAltResult};
use serde_json::{Map, Value as Json};

type R = Result<Dynamic, Box<EvalAltResult>>;

/// A database operation, prepared before it is journaled.
enum Op {
    Save(Map<String, Json>),
    /// `SAVE "t", a, b, c` with values that are not all variables: columns by the TABLE's
    /// order.
    SavePositional(Vec<Json>),
    Insert(Map<String, Json>),
    Update(crate::data::Filter, Map<String, Json>),
    Delete(crate::data::Filter),
    Merge(Vec<Map<String, Json>>, String),
    Find(Option<crate::data::Filter>, Option<usize>),
    Search(String, Option<usize>),
}

fn err(m: impl Into<String>) -> Box<EvalAltResult> {
    runtime_error(m)
}

fn json_rows(x: &Dynamic) -> Vec<Json> {
    match v::to_json(x) {
        Json::Array(a) => a,
        Json::Null => Vec::new(),
        Json::String(s) if s.is_empty() => Vec::new(),
        one => vec![one],
    }
}

fn object(x: &Dynamic, what: &str) -> Result<Map<String, Json>, Box<EvalAltResult>> {
    match v::to_json(x) {
        Json::Object(m) => Ok(m),
        other => Err(err(format!("{what} needs an object (a row), got {other}"))),
    }
}

/// Defines the tables of `TABLE` blocks (at install time); errors name the line.
pub fn define_tables(conn: &mut AnyConnection, bot: BotId, blocks: &[TableBlock]) -> Result<(), String> {
    let tables = Tables::new(bot);
    for b in blocks {
        let lines: Vec<&str> = b.lines.iter().map(|(l, _)| l.as_str()).collect();
        let def = TableDef::parse(&b.name, &lines).map_err(|e| {
            let line = e.line.and_then(|i| b.lines.get(i)).map_or(0, |(_, n)| *n);
            format!("TABLE {} (line {line}): {}", b.name, e.message)
        })?;
        tables.define(conn, &def).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(super) fn call(name: &str, a: &Array) -> R {
    let arg = |i: usize| a.get(i).cloned().unwrap_or(Dynamic::UNIT);
    match name {
        "FILTER" => {
            let f = filters::parse(&arg(1)).map_err(err)?;
            return Ok(v::from_json(&Json::Array(rows::filter(&json_rows(&arg(0)), &f))));
        }
        "AGGREGATE" => {
            let r = rows::aggregate(&v::text(&arg(0)), &json_rows(&arg(1)), &v::text(&arg(2)))
                .map_err(|e| err(e.to_string()))?;
            return Ok(v::from_json(&r));
        }
        "JOIN" => {
            let (a, b) = (json_rows(&arg(0)), json_rows(&arg(1)));
            if a.len().saturating_mul(b.len()) > 10_000_000 {
                return Err(err(format!(
                    "JOIN of {} by {} rows is too large",
                    a.len(),
                    b.len()
                )));
            }
            let r = rows::join(&a, &b, &v::text(&arg(2)));
            return Ok(v::from_json(&Json::Array(r)));
        }
        "GROUP BY" => {
            let r = rows::group_by(&json_rows(&arg(0)), &v::text(&arg(1)));
            return Ok(v::from_json(&Json::Object(r)));
        }
        "SORT" => {
            let col = arg(1);
            let desc = v::truthy(&arg(2));
            if col.is_unit() {
                return super::builtins::call("SORT", &[arg(0)]);
            }
            let r = rows::sort(&json_rows(&arg(0)), &v::text(&col), desc);
            return Ok(v::from_json(&Json::Array(r)));
        }
        "SAVE FROM UNSTRUCTURED" => {
            let row = super::keywords::extract_row(v::text(&arg(0)), v::text(&arg(1)))?;
            let args: Array = vec![
                arg(0),
                Dynamic::from_array(Vec::new()),
                Dynamic::from_array(vec![row]),
            ];
            return call("SAVE", &args);
        }
        _ => {}
    }
    let table = v::text(&arg(0));
    // Everything else touches the database: prepare the call's inputs, then journal it.
    let limit = |x: Dynamic| v::number(&x).map(|n| n.f().max(0.0) as usize);
    let op = match name {
        "SAVE" => {
            let names = super::builtins::items(&arg(1));
            let values = super::builtins::items(&arg(2));
            if values.len() == 1 && values[0].is_map() {
                Op::Save(object(&values[0], "SAVE")?)
            } else {
                if names.iter().any(|n| v::text(n).is_empty()) {
                    Op::SavePositional(values.iter().map(v::to_json).collect())
                } else {
                    let mut row = Map::new();
                    for (n, val) in names.iter().zip(values.iter()) {
                        row.insert(v::text(n), v::to_json(val));
                    }
                    Op::Save(row)
                }
            }
        }
        "INSERT" => Op::Insert(object(&arg(1), "INSERT")?),
        "UPDATE" => Op::Update(filters::parse(&arg(1)).map_err(err)?, object(&arg(2), "UPDATE")?),
        "DELETE" => {
            if a.len() < 2 {
                return Err(err(
                    "DELETE needs a table and a filter (DELETE \"t\", \"id = 3\"), or a URL",
                ));
            }
            Op::Delete(filters::parse(&arg(1)).map_err(err)?)
        }
        "MERGE" => {
            let rows: Result<Vec<_>, _> = json_rows(&arg(1))
                .into_iter()
                .map(|r| match r {
                    Json::Object(m) => Ok(m),
                    other => Err(err(format!("MERGE needs rows (objects), got {other}"))),
                })
                .collect();
            Op::Merge(rows?, v::text(&arg(2)))
        }
        "FIND" => {
            let f = if a.len() > 1 && !v::is_empty(&filters_text(&arg(1))) {
                Some(filters::parse(&arg(1)).map_err(err)?)
            } else {
                None
            };
            Op::Find(f, limit(arg(2)))
        }
        "SEARCH" => Op::Search(v::text(&arg(1)), limit(arg(2))),
        other => return Err(err(format!("{other} is not a data keyword"))),
    };
    let write = !matches!(op, Op::Find(..) | Op::Search(..));
    let j = with_ctx(|ctx| {
        let bot = ctx.session.bot_id;
        let r = ctx.effect(name, |ctx| {
            let r = {
                let mut conn = ctx.services.db.get().map_err(|e| e.to_string())?;
                let t = Tables::new(bot);
                let c: &mut AnyConnection = &mut conn;
                // SQLite refuses (without waiting) a transaction that read and then writes
                // while another connection wrote meanwhile; the operation is one transaction,
                // rolled back on failure, so trying it again is safe.
                let mut attempt = 0;
                let r = loop {
                    let r = run_op(&t, c, &table, &op);
                    match &r {
                        Err(crate::data::DataError::Database(e))
                            if attempt < 100 && e.to_string().contains("database is locked") =>
                        {
                            attempt += 1;
                            std::thread::sleep(std::time::Duration::from_millis(2 + attempt));
                        }
                        _ => break r,
                    }
                };
                r.map_err(|e| format!("{name} {table}: {e}"))?
            };
            // (The connection went back to the pool above: firing needs one of its own.)
            // `ON INSERT OF` / `ON UPDATE OF` / `ON DELETE OF` scripts run on the
            // scheduler (queued, once, on some instance). Inside the effect: a replayed
            // write does not fire again.
            let event = match name {
                "INSERT" | "SAVE" => Some("insert"),
                "UPDATE" | "MERGE" => Some("update"),
                "DELETE" => Some("delete"),
                _ => None,
            };
            if let Some(kind) = event {
                let s = ctx.services.clone();
                let payload = serde_json::json!({ "table": table, "op": name, "result": r });
                let fired =
                    s.rt.block_on(s.scheduler.fire_event(bot, &format!("{kind}:{table}"), payload));
                if let Err(e) = fired
                    && !matches!(e, botlib::AppError::NotConfigured(_))
                {
                    tracing::warn!(bot = %bot, table = %table, error = %e, "data event not fired");
                }
            }
            Ok(r)
        });
        if write && r.is_ok() {
            ctx.checkpoint()?;
        }
        r
    })??;
    Ok(v::from_json(&j))
}

fn run_op(t: &Tables, c: &mut AnyConnection, table: &str, op: &Op) -> Result<Json, crate::data::DataError> {
    let rows = |rows: Vec<Map<String, Json>>| Json::Array(rows.into_iter().map(Json::Object).collect());
    match op {
        Op::Save(row) => t.save(c, table, row),
        Op::SavePositional(values) => {
            let info = t.describe(c, table)?.filter(|i| i.defined).ok_or_else(|| {
                crate::data::DataError::Invalid(format!(
                    "SAVE \"{table}\", values…: some values are not variables, so their columns come from the \
                     TABLE's order, and {table} has no TABLE definition; pass an object instead"
                ))
            })?;
            if values.len() > info.columns.len() {
                return Err(crate::data::DataError::Invalid(format!(
                    "SAVE: {} values for the {} columns of {table}",
                    values.len(),
                    info.columns.len()
                )));
            }
            let row: Map<String, Json> = info
                .columns
                .iter()
                .zip(values.iter())
                .map(|(col, val)| (col.name.clone(), val.clone()))
                .collect();
            t.save(c, table, &row)
        }
        Op::Insert(row) => t.insert(c, table, row),
        Op::Update(f, patch) => t.update(c, table, f, patch).map(|n| Json::from(n as u64)),
        Op::Delete(f) => t.delete(c, table, f).map(|n| Json::from(n as u64)),
        Op::Merge(list, key) => t.merge(c, table, list, key).map(|n| Json::from(n as u64)),
        Op::Find(f, limit) => t.find(c, table, f.as_ref(), *limit).map(rows),
        Op::Search(text, limit) => t.search(c, table, text, *limit).map(rows),
    }
}

/// The text of a filter argument (to tell an empty filter from a real one).
fn filters_text(x: &Dynamic) -> Dynamic {
    match x.read_lock::<Array>() {
        Some(parts) => Dynamic::from(parts.iter().map(v::text).collect::<String>()),
        None => x.clone(),
    }
}
