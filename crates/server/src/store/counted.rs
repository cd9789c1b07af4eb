//! Every statement the store runs, counted: an executor wrapper around a pool or a connection
//! that adds to `courier_db_statements_total`, and to `courier_db_commits_total` for a write run
//! outside a transaction (which commits on its own); transactions count their commit through
//! [`commit`]. The engine benchmark reads both to print costs per event that no machine's speed
//! changes.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::Describe;
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Either, Error, Execute, Executor};

const STATEMENTS: &str = "courier_db_statements_total";
const COMMITS: &str = "courier_db_commits_total";

/// An executor whose statements are counted.
#[derive(Debug)]
pub struct Counted<E> {
    inner: E,
    /// Statements run on a pool commit one by one.
    autocommit: bool,
}

/// Statements run on `pool`, each its own transaction.
pub fn on_pool(pool: &sqlx::AnyPool) -> Counted<&sqlx::AnyPool> {
    Counted {
        inner: pool,
        autocommit: true,
    }
}

/// Statements run on a connection, usually inside a transaction.
pub fn on(conn: &mut sqlx::AnyConnection) -> Counted<&mut sqlx::AnyConnection> {
    Counted {
        inner: conn,
        autocommit: false,
    }
}

/// Commits `tx`, counting the commit.
pub async fn commit(tx: sqlx::Transaction<'_, Any>) -> Result<(), Error> {
    tx.commit().await?;
    metrics::counter!(COMMITS).increment(1);
    Ok(())
}

/// Counts statements run outside [`Counted`] (a script sent as one query), and commits.
pub fn record(statements: u64, commits: u64) {
    metrics::counter!(STATEMENTS).increment(statements);
    if commits > 0 {
        metrics::counter!(COMMITS).increment(commits);
    }
}

fn count(sql: &str, autocommit: bool) {
    metrics::counter!(STATEMENTS).increment(1);
    let reads = sql
        .trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"));
    if autocommit && !reads {
        metrics::counter!(COMMITS).increment(1);
    }
}

impl<'c, E> Executor<'c> for Counted<E>
where
    E: Executor<'c, Database = Any>,
{
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Any>,
    {
        count(query.sql(), self.autocommit);
        self.inner.fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, Q>(self, query: Q) -> BoxFuture<'e, Result<Option<AnyRow>, Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Any>,
    {
        count(query.sql(), self.autocommit);
        self.inner.fetch_optional(query)
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, Error>>
    where
        'c: 'e,
    {
        self.inner.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}
