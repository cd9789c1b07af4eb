//! Events routed to file destinations end to end: an S3 bucket on moto and a directory on
//! OpenSSH's sshd receive each event's mapped payload as a file named after its delivery.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `cargo xtask test`"))
}

async fn route_to(server: &TestServer, destination: Value) -> String {
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
            Some(json!({"name": format!("to {id}"), "destination_id": id, "event_types": ["order.*"],
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

const MAPPED: &str = r#"{"id":1,"customer":{},"email":"a@x.io"}"#;

#[tokio::test]
async fn events_arrive_mapped_in_s3_and_over_sftp() {
    let server = TestServer::start(&Backend::Sqlite).await;

    // S3 on moto.
    let (url, key_id, secret) = (
        var("COURIER_TEST_MOTO_URL"),
        var("COURIER_TEST_AWS_ACCESS_KEY_ID"),
        var("COURIER_TEST_AWS_SECRET_ACCESS_KEY"),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(&key_id, &secret, None, None, "tests"))
            .endpoint_url(&url)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("courier-routes-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    route_to(
        &server,
        json!({"name": "Lake", "destination_type": "s3",
               "config": {"bucket": bucket, "region": "us-east-1", "endpoint_url": url, "force_path_style": true,
                          "prefix": "events/", "key_template": "{batch_id}.{ext}"},
               "auth_config": {"access_key_id": key_id, "secret_access_key": secret}}),
    )
    .await;

    // SFTP on sshd.
    let directory = format!("routes-{}", std::process::id());
    route_to(
        &server,
        json!({"name": "Partner", "destination_type": "sftp",
               "config": {"host": var("COURIER_TEST_SFTP_HOST"), "port": var("COURIER_TEST_SFTP_PORT").parse::<u16>().unwrap(),
                          "username": var("COURIER_TEST_SFTP_USER"), "directory": directory, "create_directories": true,
                          "host_key_fingerprint": var("COURIER_TEST_SFTP_FINGERPRINT"), "file_name_template": "{batch_id}.{ext}"},
               "auth_config": {"password": var("COURIER_TEST_SFTP_PASSWORD")}}),
    )
    .await;

    send(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let sftp_dir = std::path::Path::new(&var("COURIER_TEST_SFTP_ROOT")).join(&directory);
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
