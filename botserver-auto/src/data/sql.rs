//! Dynamic SQL with bound parameters on both backends: placeholders, identifier quoting,
//! and running a statement whose parameters are only known at run time.

use super::filter::{Dialect, SqlParam};
use super::tables::ColumnType;
use botstate::AnyConnection;
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

/// The dialect of a connection.
pub(crate) fn dialect(conn: &AnyConnection) -> Dialect {
    match conn {
        AnyConnection::Sqlite(_) => Dialect::Sqlite,
        AnyConnection::Postgresql(_) => Dialect::Postgres,
    }
}

/// A quoted identifier. Callers pass validated names only (letters, digits, `_`); the
/// quotes keep reserved words (`order`, `date`, `key`) usable as column names.
pub(crate) fn quote(ident: &str) -> String {
    debug_assert!(ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    format!("\"{ident}\"")
}

/// Collects parameters and writes their placeholders (`?` on SQLite, `$n` on PostgreSQL,
/// with a cast for the types bound as text).
pub(crate) struct Binder {
    pub(crate) dialect: Dialect,
    pub(crate) params: Vec<SqlParam>,
    first: usize,
}

impl Binder {
    /// A binder whose first PostgreSQL placeholder is `$first`.
    pub(crate) fn new(dialect: Dialect, first: usize) -> Binder {
        Binder {
            dialect,
            params: Vec::new(),
            first: first.max(1),
        }
    }

    /// Adds a parameter compared with or stored in a column of type `ty`; returns its
    /// placeholder.
    pub(crate) fn push(&mut self, param: SqlParam, ty: ColumnType) -> String {
        self.params.push(param);
        match self.dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => {
                let n = self.first + self.params.len() - 1;
                match ty {
                    ColumnType::Date => format!("CAST(${n} AS DATE)"),
                    ColumnType::DateTime => format!("CAST(${n} AS TIMESTAMP)"),
                    ColumnType::Json => format!("CAST(${n} AS JSONB)"),
                    _ => format!("${n}"),
                }
            }
        }
    }

    /// Adds a text parameter without a cast (patterns of `LIKE`).
    pub(crate) fn push_text(&mut self, text: String) -> String {
        self.push(SqlParam::Text(Some(text)), ColumnType::Text)
    }
}

fn bind_sqlite<'f>(
    mut q: BoxedSqlQuery<'f, Sqlite, SqlQuery>,
    params: &[SqlParam],
) -> BoxedSqlQuery<'f, Sqlite, SqlQuery> {
    for p in params {
        q = match p.clone() {
            SqlParam::Text(v) => q.bind::<Nullable<Text>, _>(v),
            SqlParam::Integer(v) => q.bind::<Nullable<BigInt>, _>(v),
            SqlParam::Float(v) => q.bind::<Nullable<Double>, _>(v),
            SqlParam::Bool(v) => q.bind::<Nullable<Bool>, _>(v),
        };
    }
    q
}

fn bind_pg<'f>(
    mut q: BoxedSqlQuery<'f, Pg, SqlQuery>,
    params: &[SqlParam],
) -> BoxedSqlQuery<'f, Pg, SqlQuery> {
    for p in params {
        q = match p.clone() {
            SqlParam::Text(v) => q.bind::<Nullable<Text>, _>(v),
            SqlParam::Integer(v) => q.bind::<Nullable<BigInt>, _>(v),
            SqlParam::Float(v) => q.bind::<Nullable<Double>, _>(v),
            SqlParam::Bool(v) => q.bind::<Nullable<Bool>, _>(v),
        };
    }
    q
}

/// Runs `sql` with `params` bound on whichever backend `conn` is, evaluating `$body` with
/// the bound query as `$q` and the backend connection as `$c`.
macro_rules! with_query {
    ($conn:expr, $sql:expr, $params:expr, |$q:ident, $c:ident| $body:expr) => {
        match $conn {
            AnyConnection::Sqlite($c) => {
                let $q = bind_sqlite(diesel::sql_query($sql).into_boxed::<Sqlite>(), $params);
                $body
            }
            AnyConnection::Postgresql($c) => {
                let $q = bind_pg(diesel::sql_query($sql).into_boxed::<Pg>(), $params);
                $body
            }
        }
    };
}

/// Executes a statement; returns the number of rows it touched.
pub(crate) fn execute(conn: &mut AnyConnection, sql: &str, params: &[SqlParam]) -> QueryResult<usize> {
    with_query!(conn, sql, params, |q, c| q.execute(c))
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs a query selecting one text column named `v`.
pub(crate) fn load_text(
    conn: &mut AnyConnection,
    sql: &str,
    params: &[SqlParam],
) -> QueryResult<Vec<Option<String>>> {
    let rows: Vec<TextRow> = with_query!(conn, sql, params, |q, c| q.load(c))?;
    Ok(rows.into_iter().map(|r| r.v).collect())
}

/// Runs a query selecting one `BIGINT` column named `n` in one row (a `COUNT(*)`).
pub(crate) fn load_count(conn: &mut AnyConnection, sql: &str, params: &[SqlParam]) -> QueryResult<i64> {
    let rows: Vec<CountRow> = with_query!(conn, sql, params, |q, c| q.load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// One row of the catalog.
#[derive(QueryableByName)]
pub(crate) struct CatalogRow {
    #[diesel(sql_type = Text)]
    pub(crate) name: String,
    #[diesel(sql_type = Text)]
    pub(crate) physical: String,
    #[diesel(sql_type = Text)]
    pub(crate) key_column: String,
    #[diesel(sql_type = Text)]
    pub(crate) columns_json: String,
    #[diesel(sql_type = Bool)]
    pub(crate) defined: bool,
}

/// Runs a query selecting catalog rows.
pub(crate) fn load_catalog(
    conn: &mut AnyConnection,
    sql: &str,
    params: &[SqlParam],
) -> QueryResult<Vec<CatalogRow>> {
    with_query!(conn, sql, params, |q, c| q.load(c))
}
