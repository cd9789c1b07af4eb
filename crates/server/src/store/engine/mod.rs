//! The queue's hot statements, each over many rows at once (a group of accepted events with
//! their deliveries, a group of ended claims with their attempts, claims of due deliveries,
//! lease renewals, destination statistics), and the script that runs them: the delivery
//! engine's writer runs one script per cycle, so a cycle costs a few statements and one commit
//! however many events it carries (`delivery::writer`).
//!
//! On SQLite a script is one query text, its statements separated by semicolons and its
//! parameters bound in order, so it takes one round trip to the connection's thread (sqlx runs
//! each SQLite connection on a thread of its own: a round trip per statement cost more than the
//! statements). Postgres takes no parameters in a multi-statement query, so there the
//! statements go one by one inside the same transaction.

mod statements;
mod stats;

use anyhow::Result;
use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Either, Executor};

pub use statements::*;
pub use stats::DestinationStats;

use super::counted;

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    MaybeInt(Option<i64>),
}

/// One statement: its text, with `?` marking each parameter in the order `vals` binds them.
#[derive(Debug)]
pub struct Stmt<'a> {
    pub text: String,
    pub vals: Vec<Val<'a>>,
}

/// What a statement gave back.
#[derive(Default)]
pub struct Output {
    pub rows: Vec<AnyRow>,
    pub affected: u64,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("rows", &self.rows.len())
            .field("affected", &self.affected)
            .finish()
    }
}

/// Where a script stands in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The script opens the transaction.
    pub begin: bool,
    /// The script commits it.
    pub commit: bool,
}

fn is_postgres(conn: &AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// `text` with its `?` marks numbered `$1, $2, ...` (Postgres); SQLite keeps `?`, whose
/// positional parameters are found without a lookup by name.
fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    vals: &[Val<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in vals {
        q = match *v {
            Val::Text(s) => q.bind(s),
            Val::MaybeText(s) => q.bind(s),
            Val::Int(n) => q.bind(n),
            Val::MaybeInt(n) => q.bind(n),
        };
    }
    q
}

/// Runs `stmts` in order and returns what each gave back. The transaction is opened and
/// committed as `span` says; when the script fails the caller rolls back ([`rollback`]).
/// `cached`: the script's text recurs (padded statements), so SQLite keeps it prepared.
pub async fn run(
    conn: &mut AnyConnection,
    stmts: &[Stmt<'_>],
    span: Span,
    cached: bool,
) -> Result<Vec<Output>> {
    let outputs = if is_postgres(conn) {
        run_each(conn, stmts, span, cached).await?
    } else {
        run_together(conn, stmts, span, cached).await?
    };
    counted::record(stmts.len() as u64, u64::from(span.commit));
    Ok(outputs)
}

/// Ends a transaction a failed script left open (harmless when none is).
pub async fn rollback(conn: &mut AnyConnection) {
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
}

async fn run_each(
    conn: &mut AnyConnection,
    stmts: &[Stmt<'_>],
    span: Span,
    cached: bool,
) -> Result<Vec<Output>> {
    if span.begin {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    }
    let mut outputs = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        let text = numbered(&stmt.text);
        let mut output = Output::default();
        let query = bind(sqlx::query(&text).persistent(cached), &stmt.vals);
        let mut stream = Executor::fetch_many(&mut *conn, query);
        while let Some(step) = stream.try_next().await? {
            match step {
                Either::Left(done) => output.affected += done.rows_affected(),
                Either::Right(row) => output.rows.push(row),
            }
        }
        drop(stream);
        outputs.push(output);
    }
    if span.commit {
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
    }
    Ok(outputs)
}

async fn run_together(
    conn: &mut AnyConnection,
    stmts: &[Stmt<'_>],
    span: Span,
    cached: bool,
) -> Result<Vec<Output>> {
    let mut text =
        String::with_capacity(stmts.iter().map(|s| s.text.len() + 2).sum::<usize>() + 32);
    if span.begin {
        text.push_str("BEGIN IMMEDIATE;\n");
    }
    for stmt in stmts {
        text.push_str(&stmt.text);
        text.push_str(";\n");
    }
    if span.commit {
        text.push_str("COMMIT;\n");
    }
    let vals: Vec<Val<'_>> = stmts.iter().flat_map(|s| s.vals.iter().copied()).collect();
    let mut results: Vec<Output> = Vec::with_capacity(stmts.len() + 2);
    let mut current = Output::default();
    // One query of several statements with parameters: SQLite's driver prepares and steps them
    // in turn on its thread, the parameters continuing from one statement to the next. (sqlx
    // means to move multi-statement queries to `raw_sql`, which binds nothing; the workspace
    // pins sqlx 0.8, and the engine's tests run this path on every store.)
    let query = bind(sqlx::query(&text).persistent(cached), &vals);
    let mut stream = Executor::fetch_many(&mut *conn, query);
    while let Some(step) = stream.try_next().await? {
        match step {
            Either::Left(done) => {
                current.affected = done.rows_affected();
                results.push(std::mem::take(&mut current));
            }
            Either::Right(row) => current.rows.push(row),
        }
    }
    drop(stream);
    // BEGIN and COMMIT answer too; the statements' outputs are the ones between.
    let skip = usize::from(span.begin);
    let outputs: Vec<Output> = results.into_iter().skip(skip).take(stmts.len()).collect();
    if outputs.len() != stmts.len() {
        anyhow::bail!(
            "a script of {} statements answered for {}",
            stmts.len(),
            outputs.len()
        );
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn postgres_parameters_are_numbered_in_bind_order() {
        assert_eq!(
            numbered("UPDATE t SET a = ? FROM (VALUES (?, ?), (?, ?)) AS v"),
            "UPDATE t SET a = $1 FROM (VALUES ($2, $3), ($4, $5)) AS v"
        );
    }
}
