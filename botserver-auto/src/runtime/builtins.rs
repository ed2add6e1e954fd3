//! The function library (spec §9) and the operator functions the compiler emits
//! (`__add`, `__eq`, `__truthy`…). Functions whose result is not deterministic (NOW, TODAY,
//! RND, RANDOM) are journaled, so a replayed conversation sees the same values.

use super::values::{self as v, Date, Num};
use super::{runtime_error, with_ctx};
use chrono::{Datelike, Duration, NaiveDateTime, Timelike};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map};
use serde_json::json;

type R = Result<Dynamic, Box<EvalAltResult>>;

/// Functions and their argument counts (`usize::MAX`: any number).
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("LEN", 1, 1),
    ("LEFT", 2, 2),
    ("RIGHT", 2, 2),
    ("MID", 2, 3),
    ("TRIM", 1, 1),
    ("LTRIM", 1, 1),
    ("RTRIM", 1, 1),
    ("UCASE", 1, 1),
    ("UPPER", 1, 1),
    ("LCASE", 1, 1),
    ("LOWER", 1, 1),
    ("REPLACE", 3, 3),
    ("SPLIT", 1, 2),
    ("JOIN", 1, 2),
    ("INSTR", 2, 3),
    ("VAL", 1, 1),
    ("STR", 1, 1),
    ("CONCAT", 0, usize::MAX),
    ("FORMAT", 1, 2),
    ("ABS", 1, 1),
    ("ROUND", 1, 2),
    ("INT", 1, 1),
    ("FIX", 1, 1),
    ("FLOOR", 1, 1),
    ("CEIL", 1, 1),
    ("MAX", 1, usize::MAX),
    ("MIN", 1, usize::MAX),
    ("MOD", 2, 2),
    ("SGN", 1, 1),
    ("SQRT", 1, 1),
    ("POW", 2, 2),
    ("EXP", 1, 1),
    ("LOG", 1, 1),
    ("RND", 0, 1),
    ("RANDOM", 0, 2),
    ("SUM", 1, usize::MAX),
    ("AVG", 1, usize::MAX),
    ("COUNT", 1, 1),
    ("NOW", 0, 0),
    ("TODAY", 0, 0),
    ("YEAR", 1, 1),
    ("MONTH", 1, 1),
    ("DAY", 1, 1),
    ("HOUR", 1, 1),
    ("MINUTE", 1, 1),
    ("SECOND", 1, 1),
    ("WEEKDAY", 1, 1),
    ("DATEADD", 3, 3),
    ("DATEDIFF", 2, 3),
    ("UBOUND", 1, 1),
    ("LBOUND", 1, 1),
    ("SIZE", 1, 1),
    ("PUSH", 2, 2),
    ("POP", 1, 1),
    ("APPEND", 2, 2),
    ("CONTAINS", 2, 2),
    ("SORT", 1, 2),
    ("UNIQUE", 1, 1),
    ("REVERSE", 1, 1),
    ("SLICE", 2, 3),
    ("FIRST", 1, 1),
    ("LAST", 1, 1),
    ("ISEMPTY", 1, 1),
    ("ISNULL", 1, 1),
    ("ISNUMERIC", 1, 1),
    ("ISDATE", 1, 1),
    ("TYPEOF", 1, 1),
    ("NVL", 2, 2),
    ("IIF", 3, 3),
    ("COALESCE", 1, usize::MAX),
    ("TOJSON", 1, 1),
    ("FROMJSON", 1, 1),
];

/// The argument counts of a library function, by its uppercase name.
pub fn arity(name: &str) -> Option<(usize, usize)> {
    FUNCTIONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, a, b)| (*a, *b))
}

/// Every library function name (for the language reference).
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(n, _, _)| *n)
}

fn err(m: impl Into<String>) -> Box<EvalAltResult> {
    runtime_error(m)
}

/// Refuses a text result longer than the bot allows, before building it.
pub(crate) fn fits(bytes: usize) -> Result<(), Box<EvalAltResult>> {
    let max = with_ctx(|c| c.limits.string_bytes).unwrap_or(super::Limits::default().string_bytes);
    if bytes > max {
        return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
            "a text".into(),
            rhai::Position::NONE,
        )));
    }
    Ok(())
}

fn lift(r: Result<Dynamic, String>) -> R {
    r.map_err(err)
}

/// Registers the operator functions and `__f`, the library's single entry.
pub fn register(e: &mut Engine) {
    e.register_fn("__truthy", |x: Dynamic| v::truthy(&x));
    e.register_fn("__str", |x: Dynamic| v::text(&x));
    e.register_fn("__isempty", |x: Dynamic| v::is_empty(&x));
    e.register_fn("__add", |a: Dynamic, b: Dynamic| lift(v::add(&a, &b)));
    e.register_fn("__sub", |a: Dynamic, b: Dynamic| lift(v::sub(&a, &b)));
    e.register_fn("__mul", |a: Dynamic, b: Dynamic| lift(v::mul(&a, &b)));
    e.register_fn("__div", |a: Dynamic, b: Dynamic| lift(v::div(&a, &b)));
    e.register_fn("__mod", |a: Dynamic, b: Dynamic| lift(v::modulo(&a, &b)));
    e.register_fn("__pow", |a: Dynamic, b: Dynamic| lift(v::pow(&a, &b)));
    e.register_fn("__neg", |a: Dynamic| lift(v::neg(&a)));
    e.register_fn("__concat", |a: Dynamic, b: Dynamic| v::concat(&a, &b));
    e.register_fn("__eq", |a: Dynamic, b: Dynamic| v::equals(&a, &b));
    e.register_fn(
        "__cmp",
        |a: Dynamic, b: Dynamic| -> Result<INT, Box<EvalAltResult>> {
            match v::compare(&a, &b) {
                Some(o) => Ok(o as INT),
                None => Err(err(format!(
                    "cannot compare {} with {}",
                    v::describe(&a),
                    v::describe(&b)
                ))),
            }
        },
    );
    e.register_fn("__in", |list: Dynamic, x: Dynamic| v::contains(&list, &x));
    e.register_fn("__case", |subject: Dynamic, options: Array| {
        options.iter().any(|o| v::equals(&subject, o))
    });
    e.register_fn("__num", |s: &str| -> R {
        v::parse_number(s)
            .map(Num::dynamic)
            .ok_or_else(|| err("bad number"))
    });
    e.register_fn("__num_of", |x: Dynamic| -> R {
        v::number(&x)
            .map(Num::dynamic)
            .ok_or_else(|| err(format!("a FOR loop needs numbers, got {}", v::describe(&x))))
    });
    e.register_fn(
        "__for_ok",
        |i: Dynamic, to: Dynamic, step: Dynamic| -> Result<bool, Box<EvalAltResult>> {
            let (i, to, step) = (
                v::number(&i).map_or(0.0, Num::f),
                v::number(&to).map_or(0.0, Num::f),
                v::number(&step).map_or(0.0, Num::f),
            );
            if step == 0.0 {
                return Err(err("FOR … STEP 0 never ends"));
            }
            Ok(if step > 0.0 { i <= to } else { i >= to })
        },
    );
    e.register_fn("__items", |x: Dynamic| -> R {
        Ok(Dynamic::from_array(items(&x)))
    });
    e.register_fn("__get", |x: Dynamic, key: Dynamic| get(&x, &key));
    e.register_fn("__set", |x: Dynamic, key: Dynamic, val: Dynamic| {
        set(x, &key, val)
    });
    e.register_fn("__set_path", |x: Dynamic, path: Array, val: Dynamic| {
        set_path(x, &path, val)
    });
    e.register_fn("__obj", |x: Dynamic| {
        if x.is_map() {
            x
        } else {
            Dynamic::from_map(Map::new())
        }
    });
    e.register_fn("__lines", |parts: Array| {
        parts.iter().map(v::text).collect::<Vec<_>>().join("\n")
    });
    e.register_fn("__errmsg", |e: Dynamic| {
        if let Some(m) = e.read_lock::<Map>() {
            return m.get("message").map(v::text).unwrap_or_default();
        }
        v::text(&e)
    });
    e.register_fn("__f", |name: &str, args: Array| call(name, &args));
}

/// What FOR EACH iterates: an array's items, an object's values, nothing for empty, or
/// the one value itself.
pub fn items(x: &Dynamic) -> Array {
    if let Some(a) = x.read_lock::<Array>() {
        return a.clone();
    }
    if v::is_empty(x) {
        return Array::new();
    }
    if let Some(m) = x.read_lock::<Map>() {
        return m.values().cloned().collect();
    }
    vec![x.clone()]
}

/// `a.b` and `a[i]`: lenient (a missing member is empty), object keys case-insensitive.
fn get(x: &Dynamic, key: &Dynamic) -> R {
    if let Some(m) = x.read_lock::<Map>() {
        let k = v::text(key);
        if let Some(val) = m.get(k.as_str()) {
            return Ok(val.clone());
        }
        return Ok(m
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&k))
            .map(|(_, val)| val.clone())
            .unwrap_or(Dynamic::UNIT));
    }
    if let Some(a) = x.read_lock::<Array>() {
        let Some(i) = v::number(key).map(|n| n.f() as i64) else {
            return Err(err(format!(
                "an array index must be a number, got {}",
                v::describe(key)
            )));
        };
        let i = if i < 0 { a.len() as i64 + i } else { i };
        return Ok(usize::try_from(i)
            .ok()
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Dynamic::UNIT));
    }
    if x.is_string() {
        let s = v::text(x);
        if let Some(i) = v::number(key).map(|n| n.f() as usize) {
            return Ok(s
                .chars()
                .nth(i)
                .map(|c| Dynamic::from(c.to_string()))
                .unwrap_or(Dynamic::UNIT));
        }
    }
    Ok(Dynamic::UNIT)
}

fn set(x: Dynamic, key: &Dynamic, val: Dynamic) -> R {
    set_path(x, std::slice::from_ref(key), val)
}

fn set_path(x: Dynamic, path: &[Dynamic], val: Dynamic) -> R {
    let Some((key, rest)) = path.split_first() else {
        return Ok(val);
    };
    if x.is_array() {
        let mut a = x.cast::<Array>();
        let Some(i) = v::number(key).map(|n| n.f() as i64) else {
            return Err(err(format!(
                "an array index must be a number, got {}",
                v::describe(key)
            )));
        };
        let i = if i < 0 { a.len() as i64 + i } else { i };
        let Ok(i) = usize::try_from(i) else {
            return Err(err("array index out of range"));
        };
        if i > a.len() + 10_000 {
            return Err(err(format!(
                "array index {i} is far beyond the array's end ({})",
                a.len()
            )));
        }
        if i >= a.len() {
            a.resize(i + 1, Dynamic::UNIT);
        }
        let old = std::mem::take(&mut a[i]);
        a[i] = set_path(old, rest, val)?;
        return Ok(Dynamic::from_array(a));
    }
    let mut m = if x.is_map() { x.cast::<Map>() } else { Map::new() };
    let k = v::text(key);
    let name = m
        .keys()
        .find(|n| n.eq_ignore_ascii_case(&k))
        .cloned()
        .unwrap_or_else(|| k.as_str().into());
    let old = m.remove(&name).unwrap_or(Dynamic::UNIT);
    m.insert(name, set_path(old, rest, val)?);
    Ok(Dynamic::from_map(m))
}

fn num_arg(args: &[Dynamic], i: usize, f: &str) -> Result<Num, Box<EvalAltResult>> {
    let x = args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    if x.is_unit() {
        return Ok(Num::Int(0));
    }
    v::number(&x).ok_or_else(|| err(format!("{f} needs a number, got {}", v::describe(&x))))
}

fn int_arg(args: &[Dynamic], i: usize, f: &str) -> Result<i64, Box<EvalAltResult>> {
    Ok(num_arg(args, i, f)?.f() as i64)
}

fn text_arg(args: &[Dynamic], i: usize) -> String {
    args.get(i).map(v::text).unwrap_or_default()
}

fn date_arg(args: &[Dynamic], i: usize, f: &str) -> Result<Date, Box<EvalAltResult>> {
    let x = args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    if let Some(d) = x.read_lock::<Date>() {
        return Ok(*d);
    }
    Date::parse(&v::text(&x)).ok_or_else(|| err(format!("{f} needs a date, got {}", v::describe(&x))))
}

/// The numbers in the arguments, flattening arrays (`SUM(list)` and `SUM(a, b)`).
fn numbers(args: &[Dynamic]) -> Vec<f64> {
    let mut out = Vec::new();
    for a in args {
        for x in items(a) {
            if let Some(n) = v::number(&x) {
                out.push(n.f());
            }
        }
    }
    out
}

fn float(f: FLOAT) -> Dynamic {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Dynamic::from_int(f as INT)
    } else {
        Dynamic::from_float(f)
    }
}

fn now_date() -> Result<Date, Box<EvalAltResult>> {
    let j = with_ctx(|ctx| {
        ctx.effect("NOW", |ctx| {
            let ms = ctx.now_ms();
            let d = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .naive_utc();
            Ok(json!({ "$date": Date(d).text() }))
        })
    })??;
    let d = v::from_json(&j);
    Ok(d.read_lock::<Date>()
        .map(|d| *d)
        .unwrap_or(Date(NaiveDateTime::default())))
}

fn random_unit() -> Result<f64, Box<EvalAltResult>> {
    let j = with_ctx(|ctx| {
        ctx.effect("RANDOM", |_| {
            let mut b = [0u8; 8];
            getrandom(&mut b);
            Ok(json!((u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64))
        })
    })??;
    Ok(j.as_f64().unwrap_or(0.0))
}

fn getrandom(b: &mut [u8; 8]) {
    // Good enough for RND: seeded from the clock and a per-process counter, mixed.
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    *b = x.to_le_bytes();
}

/// Runs one library function.
pub fn call(name: &str, a: &[Dynamic]) -> R {
    let s0 = || text_arg(a, 0);
    Ok(match name {
        "LEN" => match a[0].read_lock::<Array>() {
            Some(arr) => Dynamic::from_int(arr.len() as INT),
            None => Dynamic::from_int(s0().chars().count() as INT),
        },
        "LEFT" => {
            let n = int_arg(a, 1, name)?.max(0) as usize;
            Dynamic::from(s0().chars().take(n).collect::<String>())
        }
        "RIGHT" => {
            let s = s0();
            let n = int_arg(a, 1, name)?.max(0) as usize;
            let len = s.chars().count();
            Dynamic::from(s.chars().skip(len.saturating_sub(n)).collect::<String>())
        }
        "MID" => {
            let start = (int_arg(a, 1, name)?.max(1) - 1) as usize;
            let it = s0().chars().skip(start).collect::<Vec<_>>();
            let n = if a.len() > 2 {
                int_arg(a, 2, name)?.max(0) as usize
            } else {
                it.len()
            };
            Dynamic::from(it.into_iter().take(n).collect::<String>())
        }
        "TRIM" => Dynamic::from(s0().trim().to_string()),
        "LTRIM" => Dynamic::from(s0().trim_start().to_string()),
        "RTRIM" => Dynamic::from(s0().trim_end().to_string()),
        "UCASE" | "UPPER" => Dynamic::from(s0().to_uppercase()),
        "LCASE" | "LOWER" => Dynamic::from(s0().to_lowercase()),
        "REPLACE" => {
            let (s, find, with) = (s0(), text_arg(a, 1), text_arg(a, 2));
            if find.is_empty() {
                Dynamic::from(s)
            } else {
                let grows = with.len().saturating_sub(find.len());
                fits(
                    s.len()
                        .saturating_add(s.matches(&find).count().saturating_mul(grows)),
                )?;
                Dynamic::from(s.replace(&find, &with))
            }
        }
        "SPLIT" => {
            let sep = if a.len() > 1 { text_arg(a, 1) } else { ",".into() };
            let s = s0();
            let parts: Array = if sep.is_empty() {
                s.chars().map(|c| Dynamic::from(c.to_string())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Dynamic::from(p.trim().to_string()))
                    .collect()
            };
            Dynamic::from_array(parts)
        }
        "JOIN" => {
            let sep = if a.len() > 1 { text_arg(a, 1) } else { ", ".into() };
            let parts: Vec<String> = items(&a[0]).iter().map(v::text).collect();
            fits(
                parts
                    .iter()
                    .map(String::len)
                    .sum::<usize>()
                    .saturating_add(sep.len().saturating_mul(parts.len())),
            )?;
            Dynamic::from(parts.join(&sep))
        }
        "INSTR" => {
            // INSTR(text, find) or INSTR(start, text, find); 1-based, 0 when absent.
            let (start, hay, needle) = if a.len() == 3 {
                (
                    int_arg(a, 0, name)?.max(1) as usize,
                    text_arg(a, 1),
                    text_arg(a, 2),
                )
            } else {
                (1, s0(), text_arg(a, 1))
            };
            let chars: Vec<char> = hay.chars().collect();
            let tail: String = chars.iter().skip(start - 1).collect();
            match tail.find(&needle) {
                Some(byte) => Dynamic::from_int((start + tail[..byte].chars().count()) as INT),
                None => Dynamic::from_int(0),
            }
        }
        "VAL" => v::parse_number(&s0()).map_or(Dynamic::from_int(0), Num::dynamic),
        "STR" => Dynamic::from(s0()),
        "CONCAT" => Dynamic::from(a.iter().map(v::text).collect::<String>()),
        "FORMAT" => Dynamic::from(format(a)?),
        "ABS" => match num_arg(a, 0, name)? {
            Num::Int(i) => Dynamic::from_int(i.saturating_abs()),
            Num::Float(f) => Dynamic::from_float(f.abs()),
        },
        "ROUND" => {
            let x = num_arg(a, 0, name)?.f();
            let d = if a.len() > 1 {
                int_arg(a, 1, name)?.clamp(0, 12)
            } else {
                0
            };
            let p = 10f64.powi(d as i32);
            float((x * p).round() / p)
        }
        "INT" | "FLOOR" => float(num_arg(a, 0, name)?.f().floor()),
        "FIX" => float(num_arg(a, 0, name)?.f().trunc()),
        "CEIL" => float(num_arg(a, 0, name)?.f().ceil()),
        "MAX" | "MIN" => {
            let ns = numbers(a);
            if ns.is_empty() {
                return Ok(Dynamic::UNIT);
            }
            let pick = if name == "MAX" { f64::max } else { f64::min };
            float(ns.into_iter().reduce(pick).unwrap_or(0.0))
        }
        "MOD" => v::modulo(&a[0], &a[1]).map_err(err)?,
        "SGN" => Dynamic::from_int(num_arg(a, 0, name)?.f().partial_cmp(&0.0).map_or(0, |o| o as INT)),
        "SQRT" => {
            let x = num_arg(a, 0, name)?.f();
            if x < 0.0 {
                return Err(err("SQRT of a negative number"));
            }
            float(x.sqrt())
        }
        "POW" => v::pow(&a[0], &a[1]).map_err(err)?,
        "EXP" => Dynamic::from_float(num_arg(a, 0, name)?.f().exp()),
        "LOG" => {
            let x = num_arg(a, 0, name)?.f();
            if x <= 0.0 {
                return Err(err("LOG of a number that is not positive"));
            }
            Dynamic::from_float(x.ln())
        }
        "RND" => Dynamic::from_float(random_unit()?),
        "RANDOM" => {
            let (lo, hi) = match a.len() {
                0 => return Ok(Dynamic::from_float(random_unit()?)),
                1 => (1, int_arg(a, 0, name)?),
                _ => (int_arg(a, 0, name)?, int_arg(a, 1, name)?),
            };
            if hi < lo {
                return Err(err(format!(
                    "RANDOM({lo}, {hi}): the second number must not be smaller"
                )));
            }
            let span = (hi as i128 - lo as i128 + 1) as f64;
            Dynamic::from_int((lo as i128 + (random_unit()? * span).floor() as i128).min(hi as i128) as INT)
        }
        "SUM" => float(numbers(a).iter().sum()),
        "AVG" => {
            let ns = numbers(a);
            if ns.is_empty() {
                Dynamic::from_int(0)
            } else {
                float(ns.iter().sum::<f64>() / ns.len() as f64)
            }
        }
        "COUNT" | "SIZE" => match (a[0].read_lock::<Array>(), a[0].read_lock::<Map>()) {
            (Some(arr), _) => Dynamic::from_int(arr.len() as INT),
            (_, Some(m)) => Dynamic::from_int(m.len() as INT),
            _ if v::is_empty(&a[0]) => Dynamic::from_int(0),
            _ => Dynamic::from_int(s0().chars().count() as INT),
        },
        "NOW" => Dynamic::from(now_date()?),
        "TODAY" => Dynamic::from(Date(now_date()?.0.date().and_time(chrono::NaiveTime::MIN))),
        "YEAR" => Dynamic::from_int(date_arg(a, 0, name)?.0.year() as INT),
        "MONTH" => Dynamic::from_int(date_arg(a, 0, name)?.0.month() as INT),
        "DAY" => Dynamic::from_int(date_arg(a, 0, name)?.0.day() as INT),
        "HOUR" => Dynamic::from_int(date_arg(a, 0, name)?.0.hour() as INT),
        "MINUTE" => Dynamic::from_int(date_arg(a, 0, name)?.0.minute() as INT),
        "SECOND" => Dynamic::from_int(date_arg(a, 0, name)?.0.second() as INT),
        // 1 = Sunday … 7 = Saturday, as in VB.
        "WEEKDAY" => Dynamic::from_int(date_arg(a, 0, name)?.0.weekday().number_from_sunday() as INT),
        "DATEADD" => {
            let d = date_arg(a, 0, name)?;
            let n = int_arg(a, 1, name)?;
            Dynamic::from(Date(date_add(d.0, n, &text_arg(a, 2))?))
        }
        "DATEDIFF" => {
            let (x, y) = (date_arg(a, 0, name)?, date_arg(a, 1, name)?);
            let unit = if a.len() > 2 {
                text_arg(a, 2).to_lowercase()
            } else {
                "day".into()
            };
            let d = y.0 - x.0;
            Dynamic::from_int(match unit.trim_end_matches('s') {
                "second" => d.num_seconds(),
                "minute" => d.num_minutes(),
                "hour" => d.num_hours(),
                "day" => d.num_days(),
                "week" => d.num_weeks(),
                "month" => {
                    (y.0.year() as i64 * 12 + y.0.month() as i64)
                        - (x.0.year() as i64 * 12 + x.0.month() as i64)
                }
                "year" => y.0.year() as i64 - x.0.year() as i64,
                other => {
                    return Err(err(format!(
                        "DATEDIFF: unknown unit {other:?} (day, month, year, hour…)"
                    )));
                }
            })
        }
        "UBOUND" => Dynamic::from_int(items(&a[0]).len() as INT - 1),
        "LBOUND" => Dynamic::from_int(0),
        "PUSH" | "APPEND" => {
            let mut arr = items(&a[0]);
            arr.push(a[1].clone());
            Dynamic::from_array(arr)
        }
        "POP" => items(&a[0]).pop().unwrap_or(Dynamic::UNIT),
        "CONTAINS" => Dynamic::from_bool(v::contains(&a[0], &a[1])),
        "SORT" => {
            let by = if a.len() > 1 {
                text_arg(a, 1)
            } else {
                String::new()
            };
            if !by.is_empty() && !by.eq_ignore_ascii_case("desc") && !by.eq_ignore_ascii_case("asc") {
                // SORT(rows, "col"): rows by a column, as the SORT keyword does.
                let rows = match v::to_json(&a[0]) {
                    serde_json::Value::Array(r) => r,
                    _ => Vec::new(),
                };
                return Ok(v::from_json(&serde_json::Value::Array(crate::data::rows::sort(
                    &rows, &by, false,
                ))));
            }
            let mut arr = items(&a[0]);
            let desc = by.eq_ignore_ascii_case("desc");
            arr.sort_by(|x, y| v::compare(x, y).unwrap_or(std::cmp::Ordering::Equal));
            if desc {
                arr.reverse();
            }
            Dynamic::from_array(arr)
        }
        "UNIQUE" => {
            let mut seen = std::collections::HashSet::new();
            let mut out: Array = Vec::new();
            for x in items(&a[0]) {
                if seen.insert((v::type_name(&x), v::to_json(&x).to_string())) {
                    out.push(x);
                }
            }
            Dynamic::from_array(out)
        }
        "REVERSE" => {
            if a[0].is_string() {
                Dynamic::from(s0().chars().rev().collect::<String>())
            } else {
                let mut arr = items(&a[0]);
                arr.reverse();
                Dynamic::from_array(arr)
            }
        }
        "SLICE" => {
            let arr = items(&a[0]);
            let len = arr.len() as i64;
            let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
            let start = norm(int_arg(a, 1, name)?);
            let end = if a.len() > 2 {
                norm(int_arg(a, 2, name)?)
            } else {
                len as usize
            };
            Dynamic::from_array(if start < end {
                arr[start..end].to_vec()
            } else {
                Vec::new()
            })
        }
        "FIRST" => items(&a[0]).into_iter().next().unwrap_or(Dynamic::UNIT),
        "LAST" => items(&a[0]).pop().unwrap_or(Dynamic::UNIT),
        "ISEMPTY" | "ISNULL" => Dynamic::from_bool(if name == "ISNULL" {
            a[0].is_unit()
        } else {
            v::is_empty(&a[0])
        }),
        "ISNUMERIC" => Dynamic::from_bool(v::number(&a[0]).is_some() && !a[0].is_bool()),
        "ISDATE" => Dynamic::from_bool(a[0].is::<Date>() || Date::parse(&s0()).is_some()),
        "TYPEOF" => Dynamic::from(v::type_name(&a[0]).to_string()),
        "NVL" => {
            if v::is_empty(&a[0]) {
                a[1].clone()
            } else {
                a[0].clone()
            }
        }
        "IIF" => {
            if v::truthy(&a[0]) {
                a[1].clone()
            } else {
                a[2].clone()
            }
        }
        "COALESCE" => a
            .iter()
            .find(|x| !v::is_empty(x))
            .cloned()
            .unwrap_or(Dynamic::UNIT),
        "TOJSON" => Dynamic::from(v::to_json(&a[0]).to_string()),
        "FROMJSON" => match serde_json::from_str::<serde_json::Value>(&s0()) {
            Ok(j) => v::from_json(&j),
            Err(e) => return Err(err(format!("FROMJSON: not JSON ({e})"))),
        },
        other => return Err(err(format!("unknown function {other}"))),
    })
}

fn date_add(d: NaiveDateTime, n: i64, unit: &str) -> Result<NaiveDateTime, Box<EvalAltResult>> {
    let unit = unit.to_lowercase();
    let months = |m: i64| {
        let total = (d.year() as i64 * 12 + d.month0() as i64).checked_add(m)?;
        if !(0..=12 * 9999).contains(&total) {
            return None;
        }
        let (y, mo) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
        let last = (28..=31)
            .rev()
            .find(|day| chrono::NaiveDate::from_ymd_opt(y, mo, *day).is_some())
            .unwrap_or(28);
        chrono::NaiveDate::from_ymd_opt(y, mo, d.day().min(last)).map(|x| x.and_time(d.time()))
    };
    let r = match unit.trim_end_matches('s') {
        "second" => Duration::try_seconds(n).and_then(|x| d.checked_add_signed(x)),
        "minute" => Duration::try_minutes(n).and_then(|x| d.checked_add_signed(x)),
        "hour" => Duration::try_hours(n).and_then(|x| d.checked_add_signed(x)),
        "day" => Duration::try_days(n).and_then(|x| d.checked_add_signed(x)),
        "week" => Duration::try_weeks(n).and_then(|x| d.checked_add_signed(x)),
        "month" => months(n),
        "year" => n.checked_mul(12).and_then(months),
        other => {
            return Err(err(format!(
                "DATEADD: unknown unit {other:?} (day, month, year, hour…)"
            )));
        }
    };
    r.ok_or_else(|| err("DATEADD: the date is out of range"))
}

fn format(a: &[Dynamic]) -> Result<String, Box<EvalAltResult>> {
    if a.len() < 2 {
        return Ok(v::text(&a[0]));
    }
    let pattern = v::text(&a[1]);
    if let Some(d) = a[0].read_lock::<Date>() {
        return Ok(format_date(d.0, &pattern));
    }
    if let Some(n) = v::number(&a[0]).filter(|_| pattern.contains(['#', '0'])) {
        return Ok(format_number(n.f(), &pattern));
    }
    if let Some(d) = Date::parse(&v::text(&a[0])) {
        return Ok(format_date(d.0, &pattern));
    }
    Ok(v::text(&a[0]))
}

/// `YYYY YY MM DD HH mm ss`.
pub fn format_date(d: NaiveDateTime, pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    let tokens: [(&str, String); 7] = [
        ("YYYY", format!("{:04}", d.year())),
        ("YY", format!("{:02}", d.year() % 100)),
        ("MM", format!("{:02}", d.month())),
        ("DD", format!("{:02}", d.day())),
        ("HH", format!("{:02}", d.hour())),
        ("mm", format!("{:02}", d.minute())),
        ("ss", format!("{:02}", d.second())),
    ];
    'outer: while !rest.is_empty() {
        for (t, val) in &tokens {
            if let Some(r) = rest.strip_prefix(t) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `#,##0.00`: digit grouping when the pattern has a comma, decimals as many as the zeros
/// after the point.
pub fn format_number(n: f64, pattern: &str) -> String {
    let decimals = pattern
        .split_once('.')
        .map_or(0, |(_, f)| f.chars().filter(|c| *c == '0' || *c == '#').count());
    let grouped = pattern.split_once('.').map_or(pattern, |(i, _)| i).contains(',');
    let s = format!("{:.*}", decimals, n.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    // Zeros before the point set the least number of integer digits (`000` pads 7 to 007).
    let min_digits = pattern
        .split_once('.')
        .map_or(pattern, |(i, _)| i)
        .chars()
        .filter(|c| *c == '0')
        .count();
    let padded = format!("{}{int}", "0".repeat(min_digits.saturating_sub(int.len())));
    let int = padded.as_str();
    let mut int_out = String::new();
    for (i, c) in int.chars().enumerate() {
        if grouped && i > 0 && (int.len() - i) % 3 == 0 {
            int_out.push(',');
        }
        int_out.push(c);
    }
    let sign = if n < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{int_out}")
    } else {
        format!("{sign}{int_out}.{frac}")
    }
}
