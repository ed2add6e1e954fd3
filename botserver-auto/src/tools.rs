//! Scripts as tools (spec §5): `PARAM` and `DESCRIPTION` lines become a tool description
//! with a JSON Schema, offered in the OpenAI function shape and the MCP shape; arguments
//! from a model are validated and coerced against it before the script runs.

use crate::ast::{Arg, Expr, ExprKind, StmtKind, StrSeg};
use crate::lexer::Pos;
use crate::parser::ParseError;
use serde_json::{Map, Value, json};

/// A parameter type (spec §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// `STRING` / `TEXT`
    String,
    /// `INTEGER`
    Integer,
    /// `NUMBER`
    Number,
    /// `BOOLEAN`
    Boolean,
    /// `DATE` (YYYY-MM-DD)
    Date,
    /// `EMAIL`
    Email,
    /// `PHONE`
    Phone,
    /// `ARRAY`
    Array,
    /// `OBJECT`
    Object,
}

impl ParamType {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_uppercase().as_str() {
            "STRING" | "TEXT" => ParamType::String,
            "INTEGER" => ParamType::Integer,
            "NUMBER" => ParamType::Number,
            "BOOLEAN" => ParamType::Boolean,
            "DATE" => ParamType::Date,
            "EMAIL" => ParamType::Email,
            "PHONE" => ParamType::Phone,
            "ARRAY" => ParamType::Array,
            "OBJECT" => ParamType::Object,
            _ => return None,
        })
    }

    fn schema(&self) -> Map<String, Value> {
        let (ty, format) = match self {
            ParamType::String | ParamType::Phone => ("string", None),
            ParamType::Integer => ("integer", None),
            ParamType::Number => ("number", None),
            ParamType::Boolean => ("boolean", None),
            ParamType::Date => ("string", Some("date")),
            ParamType::Email => ("string", Some("email")),
            ParamType::Array => ("array", None),
            ParamType::Object => ("object", None),
        };
        let mut m = Map::new();
        m.insert("type".into(), ty.into());
        if let Some(f) = format {
            m.insert("format".into(), f.into());
        }
        m
    }
}

/// One `PARAM` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Its name (a script variable, lowercase).
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// `LIKE "example"`
    pub example: Option<String>,
    /// `DESCRIPTION "text"`
    pub description: Option<String>,
    /// `ENUM [...]`
    pub choices: Vec<String>,
    /// `OPTIONAL`
    pub optional: bool,
}

/// A script described as a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// The script's file stem.
    pub name: String,
    /// The `DESCRIPTION` line.
    pub description: String,
    /// The parameters, in order.
    pub params: Vec<Param>,
}

fn literal_text(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Str(segs) => match segs.as_slice() {
            [StrSeg::Text(t)] => Some(t.clone()),
            [] => Some(String::new()),
            _ => None,
        },
        ExprKind::Num(n) => Some(n.to_string()),
        _ => None,
    }
}

fn err<T>(pos: Pos, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

fn param(args: &[Arg], pos: Pos) -> Result<Param, ParseError> {
    let mut it = args.iter().peekable();
    let name = match it.next() {
        Some(Arg::Expr(Expr {
            kind: ExprKind::Var(v),
            ..
        })) => v.clone(),
        _ => return err(pos, "expected a parameter name after PARAM"),
    };
    if !matches!(it.next(), Some(Arg::Word(w)) if w == "AS") {
        return err(pos, format!("expected AS and a type after PARAM {name}"));
    }
    let ty = match it.next() {
        Some(Arg::Expr(Expr { kind: ExprKind::Var(t), .. })) => ParamType::parse(t),
        _ => None,
    }
    .ok_or_else(|| ParseError {
        pos,
        message: format!(
            "expected a type for PARAM {name}: STRING, TEXT, INTEGER, NUMBER, BOOLEAN, DATE, EMAIL, PHONE, ARRAY or OBJECT"
        ),
    })?;
    let mut p = Param {
        name,
        ty,
        example: None,
        description: None,
        choices: Vec::new(),
        optional: false,
    };
    while let Some(arg) = it.next() {
        let Arg::Word(word) = arg else {
            return err(
                pos,
                format!("expected LIKE, DESCRIPTION, ENUM or OPTIONAL in PARAM {}", p.name),
            );
        };
        let mut text = |what: &str| match it.next() {
            Some(Arg::Expr(e)) => literal_text(e).ok_or_else(|| ParseError {
                pos: e.pos,
                message: format!("{what} takes a plain text"),
            }),
            _ => err(pos, format!("expected a text after {what}")),
        };
        match word.as_str() {
            "LIKE" => p.example = Some(text("LIKE")?),
            "DESCRIPTION" => p.description = Some(text("DESCRIPTION")?),
            "OPTIONAL" => p.optional = true,
            "ENUM" => match it.next() {
                Some(Arg::Expr(Expr {
                    kind: ExprKind::Array(items),
                    ..
                })) => {
                    p.choices = items
                        .iter()
                        .map(|i| {
                            literal_text(i).ok_or_else(|| ParseError {
                                pos: i.pos,
                                message: "ENUM takes plain values".into(),
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => return err(pos, "expected a list like [\"a\", \"b\"] after ENUM"),
            },
            other => return err(pos, format!("unexpected {other} in PARAM {}", p.name)),
        }
    }
    Ok(p)
}

/// The tool a script declares, or `None` when it has no `DESCRIPTION` line (not a tool).
/// `name` is the script's file stem.
pub fn tool_of(name: &str, script: &[crate::ast::Stmt]) -> Result<Option<ToolSpec>, ParseError> {
    let mut description = None;
    let mut params: Vec<Param> = Vec::new();
    for stmt in script {
        let StmtKind::Keyword(call) = &stmt.kind else {
            continue;
        };
        match call.keyword.phrase {
            "DESCRIPTION" => match call.args.as_slice() {
                [Arg::Expr(e)] => {
                    description = Some(literal_text(e).ok_or_else(|| ParseError {
                        pos: e.pos,
                        message: "DESCRIPTION takes a plain text".into(),
                    })?)
                }
                _ => return err(stmt.pos, "expected one text after DESCRIPTION"),
            },
            "PARAM" => {
                let p = param(&call.args, stmt.pos)?;
                if params.iter().any(|q| q.name == p.name) {
                    return err(stmt.pos, format!("PARAM {} is declared twice", p.name));
                }
                params.push(p);
            }
            _ => {}
        }
    }
    Ok(description.map(|description| ToolSpec {
        name: name.to_lowercase(),
        description,
        params,
    }))
}

impl ToolSpec {
    /// The JSON Schema of the parameters.
    pub fn schema(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for p in &self.params {
            let mut s = p.ty.schema();
            if let Some(d) = &p.description {
                s.insert("description".into(), d.clone().into());
            }
            if let Some(e) = &p.example {
                s.insert("examples".into(), json!([e]));
            }
            if !p.choices.is_empty() {
                s.insert("enum".into(), json!(p.choices));
            }
            properties.insert(p.name.clone(), Value::Object(s));
            if !p.optional {
                required.push(p.name.clone());
            }
        }
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    }

    /// OpenAI function-calling shape.
    pub fn openai(&self) -> Value {
        json!({"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.schema()}})
    }

    /// MCP tool shape.
    pub fn mcp(&self) -> Value {
        json!({"name": self.name, "description": self.description, "inputSchema": self.schema()})
    }

    /// Checks and converts a model's arguments: every required parameter present, no
    /// unknown ones, values converted to their types (`"42"` → 42, `"sim"` → true); absent
    /// optional parameters become empty strings (spec: "empty when absent").
    pub fn coerce(&self, args: &Value) -> Result<Map<String, Value>, String> {
        let empty = Map::new();
        let given = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err("the arguments must be an object".into()),
        };
        if let Some(unknown) = given.keys().find(|k| !self.params.iter().any(|p| &p.name == *k)) {
            return Err(format!("unknown parameter `{unknown}`"));
        }
        let mut out = Map::new();
        for p in &self.params {
            let value = match given.get(&p.name) {
                None | Some(Value::Null) if p.optional => Value::String(String::new()),
                None | Some(Value::Null) => return Err(format!("missing parameter `{}`", p.name)),
                Some(v) => coerce_value(p, v)?,
            };
            out.insert(p.name.clone(), value);
        }
        Ok(out)
    }
}

fn coerce_value(p: &Param, v: &Value) -> Result<Value, String> {
    let bad = || format!("parameter `{}` must be {:?}, got {v}", p.name, p.ty);
    let text = || match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let value = match p.ty {
        ParamType::String | ParamType::Phone => Value::String(text().ok_or_else(bad)?),
        ParamType::Integer => match v {
            Value::Number(n) if n.is_i64() => v.clone(),
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                json!(n.as_f64().unwrap_or(0.0) as i64)
            }
            _ => json!(text().and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad)?),
        },
        ParamType::Number => match v {
            Value::Number(_) => v.clone(),
            _ => json!(
                text()
                    .and_then(|s| s.replace(',', ".").parse::<f64>().ok())
                    .filter(|f| f.is_finite())
                    .ok_or_else(bad)?
            ),
        },
        ParamType::Boolean => match v {
            Value::Bool(_) => v.clone(),
            _ => match text().map(|s| s.to_lowercase()).as_deref() {
                Some("true" | "yes" | "y" | "sim" | "s" | "1") => Value::Bool(true),
                Some("false" | "no" | "n" | "não" | "nao" | "0") => Value::Bool(false),
                _ => return Err(bad()),
            },
        },
        ParamType::Date => {
            let s = text().ok_or_else(bad)?;
            let b = s.as_bytes();
            let shape = b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && s.chars().filter(char::is_ascii_digit).count() == 8;
            let month: u32 = s.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
            let day: u32 = s.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(0);
            if !shape || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return Err(format!(
                    "parameter `{}` must be a date like 2026-01-31, got {v}",
                    p.name
                ));
            }
            Value::String(s)
        }
        ParamType::Email => {
            let s = text().ok_or_else(bad)?;
            let ok = s.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
            }) && !s.contains(char::is_whitespace);
            if !ok {
                return Err(format!(
                    "parameter `{}` must be an e-mail address, got {v}",
                    p.name
                ));
            }
            Value::String(s)
        }
        ParamType::Array => match v {
            Value::Array(_) => v.clone(),
            _ => return Err(bad()),
        },
        ParamType::Object => match v {
            Value::Object(_) => v.clone(),
            _ => return Err(bad()),
        },
    };
    if !p.choices.is_empty() {
        let as_text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !p.choices.contains(&as_text) {
            return Err(format!(
                "parameter `{}` must be one of {}",
                p.name,
                p.choices.join(", ")
            ));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::parse_script;

    const BOOKING: &str = r#"PARAM guest AS STRING LIKE "Maria" DESCRIPTION "Who is coming"
PARAM day AS DATE DESCRIPTION "When"
PARAM people AS INTEGER
PARAM vegan AS BOOLEAN OPTIONAL
PARAM room AS TEXT ENUM ["hall", "garden"] OPTIONAL
PARAM email AS EMAIL OPTIONAL
DESCRIPTION "Book a table at the restaurant"
TALK "Booked for ${guest}"
RETURN "ok"
"#;

    fn booking() -> ToolSpec {
        tool_of("Booking", &parse_script(BOOKING).unwrap())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn params_become_a_json_schema_in_both_shapes() {
        let t = booking();
        assert_eq!(t.name, "booking");
        let schema = t.schema();
        assert_eq!(schema["required"], json!(["guest", "day", "people"]));
        assert_eq!(
            schema["properties"]["day"],
            json!({"type": "string", "format": "date", "description": "When"})
        );
        assert_eq!(schema["properties"]["guest"]["examples"], json!(["Maria"]));
        assert_eq!(schema["properties"]["room"]["enum"], json!(["hall", "garden"]));
        assert_eq!(t.openai()["function"]["parameters"], schema);
        assert_eq!(t.openai()["type"], "function");
        assert_eq!(t.mcp()["inputSchema"], schema);
        assert_eq!(t.mcp()["description"], "Book a table at the restaurant");
    }

    #[test]
    fn a_script_without_description_is_not_a_tool() {
        assert!(
            tool_of("start", &parse_script("TALK \"hi\"").unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn arguments_are_validated_and_coerced() {
        let t = booking();
        let ok = t
            .coerce(&json!({"guest": "Ana", "day": "2026-12-24", "people": "4", "vegan": "sim"}))
            .unwrap();
        assert_eq!(ok["people"], json!(4));
        assert_eq!(ok["vegan"], json!(true));
        assert_eq!(ok["room"], json!(""), "absent optional parameters are empty");
        assert!(
            t.coerce(&json!({"guest": "Ana", "day": "2026-12-24"}))
                .unwrap_err()
                .contains("missing parameter `people`")
        );
        assert!(
            t.coerce(&json!({"guest": "A", "day": "24/12/2026", "people": 2}))
                .unwrap_err()
                .contains("date")
        );
        assert!(
            t.coerce(&json!({"guest": "A", "day": "2026-12-24", "people": "many"}))
                .unwrap_err()
                .contains("people")
        );
        assert!(
            t.coerce(&json!({"guest": "A", "day": "2026-12-24", "people": 2, "room": "roof"}))
                .unwrap_err()
                .contains("one of")
        );
        assert!(
            t.coerce(&json!({"guest": "A", "day": "2026-12-24", "people": 2, "email": "nope"}))
                .unwrap_err()
                .contains("e-mail")
        );
        assert!(
            t.coerce(&json!({"guest": "A", "day": "2026-12-24", "people": 2, "extra": 1}))
                .unwrap_err()
                .contains("unknown parameter")
        );
        assert!(t.coerce(&json!("text")).is_err());
    }

    #[test]
    fn malformed_params_are_located_errors() {
        let e = tool_of(
            "t",
            &parse_script("DESCRIPTION \"x\"\n\nPARAM a AS COLOR").unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(e.message.contains("expected a type for PARAM a"), "{e}");
        let e = tool_of(
            "t",
            &parse_script("PARAM a AS STRING\nPARAM a AS STRING").unwrap(),
        )
        .unwrap_err();
        assert!(e.message.contains("declared twice"), "{e}");
        // Without AS the parser already refuses the line.
        let e = parse_script("PARAM a STRING").unwrap_err();
        assert!(e.message.starts_with("expected `,`"), "{e}");
        let e = tool_of("t", &parse_script("PARAM a, b").unwrap()).unwrap_err();
        assert!(e.message.contains("expected AS"), "{e}");
    }
}
