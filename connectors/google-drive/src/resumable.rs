//! Resumable uploads for files above 5 MiB: open a session (its URL comes back in `Location`),
//! send chunks of `chunk_size_bytes` (256 KiB multiples) with `Content-Range`, follow the
//! server's `Range` on each 308, and after a failed chunk ask where the server stands
//! (`bytes */total`) and resend from there. Memory stays at about four chunks.
//!
//! The resume loop is `courier_files::resume`'s. Session URLs carry their own authorization:
//! no bearer token is sent to them, and they are never logged.

use courier_core::{Batch, ConnectorError, ErrorKind};
use courier_files::resume::{Progress, UploadSession, send_chunks, session_gone};
use courier_files::{Chunk, ChunkReader, PlannedFile};
use courier_oauth::transport_error;
use reqwest::StatusCode;
use serde_json::Value;

use crate::client::DriveClient;
use crate::errors::{classify, from_response};
use crate::upload::{Target, read_json};

const SERVICE: &str = "Google Drive";

pub async fn upload(
    client: &DriveClient,
    batch: &Batch,
    file: &PlannedFile,
    target: &Target,
) -> Result<Value, ConnectorError> {
    let cfg = &client.config;
    let mut chunks = ChunkReader::streamed(batch, file, &cfg.layout, cfg.chunk_size_bytes as usize);
    let url = open(client, target, chunks.total()).await?;
    send_chunks(SERVICE, &Session { client, url }, &mut chunks).await
}

/// An open resumable session: its URL, which carries its own authorization.
struct Session<'a> {
    client: &'a DriveClient,
    url: String,
}

impl UploadSession for Session<'_> {
    type Done = Value;

    async fn put(
        &self,
        chunk: &Chunk,
        from: u64,
        total: Option<u64>,
    ) -> Result<Progress<Value>, ConnectorError> {
        let data = chunk.data.slice((from - chunk.offset) as usize..);
        let range = format!(
            "bytes {from}-{}/{}",
            from + data.len() as u64 - 1,
            total_text(total)
        );
        let response = self
            .client
            .api
            .plain(&self.url)?
            .put(&self.url)
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(data)
            .send()
            .await
            .map_err(|e| transport_error(SERVICE, e))?;
        progress(self.client, response).await
    }

    /// Asks the session how many bytes it holds (`bytes */total`).
    async fn status(&self, total: Option<u64>) -> Result<Progress<Value>, ConnectorError> {
        let response = self
            .client
            .api
            .plain(&self.url)?
            .put(&self.url)
            .header(
                reqwest::header::CONTENT_RANGE,
                format!("bytes */{}", total_text(total)),
            )
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| transport_error(SERVICE, e))?;
        progress(self.client, response).await
    }
}

async fn open(
    client: &DriveClient,
    target: &Target,
    total: Option<u64>,
) -> Result<String, ConnectorError> {
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
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unavailable,
                "Google Drive opened an upload session without a Location",
                "the delivery is retried",
            )
        })
}

fn total_text(total: Option<u64>) -> String {
    total.map_or_else(|| "*".to_string(), |t| t.to_string())
}

async fn progress(
    client: &DriveClient,
    response: reqwest::Response,
) -> Result<Progress<Value>, ConnectorError> {
    match response.status() {
        StatusCode::OK | StatusCode::CREATED => Ok(Progress::Done(read_json(response).await?)),
        StatusCode::PERMANENT_REDIRECT => {
            let received = response
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.strip_prefix("bytes=0-"))
                .and_then(|end| end.parse::<u64>().ok())
                .map_or(0, |end| end + 1);
            Ok(Progress::Received(received))
        }
        // The session URL carries its own authorization: a 401 there, like a 404 or 410, means
        // the session is over, not that the account's grant was revoked.
        StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::UNAUTHORIZED => {
            Err(session_gone(SERVICE))
        }
        _ => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = courier_oauth::body::error_text(response).await;
            Err(classify(
                &client.op("upload a chunk"),
                status,
                retry_after.as_deref(),
                &body,
            ))
        }
    }
}
