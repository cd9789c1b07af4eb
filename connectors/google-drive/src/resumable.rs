//! Resumable uploads for files above 5 MiB: open a session (its URL comes back in `Location`),
//! send chunks of `chunk_size_bytes` (256 KiB multiples) with `Content-Range`, follow the
//! server's `Range` on each 308, and after a failed chunk ask where the server stands
//! (`bytes */total`) and resend from there. Memory stays at about four chunks.
//!
//! The protocol is `courier_files::google_session`'s and the resume loop
//! `courier_files::resume`'s. Session URLs carry their own authorization: no bearer token is
//! sent to them, and they are never logged.

use courier_core::{Batch, ConnectorError};
use courier_files::google_session::GoogleSession;
use courier_files::resume::send_chunks;
use courier_files::{ChunkReader, PlannedFile};
use serde_json::Value;

use crate::client::DriveClient;
use crate::errors::{SERVICE, classify, from_response};
use crate::upload::Target;

pub async fn upload(
    client: &DriveClient,
    batch: &Batch,
    file: &PlannedFile,
    target: &Target,
) -> Result<Value, ConnectorError> {
    let cfg = &client.config;
    let mut chunks = ChunkReader::streamed(batch, file, &cfg.layout, cfg.chunk_size_bytes as usize);
    let opened = open(client, target, chunks.total()).await?;
    let failed = |status: u16, retry_after: Option<&str>, body: &str| {
        classify(&client.op("upload a chunk"), status, retry_after, body)
    };
    let session = GoogleSession::opened(SERVICE, &opened, |url| client.api.plain(url), &failed)?;
    send_chunks(SERVICE, &session, &mut chunks).await
}

async fn open(
    client: &DriveClient,
    target: &Target,
    total: Option<u64>,
) -> Result<reqwest::Response, ConnectorError> {
    let url = client.url(&target.path("resumable"));
    let metadata = target.metadata.to_string();
    let response = client
        .api
        .send(|http, token| {
            let mut request = http
                .request(target.method(), &url)
                .bearer_auth(token)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                )
                .header("X-Upload-Content-Type", target.media_type)
                .body(metadata.clone());
            if let Some(total) = total {
                request = request.header("X-Upload-Content-Length", total);
            }
            request
        })
        .await?;
    if !response.status().is_success() {
        return Err(from_response(&client.op("start a resumable upload"), response).await);
    }
    Ok(response)
}
