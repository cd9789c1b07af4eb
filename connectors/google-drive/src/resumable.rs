//! Resumable uploads for files above 5 MiB: open a session (its URL comes back in `Location`),
//! send chunks of `chunk_size_bytes` (256 KiB multiples) with `Content-Range`, follow the
//! server's `Range` on each 308, and after a failed chunk ask where the server stands
//! (`bytes */total`) and resend from there. Memory stays at about four chunks.
//!
//! Resuming inside one delivery is the point of the protocol, so this is the one place the
//! connector waits and tries again (bounded; after that the runtime retries the delivery,
//! which opens a new session). Session URLs carry their own authorization: no bearer token is
//! sent to them, and they are never logged.

use std::time::Duration;

use courier_core::{Batch, ConnectorError, ErrorKind};
use courier_files::{Chunk, ChunkReader, PlannedFile};
use courier_oauth::transport_error;
use reqwest::StatusCode;
use serde_json::Value;

use crate::client::DriveClient;
use crate::errors::{classify, from_response};
use crate::upload::{Target, read_json};

/// Failed chunks resumed per file before the delivery fails (and is retried as a whole).
const MAX_RESUMES: u32 = 6;
/// The longest `Retry-After` waited for inside an upload; longer ones end the attempt.
const MAX_WAIT: Duration = Duration::from_secs(60);

enum Progress {
    /// The server has bytes up to (not including) this offset.
    Received(u64),
    Done(Value),
}

pub async fn upload(
    client: &DriveClient,
    batch: &Batch,
    file: &PlannedFile,
    target: &Target,
) -> Result<Value, ConnectorError> {
    let cfg = &client.config;
    let mut chunks = ChunkReader::streamed(batch, file, &cfg.layout, cfg.chunk_size_bytes as usize);
    let session = open(client, target, chunks.total()).await?;
    let mut resumes = 0;
    while let Some(chunk) = chunks.next().await? {
        let total = if chunk.last {
            Some(chunk.end())
        } else {
            chunks.total()
        };
        let mut from = chunk.offset;
        loop {
            let result = match put(client, &session, &chunk, from, total).await {
                Ok(progress) => Ok(progress),
                Err(e) if resumable(&e) && resumes < MAX_RESUMES => {
                    resumes += 1;
                    pause(&e, resumes).await?;
                    tracing::debug!(
                        offset = from,
                        resumes,
                        "Drive chunk failed; asking where the upload stands"
                    );
                    status(client, &session, total).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(Progress::Done(answer)) if chunk.last => return Ok(answer),
                Ok(Progress::Done(_)) => {
                    return Err(ConnectorError::internal(
                        "Google Drive completed the upload before its last chunk",
                    ));
                }
                Ok(Progress::Received(n)) if n >= chunk.end() && !chunk.last => break,
                Ok(Progress::Received(n)) if (chunk.offset..chunk.end()).contains(&n) => {
                    // The server kept part of the chunk: send the rest. No progress at all
                    // counts against the resume budget, so a stuck session cannot loop.
                    if n <= from {
                        resumes += 1;
                        if resumes > MAX_RESUMES {
                            return Err(stalled(n));
                        }
                    }
                    from = n;
                }
                Ok(Progress::Received(n)) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Unavailable,
                        format!(
                            "Google Drive reports {n} bytes received where {}..{} were expected",
                            chunk.offset,
                            chunk.end()
                        ),
                        "the delivery is retried with a new upload session",
                    ));
                }
                Err(e) if resumable(&e) && resumes < MAX_RESUMES => {
                    // The status query failed too: try the chunk again after the next pause.
                }
                Err(e) => return Err(e),
            }
        }
    }
    Err(ConnectorError::internal(
        "the file ended without a last chunk",
    ))
}

const SESSION_GONE: &str = "the Google Drive upload session expired or was refused";

fn session_gone() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        SESSION_GONE,
        "the delivery is retried with a new session",
    )
}

/// Whether resuming can help: not once the session itself is gone.
fn resumable(e: &ConnectorError) -> bool {
    e.is_retryable() && e.message != SESSION_GONE
}

fn stalled(at: u64) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("the Google Drive upload made no progress past byte {at}"),
        "the delivery is retried with a new upload session",
    )
}

/// Waits before resuming: the server's `Retry-After` when it gave one, else backoff.
async fn pause(e: &ConnectorError, resumes: u32) -> Result<(), ConnectorError> {
    let wait = match e.retry_after {
        Some(wait) if wait > MAX_WAIT => return Err(e.clone()),
        Some(wait) => wait,
        None => Duration::from_millis(250 << resumes.min(5)),
    };
    tokio::time::sleep(wait).await;
    Ok(())
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

async fn put(
    client: &DriveClient,
    session: &str,
    chunk: &Chunk,
    from: u64,
    total: Option<u64>,
) -> Result<Progress, ConnectorError> {
    let data = chunk.data.slice((from - chunk.offset) as usize..);
    let range = format!(
        "bytes {from}-{}/{}",
        from + data.len() as u64 - 1,
        total_text(total)
    );
    let response = client
        .api
        .http()
        .put(session)
        .header(reqwest::header::CONTENT_RANGE, range)
        .body(data)
        .send()
        .await
        .map_err(|e| transport_error("Google Drive", e))?;
    progress(client, response).await
}

/// Asks the session how many bytes it holds.
async fn status(
    client: &DriveClient,
    session: &str,
    total: Option<u64>,
) -> Result<Progress, ConnectorError> {
    let response = client
        .api
        .http()
        .put(session)
        .header(
            reqwest::header::CONTENT_RANGE,
            format!("bytes */{}", total_text(total)),
        )
        .header(reqwest::header::CONTENT_LENGTH, 0)
        .send()
        .await
        .map_err(|e| transport_error("Google Drive", e))?;
    progress(client, response).await
}

async fn progress(
    client: &DriveClient,
    response: reqwest::Response,
) -> Result<Progress, ConnectorError> {
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
        StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::UNAUTHORIZED => Err(session_gone()),
        _ => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response.text().await.unwrap_or_default();
            Err(classify(
                &client.op("upload a chunk"),
                status,
                retry_after.as_deref(),
                &body,
            ))
        }
    }
}
