//! Fixed SQL that the connection prepares once and keeps.
//!
//! diesel never keeps a prepared `UPDATE` (nor `SAVEPOINT`/`sql_query` text): it builds and
//! prepares one for every execution, which on a hot path costs more than running it. A
//! [`FixedSql`] is static SQL text with bind parameters in between, marked safe to cache,
//! so each connection prepares it on first use and reuses it (keyed by its text). The
//! placeholders are the backend's own (`?` or `$n`), so one statement serves both.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

/// A bind parameter of a [`FixedSql`].
#[derive(Clone, Copy, Debug)]
pub enum Bind<'a> {
    /// `TEXT`.
    Text(&'a str),
    /// Nullable `TEXT`.
    OptText(Option<&'a str>),
    /// `BIGINT`.
    Int(i64),
    /// Nullable `BIGINT`.
    OptInt(Option<i64>),
}

/// Static SQL pieces with a bind parameter between each two: `parts.len()` is
/// `binds.len() + 1`. Run it with diesel's `execute`.
#[derive(Clone, Copy, Debug)]
pub struct FixedSql<'a> {
    parts: &'static [&'static str],
    binds: &'a [Bind<'a>],
}

impl<'a> FixedSql<'a> {
    /// The statement `parts[0] bind[0] parts[1] … parts[n]`.
    ///
    /// # Panics
    /// When `parts` is not one longer than `binds` (a programming error).
    pub fn new(parts: &'static [&'static str], binds: &'a [Bind<'a>]) -> FixedSql<'a> {
        assert_eq!(
            parts.len(),
            binds.len() + 1,
            "FixedSql: one bind between each two parts"
        );
        FixedSql { parts, binds }
    }

    /// Runs it on the concrete connection (see [`crate::on_conn`]); the number of rows
    /// it changed.
    pub fn execute_on(&self, c: &mut crate::AnyConnection) -> QueryResult<usize> {
        crate::on_conn!(c, |c| self.execute(c))
    }
}

impl<DB> QueryFragment<DB> for FixedSql<'_>
where
    DB: Backend,
    DB: diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.binds.get(i) {
                Some(Bind::Text(v)) => out.push_bind_param::<Text, str>(v)?,
                Some(Bind::OptText(v)) => out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?,
                Some(Bind::Int(v)) => out.push_bind_param::<BigInt, i64>(v)?,
                Some(Bind::OptInt(v)) => out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?,
                None => {}
            }
        }
        Ok(())
    }
}

impl QueryId for FixedSql<'_> {
    type QueryId = ();
    // Keyed by its SQL text in the connection's statement cache.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for FixedSql<'_> {}
