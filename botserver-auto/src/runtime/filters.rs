//! The compiler's filter pieces (`["name = ", value, " AND age > 3"]`: texts at even
//! positions, bound values at odd ones) turned into the filter language of
//! [`crate::data::filter`].

use super::values;
use crate::data::filter::{Filter, FilterPiece};
use rhai::{Array, Dynamic};

/// Checks a literal filter at compile time.
pub fn check(text: &str) -> Result<(), String> {
    Filter::parse_str(text).map(|_| ()).map_err(|e| e.to_string())
}

/// The pieces of a filter argument (an array from the compiler, or any text).
pub fn pieces(x: &Dynamic) -> Vec<FilterPiece> {
    match x.read_lock::<Array>() {
        Some(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i % 2 == 0 {
                    FilterPiece::Text(values::text(p))
                } else {
                    FilterPiece::Value(values::to_json(p))
                }
            })
            .collect(),
        None => vec![FilterPiece::Text(values::text(x))],
    }
}

/// Parses a filter argument.
pub fn parse(x: &Dynamic) -> Result<Filter, String> {
    Filter::parse(&pieces(x)).map_err(|e| format!("bad filter: {e}"))
}
