//! BASIC values on top of Rhai's `Dynamic`: truthiness, the forgiving operators (`+` joins
//! when either side is a string, an unset variable is empty), comparison, the text form of
//! a value, dates, and conversion to and from JSON (plain for the outside world, tagged for
//! the journal so a replayed date is still a date).

use chrono::NaiveDateTime;
use rhai::{Array, Dynamic, FLOAT, INT, ImmutableString, Map};
use serde_json::{Number, Value as Json};
use std::cmp::Ordering;

/// A date-time value (local wall-clock time of the bot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDateTime);

impl Date {
    /// `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` at midnight.
    pub fn text(&self) -> String {
        if self.0.time() == chrono::NaiveTime::MIN {
            self.0.format("%Y-%m-%d").to_string()
        } else {
            self.0.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }

    /// Parses the date forms authors write: ISO (`2026-11-26`, with `T` or a space and a
    /// time), and day-first `26/11/2026`.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        for f in [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
                return Some(Date(d));
            }
        }
        let s = s.strip_suffix('Z').unwrap_or(s);
        if let Ok(d) = chrono::DateTime::parse_from_rfc3339(&format!("{s}Z").replace("ZZ", "Z")) {
            return Some(Date(d.naive_utc()));
        }
        for f in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"] {
            if let Ok(d) = chrono::NaiveDate::parse_from_str(s, f) {
                return Some(Date(d.and_time(chrono::NaiveTime::MIN)));
            }
        }
        None
    }
}

/// Empty: unit, the empty string, or an empty array/object.
pub fn is_empty(v: &Dynamic) -> bool {
    if v.is_unit() {
        return true;
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return s.is_empty();
    }
    if let Some(a) = v.read_lock::<Array>() {
        return a.is_empty();
    }
    false
}

/// The spec's truthiness: empty string, NULL, 0, FALSE and an empty array are false.
pub fn truthy(v: &Dynamic) -> bool {
    if v.is_unit() {
        return false;
    }
    if let Ok(b) = v.as_bool() {
        return b;
    }
    if let Ok(i) = v.as_int() {
        return i != 0;
    }
    if let Ok(f) = v.as_float() {
        return f != 0.0;
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return !s.is_empty();
    }
    if let Some(a) = v.read_lock::<Array>() {
        return !a.is_empty();
    }
    true
}

/// The text form of a value, as TALK shows it.
pub fn text(v: &Dynamic) -> String {
    if v.is_unit() {
        return String::new();
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return s.to_string();
    }
    if let Ok(f) = v.as_float() {
        return float_text(f);
    }
    if let Some(d) = v.read_lock::<Date>() {
        return d.text();
    }
    if v.is_array() || v.is_map() {
        return to_json(v).to_string();
    }
    v.to_string()
}

/// A float without a useless `.0`, and integral values as integers.
pub fn float_text(f: FLOAT) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A number, if the value is one or a string that reads as one.
pub fn number(v: &Dynamic) -> Option<Num> {
    if let Ok(i) = v.as_int() {
        return Some(Num::Int(i));
    }
    if let Ok(f) = v.as_float() {
        return Some(Num::Float(f));
    }
    if let Ok(b) = v.as_bool() {
        return Some(Num::Int(b as INT));
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return parse_number(&s);
    }
    None
}

/// Reads `42`, `-3.5`, `1,234.5` is not a number (authors use FORMAT for that).
pub fn parse_number(s: &str) -> Option<Num> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(i) = s.parse::<INT>() {
        return Some(Num::Int(i));
    }
    s.parse::<FLOAT>().ok().filter(|f| f.is_finite()).map(Num::Float)
}

/// An integer or a decimal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// Integer.
    Int(INT),
    /// Decimal.
    Float(FLOAT),
}

impl Num {
    /// As a float.
    pub fn f(self) -> FLOAT {
        match self {
            Num::Int(i) => i as FLOAT,
            Num::Float(f) => f,
        }
    }

    /// Back to a value.
    pub fn dynamic(self) -> Dynamic {
        match self {
            Num::Int(i) => Dynamic::from_int(i),
            Num::Float(f) => Dynamic::from_float(f),
        }
    }
}

fn is_text(v: &Dynamic) -> bool {
    v.is_string() || v.is::<Date>()
}

/// Runs an arithmetic operator: integers stay integers unless they overflow.
fn arith(
    a: &Dynamic,
    b: &Dynamic,
    op: &str,
    int: fn(INT, INT) -> Option<INT>,
    float: fn(FLOAT, FLOAT) -> FLOAT,
) -> Result<Dynamic, String> {
    let na = if a.is_unit() { Some(Num::Int(0)) } else { number(a) };
    let nb = if b.is_unit() { Some(Num::Int(0)) } else { number(b) };
    match (na, nb) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => Ok(match int(x, y) {
            Some(r) => Dynamic::from_int(r),
            None => Dynamic::from_float(float(x as FLOAT, y as FLOAT)),
        }),
        (Some(x), Some(y)) => Ok(Dynamic::from_float(float(x.f(), y.f()))),
        _ => Err(format!("cannot use {op} on {} and {}", describe(a), describe(b))),
    }
}

/// A short description of a value for error messages.
pub fn describe(v: &Dynamic) -> String {
    if v.is_string() {
        let t = text(v);
        let cut: String = t.chars().take(30).collect();
        format!("the text \"{cut}\"")
    } else {
        format!("{} {}", type_name(v), text(v))
    }
}

/// `TYPEOF`: string, number, boolean, date, array, object or null.
pub fn type_name(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "null"
    } else if v.is_string() {
        "string"
    } else if v.is_int() || v.is_float() {
        "number"
    } else if v.is_bool() {
        "boolean"
    } else if v.is::<Date>() {
        "date"
    } else if v.is_array() {
        "array"
    } else if v.is_map() {
        "object"
    } else {
        "value"
    }
}

/// `+`: adds numbers, joins when either side is a string, appends to an array.
pub fn add(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    if is_text(a) || is_text(b) {
        return Ok(Dynamic::from(format!("{}{}", text(a), text(b))));
    }
    if let Some(arr) = a.read_lock::<Array>() {
        let mut out = arr.clone();
        out.push(b.clone());
        return Ok(Dynamic::from_array(out));
    }
    arith(a, b, "+", INT::checked_add, |x, y| x + y)
}

/// `-`
pub fn sub(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    arith(a, b, "-", INT::checked_sub, |x, y| x - y)
}

/// `*`
pub fn mul(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    arith(a, b, "*", INT::checked_mul, |x, y| x * y)
}

/// `/`: always exact (7 / 2 is 3.5); dividing by zero is an error.
pub fn div(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    if number(b).is_some_and(|n| n.f() == 0.0) {
        return Err("division by zero".into());
    }
    arith(
        a,
        b,
        "/",
        |x, y| (x.checked_rem(y) == Some(0)).then(|| x.checked_div(y)).flatten(),
        |x, y| x / y,
    )
}

/// `MOD`
pub fn modulo(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    if number(b).is_some_and(|n| n.f() == 0.0) {
        return Err("division by zero".into());
    }
    arith(a, b, "MOD", INT::checked_rem, |x, y| x % y)
}

/// `^`
pub fn pow(a: &Dynamic, b: &Dynamic) -> Result<Dynamic, String> {
    arith(
        a,
        b,
        "^",
        |x, y| u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
        FLOAT::powf,
    )
}

/// Unary `-`.
pub fn neg(a: &Dynamic) -> Result<Dynamic, String> {
    sub(&Dynamic::from_int(0), a)
}

/// `&`: always joins text.
pub fn concat(a: &Dynamic, b: &Dynamic) -> Dynamic {
    Dynamic::from(format!("{}{}", text(a), text(b)))
}

/// `=`: numbers numerically (also against numeric text), text case-sensitively, empty
/// equals empty.
pub fn equals(a: &Dynamic, b: &Dynamic) -> bool {
    compare(a, b) == Some(Ordering::Equal)
}

/// Orders two values when they are comparable.
pub fn compare(a: &Dynamic, b: &Dynamic) -> Option<Ordering> {
    if is_empty(a) || is_empty(b) {
        return (is_empty(a) && is_empty(b))
            .then_some(Ordering::Equal)
            .or_else(|| {
                Some(if is_empty(a) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                })
            });
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.read_lock::<Date>(), b.read_lock::<Date>()) {
        return Some(x.cmp(&y));
    }
    if let Some(d) = a.read_lock::<Date>() {
        return Date::parse(&text(b)).map(|y| d.cmp(&y));
    }
    if let Some(d) = b.read_lock::<Date>() {
        return Date::parse(&text(a)).map(|x| x.cmp(&d));
    }
    let numeric = !(a.is_string() && b.is_string());
    if numeric && let (Some(x), Some(y)) = (number(a), number(b)) {
        return x.f().partial_cmp(&y.f());
    }
    if a.is_array() || a.is_map() || b.is_array() || b.is_map() {
        return (to_json(a) == to_json(b)).then_some(Ordering::Equal);
    }
    Some(text(a).cmp(&text(b)))
}

/// `x IN list`: an element of an array, a key of an object, or a substring of a text.
pub fn contains(list: &Dynamic, v: &Dynamic) -> bool {
    if let Some(a) = list.read_lock::<Array>() {
        return a.iter().any(|x| equals(x, v));
    }
    if let Some(m) = list.read_lock::<Map>() {
        return m.contains_key(text(v).as_str());
    }
    if list.is_unit() {
        return false;
    }
    text(list).contains(&text(v))
}

/// A value to JSON for the outside world (dates as text).
pub fn to_json(v: &Dynamic) -> Json {
    to_json_with(v, false)
}

/// A value to JSON for the journal: dates tagged so they come back as dates.
pub fn to_journal(v: &Dynamic) -> Json {
    to_json_with(v, true)
}

/// How deep values nest when they leave the script (JSON, the journal); deeper parts are
/// cut to null (JSON readers refuse deeper documents anyway).
const MAX_JSON_DEPTH: usize = 100;

fn to_json_with(v: &Dynamic, tag: bool) -> Json {
    to_json_at(v, tag, 0)
}

fn to_json_at(v: &Dynamic, tag: bool, depth: usize) -> Json {
    if v.is_unit() || depth > MAX_JSON_DEPTH {
        return Json::Null;
    }
    if let Ok(b) = v.as_bool() {
        return Json::Bool(b);
    }
    if let Ok(i) = v.as_int() {
        return Json::Number(i.into());
    }
    if let Ok(f) = v.as_float() {
        return Number::from_f64(f).map_or(Json::Null, Json::Number);
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return Json::String(s.to_string());
    }
    if let Some(d) = v.read_lock::<Date>() {
        return if tag {
            serde_json::json!({ "$date": d.text() })
        } else {
            Json::String(d.text())
        };
    }
    if let Some(a) = v.read_lock::<Array>() {
        return Json::Array(a.iter().map(|x| to_json_at(x, tag, depth + 1)).collect());
    }
    if let Some(m) = v.read_lock::<Map>() {
        return Json::Object(
            m.iter()
                .map(|(k, x)| (k.to_string(), to_json_at(x, tag, depth + 1)))
                .collect(),
        );
    }
    Json::String(v.to_string())
}

/// JSON to a value (objects become maps, arrays arrays; journal date tags become dates).
pub fn from_json(j: &Json) -> Dynamic {
    match j {
        Json::Null => Dynamic::UNIT,
        Json::Bool(b) => Dynamic::from_bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Dynamic::from(s.clone()),
        Json::Array(a) => Dynamic::from_array(a.iter().map(from_json).collect()),
        Json::Object(m) => {
            if m.len() == 1
                && let Some(Json::String(d)) = m.get("$date")
                && let Some(date) = Date::parse(d)
            {
                return Dynamic::from(date);
            }
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.as_str().into(), from_json(v));
            }
            Dynamic::from_map(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Dynamic {
        Dynamic::from(x.to_string())
    }

    #[test]
    fn plus_joins_text_and_adds_numbers() {
        assert_eq!(text(&add(&s("ID: "), &Dynamic::from_int(42)).unwrap()), "ID: 42");
        assert_eq!(
            add(&Dynamic::from_int(2), &Dynamic::from_int(3))
                .unwrap()
                .as_int(),
            Ok(5)
        );
        assert_eq!(
            text(&div(&Dynamic::from_int(7), &Dynamic::from_int(2)).unwrap()),
            "3.5"
        );
        assert!(div(&Dynamic::from_int(1), &Dynamic::from_int(0)).is_err());
        assert!(sub(&s("a"), &Dynamic::from_int(1)).is_err());
    }

    #[test]
    fn truthiness_follows_the_spec() {
        for v in [
            Dynamic::UNIT,
            s(""),
            Dynamic::from_int(0),
            Dynamic::FALSE,
            Dynamic::from_array(vec![]),
        ] {
            assert!(!truthy(&v), "{v:?}");
        }
        for v in [
            s("x"),
            Dynamic::from_int(2),
            Dynamic::TRUE,
            Dynamic::from_array(vec![Dynamic::UNIT]),
        ] {
            assert!(truthy(&v), "{v:?}");
        }
    }

    #[test]
    fn equality_is_numeric_across_text_and_case_sensitive_for_text() {
        assert!(equals(&s("4"), &Dynamic::from_int(4)));
        assert!(!equals(&s("Yes"), &s("yes")));
        assert!(equals(&Dynamic::UNIT, &s("")));
        assert!(
            compare(&s("10"), &s("9")) == Some(Ordering::Less),
            "two texts compare as text"
        );
    }

    #[test]
    fn journal_keeps_dates() {
        let d = Dynamic::from(Date::parse("2026-11-26 10:30:00").unwrap());
        let back = from_json(&to_journal(&d));
        assert!(back.is::<Date>());
        assert_eq!(text(&back), "2026-11-26 10:30:00");
        assert_eq!(to_json(&d), Json::String("2026-11-26 10:30:00".into()));
    }
}
