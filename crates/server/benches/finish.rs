//! What recording a batch's outcomes costs: 1,000 claimed deliveries finished one transaction
//! each (as every delivery was before batches were recorded together) side by side with
//! `Store::finish_many` (a transaction per 200), on the same store, rounds alternating. Prints
//! microseconds per delivery and the ratio. SQLite in a temp dir, or Postgres when
//! `COURIER_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo bench -p courier-server --bench finish`.

#[path = "../tests/support/postgres.rs"]
mod postgres;

use std::time::Instant;

use courier_server::store::{AttemptLog, Finish, NewDelivery, NewEvent, Store};
use serde_json::json;

const BATCH: usize = 1000;
const ROUNDS: usize = 5;

/// Accepts `BATCH` events for one destination and claims their deliveries.
async fn claimed(store: &Store, workspace: &str) -> Vec<courier_server::store::Job> {
    let events = (0..BATCH)
        .map(|i| NewEvent {
            event_type: "order.created".into(),
            payload: json!({"n": i}),
            idempotency_key: None,
            deliveries: vec![NewDelivery {
                destination_id: "dest_bench".into(),
                route_id: "route_bench".into(),
                payload: Ok(json!({"n": i}).to_string()),
                wait_ms: 0,
            }],
        })
        .collect();
    store.accept_events(workspace, events, &[]).await.unwrap();
    let jobs = store.claim(BATCH as i64, 60_000).await.unwrap();
    assert_eq!(jobs.len(), BATCH);
    jobs
}

fn delivered() -> Option<AttemptLog> {
    Some(AttemptLog {
        started_at: courier_server::ids::now(),
        duration_ms: 12,
        outcome: "delivered".into(),
        reference: Some("s3://bucket/exports/batch.ndjson".into()),
        ..AttemptLog::default()
    })
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (url, kind) = match std::env::var("COURIER_TEST_POSTGRES_URL") {
            Ok(base) => {
                let name = format!("courier_bench_finish_{}", std::process::id());
                (postgres::fresh_database(&base, &name).await, "Postgres")
            }
            Err(_) => (
                format!("sqlite://{}/courier.db?mode=rwc", dir.path().display()),
                "SQLite",
            ),
        };
        let store = Store::open(&url).await.unwrap();
        let workspace = store.create_workspace("bench").await.unwrap().id;
        let (mut one_by_one, mut together) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let jobs = claimed(&store, &workspace).await;
                let t = Instant::now();
                if side == 0 {
                    for job in &jobs {
                        store.finish(job, Finish::Delivered, delivered()).await.unwrap();
                    }
                    one_by_one.push(t.elapsed().as_secs_f64());
                } else {
                    let items: Vec<_> = jobs.iter().map(|j| (j, Finish::Delivered, delivered())).collect();
                    store.finish_many(&items).await.unwrap();
                    together.push(t.elapsed().as_secs_f64());
                }
            }
        }
        let (a, b) = (courier_benchkit::median(one_by_one), courier_benchkit::median(together));
        let per = |s: f64| s * 1e6 / BATCH as f64;
        println!("Recording a {BATCH}-delivery batch's outcomes ({kind}), median of {ROUNDS} rounds:");
        println!(
            "    a transaction per delivery {:>7.1} us/delivery; a transaction per 200 {:>7.1} us/delivery; {:.1}x faster",
            per(a),
            per(b),
            a / b
        );
    });
}
