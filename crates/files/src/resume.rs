//! The resume loop resumable upload protocols share (Drive sessions, Graph upload sessions):
//! send each chunk, follow the offset the server reports, and after a failed chunk wait
//! (`Retry-After`, else backoff) and ask the session where it stands, then resend from there.
//! Resuming inside one delivery is the point of these protocols, so this is the one place a
//! connector waits and tries again: at most [`MAX_RESUMES`] times per file (or the session's own
//! limit), after which the
//! runtime retries the delivery with a new session. A session that is gone is not resumed.

use std::future::Future;
use std::time::Duration;

use courier_core::{ConnectorError, ErrorKind};

use crate::chunks::{Chunk, ChunkReader};

/// Failed chunks resumed per file before the delivery fails (and is retried as a whole).
pub const MAX_RESUMES: u32 = 6;
/// The longest `Retry-After` waited for inside an upload; longer ones end the attempt.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Ends the message of [`session_gone`].
const GONE: &str = "upload session expired, was cancelled or was refused";

/// What a session answered to a chunk or a status query.
#[derive(Debug)]
pub enum Progress<T> {
    /// The server has every byte before this offset.
    Received(u64),
    /// The upload is complete; the service's answer.
    Done(T),
}

/// One upload session of a resumable protocol.
pub trait UploadSession {
    /// The service's answer once the file is complete.
    type Done;

    /// Sends `chunk` from offset `from` on; `total` is the file's size when known.
    fn put(
        &self,
        chunk: &Chunk,
        from: u64,
        total: Option<u64>,
    ) -> impl Future<Output = Result<Progress<Self::Done>, ConnectorError>>;

    /// Failed chunks resumed per file before the delivery fails: [`MAX_RESUMES`] unless the
    /// service's status queries cannot be trusted.
    fn max_resumes(&self) -> u32 {
        MAX_RESUMES
    }

    /// Asks the session how far it got.
    fn status(
        &self,
        total: Option<u64>,
    ) -> impl Future<Output = Result<Progress<Self::Done>, ConnectorError>>;
}

/// The error for a session the service no longer knows (expired, cancelled, refused): the
/// delivery is retried with a new one, never resumed.
pub fn session_gone(service: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("the {service} {GONE}"),
        "the delivery is retried with a new session",
    )
}

/// Whether `e` is [`session_gone`]'s: after the last chunk was sent, the upload may have
/// completed with its answer lost, which the connector can check by looking for the file.
pub fn is_session_gone(e: &ConnectorError) -> bool {
    e.message.ends_with(GONE)
}

/// Whether resuming can help: a transient failure of a session that still exists.
fn resumable(e: &ConnectorError) -> bool {
    e.is_retryable() && !is_session_gone(e)
}

fn unexpected(service: &str, at: u64, chunk: &Chunk) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!(
            "{service} reports byte {at} where {}..{} were being sent",
            chunk.offset,
            chunk.end()
        ),
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

/// Sends every chunk of `chunks` through `session`, resuming as described above, and returns
/// the service's answer to the last one. `service` names it in errors.
pub async fn send_chunks<S: UploadSession>(
    service: &str,
    session: &S,
    chunks: &mut ChunkReader,
) -> Result<S::Done, ConnectorError> {
    let mut resumes = 0;
    let max_resumes = session.max_resumes();
    while let Some(chunk) = chunks.next().await? {
        let total = if chunk.last {
            Some(chunk.end())
        } else {
            chunks.total()
        };
        let mut from = chunk.offset;
        loop {
            let result = match session.put(&chunk, from, total).await {
                Ok(progress) => Ok(progress),
                Err(e) if resumable(&e) && resumes < max_resumes => {
                    resumes += 1;
                    pause(&e, resumes).await?;
                    tracing::debug!(
                        offset = from,
                        resumes,
                        "{service} chunk failed; asking where the upload stands"
                    );
                    session.status(total).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(Progress::Done(answer)) if chunk.last => return Ok(answer),
                Ok(Progress::Done(_)) => {
                    return Err(ConnectorError::internal(format!(
                        "{service} completed the upload before its last chunk"
                    )));
                }
                Ok(Progress::Received(n)) if n >= chunk.end() && !chunk.last => break,
                Ok(Progress::Received(n)) if (chunk.offset..chunk.end()).contains(&n) => {
                    // The server kept part of the chunk: send the rest. No progress at all
                    // counts against the resume budget, so a stuck session cannot loop.
                    if n <= from {
                        resumes += 1;
                        if resumes > max_resumes {
                            return Err(ConnectorError::new(
                                ErrorKind::Unavailable,
                                format!("the {service} upload made no progress past byte {n}"),
                                "the delivery is retried with a new upload session",
                            ));
                        }
                    }
                    from = n;
                }
                Ok(Progress::Received(n)) => return Err(unexpected(service, n, &chunk)),
                // The status query failed too: try the chunk again after the next pause.
                Err(e) if resumable(&e) && resumes < max_resumes => {}
                Err(e) => return Err(e),
            }
        }
    }
    Err(ConnectorError::internal(
        "the file ended without a last chunk",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_session_is_not_resumed() {
        assert!(!resumable(&session_gone("Google Drive")));
        let transient = ConnectorError::new(ErrorKind::Unavailable, "503", "retry");
        assert!(resumable(&transient));
        let permanent = ConnectorError::new(ErrorKind::Forbidden, "403", "fix");
        assert!(!resumable(&permanent));
    }
}
