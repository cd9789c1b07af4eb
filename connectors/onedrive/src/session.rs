//! Upload sessions for files above 4 MiB: `createUploadSession` (with the conflict behavior),
//! fragments of `chunk_size_bytes` (320 KiB multiples) with the file's total in every
//! `Content-Range`, following `nextExpectedRanges`; after a failed fragment, a GET on the upload
//! URL says where the server stands and the fragment is resent from there. A session that fails
//! for good is cancelled (DELETE), leaving nothing behind. A session gone after its last
//! fragment may have completed with the answer lost: with conflict behavior `fail` or
//! `rename`, a file of the upload's size at the path, new or changed since the session
//! opened, is taken as the upload's, so the retry does not fail or write a copy. (With
//! `rename` and a name already taken, the upload landed under another name this does not
//! look for.)
//!
//! Graph needs the total size up front, so a compressed file is written to an anonymous
//! temporary file first (its size is known only once compressed); an uncompressed file streams.
//! The resume loop is `courier_files::resume`'s. Upload URLs are pre-authorized: no bearer
//! token is sent to them, and they are never logged.

use courier_core::{Batch, ConnectorError, ErrorKind};
use courier_files::resume::{Progress, UploadSession, is_session_gone, send_chunks, session_gone};
use courier_files::{Chunk, ChunkReader, PlannedFile};
use courier_oauth::transport_error;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{GraphClient, read_json};
use crate::config::ConflictBehavior;
use crate::errors::{SERVICE, classify, from_response};

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
    // Unless the behavior is replace, a retry after a lost final answer would fail on, or
    // rename beside, the file the session wrote: what is at the path beforehand tells the
    // upload's own file from an older one. Best effort: if the path cannot be read now, a
    // lost answer is simply not recognized.
    let before = match cfg.conflict_behavior {
        ConflictBehavior::Replace => None,
        _ => client
            .file_item(&file.key)
            .await
            .ok()
            .map(|item| etag(item.as_ref())),
    };
    let session = Session {
        client,
        url: open(client, &file.key).await?,
        total,
    };
    let result = send_chunks(SERVICE, &session, &mut chunks).await;
    if let (Err(e), Some(before)) = (&result, &before)
        && is_session_gone(e)
        && let Some(item) = completed(client, &file.key, before.as_deref(), total).await
    {
        tracing::debug!("the upload session completed although its last answer was lost");
        return Ok(item);
    }
    if result.is_err() {
        cancel(client, &session.url).await;
    }
    result
}

fn etag(item: Option<&Value>) -> Option<String> {
    item.and_then(|i| i["eTag"].as_str()).map(str::to_string)
}

/// The item this upload wrote, when the session is gone because it completed: a file at the
/// path with the upload's size that was not there (or was another version) before.
async fn completed(
    client: &GraphClient,
    name: &str,
    before: Option<&str>,
    total: u64,
) -> Option<Value> {
    let item = client.file_item(name).await.ok()??;
    let ours = item["size"].as_u64() == Some(total)
        && item["eTag"].as_str().is_some()
        && item["eTag"].as_str() != before;
    ours.then_some(item)
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
    let Ok(http) = client.api.plain(session) else {
        return;
    };
    match http.delete(session).send().await {
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

/// An open upload session: its pre-authorized URL, and the file's size (in every
/// `Content-Range`).
struct Session<'a> {
    client: &'a GraphClient,
    url: String,
    total: u64,
}

impl UploadSession for Session<'_> {
    type Done = Value;

    async fn put(
        &self,
        chunk: &Chunk,
        from: u64,
        _total: Option<u64>,
    ) -> Result<Progress<Value>, ConnectorError> {
        let total = self.total;
        let data = chunk.data.slice((from - chunk.offset) as usize..);
        let range = format!("bytes {from}-{}/{total}", from + data.len() as u64 - 1);
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
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => Ok(Progress::Done(read_json(response).await?)),
            StatusCode::ACCEPTED => Ok(Progress::Received(next_expected(
                &read_json(response).await?,
                total,
            )?)),
            // The server already has some of these bytes: ask where it stands.
            StatusCode::RANGE_NOT_SATISFIABLE => self.status(Some(total)).await,
            _ => Err(failure(self.client, response).await),
        }
    }

    /// Asks the session which byte it expects next.
    async fn status(&self, _total: Option<u64>) -> Result<Progress<Value>, ConnectorError> {
        let response = self
            .client
            .api
            .plain(&self.url)?
            .get(&self.url)
            .send()
            .await
            .map_err(|e| transport_error(SERVICE, e))?;
        if response.status() != StatusCode::OK {
            return Err(failure(self.client, response).await);
        }
        Ok(Progress::Received(next_expected(
            &read_json(response).await?,
            self.total,
        )?))
    }
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

async fn failure(client: &GraphClient, response: reqwest::Response) -> ConnectorError {
    // The upload URL is pre-authorized: a 401 there means the session is over, not that the
    // account's grant was revoked.
    if matches!(
        response.status(),
        StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED
    ) {
        return session_gone(SERVICE);
    }
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = courier_oauth::body::error_text(response).await;
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
