//! Google's resumable upload protocol (Drive and Cloud Storage share it) as an
//! [`UploadSession`]: chunks are PUT to the session URL with `Content-Range`, a 308 answers with
//! the bytes held (`Range: bytes=0-N`), 200/201 with the finished object's JSON, and a status
//! query is an empty PUT of `bytes */total`. The session URL carries its own authorization: no
//! credential is sent to it, it is checked by the guard before use, and it is never logged.

use courier_core::{ConnectorError, ErrorKind};
use reqwest::StatusCode;
use serde_json::Value;

use crate::chunks::Chunk;
use crate::resume::{Progress, UploadSession, session_gone};

/// Classifies a failed chunk by HTTP status, `Retry-After` and body.
pub type ChunkFailure<'a> = dyn Fn(u16, Option<&str>, &str) -> ConnectorError + Sync + 'a;

/// An open session.
pub struct GoogleSession<'a> {
    service: &'static str,
    http: &'a reqwest::Client,
    url: String,
    failed: &'a ChunkFailure<'a>,
    max_resumes: u32,
}

impl std::fmt::Debug for GoogleSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is the session's authorization: never printed.
        f.debug_struct("GoogleSession")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl<'a> GoogleSession<'a> {
    /// The session an opening request's answer names in `Location`. `client_for` checks that
    /// URL with the guard and gives the guarded client to send to it (no credentials attached).
    pub fn opened(
        service: &'static str,
        answer: &reqwest::Response,
        client_for: impl FnOnce(&str) -> Result<&'a reqwest::Client, ConnectorError>,
        failed: &'a ChunkFailure<'a>,
    ) -> Result<Self, ConnectorError> {
        let url = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("{service} opened an upload session without a Location"),
                    "the delivery is retried",
                )
            })?;
        let http = client_for(&url)?;
        Ok(GoogleSession {
            service,
            http,
            url,
            failed,
            max_resumes: crate::resume::MAX_RESUMES,
        })
    }

    /// A failed chunk fails the delivery at once (retried as a whole with a new session)
    /// instead of asking the session where it stands and resending from there.
    pub fn without_resuming(mut self) -> Self {
        self.max_resumes = 0;
        self
    }

    async fn progress(
        &self,
        response: reqwest::Response,
    ) -> Result<Progress<Value>, ConnectorError> {
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => {
                let what = "an upload";
                let text = courier_net::body::json_text(self.service, what, response).await?;
                serde_json::from_str(&text)
                    .map(Progress::Done)
                    .map_err(|_| {
                        ConnectorError::new(
                            ErrorKind::Unavailable,
                            format!(
                                "{} answered an upload with something that is not JSON",
                                self.service
                            ),
                            "check the endpoint; the delivery is retried",
                        )
                    })
            }
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
            // The session URL carries its own authorization: a 401 there, like a 404 or 410,
            // means the session is over, not that the account's grant was revoked.
            StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::UNAUTHORIZED => {
                Err(session_gone(self.service))
            }
            status => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = courier_net::body::error_text(response).await;
                Err((self.failed)(
                    status.as_u16(),
                    retry_after.as_deref(),
                    &body,
                ))
            }
        }
    }
}

fn total_text(total: Option<u64>) -> String {
    total.map_or_else(|| "*".to_string(), |t| t.to_string())
}

impl UploadSession for GoogleSession<'_> {
    type Done = Value;

    fn max_resumes(&self) -> u32 {
        self.max_resumes
    }

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
            .http
            .put(&self.url)
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(data)
            .send()
            .await
            .map_err(|e| courier_net::transport_error(self.service, e))?;
        self.progress(response).await
    }

    async fn status(&self, total: Option<u64>) -> Result<Progress<Value>, ConnectorError> {
        let response = self
            .http
            .put(&self.url)
            .header(
                reqwest::header::CONTENT_RANGE,
                format!("bytes */{}", total_text(total)),
            )
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| courier_net::transport_error(self.service, e))?;
        self.progress(response).await
    }
}
