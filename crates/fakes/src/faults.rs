//! Scripted failures and the request log every fake shares.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::response::Response;

use crate::http::with_retry_after;

/// Which kind of request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Reading metadata: the account, a folder, a file listing.
    Metadata,
    /// A one-request upload, or the request that opens an upload session.
    Upload,
    /// One chunk (Drive) or fragment (Graph) of an upload session.
    Chunk,
    /// The chunk or fragment that completes an upload session.
    LastChunk,
    /// The OAuth token endpoint.
    Token,
}

/// What the next matching request gets instead of its normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status, with `Retry-After` when given, and a provider-shaped error body whose
    /// reason is `reason` (e.g. Drive's `userRateLimitExceeded`).
    Status {
        status: u16,
        retry_after: Option<u64>,
        reason: &'static str,
    },
    /// A chunk of which the server keeps only the first `keep` bytes (rounded down to the
    /// protocol's unit) before failing with 503, as when a connection drops mid-chunk.
    Partial { keep: usize },
    /// The request is carried out, but its answer is lost: the client sees 503, as when a
    /// connection drops after the server finished. For [`Target::LastChunk`] only.
    LostAnswer,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_range: Option<String>,
    pub has_authorization: bool,
    pub body_len: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Script {
    faults: Mutex<VecDeque<(Target, Fault)>>,
    log: Mutex<Vec<Logged>>,
}

impl Script {
    pub fn push(&self, target: Target, fault: Fault) {
        lock(&self.faults).push_back((target, fault));
    }

    /// The first scripted fault for `target`, removed.
    pub fn take(&self, target: Target) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let at = faults.iter().position(|(t, _)| *t == target)?;
        faults.remove(at).map(|(_, f)| f)
    }

    pub fn record(&self, entry: Logged) {
        lock(&self.log).push(entry);
    }

    pub fn log(&self) -> Vec<Logged> {
        lock(&self.log).clone()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The answer a scripted status fault gets, with the provider's error body for `reason` made
/// by `error`; `None` for a partial chunk, which the chunk handler plays out itself.
pub(crate) fn fault_response(
    fault: Fault,
    error: fn(u16, &str, &str) -> Response,
) -> Option<Response> {
    match fault {
        Fault::Status {
            status,
            retry_after,
            reason,
        } => Some(with_retry_after(
            error(status, reason, "scripted failure"),
            retry_after,
        )),
        Fault::Partial { .. } | Fault::LostAnswer => None,
    }
}
