//! In-memory operations on rows (arrays of objects, as `FIND` returns them): `FILTER`,
//! `AGGREGATE`, `JOIN`, `GROUP BY` and `SORT`.
//!
//! Column names match case-insensitively. Elements that are not objects are rows without
//! fields. Values compare as filters compare them: numbers numerically (a numeric string
//! counts as its number), other text as text.

use super::DataError;
use super::filter::{Filter, is_empty, numeric, parse_number, text_of};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

fn field<'a>(row: &'a Value, col: &str) -> Option<&'a Value> {
    let obj = row.as_object()?;
    obj.get(col).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(col))
            .map(|(_, v)| v)
    })
}

/// `FILTER rows, "filter"`: the rows the filter matches, in order.
pub fn filter(rows: &[Value], f: &Filter) -> Vec<Value> {
    let empty = Map::new();
    rows.iter()
        .filter(|r| f.matches(r.as_object().unwrap_or(&empty)))
        .cloned()
        .collect()
}

/// The aggregate functions of `AGGREGATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum of the numeric values.
    Sum,
    /// Count of the non-empty values (of the rows, for the column `""` or `*`).
    Count,
    /// Average of the numeric values (`NULL` when there are none).
    Avg,
    /// Smallest non-empty value.
    Min,
    /// Largest non-empty value.
    Max,
}

impl Aggregate {
    /// `"SUM"`, `"count"`, ... (case-insensitive).
    pub fn parse(name: &str) -> Option<Aggregate> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "SUM" => Aggregate::Sum,
            "COUNT" => Aggregate::Count,
            "AVG" | "AVERAGE" => Aggregate::Avg,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            _ => return None,
        })
    }
}

/// `AGGREGATE "SUM"|"COUNT"|"AVG"|"MIN"|"MAX", rows, "col"`. Empty values are skipped;
/// SUM and AVG take numbers and numeric strings (SUM of nothing is 0); MIN and MAX order as
/// [`sort`] does and return the value itself (`NULL` when there is none).
pub fn aggregate(function: &str, rows: &[Value], col: &str) -> Result<Value, DataError> {
    let func = Aggregate::parse(function).ok_or_else(|| {
        DataError::invalid(format!(
            "unknown aggregate '{function}' (use SUM, COUNT, AVG, MIN or MAX)"
        ))
    })?;
    let col = col.trim();
    if func == Aggregate::Count && (col.is_empty() || col == "*") {
        return Ok(Value::from(rows.len()));
    }
    let values: Vec<&Value> = rows
        .iter()
        .filter_map(|r| field(r, col))
        .filter(|v| !is_empty(Some(v)))
        .collect();
    Ok(match func {
        Aggregate::Count => Value::from(values.len()),
        Aggregate::Sum | Aggregate::Avg => {
            let nums: Vec<&Value> = values.into_iter().filter(|v| numeric(v).is_some()).collect();
            let ints: Option<Vec<i64>> = nums.iter().map(|v| as_int(v)).collect();
            let total: f64 = nums.iter().filter_map(|v| numeric(v)).sum();
            if func == Aggregate::Avg {
                if nums.is_empty() {
                    Value::Null
                } else {
                    number(total / nums.len() as f64)
                }
            } else {
                match ints.and_then(|v| v.into_iter().try_fold(0i64, i64::checked_add)) {
                    Some(i) => Value::from(i),
                    None => number(total),
                }
            }
        }
        Aggregate::Min | Aggregate::Max => {
            let pick = values.into_iter().reduce(|best, v| {
                let ord = order(v, best);
                let better = if func == Aggregate::Min {
                    ord == Ordering::Less
                } else {
                    ord == Ordering::Greater
                };
                if better { v } else { best }
            });
            pick.cloned().unwrap_or(Value::Null)
        }
    })
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_number(s.trim())?.as_i64(),
        _ => None,
    }
}

/// A JSON number; whole results as integers.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// The text that identifies a value for JOIN and GROUP BY: numbers (and numeric strings)
/// by their value, so `3`, `3.0` and `"3"` are one.
fn identity(v: &Value) -> String {
    match numeric(v) {
        Some(f) if !v.is_boolean() => match number(f) {
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        },
        _ => text_of(v),
    }
}

/// `JOIN a, b, "col"`: for every row of `a` and every row of `b` with an equal, non-empty
/// `col`, one row with the fields of both (where both have a field, `a`'s value is kept).
/// Rows of `a` without a partner are left out; the order is `a`'s, then `b`'s.
pub fn join(a: &[Value], b: &[Value], col: &str) -> Vec<Value> {
    let mut index: HashMap<String, Vec<&Map<String, Value>>> = HashMap::new();
    for row in b {
        if let (Some(v), Some(obj)) = (field(row, col), row.as_object())
            && !is_empty(Some(v))
        {
            index.entry(identity(v)).or_default().push(obj);
        }
    }
    let mut out = Vec::new();
    for row in a {
        let (Some(v), Some(left)) = (field(row, col), row.as_object()) else {
            continue;
        };
        if is_empty(Some(v)) {
            continue;
        }
        for right in index.get(&identity(v)).into_iter().flatten() {
            let mut merged = left.clone();
            for (k, val) in right.iter() {
                if !merged.keys().any(|m| m.eq_ignore_ascii_case(k)) {
                    merged.insert(k.clone(), val.clone());
                }
            }
            out.push(Value::Object(merged));
        }
    }
    out
}

/// `GROUP BY rows, "col"`: an object from each value of `col` (as text; empty values
/// under `""`) to the array of its rows, in order.
pub fn group_by(rows: &[Value], col: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for row in rows {
        let key = field(row, col).map(identity).unwrap_or_default();
        match out.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.push(row.clone()),
            _ => unreachable!("group entries are arrays"),
        }
    }
    out
}

/// Rank of a value kind in [`order`]: numbers, then text, then booleans, then the rest.
fn rank(v: &Value) -> u8 {
    if numeric(v).is_some() && !v.is_boolean() {
        0
    } else {
        match v {
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            _ => 3,
        }
    }
}

/// Ascending order of two non-empty values: numbers (and numeric strings) numerically
/// before text, text case-insensitively, then booleans.
fn order(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (rank(a), rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match ra {
        0 => numeric(a)
            .unwrap_or(0.0)
            .partial_cmp(&numeric(b).unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        1 => text_of(a).to_lowercase().cmp(&text_of(b).to_lowercase()),
        2 => a.as_bool().cmp(&b.as_bool()),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// `SORT rows, "col" [DESC]`: a stable sort by `col`; rows with an empty `col` come last
/// in both directions.
pub fn sort(rows: &[Value], col: &str, descending: bool) -> Vec<Value> {
    let mut out = rows.to_vec();
    out.sort_by(|a, b| {
        let (va, vb) = (field(a, col), field(b, col));
        match (is_empty(va), is_empty(vb)) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let (Some(x), Some(y)) = (va, vb) else {
                    return Ordering::Equal;
                };
                let ord = order(x, y);
                if descending { ord.reverse() } else { ord }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn people() -> Vec<Value> {
        json!([
            {"name": "bob", "age": 30, "city": "Rio", "score": "7.5"},
            {"name": "Ana", "age": "25", "city": "Lisbon", "score": 9},
            {"name": "carl", "age": 41, "city": "Rio"},
            {"Name": "dora", "age": null, "city": "lisbon", "score": ""},
            "not an object",
        ])
        .as_array()
        .unwrap()
        .clone()
    }

    #[test]
    fn filter_keeps_the_matching_rows_in_order() {
        let f = Filter::parse_str("age >= 30 OR name = dora").unwrap();
        let got: Vec<Value> = filter(&people(), &f);
        let names: Vec<&str> = got
            .iter()
            .map(|r| field(r, "name").and_then(Value::as_str).unwrap())
            .collect();
        assert_eq!(names, vec!["bob", "carl", "dora"]);
    }

    #[test]
    fn aggregates_skip_empty_values_and_take_numeric_strings() {
        let p = people();
        assert_eq!(aggregate("SUM", &p, "age").unwrap(), json!(96));
        assert_eq!(aggregate("sum", &p, "score").unwrap(), json!(16.5));
        assert_eq!(aggregate("COUNT", &p, "age").unwrap(), json!(3));
        assert_eq!(aggregate("count", &p, "*").unwrap(), json!(5));
        assert_eq!(aggregate("AVG", &p, "age").unwrap(), json!(32));
        assert_eq!(aggregate("AVG", &p, "missing").unwrap(), Value::Null);
        assert_eq!(aggregate("SUM", &p, "missing").unwrap(), json!(0));
        assert_eq!(aggregate("MIN", &p, "age").unwrap(), json!("25"));
        assert_eq!(aggregate("MAX", &p, "AGE").unwrap(), json!(41));
        assert_eq!(aggregate("MIN", &p, "city").unwrap(), json!("Lisbon"));
        assert_eq!(aggregate("MAX", &p, "name").unwrap(), json!("dora"));
        let e = aggregate("MEDIAN", &p, "age").unwrap_err();
        assert!(e.to_string().contains("unknown aggregate 'MEDIAN'"));
    }

    #[test]
    fn join_pairs_rows_with_equal_values_and_merges_fields() {
        let orders = json!([
            {"id": 1, "customer": "7", "total": 10},
            {"id": 2, "customer": 8, "total": 20},
            {"id": 3, "customer": 7, "total": 30},
            {"id": 4, "total": 40},
        ]);
        let customers = json!([
            {"customer": 7, "name": "Ana", "total": "ignored"},
            {"Customer": 9, "name": "Bob"},
        ]);
        let got = join(
            orders.as_array().unwrap(),
            customers.as_array().unwrap(),
            "customer",
        );
        assert_eq!(
            Value::Array(got),
            json!([
                {"id": 1, "customer": "7", "total": 10, "name": "Ana"},
                {"id": 3, "customer": 7, "total": 30, "name": "Ana"},
            ])
        );
    }

    #[test]
    fn group_by_collects_rows_under_each_value() {
        let g = group_by(&people(), "city");
        assert_eq!(g.len(), 4);
        assert_eq!(g[""].as_array().unwrap(), &vec![json!("not an object")]);
        assert_eq!(g["Rio"].as_array().unwrap().len(), 2);
        assert_eq!(g["Lisbon"].as_array().unwrap().len(), 1);
        assert_eq!(g["lisbon"].as_array().unwrap().len(), 1);
        let by_age = group_by(
            &json!([{"a": 1}, {"a": "1"}, {"a": 1.0}, {}])
                .as_array()
                .unwrap()
                .clone(),
            "a",
        );
        assert_eq!(by_age["1"].as_array().unwrap().len(), 3);
        assert_eq!(by_age[""].as_array().unwrap().len(), 1);
    }

    #[test]
    fn sort_orders_numbers_numerically_and_text_case_insensitively_and_is_stable() {
        let rows = json!([
            {"n": 10, "t": "b", "k": 1},
            {"n": "9", "t": "B", "k": 2},
            {"n": 100, "t": "a", "k": 3},
            {"t": "C", "k": 4},
            {"n": 9, "t": "b", "k": 5},
        ]);
        let rows = rows.as_array().unwrap();
        let keys = |v: Vec<Value>| v.iter().map(|r| r["k"].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(keys(sort(rows, "n", false)), vec![2, 5, 1, 3, 4]);
        assert_eq!(keys(sort(rows, "n", true)), vec![3, 1, 2, 5, 4]);
        assert_eq!(keys(sort(rows, "T", false)), vec![3, 1, 2, 5, 4]);
        assert_eq!(keys(sort(rows, "t", true)), vec![4, 1, 2, 5, 3]);
    }
}
