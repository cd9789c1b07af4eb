//! The statements of the engine's scripts, each built over many rows (at most [`MAX_ROWS`] a
//! statement), and what their answers mean.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Stmt, Val};
use crate::store::deliveries::{Job, SAME_AS_EVENT};

/// Rows per statement at most: well under both stores' parameter limits.
pub const MAX_ROWS: usize = 256;

/// `head`, then `rows` copies of `row` joined by commas, then `tail`.
fn repeated(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut text = String::with_capacity(head.len() + rows * (row.len() + 2) + tail.len());
    text.push_str(head);
    for r in 0..rows {
        if r > 0 {
            text.push_str(", ");
        }
        text.push_str(row);
    }
    text.push_str(tail);
    text
}

/// How many rows a statement carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As many as there are.
    Exact,
    /// Padded with rows of NULLs (which the statement skips) up to 16, 64 or 256, so that a
    /// handful of texts serve every cycle and each is prepared once: parsing a cycle's
    /// statements anew took a quarter of SQLite's time.
    Padded,
}

/// The padded row count for `n` rows (at most [`MAX_ROWS`]).
pub fn padded_rows(n: usize) -> usize {
    [16, 64, MAX_ROWS]
        .into_iter()
        .find(|&c| c >= n)
        .unwrap_or(MAX_ROWS)
}

/// How a statement's rows look: their text (a `?` per value) and, for padding, a row of NULLs
/// of each column's type (Postgres will not put a text NULL in a number column).
#[derive(Debug, Clone, Copy)]
struct Tuple<'t> {
    text: &'t str,
    nulls: &'t [Val<'static>],
}

const T: Val<'static> = Val::MaybeText(None);
const I: Val<'static> = Val::MaybeInt(None);

/// One statement per [`MAX_ROWS`] of `items`: `head`, a `row` per item with the values `vals`
/// gives it, `tail` (whose values `tail_vals` gives, bound after the rows'; `head_vals` before).
/// [`Shape::Padded`] pads each statement with NULL rows and makes one even for no items.
#[allow(clippy::too_many_arguments)]
fn per_rows<'a, T>(
    items: &'a [T],
    shape: Shape,
    head: &str,
    head_vals: &[Val<'a>],
    row: Tuple<'_>,
    tail: &str,
    tail_vals: &[Val<'a>],
    vals: impl Fn(&'a T, &mut Vec<Val<'a>>),
) -> Vec<Stmt<'a>> {
    let marks = row.text.matches('?').count();
    debug_assert_eq!(row.nulls.len(), marks);
    let mut chunks: Vec<&'a [T]> = items.chunks(MAX_ROWS).collect();
    if chunks.is_empty() && shape == Shape::Padded {
        chunks.push(&[]);
    }
    chunks
        .into_iter()
        .map(|chunk| {
            let rows = match shape {
                Shape::Exact => chunk.len(),
                Shape::Padded => padded_rows(chunk.len()),
            };
            let mut all = Vec::with_capacity(head_vals.len() + rows * marks + tail_vals.len());
            all.extend_from_slice(head_vals);
            for item in chunk {
                vals(item, &mut all);
            }
            for _ in chunk.len()..rows {
                all.extend_from_slice(row.nulls);
            }
            all.extend_from_slice(tail_vals);
            Stmt {
                text: repeated(head, row.text, rows, tail),
                vals: all,
            }
        })
        .collect()
}

/// An event to store.
#[derive(Debug)]
pub struct EventRow<'a> {
    pub id: &'a str,
    pub workspace_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub delivery_count: i64,
    pub created_at: &'a str,
}

pub fn insert_events<'a>(rows: &'a [EventRow<'a>], shape: Shape) -> Vec<Stmt<'a>> {
    per_rows(
        rows,
        shape,
        "INSERT INTO events (id, workspace_id, type, payload, idempotency_key, delivery_count, created_at) \
         SELECT column1, column2, column3, column4, column5, column6, column7 FROM (VALUES ",
        &[],
        Tuple {
            text: "(?, ?, ?, ?, ?, ?, ?)",
            nulls: &[T, T, T, T, T, I, T],
        },
        ") AS v WHERE column1 IS NOT NULL",
        &[],
        |e, v| {
            v.extend([
                Val::Text(e.id),
                Val::Text(e.workspace_id),
                Val::Text(e.event_type),
                Val::Text(e.payload),
                Val::MaybeText(e.idempotency_key),
                Val::Int(e.delivery_count),
                Val::Text(e.created_at),
            ])
        },
    )
}

/// A delivery to store: `pending` (or `failed` from the start, with its error), or already
/// claimed (`in_flight` under `claim_token` until `lease_until_ms`) for this process's worker.
#[derive(Debug)]
pub struct DeliveryRow<'a> {
    pub id: &'a str,
    pub workspace_id: &'a str,
    pub event_id: &'a str,
    pub destination_id: &'a str,
    pub route_id: &'a str,
    pub event_type: &'a str,
    /// [`SAME_AS_EVENT`] when it carries the event's payload unchanged.
    pub payload: &'a str,
    pub status: &'static str,
    pub next_attempt_ms: i64,
    pub lease_until_ms: i64,
    pub claim_token: Option<&'a str>,
    pub last_error: Option<&'a str>,
    pub created_at: &'a str,
    /// Its lane, when its destination delivers in fifo order.
    pub lane_key: Option<&'a str>,
}

pub fn insert_deliveries<'a>(rows: &'a [DeliveryRow<'a>], shape: Shape) -> Vec<Stmt<'a>> {
    per_rows(
        rows,
        shape,
        // attempts start at 0; updated_at is created_at.
        "INSERT INTO deliveries (id, workspace_id, event_id, destination_id, route_id, event_type, payload, \
         status, attempts, next_attempt_ms, lease_until_ms, claim_token, last_error, created_at, updated_at, lane_key) \
         SELECT column1, column2, column3, column4, column5, column6, column7, column8, 0, column9, column10, \
         column11, column12, column13, column13, column14 FROM (VALUES ",
        &[],
        Tuple {
            text: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            nulls: &[T, T, T, T, T, T, T, T, I, I, T, T, T, T],
        },
        ") AS v WHERE column1 IS NOT NULL",
        &[],
        |d, v| {
            v.extend([
                Val::Text(d.id),
                Val::Text(d.workspace_id),
                Val::Text(d.event_id),
                Val::Text(d.destination_id),
                Val::Text(d.route_id),
                Val::Text(d.event_type),
                Val::Text(d.payload),
                Val::Text(d.status),
                Val::Int(d.next_attempt_ms),
                Val::Int(d.lease_until_ms),
                Val::MaybeText(d.claim_token),
                Val::MaybeText(d.last_error),
                Val::Text(d.created_at),
                Val::MaybeText(d.lane_key),
            ])
        },
    )
}

/// An idempotency key of an event being accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef {
    pub workspace_id: String,
    pub key: String,
}

/// Takes each key for its event unless an event of the last window holds it; answers with the
/// keys taken (new, or taken over from an event older than the window): see [`taken_keys`].
pub fn claim_keys<'a>(
    keys: &'a [(KeyRef, &'a str, Option<&'a str>)],
    now_ms: i64,
    cutoff_ms: i64,
) -> Vec<Stmt<'a>> {
    per_rows(
        keys,
        Shape::Exact,
        "INSERT INTO idempotency_keys (workspace_id, key, event_id, created_ms, body_hash) VALUES ",
        &[],
        Tuple {
            text: "(?, ?, ?, ?, ?)",
            nulls: &[T, T, T, I, T],
        },
        " ON CONFLICT (workspace_id, key) DO UPDATE SET event_id = excluded.event_id, \
         created_ms = excluded.created_ms, body_hash = excluded.body_hash \
         WHERE idempotency_keys.created_ms < ? RETURNING workspace_id, key",
        &[Val::Int(cutoff_ms)],
        move |(k, event_id, hash), v| {
            v.extend([
                Val::Text(&k.workspace_id),
                Val::Text(&k.key),
                Val::Text(event_id),
                Val::Int(now_ms),
                Val::MaybeText(*hash),
            ])
        },
    )
}

pub fn taken_keys(rows: &[AnyRow]) -> Result<HashSet<KeyRef>> {
    rows.iter()
        .map(|row| {
            Ok(KeyRef {
                workspace_id: row.try_get("workspace_id")?,
                key: row.try_get("key")?,
            })
        })
        .collect()
}

/// For keys already held: the event holding each and how many deliveries it fanned out to
/// (see [`earlier`]).
pub fn earlier_events(keys: &[KeyRef]) -> Vec<Stmt<'_>> {
    per_rows(
        keys,
        Shape::Exact,
        "SELECT k.workspace_id AS workspace_id, k.key AS key, k.event_id AS event_id, \
         k.body_hash AS body_hash, COALESCE(e.delivery_count, (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = k.event_id)) AS delivery_count \
         FROM idempotency_keys k LEFT JOIN events e ON e.id = k.event_id WHERE (k.workspace_id, k.key) IN (VALUES ",
        &[],
        Tuple {
            text: "(?, ?)",
            nulls: &[T, T],
        },
        ")",
        &[],
        |k, v| v.extend([Val::Text(&k.workspace_id), Val::Text(&k.key)]),
    )
}

/// The event that first took a key: its id, how many deliveries it made, and the body hash
/// the key is bound to (`None` for keys taken before hashes were kept).
#[derive(Debug, Clone, Default)]
pub struct Earlier {
    pub event_id: String,
    pub deliveries: i64,
    pub body_hash: Option<String>,
}

pub fn earlier(rows: &[AnyRow]) -> Result<HashMap<KeyRef, Earlier>> {
    rows.iter()
        .map(|row| {
            Ok((
                KeyRef {
                    workspace_id: row.try_get("workspace_id")?,
                    key: row.try_get("key")?,
                },
                Earlier {
                    event_id: row.try_get("event_id")?,
                    deliveries: row.try_get("delivery_count")?,
                    body_hash: row.try_get("body_hash")?,
                },
            ))
        })
        .collect()
}

/// How one claim ends, as written.
#[derive(Debug)]
pub struct FinishRow<'a> {
    pub id: &'a str,
    pub claim_token: &'a str,
    pub status: &'static str,
    pub next_attempt_ms: i64,
    pub last_error: Option<&'a str>,
    /// Why it waits, when it was handed back unattempted.
    pub waiting_reason: Option<&'static str>,
    /// The attempt's log, when one was made.
    pub attempt: Option<AttemptRow<'a>>,
}

/// One attempt as logged.
#[derive(Debug)]
pub struct AttemptRow<'a> {
    pub id: &'a str,
    pub started_at: &'a str,
    pub duration_ms: i64,
    pub outcome: &'a str,
    pub http_status: Option<i64>,
    pub reference: Option<&'a str>,
    pub error_kind: Option<&'a str>,
    pub error: Option<&'a str>,
    pub response: Option<&'a str>,
}

/// Ends claims still held under their tokens, stamping them `now`; a claim that lapsed and
/// was taken by another worker is left to that one (the answers' `affected` add up to the
/// claims ended).
pub fn finish<'a>(rows: &'a [FinishRow<'a>], now: &'a str, shape: Shape) -> Vec<Stmt<'a>> {
    let mut stmts = per_rows(
        rows,
        shape,
        "WITH v AS MATERIALIZED (VALUES ",
        &[],
        Tuple {
            text: "(?, ?, ?, ?, ?, ?, ?)",
            nulls: &[T, T, T, I, I, T, T],
        },
        // A delivered delivery keeps no error; one handed back keeps its last error.
        ") UPDATE deliveries SET status = v.column3, attempts = attempts + v.column4, \
         next_attempt_ms = v.column5, lease_until_ms = 0, \
         last_error = CASE WHEN v.column3 = 'delivered' THEN NULL ELSE COALESCE(v.column6, last_error) END, \
         waiting_reason = v.column7, updated_at = ? FROM v WHERE deliveries.id = v.column1 AND deliveries.status = 'in_flight' \
         AND deliveries.claim_token = v.column2 AND deliveries.id IN (",
        &[Val::Text(now)],
        |f, v| {
            v.extend([
                Val::Text(f.id),
                Val::Text(f.claim_token),
                Val::Text(f.status),
                Val::Int(i64::from(f.attempt.is_some())),
                Val::Int(f.next_attempt_ms),
                Val::MaybeText(f.last_error),
                Val::MaybeText(f.waiting_reason),
            ])
        },
    );
    // The ids once more, as a list the primary key answers: joined to the rows alone, the
    // planner (sure a new table is tiny) walked the table. The rows are materialized because
    // the planner then reads them once per claim in flight, and re-reading a list of
    // parameters costs far more than re-reading a stored one.
    for (stmt, chunk) in stmts
        .iter_mut()
        .zip(rows.chunks(MAX_ROWS).chain(std::iter::once(&[][..])))
    {
        let listed = match shape {
            Shape::Exact => chunk.len(),
            Shape::Padded => padded_rows(chunk.len()),
        };
        stmt.text.push_str(&repeated("", "?", listed, ")"));
        stmt.vals.extend(chunk.iter().map(|f| Val::Text(f.id)));
        stmt.vals.extend((chunk.len()..listed).map(|_| T));
    }
    stmts
}

/// Logs the attempts of `rows` whose claims [`finish`] ended (stamped `now` under their own
/// token), each numbered after the ones its delivery already has (a replay starts a fresh
/// attempt budget but keeps counting the log).
/// The claim is checked by a subquery the primary key answers row by row: as `EXISTS`, it
/// became a join the planner could turn around to walk the table.
pub fn insert_attempts<'a>(
    rows: &'a [&'a FinishRow<'a>],
    now: &'a str,
    shape: Shape,
) -> Vec<Stmt<'a>> {
    per_rows(
        rows,
        shape,
        "INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, outcome, http_status, \
         reference, error_kind, error, response) \
         SELECT v.column1, v.column2, (SELECT COUNT(*) + 1 FROM attempts a WHERE a.delivery_id = v.column2), \
         v.column4, v.column5, v.column6, v.column7, v.column8, v.column9, v.column10, v.column11 FROM (VALUES ",
        &[],
        Tuple {
            text: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            nulls: &[T, T, T, T, I, T, I, T, T, T, T],
        },
        ") AS v WHERE v.column3 = (SELECT d.claim_token FROM deliveries d WHERE d.id = v.column2 \
         AND d.updated_at = ?)",
        &[Val::Text(now)],
        |f, v| {
            let a = f.attempt.as_ref().expect("rows with an attempt");
            v.extend([
                Val::Text(a.id),
                Val::Text(f.id),
                Val::Text(f.claim_token),
                Val::Text(a.started_at),
                Val::Int(a.duration_ms),
                Val::Text(a.outcome),
                Val::MaybeInt(a.http_status),
                Val::MaybeText(a.reference),
                Val::MaybeText(a.error_kind),
                Val::MaybeText(a.error),
                Val::MaybeText(a.response),
            ])
        },
    )
}

/// Statements [`claim_due`] makes for one claim, and how many of them come before the claims
/// (the cycle reads the claims' answers in order).
pub fn claim_statements(postgres: bool) -> (usize, usize) {
    if postgres { (4, 1) } else { (3, 0) }
}

/// Claims up to `limit` due deliveries outside lanes (pending, or scheduled for retry and
/// due), up to `limit` due heads of lanes, then up to `limit` claimed by a worker whose lease
/// lapsed, under `token` until `lease_until_ms` ([`claimed`] reads the answers). Each statement
/// reads its own partial index and the primary key: one statement with `id IN (...) OR id IN
/// (...)` scans the whole table on Postgres. Postgres skips rows another replica is claiming.
///
/// On Postgres the claims of all replicas take turns (a transaction-scoped advisory lock, taken
/// first, so each claim's snapshot sees every claim committed before it): otherwise a lane's
/// older delivery committed late (by another intake cycle, or a replay) could be claimed by one
/// replica while another, whose snapshot did not show it, claims the next one. SQLite has one
/// writer.
pub fn claim_due<'a>(
    postgres: bool,
    limit: i64,
    skip: &'a [String],
    now_ms: i64,
    lease_until_ms: i64,
    token: &'a str,
    now: &'a str,
) -> Vec<Stmt<'a>> {
    let lock = if postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    // Destinations whose lanes hold enough are left out, so a backlog is drawn into memory a
    // share at a time and other destinations' due deliveries are claimed beside it.
    let skipped = if skip.is_empty() {
        String::new()
    } else {
        format!(
            " AND destination_id NOT IN ({})",
            vec!["?"; skip.len()].join(", ")
        )
    };
    let claim = |due: &str, order: &str| {
        let mut vals = vec![
            Val::Int(lease_until_ms),
            Val::Text(now),
            Val::Text(token),
            Val::Int(now_ms),
        ];
        vals.extend(skip.iter().map(|d| Val::Text(d)));
        vals.push(Val::Int(limit));
        Stmt {
            text: format!(
                "UPDATE deliveries SET status = 'in_flight', lease_until_ms = ?, updated_at = ?, claim_token = ? \
                 WHERE id IN (SELECT c.id FROM deliveries c WHERE {due}{skipped}{order} LIMIT ? {lock}) \
                 RETURNING id, workspace_id, event_id, destination_id, event_type, payload, attempts"
            ),
            vals,
        }
    };
    let mut stmts = Vec::with_capacity(4);
    if postgres {
        stmts.push(Stmt {
            text: "SELECT 1 AS taken FROM (SELECT pg_advisory_xact_lock(7270021)) AS turn".into(),
            vals: Vec::new(),
        });
    }
    stmts.extend([
        claim(
            "c.status IN ('pending', 'retry_scheduled') AND c.next_attempt_ms <= ? AND c.lane_key IS NULL",
            " ORDER BY c.next_attempt_ms",
        ),
        // A lane's head is its oldest live delivery (found per lane in the index of live
        // laned deliveries, not by a probe per waiting row: a long lane costs a claim one index
        // entry per row, not a query), claimed when due and none of its lane is in flight (a
        // replayed older one waits for the one in flight).
        claim(
            "c.status IN ('pending', 'retry_scheduled') AND c.next_attempt_ms <= ? \
             AND c.id IN (SELECT MIN(h.id) FROM deliveries h WHERE h.lane_key IS NOT NULL \
             AND h.status IN ('pending', 'retry_scheduled', 'in_flight') GROUP BY h.destination_id, h.lane_key) \
             AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.destination_id = c.destination_id \
             AND o.lane_key = c.lane_key AND o.status IN ('pending', 'retry_scheduled', 'in_flight') \
             AND o.status = 'in_flight')",
            " ORDER BY c.next_attempt_ms",
        ),
        // A lapsed claim is its lane's holder already: it is taken again as it is.
        claim("c.status = 'in_flight' AND c.lease_until_ms < ?", ""),
    ]);
    stmts
}

/// The claimed deliveries in id order (a delivery carrying its event's payload still says
/// [`SAME_AS_EVENT`]: [`event_payloads`] reads those).
pub fn claimed<'r>(rows: impl IntoIterator<Item = &'r AnyRow>, token: &str) -> Result<Vec<Job>> {
    let mut jobs: Vec<Job> = rows
        .into_iter()
        .map(|r| {
            Ok(Job {
                id: r.try_get("id")?,
                workspace_id: r.try_get("workspace_id")?,
                event_id: r.try_get("event_id")?,
                destination_id: r.try_get("destination_id")?,
                event_type: r.try_get("event_type")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                claim_token: token.to_string(),
            })
        })
        .collect::<Result<_>>()?;
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(jobs)
}

/// Reads the payloads of the events of `jobs` that carry their event's payload.
pub fn event_payloads(ids: &[String]) -> Vec<Stmt<'_>> {
    per_rows(
        ids,
        Shape::Exact,
        "SELECT id, payload FROM events WHERE id IN (",
        &[],
        Tuple {
            text: "?",
            nulls: &[T],
        },
        ")",
        &[],
        |id, v| v.push(Val::Text(id)),
    )
}

/// Puts the events' payloads (rows of [`event_payloads`]) into the jobs that carry them.
pub fn fill_payloads(jobs: &mut [Job], rows: &[AnyRow]) -> Result<()> {
    let mut payloads = HashMap::with_capacity(rows.len());
    for row in rows {
        payloads.insert(
            row.try_get::<String, _>("id")?,
            row.try_get::<String, _>("payload")?,
        );
    }
    for job in jobs.iter_mut().filter(|j| j.payload == SAME_AS_EVENT) {
        job.payload = payloads
            .get(&job.event_id)
            .cloned()
            .unwrap_or_else(|| "null".into());
    }
    Ok(())
}

/// Extends the leases of live claims (by claim token).
pub fn renew(postgres: bool, tokens: &[String], until_ms: i64) -> Vec<Stmt<'_>> {
    let (head, tail) = in_flight_with_tokens(postgres, "lease_until_ms = ?");
    per_rows(
        tokens,
        Shape::Exact,
        &head,
        &[Val::Int(until_ms)],
        Tuple {
            text: "?",
            nulls: &[T],
        },
        tail,
        &[],
        |t, v| v.push(Val::Text(t)),
    )
}

/// The head and tail around a token list of an update of in-flight deliveries by claim token.
/// On Postgres the rows are taken in id order and skipped when locked: a row another cycle
/// holds is being ended or reclaimed there (renewing or releasing it would be moot), and
/// waiting for it could deadlock with that cycle, which locks in id order too.
fn in_flight_with_tokens(postgres: bool, set: &str) -> (String, &'static str) {
    if postgres {
        (
            format!(
                "UPDATE deliveries SET {set} WHERE id IN (SELECT id FROM deliveries \
                 WHERE status = 'in_flight' AND claim_token IN ("
            ),
            ") ORDER BY id FOR UPDATE SKIP LOCKED)",
        )
    } else {
        (
            format!("UPDATE deliveries SET {set} WHERE status = 'in_flight' AND claim_token IN ("),
            ")",
        )
    }
}

/// Puts claims back in the queue, due at once (a worker shutting down).
pub fn release(postgres: bool, tokens: &[String]) -> Vec<Stmt<'_>> {
    let (head, tail) = in_flight_with_tokens(postgres, "status = 'pending', lease_until_ms = 0");
    per_rows(
        tokens,
        Shape::Exact,
        &head,
        &[],
        Tuple {
            text: "?",
            nulls: &[T],
        },
        tail,
        &[],
        |t, v| v.push(Val::Text(t)),
    )
}

/// Statistics as written: see [`super::DestinationStats`].
#[derive(Debug)]
pub struct StatsRow<'a> {
    pub destination_id: &'a str,
    pub stats: &'a super::DestinationStats,
}

/// Writes destinations' statistics: event counts, the latest attempt, the latest success, and
/// since when each has been failing.
pub fn add_destination_stats<'a>(rows: &'a [StatsRow<'a>]) -> Vec<Stmt<'a>> {
    rows.iter()
        .map(|r| {
            let s = r.stats;
            let (last_at, last_status) = match &s.last {
                Some((at, status)) => (Some(at.as_str()), Some(status.as_str())),
                None => (None, None),
            };
            // failing_since: cleared when the latest attempt succeeded; otherwise the first
            // failure after a success in this window, or the stored one (else this window's
            // first failure).
            Stmt {
                text: "UPDATE destinations SET event_count = event_count + ?, failed_count = failed_count + ?, \
                       last_delivery_at = COALESCE(?, last_delivery_at), last_delivery_status = COALESCE(?, last_delivery_status), \
                       last_success_at = COALESCE(?, last_success_at), \
                       failing_since = CASE WHEN ? = 'delivered' THEN NULL \
                                            WHEN ? IS NULL THEN failing_since \
                                            WHEN ? IS NOT NULL THEN ? \
                                            ELSE COALESCE(failing_since, ?) END \
                       WHERE id = ?"
                    .to_string(),
                vals: vec![
                    Val::Int(s.events),
                    Val::Int(s.failed),
                    Val::MaybeText(last_at),
                    Val::MaybeText(last_status),
                    Val::MaybeText(s.last_success_at.as_deref()),
                    Val::MaybeText(last_status),
                    Val::MaybeText(last_status),
                    Val::MaybeText(s.last_success_at.as_deref()),
                    Val::MaybeText(s.failing_since.as_deref()),
                    Val::MaybeText(s.failing_since.as_deref()),
                    Val::Text(r.destination_id),
                ],
            }
        })
        .collect()
}

/// A destination to take out of delivery, with the reason.
#[derive(Debug)]
pub struct SuspendRow<'a> {
    pub destination_id: &'a str,
    /// `disabled` (also made inactive) or `reauth_required`.
    pub status: &'static str,
    pub reason: &'a str,
    /// Only the row as it was when the attempt's client was built is suspended.
    pub built_at: &'a str,
}

/// Suspends destinations (unless changed since their attempts were built), and bumps the
/// change counter so other replicas' caches see it.
pub fn suspend<'a>(rows: &'a [SuspendRow<'a>], now: &'a str) -> Vec<Stmt<'a>> {
    let mut stmts: Vec<Stmt<'a>> = rows
        .iter()
        .map(|r| Stmt {
            text: "UPDATE destinations SET status = ?, status_error = ?, \
                   is_active = CASE WHEN ? = 'disabled' THEN 0 ELSE is_active END, updated_at = ? \
                   WHERE id = ? AND updated_at = ?"
                .to_string(),
            vals: vec![
                Val::Text(r.status),
                Val::Text(r.reason),
                Val::Text(r.status),
                Val::Text(now),
                Val::Text(r.destination_id),
                Val::Text(r.built_at),
            ],
        })
        .collect();
    if !stmts.is_empty() {
        stmts.push(Stmt {
            text: "UPDATE config_changes SET generation = generation + 1 WHERE id = 1".to_string(),
            vals: Vec::new(),
        });
    }
    stmts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_statements_take_one_of_three_sizes() {
        assert_eq!(
            [0, 1, 16, 17, 64, 65, 256].map(padded_rows),
            [16, 16, 16, 64, 64, 256, 256]
        );
        let ids = ["a".to_string(), "b".to_string()];
        let rows: Vec<EventRow> = ids
            .iter()
            .map(|id| EventRow {
                id,
                workspace_id: "w",
                event_type: "t",
                payload: "{}",
                idempotency_key: None,
                delivery_count: 1,
                created_at: "now",
            })
            .collect();
        let padded = insert_events(&rows, Shape::Padded);
        assert_eq!(padded.len(), 1);
        assert_eq!(padded[0].vals.len(), 16 * 7);
        assert_eq!(padded[0].text.matches('?').count(), 16 * 7);
        assert_eq!(insert_events(&[], Shape::Padded).len(), 1);
        assert!(insert_events(&[], Shape::Exact).is_empty());
    }

    #[test]
    fn rows_repeat_between_head_and_tail() {
        assert_eq!(repeated("X (", "?", 3, ")"), "X (?, ?, ?)");
        let ids: Vec<String> = (0..MAX_ROWS + 3).map(|i| i.to_string()).collect();
        let stmts = release(false, &ids);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].vals.len(), MAX_ROWS);
        assert_eq!(stmts[1].vals.len(), 3);
        assert_eq!(stmts[1].text.matches('?').count(), 3);
    }

    #[test]
    fn every_statement_binds_as_many_values_as_it_marks() {
        let now = "2026-01-01T00:00:00.000Z";
        let attempt = AttemptRow {
            id: "a",
            started_at: now,
            duration_ms: 1,
            outcome: "delivered",
            http_status: Some(204),
            reference: None,
            error_kind: None,
            error: None,
            response: None,
        };
        let finished = [FinishRow {
            id: "d",
            claim_token: "t",
            status: "delivered",
            next_attempt_ms: 0,
            last_error: None,
            waiting_reason: None,
            attempt: Some(attempt),
        }];
        let with_attempts: Vec<&FinishRow> = finished.iter().collect();
        let stats = super::super::DestinationStats::default();
        let stats_rows = [StatsRow {
            destination_id: "x",
            stats: &stats,
        }];
        let keys = [KeyRef {
            workspace_id: "w".into(),
            key: "k".into(),
        }];
        let claims = [(keys[0].clone(), "e", Some("hash"))];
        let tokens = ["t".to_string()];
        let mut all = Vec::new();
        all.extend(finish(&finished, now, Shape::Padded));
        all.extend(insert_attempts(&with_attempts, now, Shape::Exact));
        all.extend(add_destination_stats(&stats_rows));
        all.extend(earlier_events(&keys));
        all.extend(claim_keys(&claims, 1, 0));
        all.extend(renew(false, &tokens, 5));
        all.extend(renew(true, &tokens, 5));
        all.extend(release(true, &tokens));
        all.extend(claim_due(true, 10, &[], 1, 2, "t", now));
        for stmt in &all {
            assert_eq!(
                stmt.text.matches('?').count(),
                stmt.vals.len(),
                "{}",
                stmt.text
            );
        }
    }
}
