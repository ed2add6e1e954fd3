//! The bot's own tables: `TABLE` definitions and per-bot SQL tables on both backends.
//!
//! Each bot table is a real SQL table with typed columns, named
//! `bt_<first 12 hex digits of the bot id>_<table>` (longer names end in a hash instead),
//! and recorded in the catalog `bot_tables` (`bot_id`, `name`, `physical`, `key_column`,
//! `columns_json`, `defined`, `updated_at`), which every server instance reads on every
//! operation, so instances always agree. A bot reaches its tables only through the
//! catalog rows of its own id: one bot never reads another's.
//!
//! - A `TABLE` block ([`TableDef::parse`], [`Tables::define`]) creates the table, or adds
//!   the columns it does not have yet (nothing is ever dropped or retyped). A defined
//!   table refuses fields and filter columns it does not list.
//! - A table written before any definition is created on first write with an `id` text key;
//!   fields the data brings are added as columns of the type of their first non-empty
//!   value (number, boolean, JSON for lists and objects, text otherwise).
//! - Every row has a key: the `TABLE`'s `key` column, else its `id` column, else an added
//!   `id` text column; a text key missing from a written row is generated (a UUID v4).
//! - Values are converted to the column's type on the way in (a numeric string into a
//!   number column, `"yes"` into a boolean, dates to `YYYY-MM-DD`, date-times to
//!   `YYYY-MM-DDTHH:MM:SS` in UTC) and come back typed (numbers, booleans, JSON). An empty
//!   string in a non-text column is `NULL`.
//! - Every value is a bound parameter; names are validated identifiers (letters, digits
//!   and `_`, starting with a letter, at most 63 characters), quoted in the SQL.
//! - `FIND` returns rows in the order they were first written, at most
//!   [`Tables::max_rows`] (default [`MAX_ROWS`]); a table has at most [`MAX_COLUMNS`]
//!   columns.
//! - Case-insensitive matching (`LIKE` in filters, `SEARCH`) folds every letter on
//!   PostgreSQL, and ASCII letters only on SQLite.

use super::DataError;
use super::filter::{Dialect, Filter, SqlParam, is_empty, numeric, parse_number, truth};
use super::sql::{self, Binder, CatalogRow, quote};
use botlib::BotId;
use botstate::AnyConnection;
use diesel::Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Default most rows one `FIND` or `SEARCH` returns.
pub const MAX_ROWS: usize = 10_000;
/// Most columns of one table (its key included).
pub const MAX_COLUMNS: usize = 200;
/// Longest table or column name.
pub const MAX_IDENT: usize = 63;

/// Columns per `json_object(...)` call when reading rows (PostgreSQL takes at most 100
/// arguments per function).
const JSON_CHUNK: usize = 50;

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// `string`, `text`, `varchar`, `char`: text, with an optional maximum length.
    Text,
    /// `integer`, `int`, `long`, `bigint`: a 64-bit whole number.
    Integer,
    /// `number`, `double`, `float`, `real`, `decimal`, `money`: a double.
    Number,
    /// `boolean`, `bool`.
    Boolean,
    /// `date`: `YYYY-MM-DD`.
    Date,
    /// `datetime`, `timestamp`: `YYYY-MM-DDTHH:MM:SS`, UTC.
    DateTime,
    /// `json`, `object`: any JSON value.
    Json,
}

impl ColumnType {
    /// The type a `TABLE` line names (case-insensitive), if it is one.
    pub fn parse(word: &str) -> Option<ColumnType> {
        Some(match word.to_ascii_lowercase().as_str() {
            "string" | "text" | "varchar" | "char" | "nvarchar" => ColumnType::Text,
            "integer" | "int" | "long" | "bigint" => ColumnType::Integer,
            "number" | "double" | "float" | "real" | "decimal" | "numeric" | "money" | "currency" => {
                ColumnType::Number
            }
            "boolean" | "bool" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "datetime" | "timestamp" => ColumnType::DateTime,
            "json" | "object" => ColumnType::Json,
            _ => return None,
        })
    }

    /// The canonical name (`text`, `integer`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::DateTime => "datetime",
            ColumnType::Json => "json",
        }
    }

    /// The type a column added for this value gets (`None` for `NULL`).
    pub fn infer(value: &Value) -> Option<ColumnType> {
        match value {
            Value::Null => None,
            Value::Bool(_) => Some(ColumnType::Boolean),
            Value::Number(_) => Some(ColumnType::Number),
            Value::Array(_) | Value::Object(_) => Some(ColumnType::Json),
            Value::String(_) => Some(ColumnType::Text),
        }
    }

    fn ddl(&self, dialect: Dialect, len: Option<u32>) -> String {
        match (dialect, self) {
            (Dialect::Sqlite, ColumnType::Integer) => "BIGINT".into(),
            (Dialect::Sqlite, ColumnType::Number) => "REAL".into(),
            (Dialect::Sqlite, ColumnType::Boolean) => "BOOLEAN".into(),
            (Dialect::Sqlite, _) => "TEXT".into(),
            (Dialect::Postgres, ColumnType::Text) => match len {
                Some(n) => format!("VARCHAR({n})"),
                None => "TEXT".into(),
            },
            (Dialect::Postgres, ColumnType::Integer) => "BIGINT".into(),
            (Dialect::Postgres, ColumnType::Number) => "DOUBLE PRECISION".into(),
            (Dialect::Postgres, ColumnType::Boolean) => "BOOLEAN".into(),
            (Dialect::Postgres, ColumnType::Date) => "DATE".into(),
            (Dialect::Postgres, ColumnType::DateTime) => "TIMESTAMP".into(),
            (Dialect::Postgres, ColumnType::Json) => "JSONB".into(),
        }
    }

    /// Converts a value to be stored in a column of this type (and at most `len`
    /// characters for text). The error says why it does not fit.
    pub fn coerce(&self, value: &Value, len: Option<u32>) -> Result<SqlParam, String> {
        let blank = is_empty(Some(value));
        Ok(match self {
            ColumnType::Text => {
                let text = match value {
                    Value::Null => return Ok(SqlParam::Text(None)),
                    other => super::filter::text_of(other),
                };
                if let Some(max) = len
                    && text.chars().count() > max as usize
                {
                    return Err(format!("the value is longer than {max} characters"));
                }
                SqlParam::Text(Some(text))
            }
            _ if blank => match self {
                ColumnType::Integer => SqlParam::Integer(None),
                ColumnType::Number => SqlParam::Float(None),
                ColumnType::Boolean => SqlParam::Bool(None),
                _ => SqlParam::Text(None),
            },
            ColumnType::Integer => match value {
                Value::Bool(b) => SqlParam::Integer(Some(*b as i64)),
                _ => SqlParam::Integer(Some(
                    whole(value).ok_or_else(|| format!("{} is not a whole number", shown(value)))?,
                )),
            },
            ColumnType::Number => match value {
                Value::Bool(b) => SqlParam::Float(Some(if *b { 1.0 } else { 0.0 })),
                _ => SqlParam::Float(Some(
                    numeric(value).ok_or_else(|| format!("{} is not a number", shown(value)))?,
                )),
            },
            ColumnType::Boolean => SqlParam::Bool(Some(
                truth(value).ok_or_else(|| format!("{} is not TRUE or FALSE", shown(value)))?,
            )),
            ColumnType::Date => SqlParam::Text(Some(
                value
                    .as_str()
                    .and_then(parse_date)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .ok_or_else(|| format!("{} is not a date (YYYY-MM-DD)", shown(value)))?,
            )),
            ColumnType::DateTime => SqlParam::Text(Some(
                value
                    .as_str()
                    .and_then(parse_datetime)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
                    .ok_or_else(|| {
                        format!("{} is not a date and time (YYYY-MM-DD HH:MM:SS)", shown(value))
                    })?,
            )),
            ColumnType::Json => SqlParam::Text(Some(value.to_string())),
        })
    }

    /// Converts a filter value to compare with a column of this type: like [`coerce`],
    /// except that an integer column compares with fractions too, and lengths do not
    /// matter.
    ///
    /// [`coerce`]: ColumnType::coerce
    pub(crate) fn compare_param(&self, value: &Value) -> Result<SqlParam, String> {
        if *self == ColumnType::Integer && !value.is_boolean() {
            let n = numeric(value).ok_or_else(|| format!("{} is not a number", shown(value)))?;
            return Ok(match whole(value) {
                Some(i) => SqlParam::Integer(Some(i)),
                None => SqlParam::Float(Some(n)),
            });
        }
        self.coerce(value, None)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// A whole number (also `"42"` and `42.0`).
fn whole(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => whole(&parse_number(s.trim())?),
        _ => None,
    }
}

fn parse_datetime(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d);
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime(s).map(|d| d.date()))
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// The name, lowercase.
    pub name: String,
    /// The type.
    pub ty: ColumnType,
    /// The maximum length of a text column, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u32>,
    /// Whether this is the table's key.
    #[serde(default)]
    pub key: bool,
    /// The table this column refers to (recorded, not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
}

impl ColumnDef {
    /// A plain column.
    pub fn new(name: &str, ty: ColumnType) -> ColumnDef {
        ColumnDef {
            name: name.to_string(),
            ty,
            len: None,
            key: false,
            references: None,
        }
    }
}

/// A `TABLE` definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    /// The table name, normalized (see [`table_name`]).
    pub name: String,
    /// The columns, in the order written.
    pub columns: Vec<ColumnDef>,
}

/// A `TABLE` block that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefError {
    /// The index (from 0) of the offending line among the body lines, or `None` when the
    /// table name or the block as a whole is wrong.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(i) => write!(f, "{} (line {} of the TABLE block)", self.message, i + 1),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DefError {}

impl TableDef {
    /// Parses the body lines of `TABLE name` ... `END TABLE`: one
    /// `Field type[(len)] [key] [references T]` per line; blank lines and comments (`'`,
    /// `REM`, `//`) are skipped.
    pub fn parse<S: AsRef<str>>(name: &str, lines: &[S]) -> Result<TableDef, DefError> {
        let name = table_name(name).map_err(|message| DefError { line: None, message })?;
        let mut columns: Vec<ColumnDef> = Vec::new();
        for (index, raw) in lines.iter().enumerate() {
            let Some(col) = parse_field(raw.as_ref()).map_err(|message| DefError {
                line: Some(index),
                message,
            })?
            else {
                continue;
            };
            let fail = |message: String| DefError {
                line: Some(index),
                message,
            };
            if columns.iter().any(|c| c.name == col.name) {
                return Err(fail(format!("field {} is declared twice", col.name)));
            }
            if col.key && columns.iter().any(|c| c.key) {
                return Err(fail(format!(
                    "field {} is a second key; a table has one key",
                    col.name
                )));
            }
            if columns.len() == MAX_COLUMNS {
                return Err(fail(format!("a table has at most {MAX_COLUMNS} fields")));
            }
            columns.push(col);
        }
        if columns.is_empty() {
            return Err(DefError {
                line: None,
                message: format!("TABLE {name} declares no fields"),
            });
        }
        Ok(TableDef { name, columns })
    }

    /// The key column's name: the `key` field, else `id`.
    pub fn key_column(&self) -> String {
        self.columns
            .iter()
            .find(|c| c.key)
            .map_or_else(|| "id".to_string(), |c| c.name.clone())
    }

    /// The columns as stored: the key marked, and an `id` text key first when the
    /// definition has neither a `key` field nor an `id` field.
    pub fn storage_columns(&self) -> Vec<ColumnDef> {
        let key = self.key_column();
        let mut cols: Vec<ColumnDef> = self
            .columns
            .iter()
            .map(|c| ColumnDef {
                key: c.name == key,
                ..c.clone()
            })
            .collect();
        if !cols.iter().any(|c| c.key) {
            cols.insert(
                0,
                ColumnDef {
                    key: true,
                    ..ColumnDef::new("id", ColumnType::Text)
                },
            );
        }
        cols
    }
}

/// One body line: `Ok(None)` for a blank or comment line.
fn parse_field(line: &str) -> Result<Option<ColumnDef>, String> {
    let mut line = line.trim();
    for marker in ["'", "//"] {
        if let Some(k) = line.find(marker) {
            line = line[..k].trim();
        }
    }
    if line.is_empty() || line.to_ascii_uppercase().starts_with("REM ") || line.eq_ignore_ascii_case("rem") {
        return Ok(None);
    }
    let (field, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let name = column_name(field)?;
    let rest = rest.trim_start();
    let type_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    let type_word = &rest[..type_end];
    if type_word.is_empty() {
        return Err(format!(
            "field {name} needs a type (string, integer, number, boolean, date, datetime or json)"
        ));
    }
    let ty = ColumnType::parse(type_word).ok_or_else(|| {
        format!(
            "unknown type '{type_word}' for field {name} (use string, integer, number, boolean, date, \
             datetime or json)"
        )
    })?;
    let mut rest = rest[type_end..].trim_start();
    let mut len = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after
            .find(')')
            .ok_or_else(|| format!("missing ')' after the length of field {name}"))?;
        let inside = &after[..close];
        let first = inside.split(',').next().unwrap_or("").trim();
        let n: u32 = first.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            format!("the length of field {name} must be a positive whole number, not '{inside}'")
        })?;
        if ty == ColumnType::Text {
            len = Some(n);
        }
        rest = after[close + 1..].trim_start();
    }
    let mut col = ColumnDef {
        len,
        ..ColumnDef::new(&name, ty)
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        match words[i].to_ascii_lowercase().as_str() {
            "key" => col.key = true,
            "primary" if words.get(i + 1).is_some_and(|w| w.eq_ignore_ascii_case("key")) => {
                col.key = true;
                i += 1;
            }
            "references" => {
                let target = words
                    .get(i + 1)
                    .ok_or_else(|| format!("REFERENCES of field {name} needs a table name"))?;
                let target = target.split('(').next().unwrap_or(target);
                col.references = Some(table_name(target)?);
                i += 1;
            }
            other => return Err(format!("unexpected '{other}' after the type of field {name}")),
        }
        i += 1;
    }
    Ok(Some(col))
}

/// A valid identifier, lowercased: a letter, then letters, digits and `_`, at most
/// [`MAX_IDENT`] characters.
fn identifier(raw: &str, what: &str) -> Result<String, String> {
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(format!("{what} name is empty"));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{what} name '{}' must start with a letter and hold only letters, digits and '_'",
            raw.trim()
        ));
    }
    if name.len() > MAX_IDENT {
        return Err(format!(
            "{what} name '{name}' is longer than {MAX_IDENT} characters"
        ));
    }
    Ok(name)
}

/// A column name, validated and lowercased.
pub fn column_name(raw: &str) -> Result<String, String> {
    identifier(raw, "column")
}

/// A table name as stored: a file suffix removed (`"contacts.csv"` is `contacts`),
/// lowercased and validated.
pub fn table_name(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let stem = match raw.rfind('.') {
        Some(k) if k > 0 => &raw[..k],
        _ => raw,
    };
    identifier(stem, "table")
}

/// A table as the catalog records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// The table name.
    pub name: String,
    /// The SQL table holding its rows.
    pub physical: String,
    /// The key column.
    pub key: String,
    /// The columns, the key among them.
    pub columns: Vec<ColumnDef>,
    /// Whether a `TABLE` definition declared it (then unknown columns are errors).
    pub defined: bool,
}

impl TableInfo {
    /// The column of that (lowercase) name.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A row's fields: normalized names with their values.
type Fields = Vec<(String, Value)>;

/// One bot's tables. Every operation runs in a transaction on the connection given.
#[derive(Clone, Debug)]
pub struct Tables {
    bot: BotId,
    max_rows: usize,
}

impl Tables {
    /// The tables of `bot` (a `BotId` or its UUID), returning at most [`MAX_ROWS`] rows.
    pub fn new(bot: impl Into<BotId>) -> Tables {
        Tables {
            bot: bot.into(),
            max_rows: MAX_ROWS,
        }
    }

    /// The same, returning at most `max_rows` rows per `FIND` or `SEARCH`.
    pub fn with_max_rows(self, max_rows: usize) -> Tables {
        Tables { max_rows, ..self }
    }

    /// The bot.
    pub fn bot(&self) -> BotId {
        self.bot
    }

    /// The most rows one `FIND` or `SEARCH` returns.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Applies a `TABLE` definition: creates the table, or adds the columns it lacks
    /// (existing columns keep their type, nothing is dropped). Returns the columns added.
    pub fn define(&self, conn: &mut AnyConnection, def: &TableDef) -> Result<Vec<String>, DataError> {
        let name = table_name(&def.name).map_err(DataError::Invalid)?;
        let mut seen: Vec<&str> = Vec::new();
        for c in &def.columns {
            if column_name(&c.name).ok().as_deref() != Some(c.name.as_str()) {
                return Err(DataError::invalid(format!(
                    "column name '{}' is not valid",
                    c.name
                )));
            }
            if seen.contains(&c.name.as_str()) {
                return Err(DataError::invalid(format!("column {} is declared twice", c.name)));
            }
            seen.push(&c.name);
        }
        if def.columns.iter().filter(|c| c.key).count() > 1 {
            return Err(DataError::invalid(format!(
                "table {name} declares more than one key"
            )));
        }
        let storage = def.storage_columns();
        check_width(&name, storage.len())?;
        conn.transaction(|c| {
            self.lock(c, &name)?;
            match self.load(c, &name)? {
                None => {
                    let key = def.key_column();
                    self.create(c, &name, storage.clone(), &key, true)?;
                    Ok(storage.into_iter().map(|c| c.name).collect())
                }
                Some(mut info) => {
                    let wanted_key = def.key_column();
                    if wanted_key != info.key {
                        tracing::warn!(table = %name, key = %info.key, wanted = %wanted_key,
                            "a table's key cannot change; keeping the existing key");
                    }
                    let mut added = Vec::new();
                    for col in storage {
                        match info.column(&col.name) {
                            Some(old) if old.ty != col.ty => {
                                tracing::warn!(table = %name, column = %col.name, was = %old.ty, now = %col.ty,
                                    "a column's type cannot change; keeping the existing type");
                            }
                            Some(_) => {}
                            None => added.push(ColumnDef { key: false, ..col }),
                        }
                    }
                    check_width(&name, info.columns.len() + added.len())?;
                    let names = added.iter().map(|c| c.name.clone()).collect();
                    self.add_columns(c, &mut info, added)?;
                    info.defined = true;
                    self.store(c, &info)?;
                    Ok(names)
                }
            }
        })
    }

    /// The catalog entry of a table of this bot, if it exists.
    pub fn describe(&self, conn: &mut AnyConnection, table: &str) -> Result<Option<TableInfo>, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        self.load(conn, &name)
    }

    /// The names of this bot's tables, sorted.
    pub fn list(&self, conn: &mut AnyConnection) -> Result<Vec<String>, DataError> {
        let mut b = Binder::new(sql::dialect(conn), 1);
        let q = format!(
            "SELECT name AS v FROM bot_tables WHERE bot_id = {} ORDER BY name",
            b.push_text(self.bot.to_string())
        );
        Ok(sql::load_text(conn, &q, &b.params)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// `SAVE`: inserts the row, or updates the fields it carries in the row with the same
    /// key. Returns the key (generated when a text key is missing).
    pub fn save(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        row: &Map<String, Value>,
    ) -> Result<Value, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let fields = normalize(row)?;
        conn.transaction(|c| {
            let info = self.ensure(c, &name, &fields)?;
            self.upsert(c, &info, fields)
        })
    }

    /// `INSERT`: adds the row; a row with the same key already there is a conflict.
    /// Returns the key.
    pub fn insert(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        row: &Map<String, Value>,
    ) -> Result<Value, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let fields = normalize(row)?;
        conn.transaction(|c| {
            let info = self.ensure(c, &name, &fields)?;
            self.insert_row(c, &info, fields)
        })
    }

    /// `UPDATE`: sets the patch's fields in every row matching the filter. Returns how
    /// many rows changed.
    pub fn update(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        filter: &Filter,
        patch: &Map<String, Value>,
    ) -> Result<usize, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let fields = normalize(patch)?;
        conn.transaction(|c| {
            if fields.is_empty() || self.load(c, &name)?.is_none() {
                return Ok(0);
            }
            let info = self.ensure(c, &name, &fields)?;
            if fields.iter().any(|(k, v)| *k == info.key && is_empty(Some(v))) {
                return Err(DataError::invalid(format!(
                    "the key column {} of table {name} cannot be emptied",
                    info.key
                )));
            }
            let mut b = Binder::new(sql::dialect(c), 1);
            let sets = set_list(&info, &fields, &mut b)?;
            let cond = filter.write_sql(&info.columns, info.defined, &mut b)?;
            let q = format!("UPDATE {} SET {sets} WHERE {cond}", quote(&info.physical));
            sql::execute(c, &q, &b.params).map_err(|e| conflict(e, &info.name))
        })
    }

    /// `DELETE`: removes the rows matching the filter. Returns how many.
    pub fn delete(&self, conn: &mut AnyConnection, table: &str, filter: &Filter) -> Result<usize, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        conn.transaction(|c| {
            let Some(info) = self.load(c, &name)? else {
                return Ok(0);
            };
            let mut b = Binder::new(sql::dialect(c), 1);
            let cond = filter.write_sql(&info.columns, info.defined, &mut b)?;
            let q = format!("DELETE FROM {} WHERE {cond}", quote(&info.physical));
            Ok(sql::execute(c, &q, &b.params)?)
        })
    }

    /// `MERGE`: upserts every row by `key_column` (the table's key, or any other column:
    /// then the rows with that value are updated, or the row inserted when there is none).
    /// Returns how many rows were written.
    pub fn merge(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        rows: &[Map<String, Value>],
        key_column: &str,
    ) -> Result<usize, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let keycol = column_name(key_column).map_err(DataError::Invalid)?;
        let rows = rows.iter().map(normalize).collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(0);
        }
        let all: Fields = rows.iter().flatten().cloned().collect();
        conn.transaction(|c| {
            let info = self.ensure(c, &name, &all)?;
            let Some(col) = info.column(&keycol).cloned() else {
                return Err(DataError::invalid(format!(
                    "no row has a value for the key column {keycol} of MERGE into {name}"
                )));
            };
            let mut written = 0;
            for (i, fields) in rows.into_iter().enumerate() {
                written += 1;
                if keycol == info.key {
                    self.upsert(c, &info, fields)?;
                    continue;
                }
                let Some(kv) = fields.iter().find(|(k, _)| *k == keycol).map(|(_, v)| v.clone()) else {
                    return Err(DataError::invalid(format!(
                        "row {} of MERGE has no {keycol}",
                        i + 1
                    )));
                };
                if is_empty(Some(&kv)) {
                    return Err(DataError::invalid(format!(
                        "row {} of MERGE has an empty {keycol}",
                        i + 1
                    )));
                }
                let mut b = Binder::new(sql::dialect(c), 1);
                let others: Fields = fields.iter().filter(|(k, _)| *k != keycol).cloned().collect();
                let found = if others.is_empty() {
                    let ph = b.push(value_param(&info, &col, &kv)?, col.ty);
                    let q = format!(
                        "SELECT COUNT(*) AS n FROM {} WHERE {} = {ph}",
                        quote(&info.physical),
                        quote(&keycol)
                    );
                    sql::load_count(c, &q, &b.params)? as usize
                } else {
                    let sets = set_list(&info, &others, &mut b)?;
                    let ph = b.push(value_param(&info, &col, &kv)?, col.ty);
                    let q = format!(
                        "UPDATE {} SET {sets} WHERE {} = {ph}",
                        quote(&info.physical),
                        quote(&keycol)
                    );
                    sql::execute(c, &q, &b.params).map_err(|e| conflict(e, &info.name))?
                };
                if found == 0 {
                    self.insert_row(c, &info, fields)?;
                }
            }
            Ok(written)
        })
    }

    /// `FIND`: the rows matching the filter (all rows without one), in the order they were
    /// first written, at most `limit` and never more than [`Tables::max_rows`].
    pub fn find(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        filter: Option<&Filter>,
        limit: Option<usize>,
    ) -> Result<Vec<Map<String, Value>>, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let Some(info) = self.load(conn, &name)? else {
            return Ok(Vec::new());
        };
        let mut b = Binder::new(sql::dialect(conn), 1);
        let cond = match filter {
            Some(f) => Some(f.write_sql(&info.columns, info.defined, &mut b)?),
            None => None,
        };
        self.select(conn, &info, cond, b.params, limit)
    }

    /// `SEARCH`: the rows whose text columns, together, contain every word of `text`
    /// (case-insensitive; no words finds nothing), at most `limit` and
    /// [`Tables::max_rows`].
    pub fn search(
        &self,
        conn: &mut AnyConnection,
        table: &str,
        text: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Map<String, Value>>, DataError> {
        let name = table_name(table).map_err(DataError::Invalid)?;
        let Some(info) = self.load(conn, &name)? else {
            return Ok(Vec::new());
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let text_cols: Vec<&ColumnDef> = info.columns.iter().filter(|c| c.ty == ColumnType::Text).collect();
        if words.is_empty() || text_cols.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = Binder::new(sql::dialect(conn), 1);
        let mut parts = Vec::new();
        for w in words {
            let pattern = format!("%{}%", escape_like(w));
            let alts: Vec<String> = text_cols
                .iter()
                .map(|col| {
                    let ph = b.push_text(pattern.clone());
                    match b.dialect {
                        Dialect::Sqlite => format!("{} LIKE {ph} ESCAPE '\\'", quote(&col.name)),
                        Dialect::Postgres => format!("{} ILIKE {ph} ESCAPE '\\'", quote(&col.name)),
                    }
                })
                .collect();
            parts.push(format!("({})", alts.join(" OR ")));
        }
        let cond = parts.join(" AND ");
        self.select(conn, &info, Some(cond), b.params, limit)
    }

    // -----------------------------------------------------------------------------------

    fn select(
        &self,
        conn: &mut AnyConnection,
        info: &TableInfo,
        cond: Option<String>,
        params: Vec<SqlParam>,
        limit: Option<usize>,
    ) -> Result<Vec<Map<String, Value>>, DataError> {
        let limit = limit.unwrap_or(self.max_rows).min(self.max_rows);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let dialect = sql::dialect(conn);
        let order = match dialect {
            Dialect::Sqlite => "_rowid_",
            Dialect::Postgres => "\"_seq\"",
        };
        let q = format!(
            "SELECT {} AS v FROM {}{} ORDER BY {order} LIMIT {limit}",
            projection(info, dialect),
            quote(&info.physical),
            cond.map(|c| format!(" WHERE {c}")).unwrap_or_default()
        );
        sql::load_text(conn, &q, &params)?
            .into_iter()
            .map(|text| decode_row(info, text.as_deref().unwrap_or("[]")))
            .collect()
    }

    /// Inserts, or updates the given fields of the row with the same key.
    fn upsert(&self, c: &mut AnyConnection, info: &TableInfo, fields: Fields) -> Result<Value, DataError> {
        let (fields, key) = with_key(info, fields)?;
        let mut b = Binder::new(sql::dialect(c), 1);
        let (cols, phs) = value_lists(info, &fields, &mut b)?;
        let updates: Vec<String> = fields
            .iter()
            .filter(|(k, _)| *k != info.key && info.column(k).is_some())
            .map(|(k, _)| format!("{0} = excluded.{0}", quote(k)))
            .collect();
        let action = if updates.is_empty() {
            "NOTHING".to_string()
        } else {
            format!("UPDATE SET {}", updates.join(", "))
        };
        let q = format!(
            "INSERT INTO {} ({cols}) VALUES ({phs}) ON CONFLICT ({}) DO {action}",
            quote(&info.physical),
            quote(&info.key)
        );
        sql::execute(c, &q, &b.params)?;
        Ok(key)
    }

    fn insert_row(
        &self,
        c: &mut AnyConnection,
        info: &TableInfo,
        fields: Fields,
    ) -> Result<Value, DataError> {
        let (fields, key) = with_key(info, fields)?;
        let mut b = Binder::new(sql::dialect(c), 1);
        let (cols, phs) = value_lists(info, &fields, &mut b)?;
        let q = format!("INSERT INTO {} ({cols}) VALUES ({phs})", quote(&info.physical));
        match sql::execute(c, &q, &b.params) {
            Ok(_) => Ok(key),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Err(DataError::Conflict(format!(
                    "table {} already has a row with key {}",
                    info.name,
                    super::filter::text_of(&key)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The table, created or widened so that every non-empty field has a column.
    fn ensure(&self, c: &mut AnyConnection, name: &str, fields: &Fields) -> Result<TableInfo, DataError> {
        let missing = |info: &TableInfo| -> Vec<ColumnDef> {
            let mut out: Vec<ColumnDef> = Vec::new();
            for (k, v) in fields {
                if info.column(k).is_none()
                    && !out.iter().any(|c| c.name == *k)
                    && let Some(ty) = ColumnType::infer(v)
                {
                    out.push(ColumnDef::new(k, ty));
                }
            }
            out
        };
        if let Some(info) = self.load(c, name)? {
            if info.defined
                && let Some((k, _)) = fields.iter().find(|(k, _)| info.column(k).is_none())
            {
                let known: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).collect();
                return Err(DataError::invalid(format!(
                    "table {name} has no column {k} (its TABLE lists {})",
                    known.join(", ")
                )));
            }
            if missing(&info).is_empty() {
                return Ok(info);
            }
        }
        self.lock(c, name)?;
        match self.load(c, name)? {
            Some(mut info) => {
                let added = missing(&info);
                check_width(name, info.columns.len() + added.len())?;
                self.add_columns(c, &mut info, added)?;
                self.store(c, &info)?;
                Ok(info)
            }
            None => {
                let mut cols = vec![ColumnDef {
                    key: true,
                    ..ColumnDef::new("id", ColumnType::Text)
                }];
                let empty = TableInfo {
                    name: name.to_string(),
                    physical: String::new(),
                    key: "id".into(),
                    columns: cols.clone(),
                    defined: false,
                };
                cols.extend(missing(&empty));
                check_width(name, cols.len())?;
                self.create(c, name, cols, "id", false)
            }
        }
    }

    /// Serializes schema changes of one table across connections (PostgreSQL; SQLite
    /// writers are serialized anyway).
    fn lock(&self, c: &mut AnyConnection, name: &str) -> Result<(), DataError> {
        if let AnyConnection::Postgresql(_) = c {
            let digest = Sha256::digest(format!("bot_tables/{}/{name}", self.bot).as_bytes());
            let mut k = [0u8; 8];
            k.copy_from_slice(&digest[..8]);
            sql::execute(
                c,
                "SELECT pg_advisory_xact_lock($1)",
                &[SqlParam::Integer(Some(i64::from_be_bytes(k)))],
            )?;
        }
        Ok(())
    }

    fn load(&self, c: &mut AnyConnection, name: &str) -> Result<Option<TableInfo>, DataError> {
        let mut b = Binder::new(sql::dialect(c), 1);
        let q = format!(
            "SELECT name, physical, key_column, columns_json, defined FROM bot_tables \
             WHERE bot_id = {} AND name = {}",
            b.push_text(self.bot.to_string()),
            b.push_text(name.to_string())
        );
        let Some(row) = sql::load_catalog(c, &q, &b.params)?.into_iter().next() else {
            return Ok(None);
        };
        let CatalogRow {
            name,
            physical,
            key_column,
            columns_json,
            defined,
        } = row;
        let columns: Vec<ColumnDef> = serde_json::from_str(&columns_json)
            .map_err(|e| DataError::invalid(format!("the catalog entry of table {name} is damaged: {e}")))?;
        Ok(Some(TableInfo {
            name,
            physical,
            key: key_column,
            columns,
            defined,
        }))
    }

    fn create(
        &self,
        c: &mut AnyConnection,
        name: &str,
        columns: Vec<ColumnDef>,
        key: &str,
        defined: bool,
    ) -> Result<TableInfo, DataError> {
        let dialect = sql::dialect(c);
        let mut physical = physical_name(&self.bot, name);
        let mut b = Binder::new(dialect, 1);
        let q = format!(
            "SELECT COUNT(*) AS n FROM bot_tables WHERE physical = {}",
            b.push_text(physical.clone())
        );
        if sql::load_count(c, &q, &b.params)? > 0 {
            // Another bot's id starts with the same 12 hex digits.
            let digest = Sha256::digest(format!("{}/{name}", self.bot).as_bytes());
            physical = format!("bt_{}", hex(&digest[..20]));
        }
        let mut defs: Vec<String> = Vec::new();
        if dialect == Dialect::Postgres {
            defs.push("\"_seq\" BIGSERIAL NOT NULL".into());
        }
        for col in &columns {
            let mut d = format!("{} {}", quote(&col.name), col.ty.ddl(dialect, col.len));
            if col.name == key {
                d.push_str(" NOT NULL PRIMARY KEY");
            }
            defs.push(d);
        }
        sql::execute(
            c,
            &format!("CREATE TABLE {} ({})", quote(&physical), defs.join(", ")),
            &[],
        )?;
        let info = TableInfo {
            name: name.to_string(),
            physical,
            key: key.to_string(),
            columns: columns
                .into_iter()
                .map(|col| ColumnDef {
                    key: col.name == key,
                    ..col
                })
                .collect(),
            defined,
        };
        let mut b = Binder::new(dialect, 1);
        let q = format!(
            "INSERT INTO bot_tables (bot_id, name, physical, key_column, columns_json, defined, updated_at) \
             VALUES ({}, {}, {}, {}, {}, {}, {})",
            b.push_text(self.bot.to_string()),
            b.push_text(info.name.clone()),
            b.push_text(info.physical.clone()),
            b.push_text(info.key.clone()),
            b.push_text(columns_json(&info.columns)),
            b.push(SqlParam::Bool(Some(defined)), ColumnType::Boolean),
            b.push(SqlParam::Integer(Some(now())), ColumnType::Integer),
        );
        sql::execute(c, &q, &b.params)?;
        Ok(info)
    }

    fn add_columns(
        &self,
        c: &mut AnyConnection,
        info: &mut TableInfo,
        added: Vec<ColumnDef>,
    ) -> Result<(), DataError> {
        let dialect = sql::dialect(c);
        for col in added {
            let q = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(&info.physical),
                quote(&col.name),
                col.ty.ddl(dialect, col.len)
            );
            sql::execute(c, &q, &[])?;
            info.columns.push(col);
        }
        Ok(())
    }

    /// Writes the catalog entry's columns and `defined`.
    fn store(&self, c: &mut AnyConnection, info: &TableInfo) -> Result<(), DataError> {
        let mut b = Binder::new(sql::dialect(c), 1);
        let q = format!(
            "UPDATE bot_tables SET columns_json = {}, defined = {}, updated_at = {} \
             WHERE bot_id = {} AND name = {}",
            b.push_text(columns_json(&info.columns)),
            b.push(SqlParam::Bool(Some(info.defined)), ColumnType::Boolean),
            b.push(SqlParam::Integer(Some(now())), ColumnType::Integer),
            b.push_text(self.bot.to_string()),
            b.push_text(info.name.clone()),
        );
        sql::execute(c, &q, &b.params)?;
        Ok(())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn columns_json(columns: &[ColumnDef]) -> String {
    serde_json::to_string(columns).unwrap_or_else(|_| "[]".into())
}

fn check_width(name: &str, n: usize) -> Result<(), DataError> {
    if n > MAX_COLUMNS {
        return Err(DataError::invalid(format!(
            "table {name} would have {n} columns; a table has at most {MAX_COLUMNS}"
        )));
    }
    Ok(())
}

/// `bt_<12 hex of the bot id>_<name>`, or, when that is longer than an identifier may be,
/// the name cut and followed by 8 hex digits of its hash.
fn physical_name(bot: &BotId, name: &str) -> String {
    let prefix = format!("bt_{}_", &bot.as_uuid().simple().to_string()[..12]);
    let full = format!("{prefix}{name}");
    if full.len() <= MAX_IDENT {
        return full;
    }
    let digest = Sha256::digest(name.as_bytes());
    let room = MAX_IDENT - prefix.len() - 9;
    format!("{prefix}{}_{}", &name[..room], hex(&digest[..4]))
}

/// A row's fields with normalized names; two names differing only in case are an error.
fn normalize(row: &Map<String, Value>) -> Result<Fields, DataError> {
    let mut out: Fields = Vec::with_capacity(row.len());
    for (k, v) in row {
        let name = column_name(k).map_err(DataError::Invalid)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DataError::invalid(format!(
                "the row has column {name} twice (names are case-insensitive)"
            )));
        }
        out.push((name, v.clone()));
    }
    if out.len() > MAX_COLUMNS {
        return Err(DataError::invalid(format!(
            "the row has {} fields; a table has at most {MAX_COLUMNS} columns",
            out.len()
        )));
    }
    Ok(out)
}

/// The row with its key filled in (generated for a text key), and the key's value.
fn with_key(info: &TableInfo, mut fields: Fields) -> Result<(Fields, Value), DataError> {
    let Some(col) = info.column(&info.key) else {
        return Err(DataError::invalid(format!(
            "table {} has no key column",
            info.name
        )));
    };
    let given = fields.iter().position(|(k, _)| *k == info.key);
    let value = match given.map(|i| &fields[i].1) {
        Some(v) if !is_empty(Some(v)) => v.clone(),
        _ if col.ty == ColumnType::Text => {
            let id = Value::String(uuid::Uuid::new_v4().to_string());
            match given {
                Some(i) => fields[i].1 = id.clone(),
                None => fields.insert(0, (info.key.clone(), id.clone())),
            }
            id
        }
        _ => {
            return Err(DataError::invalid(format!(
                "a row of table {} needs a value for its key column {}",
                info.name, info.key
            )));
        }
    };
    let key = match value_param(info, col, &value)? {
        SqlParam::Text(t) => t.map_or(Value::Null, Value::String),
        SqlParam::Integer(i) => i.map_or(Value::Null, Value::from),
        SqlParam::Float(f) => f.map_or(Value::Null, Value::from),
        SqlParam::Bool(b) => b.map_or(Value::Null, Value::Bool),
    };
    Ok((fields, key))
}

fn value_param(info: &TableInfo, col: &ColumnDef, v: &Value) -> Result<SqlParam, DataError> {
    col.ty
        .coerce(v, col.len)
        .map_err(|m| DataError::invalid(format!("column {} of table {}: {m}", col.name, info.name)))
}

/// `"a", "b"` and their placeholders, for the fields that have a column.
fn value_lists(info: &TableInfo, fields: &Fields, b: &mut Binder) -> Result<(String, String), DataError> {
    let mut cols = Vec::new();
    let mut phs = Vec::new();
    for (k, v) in fields {
        let Some(col) = info.column(k) else {
            continue; // an empty field of a column no row has had yet
        };
        cols.push(quote(k));
        phs.push(b.push(value_param(info, col, v)?, col.ty));
    }
    Ok((cols.join(", "), phs.join(", ")))
}

/// `"a" = ?, "b" = ?` for the fields that have a column.
fn set_list(info: &TableInfo, fields: &Fields, b: &mut Binder) -> Result<String, DataError> {
    let mut sets = Vec::new();
    for (k, v) in fields {
        let Some(col) = info.column(k) else {
            continue;
        };
        let ph = b.push(value_param(info, col, v)?, col.ty);
        sets.push(format!("{} = {ph}", quote(k)));
    }
    if sets.is_empty() {
        // Only empty fields of columns that do not exist: nothing changes, but the rows
        // matched still count.
        sets.push(format!("{0} = {0}", quote(&info.key)));
    }
    Ok(sets.join(", "))
}

fn conflict(e: DieselError, table: &str) -> DataError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            DataError::Conflict(format!("table {table} already has a row with that key"))
        }
        other => other.into(),
    }
}

/// `%`, `_` and `\` escaped for `LIKE ... ESCAPE '\'`.
fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The SQL expression reading a row as JSON text: `[{...}, {...}]`, one object per 50
/// columns.
fn projection(info: &TableInfo, dialect: Dialect) -> String {
    let chunks: Vec<String> = info
        .columns
        .chunks(JSON_CHUNK)
        .map(|cols| {
            let args: Vec<String> = cols
                .iter()
                .map(|col| {
                    let q = quote(&col.name);
                    let v = match (dialect, col.ty) {
                        (Dialect::Sqlite, ColumnType::Json) => format!("json({q})"),
                        _ => q,
                    };
                    format!("'{}', {v}", col.name)
                })
                .collect();
            match dialect {
                Dialect::Sqlite => format!("json_object({})", args.join(", ")),
                Dialect::Postgres => format!("json_build_object({})::text", args.join(", ")),
            }
        })
        .collect();
    format!("'[' || {} || ']'", chunks.join(" || ',' || "))
}

/// A row read back: the chunks merged, booleans and whole numbers typed by the catalog.
fn decode_row(info: &TableInfo, text: &str) -> Result<Map<String, Value>, DataError> {
    let chunks: Vec<Map<String, Value>> =
        serde_json::from_str(text).map_err(|e| DataError::invalid(format!("unreadable row: {e}")))?;
    let mut row = Map::new();
    for chunk in chunks {
        row.extend(chunk);
    }
    for col in &info.columns {
        let Some(v) = row.get_mut(&col.name) else {
            continue;
        };
        match col.ty {
            ColumnType::Boolean => {
                if let Value::Number(n) = v {
                    *v = Value::Bool(n.as_f64().is_some_and(|f| f != 0.0));
                }
            }
            ColumnType::Number => {
                if let Some(f) = v.as_f64()
                    && !v.is_i64()
                    && !v.is_u64()
                    && f.fract() == 0.0
                    && f.abs() < 9.0e15
                {
                    *v = Value::from(f as i64);
                }
            }
            _ => {}
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_table_block_parses_types_lengths_keys_and_references() {
        let lines = [
            "  Id integer key",
            "",
            "' a comment",
            "REM another",
            "Name string(100)  ' trailing comment",
            "Email VARCHAR (200)",
            "Total money",
            "Price decimal(10,2)",
            "Active boolean",
            "Born date",
            "Seen timestamp",
            "Extra object",
            "Customer text references customers.csv",
        ];
        let def = TableDef::parse("Orders.xlsx", &lines).unwrap();
        assert_eq!(def.name, "orders");
        let got: Vec<(&str, ColumnType, Option<u32>, bool)> = def
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty, c.len, c.key))
            .collect();
        assert_eq!(
            got,
            vec![
                ("id", ColumnType::Integer, None, true),
                ("name", ColumnType::Text, Some(100), false),
                ("email", ColumnType::Text, Some(200), false),
                ("total", ColumnType::Number, None, false),
                ("price", ColumnType::Number, None, false),
                ("active", ColumnType::Boolean, None, false),
                ("born", ColumnType::Date, None, false),
                ("seen", ColumnType::DateTime, None, false),
                ("extra", ColumnType::Json, None, false),
                ("customer", ColumnType::Text, None, false),
            ]
        );
        assert_eq!(def.columns[9].references.as_deref(), Some("customers"));
        assert_eq!(def.key_column(), "id");
        assert_eq!(def.storage_columns(), def.columns);
    }

    #[test]
    fn a_table_without_a_key_gets_its_id_or_an_added_id() {
        let def = TableDef::parse("t", &["id string", "name string"]).unwrap();
        assert_eq!(def.key_column(), "id");
        assert!(def.storage_columns()[0].key);
        let def = TableDef::parse("t", &["name string"]).unwrap();
        let cols = def.storage_columns();
        assert_eq!(
            (cols[0].name.as_str(), cols[0].ty, cols[0].key),
            ("id", ColumnType::Text, true)
        );
        assert_eq!(cols.len(), 2);
    }

    #[test]
    fn table_block_errors_name_the_line() {
        let e = TableDef::parse("t", &["name string", "", "age numbr"]).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message.contains("unknown type 'numbr' for field age"),
            "{}",
            e.message
        );
        assert!(e.to_string().ends_with("(line 3 of the TABLE block)"));
        let e = TableDef::parse("t", &["name"]).unwrap_err();
        assert_eq!(e.line, Some(0));
        assert!(e.message.contains("needs a type"));
        let e = TableDef::parse("t", &["a int key", "b int key"]).unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = TableDef::parse("t", &["a int", "A text"]).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(1), "field a is declared twice")
        );
        let e = TableDef::parse("t", &["a int unique"]).unwrap_err();
        assert!(e.message.contains("unexpected 'unique'"));
        let e = TableDef::parse("t", &["a string(x)"]).unwrap_err();
        assert!(e.message.contains("positive whole number"));
        let e = TableDef::parse("t", &["first-name string"]).unwrap_err();
        assert!(e.message.contains("must start with a letter"));
        assert_eq!(TableDef::parse("t", &[""; 0]).unwrap_err().line, None);
        assert_eq!(TableDef::parse("my table", &["a int"]).unwrap_err().line, None);
    }

    #[test]
    fn table_names_drop_the_suffix_and_case() {
        assert_eq!(table_name("Contacts.CSV").unwrap(), "contacts");
        assert_eq!(table_name("contacts").unwrap(), "contacts");
        assert!(table_name("").is_err());
        assert!(table_name("1abc").is_err());
        assert!(table_name("a;drop").is_err());
        assert!(table_name(&"a".repeat(64)).is_err());
        assert!(table_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn physical_names_fit_an_identifier() {
        let bot = BotId::for_name("sales");
        let short = physical_name(&bot, "contacts");
        assert!(short.starts_with("bt_") && short.ends_with("_contacts"));
        assert_eq!(short.len(), 3 + 12 + 1 + 8);
        let long = physical_name(&bot, &"x".repeat(63));
        assert_eq!(long.len(), MAX_IDENT);
        assert_ne!(long, physical_name(&bot, &format!("{}y", "x".repeat(62))));
    }

    #[test]
    fn values_convert_to_the_column_type() {
        use ColumnType::*;
        assert_eq!(
            Integer.coerce(&json!("42"), None),
            Ok(SqlParam::Integer(Some(42)))
        );
        assert_eq!(Integer.coerce(&json!(7.0), None), Ok(SqlParam::Integer(Some(7))));
        assert!(Integer.coerce(&json!(7.5), None).is_err());
        assert!(
            Integer
                .coerce(&json!("abc"), None)
                .unwrap_err()
                .contains("'abc' is not a whole number")
        );
        assert_eq!(
            Number.coerce(&json!(" 2.5 "), None),
            Ok(SqlParam::Float(Some(2.5)))
        );
        assert_eq!(Number.coerce(&json!(""), None), Ok(SqlParam::Float(None)));
        assert_eq!(
            Boolean.coerce(&json!("Yes"), None),
            Ok(SqlParam::Bool(Some(true)))
        );
        assert_eq!(Boolean.coerce(&json!(0), None), Ok(SqlParam::Bool(Some(false))));
        assert!(Boolean.coerce(&json!("maybe"), None).is_err());
        assert_eq!(
            Text.coerce(&json!(12), None),
            Ok(SqlParam::Text(Some("12".into())))
        );
        assert_eq!(Text.coerce(&json!(""), None), Ok(SqlParam::Text(Some("".into()))));
        assert!(
            Text.coerce(&json!("abcdef"), Some(5))
                .unwrap_err()
                .contains("longer than 5")
        );
        assert_eq!(
            Text.coerce(&json!("abcdé"), Some(5)),
            Ok(SqlParam::Text(Some("abcdé".into())))
        );
        assert_eq!(
            Date.coerce(&json!("2024-03-05T10:00:00Z"), None),
            Ok(SqlParam::Text(Some("2024-03-05".into())))
        );
        assert!(Date.coerce(&json!("05/03/2024"), None).is_err());
        assert_eq!(
            DateTime.coerce(&json!("2024-03-05T10:00:00+02:00"), None),
            Ok(SqlParam::Text(Some("2024-03-05T08:00:00".into())))
        );
        assert_eq!(
            DateTime.coerce(&json!("2024-03-05 10:30"), None),
            Ok(SqlParam::Text(Some("2024-03-05T10:30:00".into())))
        );
        assert_eq!(
            Json.coerce(&json!({"a": [1]}), None),
            Ok(SqlParam::Text(Some("{\"a\":[1]}".into())))
        );
        assert_eq!(Integer.compare_param(&json!(2.5)), Ok(SqlParam::Float(Some(2.5))));
    }

    #[test]
    fn rows_read_back_are_typed_by_the_catalog() {
        let info = TableInfo {
            name: "t".into(),
            physical: "p".into(),
            key: "id".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Text),
                ColumnDef::new("ok", ColumnType::Boolean),
                ColumnDef::new("n", ColumnType::Number),
            ],
            defined: false,
        };
        let row = decode_row(&info, r#"[{"id":"a","ok":1},{"n":3.0}]"#).unwrap();
        assert_eq!(Value::Object(row), json!({"id": "a", "ok": true, "n": 3}));
        let p = projection(&info, Dialect::Postgres);
        assert_eq!(
            p,
            "'[' || json_build_object('id', \"id\", 'ok', \"ok\", 'n', \"n\")::text || ']'"
        );
    }
}
