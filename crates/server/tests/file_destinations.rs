//! Events routed to file destinations end to end: an S3 bucket on moto and a directory on
//! OpenSSH's sshd receive the events' mapped payloads, batched into files by record count, by
//! bytes, or by age.

mod support;

use std::time::{Duration, Instant};

use courier_testbed::{moto, sshd};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn route_to(server: &TestServer, destination: Value) -> String {
    route_types(server, destination, json!(["order.*"])).await
}

async fn route_types(server: &TestServer, destination: Value, types: Value) -> String {
    let (status, d) = server
        .call(
            Method::POST,
            &server.path("/destinations"),
            Some(destination),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": format!("to {id}"), "destination_id": id, "event_types": types,
                        "field_mapping": [{"source": "customer.email", "target": "email"}, {"source": "secret", "drop": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    id
}

async fn send(server: &TestServer) {
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 1, "customer": {"email": "a@x.io"}, "secret": "s"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

const MAPPED: &str = r#"{"id":1,"email":"a@x.io"}"#;

#[tokio::test]
async fn events_arrive_mapped_in_s3_and_over_sftp() {
    let server = TestServer::start(&Backend::Sqlite).await;

    // S3 on moto.
    let (s3, bucket, config, auth) = new_bucket().await;
    route_to(
        &server,
        json!({"name": "Lake", "destination_type": "s3", "config": config, "auth_config": auth,
               "batch_max_age_ms": 200}),
    )
    .await;

    // SFTP on sshd.
    let sshd = sshd::sshd();
    let directory = format!("routes-{}", std::process::id());
    route_to(
        &server,
        json!({"name": "Partner", "destination_type": "sftp",
               "config": {"host": sshd.host, "port": sshd.port,
                          "username": sshd.user, "directory": directory, "create_directories": true,
                          "host_key_fingerprint": sshd.fingerprint, "file_name_template": "{batch_id}.{ext}"},
               "auth_config": {"password": sshd.password},
               "batch_max_age_ms": 200}),
    )
    .await;

    send(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let sftp_dir = sshd.root.join(&directory);
    loop {
        let objects = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix("events/")
            .send()
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&sftp_dir)
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        if objects.contents().len() == 1 && files.len() == 1 {
            let key = objects.contents()[0].key().unwrap().to_string();
            let object = s3
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            let bytes = object.body.collect().await.unwrap().into_bytes();
            assert_eq!(String::from_utf8_lossy(&bytes), format!("{MAPPED}\n"));
            assert_eq!(
                std::fs::read_to_string(files[0].path()).unwrap(),
                format!("{MAPPED}\n")
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "files did not arrive: {} objects, {} files",
            objects.contents().len(),
            files.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, delivered) = server
        .call(
            Method::GET,
            &server.path("/deliveries?status=delivered"),
            None,
        )
        .await;
    let references: Vec<String> = delivered["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(references.len(), 2);
}

/// An S3 client on moto, a fresh bucket, and a destination's config (files under `events/`
/// named by batch) and auth for it.
async fn new_bucket() -> (aws_sdk_s3::Client, String, Value, Value) {
    let moto = moto::moto();
    let bucket = moto.new_bucket().await;
    let mut config = moto.s3_config(&bucket);
    config["prefix"] = json!("events/");
    config["key_template"] = json!("{batch_id}.{ext}");
    (moto.s3(), bucket, config, moto.auth())
}

/// The objects under `events/`, each as its lines.
async fn files(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<Vec<String>> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("events/")
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for o in listed.contents() {
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        out.push(
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect(),
        );
    }
    out
}

async fn wait_for_files(s3: &aws_sdk_s3::Client, bucket: &str, n: usize) -> Vec<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = files(s3, bucket).await;
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{} of {n} files", found.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The destination's deliveries once `n` of them are in `status`.
async fn wait_for_deliveries(
    server: &TestServer,
    destination: &str,
    status: &str,
    n: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, listed) = server
            .call(
                Method::GET,
                &server.path(&format!(
                    "/deliveries?destination_id={destination}&status={status}"
                )),
                None,
            )
            .await;
        let found = listed["data"].as_array().expect("deliveries").clone();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} deliveries {status}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn file_destinations_batch_by_count_bytes_and_age() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let events = |n: usize, kind: &str| json!({"events": (0..n).map(|i| json!({"type": format!("order.{kind}"), "payload": {"i": i}})).collect::<Vec<_>>()});

    // By count: three events make one file at once, though the age limit is a minute away.
    let (s3, bucket, config, auth) = new_bucket().await;
    let count = route_types(
        &server,
        json!({"name": "Count", "destination_type": "s3", "config": config, "auth_config": auth,
                             "batch_max_records": 3, "batch_max_age_ms": 60000}),
        json!(["order.count"]),
    )
    .await;
    let (status, _) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(events(3, "count")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let found = wait_for_files(&s3, &bucket, 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["{\"i\":0}", "{\"i\":1}", "{\"i\":2}"]);
    wait_for_deliveries(&server, &count, "delivered", 3).await;
    // Two more wait for company: nothing is written before their minute is up. Their
    // deliveries are stored claimed for this server's lane, with no attempt.
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(events(2, "count")),
        )
        .await;
    let held = wait_for_deliveries(&server, &count, "in_flight", 2).await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|d| d["attempt_count"] == 0), "{held:?}");
    assert_eq!(
        files(&s3, &bucket).await.len(),
        1,
        "a partial batch waits for its age limit"
    );
    // A third makes the batch full: the two held ones go with it, in one file. Had they gone
    // on their own, a file of two would be here.
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.count", "payload": {"i": 2}})),
        )
        .await;
    let found = wait_for_files(&s3, &bucket, 2).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|f| f == &["{\"i\":0}", "{\"i\":1}", "{\"i\":2}"]),
        "the held pair went with the third: {found:?}"
    );

    // By age: two events wait 300 ms, then go as one file.
    let (s3, bucket, config, auth) = new_bucket().await;
    route_types(
        &server,
        json!({"name": "Age", "destination_type": "s3", "config": config, "auth_config": auth,
                             "batch_max_records": 100, "batch_max_age_ms": 300}),
        json!(["order.age"]),
    )
    .await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(events(2, "age")),
        )
        .await;
    let found = wait_for_files(&s3, &bucket, 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 2);

    // By bytes: over the byte limit, records go at once, in batches within it.
    let (s3, bucket, config, auth) = new_bucket().await;
    route_types(&server, json!({"name": "Bytes", "destination_type": "s3", "config": config, "auth_config": auth,
                             "batch_max_records": 100, "batch_max_bytes": 16, "batch_max_age_ms": 60000}), json!(["order.bytes"])).await;
    server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(events(4, "bytes")),
        )
        .await;
    let found = wait_for_files(&s3, &bucket, 2).await;
    assert!(found.iter().all(|f| f.len() <= 2), "{found:?}");
    assert_eq!(found.iter().map(Vec::len).sum::<usize>(), 4);
}

/// With `record_envelope` every line of a file names the event it came from: its type, id and
/// accept time, beside the delivery id and the mapped payload.
#[tokio::test]
async fn a_record_envelope_names_each_lines_event() {
    let server = TestServer::start(&Backend::Sqlite).await;
    let (s3, bucket, mut config, auth) = new_bucket().await;
    config["format"] = json!("ndjson");
    config["record_envelope"] = json!(true);
    route_to(
        &server,
        json!({"name": "Lake", "destination_type": "s3", "config": config, "auth_config": auth,
               "batch_max_age_ms": 200}),
    )
    .await;
    let (status, accepted) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 1, "customer": {"email": "a@x.io"}, "secret": "s"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let found = wait_for_files(&s3, &bucket, 1).await;
    assert_eq!(found[0].len(), 1, "{found:?}");
    let line: Value = serde_json::from_str(&found[0][0]).unwrap();
    assert_eq!(line["type"], "order.created");
    assert_eq!(line["event_id"], accepted["id"]);
    assert_eq!(line["data"], serde_json::from_str::<Value>(MAPPED).unwrap());
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    let (_, deliveries) = server
        .call(Method::GET, &server.path("/deliveries"), None)
        .await;
    assert_eq!(line["id"], deliveries["data"][0]["id"], "{deliveries}");
}
