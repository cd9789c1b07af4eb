//! Writing one planned file through the JSON API: a multipart upload (metadata and bytes in one
//! request) up to the chunk size, otherwise a resumable upload fed chunk by chunk from the
//! streaming encoder, so memory stays at a few chunks whatever the file size. An upload that
//! fails before its last chunk creates no object (GCS discards unfinished sessions; the
//! delivery is retried with a new one), and a
//! session URL the service hands back is checked by the guard before anything is sent to it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use courier_core::{Batch, ConnectorError, Delivered, ErrorKind};
use courier_files::google_session::GoogleSession;
use courier_files::resume::send_chunks;
use courier_files::{ChunkReader, PlannedFile};
use serde_json::{Value, json};

use crate::client::GcsClient;
use crate::errors::{Op, SERVICE, classify_status, send};

const ALREADY_PRESENT: &str = " (already present)";

/// What a new object is: its name and the metadata set on it.
pub struct NewObject<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub content_encoding: Option<&'a str>,
}

pub async fn upload(
    client: &GcsClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Delivered, ConnectorError> {
    let cfg = &client.config;
    let name = client.object_name(&file.key);
    let started = Instant::now();
    let object = NewObject {
        name: &name,
        content_type: file.content_type,
        content_encoding: file.content_encoding,
    };
    let written = if file.encoded_len <= cfg.chunk_size_bytes {
        let bytes = file.encode(batch, &cfg.files).await?;
        write_small(client, &object, bytes).await.map(|()| "")
    } else {
        write_resumable(client, &object, batch, file)
            .await
            .map(|()| " (resumable)")
    };
    let note = match written {
        Ok(note) => note,
        Err(e) if cfg.create_only && e.kind == ErrorKind::Conflict => ALREADY_PRESENT,
        Err(e) => return Err(e),
    };
    Ok(Delivered {
        reference: format!("{}{note}", client.url_of(&name)),
        status: None,
        latency: started.elapsed(),
        response_body: None,
    })
}

/// The object resource sent with an upload.
fn resource(client: &GcsClient, object: &NewObject<'_>) -> Value {
    let mut resource = json!({"name": object.name, "contentType": object.content_type});
    if let Some(encoding) = object.content_encoding {
        resource["contentEncoding"] = json!(encoding);
    }
    if let Some(class) = client.config.storage_class {
        resource["storageClass"] = json!(class.as_str());
    }
    resource
}

/// The query of an upload: its type, and with create_only the precondition that no live
/// object has the name (`ifGenerationMatch=0`), which GCS answers with 412 otherwise.
fn query(client: &GcsClient, upload_type: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut query = vec![("uploadType", upload_type)];
    if client.config.create_only {
        query.push(("ifGenerationMatch", "0"));
    }
    query
}

/// One request with the metadata and the bytes (`multipart/related`).
pub async fn write_small(
    client: &GcsClient,
    object: &NewObject<'_>,
    bytes: Vec<u8>,
) -> Result<(), ConnectorError> {
    let op = Op {
        action: "write",
        bucket: &client.config.bucket,
        object: Some(object.name),
    };
    let metadata = resource(client, object).to_string();
    let boundary = boundary_for(&bytes);
    let mut body = Vec::with_capacity(bytes.len() + metadata.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\ncontent-type: {}\r\n\r\n",
            object.content_type
        )
        .as_bytes(),
    );
    body.extend_from_slice(&bytes);
    drop(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let headers = client.auth_headers().await?;
    let request = client
        .http
        .post(client.upload_url())
        .query(&query(client, "multipart"))
        .headers(headers)
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/related; boundary={boundary}"),
        )
        .body(body);
    let answer = send(&op, request, &[]).await?;
    // Read (capped) so the connection can be used again; the object's resource is not needed.
    let _ = courier_net::body::read_capped(answer, courier_net::body::JSON_BODY_CAP).await;
    Ok(())
}

/// A multipart boundary that does not occur in the bytes.
fn boundary_for(bytes: &[u8]) -> String {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut n = 0u32;
    loop {
        let boundary = format!("courier_{seed:x}_{n}");
        if memchr::memmem::find(bytes, boundary.as_bytes()).is_none() {
            return boundary;
        }
        n += 1;
    }
}

/// A resumable session: opened with the metadata, then fed chunks of `chunk_size_bytes`.
async fn write_resumable(
    client: &GcsClient,
    object: &NewObject<'_>,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<(), ConnectorError> {
    let cfg = &client.config;
    let op = Op {
        action: "write",
        bucket: &cfg.bucket,
        object: Some(object.name),
    };
    let mut chunks = ChunkReader::streamed(batch, file, &cfg.files, cfg.chunk_size_bytes as usize);
    let headers = client.auth_headers().await?;
    let mut request = client
        .http
        .post(client.upload_url())
        .query(&query(client, "resumable"))
        .headers(headers)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=UTF-8",
        )
        .header("X-Upload-Content-Type", object.content_type)
        .body(resource(client, object).to_string());
    if let Some(total) = chunks.total() {
        request = request.header("X-Upload-Content-Length", total);
    }
    let opened = send(&op, request, &[]).await?;
    let failed =
        |status: u16, _retry_after: Option<&str>, _body: &str| classify_status(&op, status);
    let session = GoogleSession::opened(
        SERVICE,
        &opened,
        |url| {
            courier_net::check_url(SERVICE, url, client.allow_private)?;
            Ok(&client.http)
        },
        &failed,
    )?
    // A failed chunk fails the attempt, which the delivery policy retries with a new session.
    // Resuming in place needs status queries (`bytes */total`), which the emulator the tests
    // run against answers by completing the object with the bytes it holds: untestable here.
    .without_resuming();
    send_chunks(SERVICE, &session, &mut chunks).await.map(drop)
}
