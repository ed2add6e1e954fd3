//! HEAR's typed answers (spec §4): each type validates and converts the user's text; a
//! menu accepts an option (by its text, case-insensitively, or by its number).

use super::values::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// How many invalid answers a HEAR accepts before the script gets an error.
pub const MAX_TRIES: u32 = 3;

/// What a HEAR waits for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HearSpec {
    /// `TEXT`, `INTEGER`, … or `MENU`.
    pub ty: String,
    /// Menu options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Applied to an empty answer.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub default: Json,
    /// Invalid answers so far.
    #[serde(default)]
    pub tries: u32,
    /// The journal's length when the HEAR waited: an answer belongs there.
    #[serde(default)]
    pub at: usize,
}

/// Validates and converts an answer; the error is the message that asks again.
pub fn accept(spec: &HearSpec, answer: &str) -> Result<Json, String> {
    let a = answer.trim();
    if a.is_empty() && !spec.default.is_null() {
        return Ok(spec.default.clone());
    }
    match spec.ty.as_str() {
        "TEXT" | "STRING" | "ANY" => Ok(Json::String(answer.to_string())),
        "INTEGER" => a
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| "Please answer with a whole number (for example 42).".into()),
        "NUMBER" => number(a)
            .map(|n| json!(n))
            .ok_or_else(|| "Please answer with a number (for example 3.5).".into()),
        "MONEY" => {
            let cleaned: String = a
                .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '-')
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            money(&cleaned)
                .map(|n| json!((n * 100.0).round() / 100.0))
                .ok_or_else(|| "Please answer with an amount (for example 19.90).".into())
        }
        "BOOLEAN" => match a.to_lowercase().as_str() {
            "yes" | "y" | "sim" | "s" | "true" | "1" | "ok" | "si" | "sí" => Ok(Json::Bool(true)),
            "no" | "n" | "não" | "nao" | "false" | "0" => Ok(Json::Bool(false)),
            _ => Err("Please answer yes or no.".into()),
        },
        "DATE" => Date::parse(a)
            .map(|d| json!({ "$date": d.text() }))
            .ok_or_else(|| "Please answer with a date (for example 2026-12-31 or 31/12/2026).".into()),
        "EMAIL" => {
            let ok = a.split_once('@').is_some_and(|(u, d)| {
                !u.is_empty()
                    && d.contains('.')
                    && !d.starts_with('.')
                    && !d.ends_with('.')
                    && !a.contains(' ')
            });
            if ok {
                Ok(Json::String(a.to_lowercase()))
            } else {
                Err("Please answer with an e-mail address (for example ana@example.com).".into())
            }
        }
        "PHONE" => {
            let digits: String = a.chars().filter(|c| c.is_ascii_digit()).collect();
            let allowed = a.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if allowed && (8..=15).contains(&digits.len()) {
                Ok(Json::String(if a.starts_with('+') {
                    format!("+{digits}")
                } else {
                    digits
                }))
            } else {
                Err("Please answer with a phone number (for example +55 21 99999-0000).".into())
            }
        }
        "NAME" => {
            let ok = a.chars().count() >= 2
                && a.chars().all(|c| c.is_alphabetic() || " '-.".contains(c))
                && a.chars().any(char::is_alphabetic);
            if ok {
                Ok(Json::String(title_case(a)))
            } else {
                Err("Please answer with a name.".into())
            }
        }
        "URL" => match url::Url::parse(a) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(Json::String(a.into()))
            }
            _ => Err("Please answer with a web address (for example https://example.com).".into()),
        },
        "UUID" => uuid::Uuid::parse_str(a)
            .map(|u| Json::String(u.to_string()))
            .map_err(|_| "Please answer with a UUID.".into()),
        "MENU" => {
            if let Some(o) = spec.options.iter().find(|o| o.eq_ignore_ascii_case(a)) {
                return Ok(Json::String(o.clone()));
            }
            if let Ok(n) = a.parse::<usize>()
                && let Some(o) = n.checked_sub(1).and_then(|i| spec.options.get(i))
            {
                return Ok(Json::String(o.clone()));
            }
            Err(format!("Please choose one of: {}.", spec.options.join(", ")))
        }
        other => Err(format!("unknown HEAR type {other}")),
    }
}

fn number(a: &str) -> Option<f64> {
    a.parse::<f64>()
        .ok()
        .or_else(|| a.replace(',', ".").parse().ok())
        .filter(|f: &f64| f.is_finite())
}

/// `1.234,56` and `1,234.56` and `19.90` all read as amounts.
fn money(s: &str) -> Option<f64> {
    let last_sep = s.rfind([',', '.']);
    let normalized = match last_sep {
        Some(i) if s.len() - i - 1 <= 2 => {
            let (int, frac) = s.split_at(i);
            format!("{}.{}", int.replace([',', '.'], ""), &frac[1..])
        }
        _ => s.replace([',', '.'], ""),
    };
    normalized.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn title_case(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => format!("{}{}", f.to_uppercase(), c.as_str().to_lowercase()),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ty: &str) -> HearSpec {
        HearSpec {
            ty: ty.into(),
            options: vec![],
            default: Json::Null,
            tries: 0,
            at: 0,
        }
    }

    #[test]
    fn types_convert_and_refuse() {
        assert_eq!(accept(&spec("INTEGER"), " 42 "), Ok(json!(42)));
        assert!(accept(&spec("INTEGER"), "4.5").is_err());
        assert_eq!(accept(&spec("NUMBER"), "3,5"), Ok(json!(3.5)));
        assert_eq!(accept(&spec("MONEY"), "R$ 1.234,56"), Ok(json!(1234.56)));
        assert_eq!(accept(&spec("MONEY"), "$19.90"), Ok(json!(19.9)));
        assert_eq!(accept(&spec("BOOLEAN"), "Sim"), Ok(json!(true)));
        assert_eq!(accept(&spec("BOOLEAN"), "não"), Ok(json!(false)));
        assert!(accept(&spec("BOOLEAN"), "maybe").is_err());
        assert_eq!(
            accept(&spec("DATE"), "31/12/2026"),
            Ok(json!({"$date": "2026-12-31"}))
        );
        assert_eq!(
            accept(&spec("EMAIL"), "Ana@Example.com"),
            Ok(json!("ana@example.com"))
        );
        assert!(accept(&spec("EMAIL"), "ana@example").is_err());
        assert_eq!(
            accept(&spec("PHONE"), "+55 (21) 99999-0000"),
            Ok(json!("+5521999990000"))
        );
        assert_eq!(accept(&spec("NAME"), "ana maria"), Ok(json!("Ana Maria")));
        assert!(accept(&spec("NAME"), "12").is_err());
        assert!(accept(&spec("URL"), "ftp://x").is_err());
        assert!(accept(&spec("UUID"), "not").is_err());
    }

    #[test]
    fn menus_take_text_or_number_and_default_fills_empty() {
        let mut s = spec("MENU");
        s.options = vec!["Sales".into(), "Support".into()];
        assert_eq!(accept(&s, "support"), Ok(json!("Support")));
        assert_eq!(accept(&s, "1"), Ok(json!("Sales")));
        assert!(accept(&s, "3").is_err());
        let mut d = spec("INTEGER");
        d.default = json!(7);
        assert_eq!(accept(&d, "  "), Ok(json!(7)));
    }
}
