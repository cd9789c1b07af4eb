//! Drive behaviour against the local Drive fake: bytes read back equal the file produced,
//! multipart below 5 MiB and resumable above it, resuming from the server's offset after a
//! dropped chunk or a lost final answer, rate limits as throttling, replace vs keep_both, and OAuth: refresh on 401,
//! rotation persisted through the host's store, single-flight refresh, `reauth_required`.

use std::io::Read;
use std::sync::Arc;

use courier_conformance::helpers::{
    first_error, records, reference, sized_records, spec, test_report, with_store,
};
use courier_connector_google_drive::GoogleDrive;
use courier_core::{Batch, Destination, DynConnector, ErrorKind, StepStatus, TokenStore};
use courier_fakes::{CLIENT_ID, CLIENT_SECRET, DriveFake, Fault, Target};
use courier_oauth::MemoryTokenStore;
use serde_json::{Value, json};

struct Setup {
    fake: DriveFake,
    folder: String,
    refresh: String,
}

async fn setup() -> Setup {
    let fake = DriveFake::start().await;
    let folder = fake.add_folder("Exports", true);
    let (_, refresh) = fake.oauth().issue();
    Setup {
        fake,
        folder,
        refresh,
    }
}

impl Setup {
    fn config(&self, extra: Value) -> Value {
        let mut c =
            json!({"folder_id": self.folder, "api_base_url": self.fake.url(), "format": "ndjson"});
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
        let mut spec = spec("dest_drive", self.config(extra), self.auth());
        spec.payload_cap_bytes = Some(64 * 1024 * 1024);
        GoogleDrive.build(&spec).await.unwrap()
    }
}

/// The Content-Range of every request the fake saw, in order.
fn content_ranges(fake: &DriveFake) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter_map(|r| r.content_range)
        .collect()
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
async fn a_small_file_is_one_multipart_request_and_reads_back_byte_for_byte() {
    let s = setup().await;
    let dest = s
        .destination(json!({"file_name_template": "{batch_id}.{ext}"}))
        .await;
    let batch = Batch::new("small-1", records(20));
    let out = dest.deliver(&batch).await;
    assert!(
        reference(&out).starts_with("https://drive.fake/file/d/"),
        "{out:?}"
    );
    let files = s.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "small-1.ndjson");
    assert_eq!(files[0].parents, vec![s.folder.clone()]);
    assert_eq!(files[0].content, ndjson(&batch));
    let uploads: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/upload/"))
        .collect();
    assert_eq!(uploads.len(), 1);
    assert!(
        uploads[0].query.contains("uploadType=multipart"),
        "{uploads:?}"
    );
}

#[tokio::test]
async fn csv_can_become_a_google_sheet() {
    let s = setup().await;
    let dest = s
        .destination(
            json!({"format": "csv", "columns": ["id", "email"], "convert_to_google_sheets": true}),
        )
        .await;
    let out = dest.deliver(&Batch::new("sheet-1", records(3))).await;
    reference(&out);
    let file = &s.fake.files()[0];
    assert_eq!(file.mime_type, "application/vnd.google-apps.spreadsheet");
    assert_eq!(file.media_type, "text/csv; charset=utf-8");
    assert!(
        file.content
            .starts_with(b"id,email\r\n0,u0@example.com\r\n"),
        "{:?}",
        String::from_utf8_lossy(&file.content)
    );
}

#[tokio::test]
async fn a_large_file_goes_up_in_resumable_chunks_without_the_token() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 1024 * 1024}))
        .await;
    let batch = Batch::new("big-1", sized_records(700, 10_000)); // ~7 MiB
    let out = dest.deliver(&batch).await;
    assert!(reference(&out).ends_with("(resumable)"), "{out:?}");
    let file = &s.fake.files()[0];
    assert_eq!(file.content, ndjson(&batch));
    let chunks: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(chunks.len(), 7, "{chunks:?}");
    assert!(
        chunks.iter().all(|c| !c.has_authorization),
        "session URLs carry their own authorization"
    );
    let total = file.content.len();
    assert_eq!(
        chunks[0].content_range.as_deref(),
        Some(format!("bytes 0-1048575/{total}").as_str())
    );
    assert!(chunks[..6].iter().all(|c| c.body_len == 1024 * 1024));
}

#[tokio::test]
async fn a_compressed_large_file_learns_its_total_at_the_last_chunk() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 262144, "compression": "gzip"}))
        .await;
    // Random-ish payloads so gzip output spans several chunks.
    let mut seed = 7u64;
    let mut letter = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        char::from(b'a' + (seed >> 59) as u8 % 26)
    };
    let records: Vec<_> = (0..5000)
        .map(|i| {
            let text: String = (0..1200).map(|_| letter()).collect();
            courier_core::Record::new(format!("r{i}"), format!(r#"{{"id":{i},"h":"{text}"}}"#))
        })
        .collect();
    let batch = Batch::new("gz-1", records);
    let out = dest.deliver(&batch).await;
    reference(&out);
    let file = &s.fake.files()[0];
    assert_eq!(file.name.rsplit('.').next(), Some("gz"));
    assert_eq!(file.media_type, "application/gzip");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&file.content[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, ndjson(&batch));
    let ranges = content_ranges(&s.fake);
    assert!(ranges.len() >= 2, "{ranges:?}");
    assert!(
        ranges[0].ends_with("/*"),
        "the total is unknown until the end: {ranges:?}"
    );
    assert!(
        ranges
            .last()
            .unwrap()
            .ends_with(&format!("/{}", file.content.len()))
    );
}

#[tokio::test]
async fn a_dropped_chunk_resumes_from_the_offset_the_server_reports() {
    let s = setup().await;
    let dest = s
        .destination(json!({"chunk_size_bytes": 1024 * 1024}))
        .await;
    let batch = Batch::new("resume-1", sized_records(700, 10_000));
    // The second chunk PUT: the server keeps 300 KiB of it (256 KiB after rounding), then fails.
    s.fake.fail_next(
        Target::Chunk,
        Fault::Status {
            status: 503,
            retry_after: Some(0),
            reason: "backendError",
        },
    );
    s.fake
        .fail_next(Target::Chunk, Fault::Partial { keep: 300 * 1024 });
    let out = dest.deliver(&batch).await;
    reference(&out);
    assert_eq!(s.fake.files()[0].content, ndjson(&batch));
    let ranges = content_ranges(&s.fake);
    assert!(
        ranges.iter().any(|r| r.starts_with("bytes */")),
        "a status query: {ranges:?}"
    );
    assert!(
        ranges.iter().any(|r| r.starts_with("bytes 262144-")),
        "resumed from the 256 KiB the server kept: {ranges:?}"
    );
    assert_eq!(s.fake.open_sessions(), 0);
}

#[tokio::test]
async fn a_lost_final_answer_is_read_from_the_session_status_not_uploaded_again() {
    let s = setup().await;
    let dest = s
        .destination(json!({"conflict_policy": "keep_both", "chunk_size_bytes": 1024 * 1024}))
        .await;
    // The last chunk completes the file but its answer is lost; the status query that
    // follows gets the file, as Drive answers for a completed session.
    s.fake.fail_next(Target::LastChunk, Fault::LostAnswer);
    let batch = Batch::new("lost-1", sized_records(700, 10_000));
    reference(&dest.deliver(&batch).await);
    let files = s.fake.files();
    assert_eq!(files.len(), 1, "keep_both made no second copy");
    assert_eq!(files[0].content, ndjson(&batch));
    let ranges = content_ranges(&s.fake);
    assert!(
        ranges.last().is_some_and(|r| r.starts_with("bytes */")),
        "ended on a status query: {ranges:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_throttling_with_retry_after_and_resumed_inside_an_upload() {
    let s = setup().await;
    let dest = s.destination(json!({})).await;
    s.fake.fail_next(
        Target::Upload,
        Fault::Status {
            status: 403,
            retry_after: Some(7),
            reason: "userRateLimitExceeded",
        },
    );
    let e = first_error(&dest.deliver(&Batch::new("rl-1", records(2))).await);
    assert_eq!(e.kind, ErrorKind::RateLimited, "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
    s.fake.fail_next(
        Target::Upload,
        Fault::Status {
            status: 429,
            retry_after: None,
            reason: "rateLimitExceeded",
        },
    );
    assert_eq!(
        first_error(&dest.deliver(&Batch::new("rl-2", records(2))).await).kind,
        ErrorKind::RateLimited
    );

    // Inside a resumable upload a 429 on a chunk waits for Retry-After and carries on.
    let big = s
        .destination(json!({"chunk_size_bytes": 1024 * 1024}))
        .await;
    s.fake.fail_next(
        Target::Chunk,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            reason: "rateLimitExceeded",
        },
    );
    let batch = Batch::new("rl-3", sized_records(600, 10_000));
    reference(&big.deliver(&batch).await);
    assert!(s.fake.files().iter().any(|f| f.content == ndjson(&batch)));
}

#[tokio::test]
async fn replace_updates_the_same_file_and_keep_both_adds_one() {
    let s = setup().await;
    let dest = s.destination(json!({})).await;
    let batch = Batch::new("same-1", records(2));
    reference(&dest.deliver(&batch).await);
    let again = reference(&dest.deliver(&batch).await);
    assert!(again.contains("(replaced)"), "{again}");
    let files = s.fake.files();
    assert_eq!((files.len(), files[0].version), (1, 2));

    let both = s.destination(json!({"conflict_policy": "keep_both"})).await;
    reference(&both.deliver(&batch).await);
    assert_eq!(s.fake.files().len(), 2);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_call_retried() {
    let s = setup().await;
    let (access, _) = s.fake.oauth().issue();
    let mut auth = s.auth();
    auth["access_token"] = json!(access);
    let dest = GoogleDrive
        .build(&spec("dest_drive", s.config(json!({})), auth))
        .await
        .unwrap();
    reference(&dest.deliver(&Batch::new("tok-1", records(1))).await);
    assert_eq!(
        s.fake.oauth().refreshes(),
        0,
        "a working access token is used as is"
    );
    s.fake.oauth().expire_access_tokens();
    reference(&dest.deliver(&Batch::new("tok-2", records(1))).await);
    assert_eq!(s.fake.oauth().refreshes(), 1);
    let unauthorized = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/drive/v3/files")
        .count();
    assert!(unauthorized >= 2, "the 401'd lookup was sent again");
}

#[tokio::test]
async fn rotated_refresh_tokens_are_saved_in_the_host_store_and_survive_a_restart() {
    let s = setup().await;
    s.fake.oauth().set_rotation(true);
    let store = Arc::new(MemoryTokenStore::default());
    let stored = with_store(
        spec("dest_drive", s.config(json!({})), s.auth()),
        store.clone(),
    );
    let dest = GoogleDrive.build(&stored).await.unwrap();
    reference(&dest.deliver(&Batch::new("rot-1", records(1))).await);
    let saved = store
        .load("dest_drive")
        .await
        .unwrap()
        .expect("tokens saved");
    let rotated = saved.refresh_token.as_ref().unwrap().expose().to_string();
    assert_ne!(
        rotated, s.refresh,
        "the rotated refresh token replaced the original"
    );
    drop(dest);
    // The auth_config's refresh token is dead now; a new process must use the stored one.
    s.fake.oauth().expire_access_tokens();
    let restarted = GoogleDrive.build(&stored).await.unwrap();
    reference(&restarted.deliver(&Batch::new("rot-2", records(1))).await);
    assert_eq!(s.fake.oauth().refreshes(), 2);
}

#[tokio::test]
async fn concurrent_deliveries_share_one_refresh() {
    let s = setup().await;
    s.fake.oauth().set_rotation(true);
    let dest = s.destination(json!({"conflict_policy": "keep_both"})).await;
    let runs = (0..8).map(|i| {
        let dest = dest.clone();
        async move {
            dest.deliver(&Batch::new(format!("sf-{i}"), records(1)))
                .await
        }
    });
    for out in futures::future::join_all(runs).await {
        reference(&out);
    }
    assert_eq!(
        s.fake.oauth().refreshes(),
        1,
        "single-flight: one refresh for eight deliveries"
    );
    assert_eq!(s.fake.files().len(), 8);
}

#[tokio::test]
async fn a_revoked_grant_is_reauth_required_and_not_retried() {
    let s = setup().await;
    let dest = s.destination(json!({})).await;
    s.fake.oauth().revoke();
    let e = first_error(&dest.deliver(&Batch::new("rv-1", records(1))).await);
    assert_eq!(e.kind, ErrorKind::ReauthRequired, "{e:?}");
    assert!(!e.is_retryable());
    let token_calls = |f: &DriveFake| f.requests().iter().filter(|r| r.path == "/token").count();
    let before = token_calls(&s.fake);
    let e = first_error(&dest.deliver(&Batch::new("rv-2", records(1))).await);
    assert_eq!(e.kind, ErrorKind::ReauthRequired);
    assert_eq!(
        token_calls(&s.fake),
        before,
        "a revoked destination does not hammer the provider"
    );
    let report = test_report(
        &GoogleDrive,
        &spec("dest_drive", s.config(json!({})), s.auth()),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("authentication", Some(ErrorKind::ReauthRequired))
    );
}

#[tokio::test]
async fn the_connection_test_names_the_account_and_checks_the_folder() {
    let s = setup().await;
    let report = test_report(
        &GoogleDrive,
        &spec("dest_drive", s.config(json!({})), s.auth()),
    )
    .await;
    assert!(report.success, "{report:#?}");
    let account = report.steps.iter().find(|st| st.name == "account").unwrap();
    assert!(
        account.message.contains("fake.user@example.com"),
        "{account:?}"
    );

    let read_only = s.fake.add_folder("Read only", false);
    let report = test_report(
        &GoogleDrive,
        &spec(
            "dest_drive",
            s.config(json!({"folder_id": read_only})),
            s.auth(),
        ),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("folder", Some(ErrorKind::Forbidden)),
        "{failed:?}"
    );

    let report = test_report(
        &GoogleDrive,
        &spec(
            "dest_drive",
            s.config(json!({"folder_id": "nope"})),
            s.auth(),
        ),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("folder", Some(ErrorKind::NotFound))
    );
    assert!(failed.hint.as_deref().unwrap().contains("nope"));
    assert!(
        report
            .steps
            .iter()
            .any(|st| st.name == "account" && st.status == StepStatus::Passed)
    );
}

#[tokio::test]
async fn no_tokens_at_all_means_reauth_required_at_authentication() {
    let s = setup().await;
    let auth = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let report = test_report(&GoogleDrive, &spec("dest_drive", s.config(json!({})), auth)).await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("authentication", Some(ErrorKind::ReauthRequired))
    );
}

#[tokio::test]
async fn a_folder_path_is_resolved_by_name_under_folder_id() {
    let s = setup().await;
    let reports = s.fake.add_folder("Reports", true);
    let courier = s.fake.add_folder_in(&reports, "Courier's files", true);
    let dest = s
        .destination(json!({"folder_id": "root", "folder_path": "Reports/Courier's files"}))
        .await;
    reference(&dest.deliver(&Batch::new("path-1", records(1))).await);
    reference(&dest.deliver(&Batch::new("path-2", records(1))).await);
    let files = s.fake.files();
    assert!(
        files.iter().all(|f| f.parents == vec![courier.clone()]),
        "{files:?}"
    );
    let lookups = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/drive/v3/files" && r.query.contains("mimeType"))
        .count();
    assert_eq!(
        lookups, 2,
        "two names, looked up once for the client's lifetime"
    );

    let report = test_report(
        &GoogleDrive,
        &spec(
            "d",
            s.config(json!({"folder_id": "root", "folder_path": "Reports/Nope"})),
            s.auth(),
        ),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("folder", Some(ErrorKind::NotFound))
    );
    assert!(failed.message.contains("\"Nope\""), "{failed:?}");

    // Two folders with one name: the path is ambiguous, and the connector says so.
    s.fake.add_folder("Reports", true);
    let report = test_report(
        &GoogleDrive,
        &spec(
            "d",
            s.config(json!({"folder_id": "root", "folder_path": "Reports/Courier's files"})),
            s.auth(),
        ),
    )
    .await;
    let failed = report.failed_step().unwrap();
    assert_eq!(
        (failed.name.as_str(), failed.error_kind),
        ("folder", Some(ErrorKind::InvalidConfig))
    );
    assert!(failed.message.contains("ambiguous"), "{failed:?}");
}
