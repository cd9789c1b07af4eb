//! OneDrive behaviour against the local Graph fake: bytes read back equal the file produced,
//! simple upload up to 4 MiB and upload sessions above it (320 KiB fragments, totals, no token
//! on the upload URL), resuming from `nextExpectedRanges`, 429/503 with Retry-After, a session
//! cancelled on permanent failure, conflict behaviors (and a lost final answer under them),
//! drives and folders, and OAuth rotation.

use std::io::Read;
use std::sync::Arc;

use courier_conformance::helpers::{
    first_error, records, reference, sized_records, spec, test_report, with_store,
};
use courier_connector_onedrive::OneDrive;
use courier_core::{Batch, Destination, DynConnector, ErrorKind, TokenStore};
use courier_fakes::{CLIENT_ID, CLIENT_SECRET, Fault, GraphFake, Target};
use courier_oauth::MemoryTokenStore;
use serde_json::{Value, json};

const FRAGMENT: usize = 320 * 1024;

struct Setup {
    fake: GraphFake,
    refresh: String,
}

async fn setup() -> Setup {
    let fake = GraphFake::start().await;
    fake.add_folder("Exports/Courier");
    let (_, refresh) = fake.oauth().issue();
    Setup { fake, refresh }
}

impl Setup {
    fn config(&self, extra: Value) -> Value {
        let mut c = json!({"folder_path": "Exports/Courier", "graph_base_url": self.fake.url(), "format": "ndjson"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn auth(&self) -> Value {
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": self.refresh, "token_url": format!("{}/token", self.fake.url())})
    }

    async fn destination(&self, extra: Value) -> Arc<dyn Destination> {
        let mut spec = spec("dest_onedrive", self.config(extra), self.auth());
        spec.payload_cap_bytes = Some(64 * 1024 * 1024);
        OneDrive.build(&spec).await.unwrap()
    }
}

fn ndjson(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for r in &batch.records {
        out.extend_from_slice(&r.payload);
        out.push(b'\n');
    }
    out
}

#[tokio::test]
async fn a_small_file_is_one_put_and_reads_back_byte_for_byte() {
    let s = setup().await;
    let dest = s
        .destination(json!({"file_name_template": "batch {batch_id}.{ext}"}))
        .await;
    let batch = Batch::new("small-1", records(10));
    let out = dest.deliver(&batch).await;
    assert!(
        reference(&out).starts_with("https://onedrive.fake/Exports/Courier/batch small-1.ndjson"),
        "{out:?}"
    );
    let items = s.fake.items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].path, "Exports/Courier/batch small-1.ndjson");
    assert_eq!(items[0].content, ndjson(&batch));
    let puts: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1);
    assert!(
        puts[0].query.contains("conflictBehavior=replace"),
        "{puts:?}"
    );
}

#[tokio::test]
async fn a_large_file_goes_up_in_fragments_with_the_total_and_no_token() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 3 * FRAGMENT}))
        .await;
    let batch = Batch::new("big-1", sized_records(500, 10_000)); // ~5 MiB
    let out = dest.deliver(&batch).await;
    assert!(reference(&out).ends_with("(upload session)"), "{out:?}");
    let item = &s.fake.items()[0];
    assert_eq!(item.content, ndjson(&batch));
    let total = item.content.len();
    let fragments: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/upload-sessions/"))
        .collect();
    assert!(
        fragments.iter().all(|f| !f.has_authorization),
        "the upload URL gets no bearer token"
    );
    assert_eq!(fragments.len(), total.div_ceil(3 * FRAGMENT));
    assert!(fragments.iter().all(|f| {
        f.content_range
            .as_deref()
            .unwrap()
            .ends_with(&format!("/{total}"))
    }));
    assert_eq!(s.fake.open_sessions(), 0);
}

#[tokio::test]
async fn a_compressed_large_file_is_sized_before_its_session_opens() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": FRAGMENT, "compression": "zstd"}))
        .await;
    let mut seed = 11u64;
    let mut letter = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        char::from(b'a' + (seed >> 59) as u8 % 26)
    };
    let records: Vec<_> = (0..4000)
        .map(|i| {
            let text: String = (0..1200).map(|_| letter()).collect();
            courier_core::Record::new(format!("r{i}"), format!(r#"{{"id":{i},"h":"{text}"}}"#))
        })
        .collect();
    let batch = Batch::new("zst-1", records);
    reference(&dest.deliver(&batch).await);
    let item = &s.fake.items()[0];
    assert!(item.path.ends_with(".ndjson.zst"), "{}", item.path);
    let mut plain = Vec::new();
    zstd::stream::read::Decoder::new(&item.content[..])
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, ndjson(&batch));
}

#[tokio::test]
async fn a_dropped_fragment_resumes_from_next_expected_ranges() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 4 * FRAGMENT}))
        .await;
    let batch = Batch::new("resume-1", sized_records(500, 10_000));
    s.fake.fail_next(
        Target::Chunk,
        Fault::Partial {
            keep: FRAGMENT + 1000,
        },
    );
    reference(&dest.deliver(&batch).await);
    assert_eq!(s.fake.items()[0].content, ndjson(&batch));
    let log = s.fake.requests();
    assert!(
        log.iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/upload-sessions/")),
        "a status query"
    );
    let ranges: Vec<String> = log.into_iter().filter_map(|r| r.content_range).collect();
    assert!(
        ranges
            .iter()
            .any(|r| r.starts_with(&format!("bytes {FRAGMENT}-"))),
        "resumed where the server stood: {ranges:?}"
    );
}

#[tokio::test]
async fn throttling_and_outages_honour_retry_after() {
    let s = setup().await;
    let dest = s.destination(json!({})).await;
    s.fake.fail_next(
        Target::Upload,
        Fault::Status {
            status: 429,
            retry_after: Some(9),
            reason: "activityLimitReached",
        },
    );
    let e = first_error(&dest.deliver(&Batch::new("t-1", records(1))).await);
    assert_eq!(
        (e.kind, e.retry_after),
        (
            ErrorKind::RateLimited,
            Some(std::time::Duration::from_secs(9))
        )
    );
    s.fake.fail_next(
        Target::Upload,
        Fault::Status {
            status: 503,
            retry_after: Some(4),
            reason: "serviceNotAvailable",
        },
    );
    let e = first_error(&dest.deliver(&Batch::new("t-2", records(1))).await);
    assert_eq!(
        (e.kind, e.retry_after),
        (
            ErrorKind::Unavailable,
            Some(std::time::Duration::from_secs(4))
        )
    );
    assert!(e.is_retryable());

    // Mid-session, a 503 with Retry-After is waited out and the upload carries on.
    let big = s
        .destination(json!({"chunk_size_bytes": 8 * FRAGMENT}))
        .await;
    s.fake.fail_next(
        Target::Chunk,
        Fault::Status {
            status: 503,
            retry_after: Some(1),
            reason: "serviceNotAvailable",
        },
    );
    let batch = Batch::new("t-3", sized_records(500, 10_000));
    reference(&big.deliver(&batch).await);
    assert!(s.fake.items().iter().any(|i| i.content == ndjson(&batch)));
    assert_eq!(s.fake.cancelled_sessions(), 0);
}

#[tokio::test]
async fn a_session_that_fails_for_good_is_cancelled() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 8 * FRAGMENT}))
        .await;
    s.fake.fail_next(
        Target::Chunk,
        Fault::Status {
            status: 403,
            retry_after: None,
            reason: "accessDenied",
        },
    );
    let e = first_error(
        &dest
            .deliver(&Batch::new("c-1", sized_records(500, 10_000)))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::Forbidden, "{e:?}");
    assert_eq!(s.fake.cancelled_sessions(), 1);
    assert_eq!(
        (s.fake.open_sessions(), s.fake.items().len()),
        (0, 0),
        "nothing left behind"
    );
}

#[tokio::test]
async fn conflict_behaviors_replace_rename_and_fail() {
    let s = setup().await;
    let batch = Batch::new("same-1", records(2));
    let replace = s.destination(json!({})).await;
    reference(&replace.deliver(&batch).await);
    reference(&replace.deliver(&batch).await);
    assert_eq!(s.fake.items().len(), 1);
    assert_eq!(s.fake.items()[0].version, 2);

    let rename = s.destination(json!({"conflict_behavior": "rename"})).await;
    let r = reference(&rename.deliver(&batch).await);
    assert!(r.contains("(renamed to "), "{r}");
    assert_eq!(s.fake.items().len(), 2);

    let fail = s.destination(json!({"conflict_behavior": "fail"})).await;
    let e = first_error(&fail.deliver(&batch).await);
    assert_eq!(e.kind, ErrorKind::Conflict, "{e:?}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn a_lost_final_answer_is_recognized_instead_of_failing_or_copying() {
    let s = setup().await;
    for (n, behavior) in ["fail", "rename"].into_iter().enumerate() {
        let dest = s
            .destination(json!({"conflict_behavior": behavior, "chunk_size_bytes": 8 * FRAGMENT}))
            .await;
        // The session completes, but the client never hears it; asked afterwards, the
        // session is gone (404).
        s.fake.fail_next(Target::LastChunk, Fault::LostAnswer);
        let batch = Batch::new(format!("lost-{n}"), sized_records(500, 10_000));
        let r = reference(&dest.deliver(&batch).await);
        assert!(!r.contains("renamed"), "{r}");
        let items = s.fake.items();
        assert_eq!(items.len(), n + 1, "one file per batch, no copy");
        assert!(items.iter().any(|i| i.content == ndjson(&batch)));
    }
    // With a file of that name already there, Graph refuses the session itself: a conflict,
    // not a lost answer.
    let fail = s
        .destination(json!({"conflict_behavior": "fail", "chunk_size_bytes": 8 * FRAGMENT}))
        .await;
    let e = first_error(
        &fail
            .deliver(&Batch::new("lost-0", sized_records(500, 10_000)))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::Conflict, "{e:?}");
    assert_eq!(s.fake.items().len(), 2);
}

#[tokio::test]
async fn a_drive_id_addresses_that_drive_and_a_missing_folder_is_named() {
    let s = setup().await;
    let dest = s.destination(json!({"drive_id": "drive-fake-1"})).await;
    reference(&dest.deliver(&Batch::new("d-1", records(1))).await);
    assert!(
        s.fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/drives/drive-fake-1/root:/"))
    );

    let site = s
        .destination(json!({"drive_id": "sites/fake.sharepoint.com,1111,2222"}))
        .await;
    reference(&site.deliver(&Batch::new("d-3", records(1))).await);
    assert!(s.fake.requests().iter().any(|r| {
        r.path
            .starts_with("/sites/fake.sharepoint.com,1111,2222/drive/root:/")
    }));

    let report = test_report(
        &OneDrive,
        &spec(
            "d",
            s.config(json!({"folder_path": "Nope/Missing"})),
            s.auth(),
        ),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("folder", Some(ErrorKind::NotFound))
    );
    assert!(failed.hint.as_deref().unwrap().contains("Nope/Missing"));
    let e = first_error(
        &s.destination(json!({"folder_path": "Nope"}))
            .await
            .deliver(&Batch::new("d-2", records(1)))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn the_connection_test_writes_nothing() {
    let s = setup().await;
    let report = test_report(&OneDrive, &spec("d", s.config(json!({})), s.auth())).await;
    assert!(report.success, "{report:#?}");
    assert_eq!(
        (
            s.fake.items().len(),
            s.fake.open_sessions(),
            s.fake.cancelled_sessions()
        ),
        (0, 0, 1)
    );
    let account = report.steps.iter().find(|st| st.name == "account").unwrap();
    assert!(account.message.contains("Fake User"), "{account:?}");
}

#[tokio::test]
async fn rotation_is_saved_before_use_and_concurrent_refreshes_are_one() {
    let s = setup().await;
    s.fake.oauth().set_rotation(true);
    let store = Arc::new(MemoryTokenStore::default());
    let mut spec = with_store(
        spec(
            "dest_od",
            s.config(json!({"conflict_behavior": "rename"})),
            s.auth(),
        ),
        store.clone(),
    );
    spec.payload_cap_bytes = None;
    let dest = OneDrive.build(&spec).await.unwrap();
    let runs = (0..6).map(|i| {
        let dest = dest.clone();
        async move {
            dest.deliver(&Batch::new(format!("r-{i}"), records(1)))
                .await
        }
    });
    for out in futures::future::join_all(runs).await {
        reference(&out);
    }
    assert_eq!(s.fake.oauth().refreshes(), 1);
    let saved = store.load("dest_od").await.unwrap().unwrap();
    assert_ne!(saved.refresh_token.unwrap().expose(), s.refresh.as_str());
    // Expired again: the stored (rotated) refresh token works, the original is dead.
    s.fake.oauth().expire_access_tokens();
    let again = OneDrive.build(&spec).await.unwrap();
    reference(&again.deliver(&Batch::new("r-9", records(1))).await);
    assert_eq!(s.fake.oauth().refreshes(), 2);
    s.fake.oauth().revoke();
    s.fake.oauth().expire_access_tokens();
    let e = first_error(&again.deliver(&Batch::new("r-10", records(1))).await);
    assert_eq!(e.kind, ErrorKind::ReauthRequired);
}
