//! Runs the shared conformance suite against the `onedrive` connector, writing into a temporary
//! directory and reading the files back from it.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use courier_conformance::{Fixture, suite};
use courier_connector_onedrive::{Onedrive, files};
use courier_core::Record;
use futures::FutureExt;
use serde_json::json;

/// The fixture the suite runs against: a fresh temporary directory and a way to read it back.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let path = dir
        .path()
        .to_str()
        .expect("temporary directory path is UTF-8")
        .to_string();
    let missing = format!("{path}/does-not-exist");
    // The read-back closure owns the directory, so it is removed once the suite drops the fixture.
    let dir = Arc::new(dir);
    let counted = Arc::clone(&dir);
    Fixture {
        connector: Arc::new(Onedrive),
        config: json!({ "directory": path }),
        auth_config: json!({}),
        // No credentials, so none to get wrong, and no secret to watch for.
        bad_auth_config: None,
        unreachable_config: Some(json!({ "directory": missing })),
        secret_sentinel: None,
        read_back: Some(Arc::new(move |records: Vec<Record>| {
            let dir = Arc::clone(&dir);
            async move { read_back(dir.path(), &records).await }.boxed()
        })),
        stored_count: Some(Arc::new(move || {
            let dir = Arc::clone(&counted);
            async move { count_files(dir.path()).await }.boxed()
        })),
    }
}

/// How many delivered files the directory holds (probe files are removed by the test step).
async fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(_)) = entries.next_entry().await {
            count += 1;
        }
    }
    count
}

/// For each record, the content of its file, or `None` when there is none. When a record was
/// delivered in several batches, the newest file wins.
async fn read_back(dir: &Path, records: &[Record]) -> Vec<Option<Bytes>> {
    let mut names = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let mut found = Vec::with_capacity(records.len());
    for record in records {
        let mut newest = None;
        for name in names.iter().filter(|n| files::is_file_of(n, &record.id)) {
            let path = dir.join(name);
            let modified = tokio::fs::metadata(&path)
                .await
                .and_then(|m| m.modified())
                .ok();
            if newest.as_ref().is_none_or(|(time, _)| modified > *time) {
                newest = Some((modified, path));
            }
        }
        let content = match newest {
            Some((_, path)) => tokio::fs::read(&path).await.ok().map(Bytes::from),
            None => None,
        };
        found.push(content);
    }
    found
}

suite!(fixture);
