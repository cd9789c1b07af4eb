//! Upload sessions for files above 4 MiB: `createUploadSession` (with the conflict behavior),
//! fragments of `chunk_size_bytes` (320 KiB multiples) with the file's total in every
//! `Content-Range`, following `nextExpectedRanges`; after a failed fragment, a GET on the upload
//! URL says where the server stands and the fragment is resent from there. A session that fails
//! for good is cancelled (DELETE), leaving nothing behind.
//!
//! Graph needs the total size up front, so a compressed file is written to an anonymous
//! temporary file first (its size is known only once compressed); an uncompressed file streams.
//! Resuming inside one delivery is the point of the protocol, so this is the one place the
//! connector waits and tries again (bounded, honouring `Retry-After`). Upload URLs are
//! pre-authorized: no bearer token is sent to them, and they are never logged.

use std::time::Duration;

use courier_core::{Batch, ConnectorError, ErrorKind};
use courier_files::{Chunk, ChunkReader, PlannedFile};
use courier_oauth::transport_error;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{GraphClient, read_json};
use crate::errors::{classify, from_response};

/// Failed fragments resumed per file before the delivery fails (and is retried as a whole).
const MAX_RESUMES: u32 = 6;
/// The longest `Retry-After` waited for inside an upload; longer ones end the attempt.
const MAX_WAIT: Duration = Duration::from_secs(60);

enum Progress {
    /// The server expects this offset next.
    Received(u64),
    Done(Value),
}

pub async fn upload(
    client: &GraphClient,
    batch: &Batch,
    file: &PlannedFile,
) -> Result<Value, ConnectorError> {
    let cfg = &client.config;
    let mut chunks =
        ChunkReader::with_total(batch, file, &cfg.layout, cfg.chunk_size_bytes as usize).await?;
    let total = chunks
        .total()
        .ok_or_else(|| ConnectorError::internal("the file's size is unknown"))?;
    let session = open(client, &file.key).await?;
    let result = send(client, &session, &mut chunks, total).await;
    if result.is_err() {
        cancel(client, &session).await;
    }
    result
}

/// Opens an upload session for `name`, returning its pre-authorized upload URL.
pub(crate) async fn open(client: &GraphClient, name: &str) -> Result<String, ConnectorError> {
    let url = client.file_url(name, "createUploadSession");
    let body = json!({"item": {"@microsoft.graph.conflictBehavior": client.config.conflict_behavior.as_str()}})
        .to_string();
    let response = client
        .api
        .send(|http, token| {
            http.post(&url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await?;
    if !response.status().is_success() {
        return Err(from_response(&client.op("open an upload session"), response).await);
    }
    let v = read_json(response).await?;
    v["uploadUrl"].as_str().map(str::to_string).ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            "Microsoft Graph opened an upload session without an uploadUrl",
            "the delivery is retried",
        )
    })
}

/// Cancels a session so no partial upload lingers; failures are only logged.
pub(crate) async fn cancel(client: &GraphClient, session: &str) {
    match client.api.http().delete(session).send().await {
        Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {}
        Ok(r) => tracing::warn!(
            status = r.status().as_u16(),
            "could not cancel a Graph upload session"
        ),
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "could not cancel a Graph upload session")
        }
    }
}

async fn send(
    client: &GraphClient,
    session: &str,
    chunks: &mut ChunkReader,
    total: u64,
) -> Result<Value, ConnectorError> {
    let mut resumes = 0;
    while let Some(chunk) = chunks.next().await? {
        let mut from = chunk.offset;
        loop {
            let result = match put(client, session, &chunk, from, total).await {
                Ok(p) => Ok(p),
                Err(e) if resumable(&e) && resumes < MAX_RESUMES => {
                    resumes += 1;
                    pause(&e, resumes).await?;
                    tracing::debug!(
                        offset = from,
                        resumes,
                        "Graph fragment failed; asking where the upload stands"
                    );
                    status(client, session, total).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(Progress::Done(answer)) if chunk.last => return Ok(answer),
                Ok(Progress::Done(_)) => {
                    return Err(ConnectorError::internal(
                        "Microsoft Graph completed the upload before its last fragment",
                    ));
                }
                Ok(Progress::Received(n)) if n >= chunk.end() && !chunk.last => break,
                Ok(Progress::Received(n)) if (chunk.offset..chunk.end()).contains(&n) => {
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
                            "Microsoft Graph expects byte {n} where {}..{} were being sent",
                            chunk.offset,
                            chunk.end()
                        ),
                        "the delivery is retried with a new upload session",
                    ));
                }
                Err(e) if resumable(&e) && resumes < MAX_RESUMES => {}
                Err(e) => return Err(e),
            }
        }
    }
    Err(ConnectorError::internal(
        "the file ended without a last fragment",
    ))
}

fn stalled(at: u64) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("the Graph upload made no progress past byte {at}"),
        "the delivery is retried with a new upload session",
    )
}

async fn pause(e: &ConnectorError, resumes: u32) -> Result<(), ConnectorError> {
    let wait = match e.retry_after {
        Some(wait) if wait > MAX_WAIT => return Err(e.clone()),
        Some(wait) => wait,
        None => Duration::from_millis(250 << resumes.min(5)),
    };
    tokio::time::sleep(wait).await;
    Ok(())
}

async fn put(
    client: &GraphClient,
    session: &str,
    chunk: &Chunk,
    from: u64,
    total: u64,
) -> Result<Progress, ConnectorError> {
    let data = chunk.data.slice((from - chunk.offset) as usize..);
    let range = format!("bytes {from}-{}/{total}", from + data.len() as u64 - 1);
    let response = client
        .api
        .http()
        .put(session)
        .header(reqwest::header::CONTENT_RANGE, range)
        .body(data)
        .send()
        .await
        .map_err(|e| transport_error("Microsoft Graph", e))?;
    match response.status() {
        StatusCode::OK | StatusCode::CREATED => Ok(Progress::Done(read_json(response).await?)),
        StatusCode::ACCEPTED => Ok(Progress::Received(next_expected(
            &read_json(response).await?,
            total,
        )?)),
        // The server already has some of these bytes: ask where it stands.
        StatusCode::RANGE_NOT_SATISFIABLE => status(client, session, total).await,
        _ => Err(failure(client, response).await),
    }
}

/// Asks the session which byte it expects next.
async fn status(
    client: &GraphClient,
    session: &str,
    total: u64,
) -> Result<Progress, ConnectorError> {
    let response = client
        .api
        .http()
        .get(session)
        .send()
        .await
        .map_err(|e| transport_error("Microsoft Graph", e))?;
    if response.status() != StatusCode::OK {
        return Err(failure(client, response).await);
    }
    Ok(Progress::Received(next_expected(
        &read_json(response).await?,
        total,
    )?))
}

/// The start of the first of `nextExpectedRanges` (`"26-"`, `"26-127"`); an empty list: the
/// total. Anything else is not an answer to build on.
fn next_expected(v: &Value, total: u64) -> Result<u64, ConnectorError> {
    let ranges = v["nextExpectedRanges"].as_array();
    if ranges.is_some_and(Vec::is_empty) {
        return Ok(total);
    }
    ranges
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unavailable,
                "Microsoft Graph answered a fragment without nextExpectedRanges",
                "the delivery is retried with a new session",
            )
        })
}

const SESSION_GONE: &str = "the Graph upload session expired, was cancelled or was refused";

/// Whether resuming can help: not once the session itself is gone.
fn resumable(e: &ConnectorError) -> bool {
    e.is_retryable() && e.message != SESSION_GONE
}

async fn failure(client: &GraphClient, response: reqwest::Response) -> ConnectorError {
    // The upload URL is pre-authorized: a 401 there means the session is over, not that the
    // account's grant was revoked.
    if matches!(
        response.status(),
        StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED
    ) {
        return ConnectorError::new(
            ErrorKind::Unavailable,
            SESSION_GONE,
            "the delivery is retried with a new session",
        );
    }
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await.unwrap_or_default();
    classify(
        &client.op("upload a fragment"),
        status,
        retry_after.as_deref(),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_expected_reads_the_first_open_range() {
        let next = |v: Value| next_expected(&v, 99).ok();
        assert_eq!(next(json!({"nextExpectedRanges": ["26-"]})), Some(26));
        assert_eq!(
            next(json!({"nextExpectedRanges": ["12-55", "77-99"]})),
            Some(12)
        );
        assert_eq!(next(json!({"nextExpectedRanges": []})), Some(99));
        assert_eq!(next(json!({})), None);
        assert_eq!(next(json!({"nextExpectedRanges": ["x-"]})), None);
    }
}
