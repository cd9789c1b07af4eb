//! Pub/Sub answers as classified connector errors: the REST API answers failures with an HTTP
//! status and a gRPC-style body (`{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
//! "message": ...}}`); the status name decides when there is one, the HTTP status otherwise.
//! Messages name the topic and project, hints the missing permission or resource.

use std::time::{Duration, SystemTime};

use courier_core::retry_after::parse_retry_after;
use courier_core::{ConnectorError, ErrorKind};

/// The service's name in messages.
pub const SERVICE: &str = "Google Cloud Pub/Sub";

/// The call that was answered, for messages and the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `GET .../topics/{topic}`.
    GetTopic,
    /// `POST .../topics/{topic}:publish`.
    Publish,
}

impl Call {
    /// The IAM permission the call needs.
    pub fn permission(self) -> &'static str {
        match self {
            Call::GetTopic => "pubsub.topics.get",
            Call::Publish => "pubsub.topics.publish",
        }
    }

    /// The predefined role that grants it.
    fn role(self) -> &'static str {
        match self {
            Call::GetTopic => "Pub/Sub Viewer",
            Call::Publish => "Pub/Sub Publisher",
        }
    }
}

/// The topic a call was about.
#[derive(Debug, Clone, Copy)]
pub struct Topic<'a> {
    /// The project id.
    pub project: &'a str,
    /// The topic id.
    pub topic: &'a str,
}

/// A failed answer read in full: the HTTP status, the body's gRPC status name and message,
/// and `Retry-After` when the answer had one.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    /// The HTTP status.
    pub http_status: u16,
    /// The gRPC status name (`RESOURCE_EXHAUSTED`), when the body had one.
    pub status: Option<String>,
    /// The service's own words, when the body had them.
    pub message: Option<String>,
    /// How long the service asked to wait, when it said.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// The failure an answer describes (its body is read, capped).
    pub async fn read(response: reqwest::Response) -> Failure {
        let http_status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = courier_net::body::error_text(response).await;
        Failure {
            retry_after,
            ..Failure::parse(http_status, &body)
        }
    }

    /// The failure a status and body describe.
    pub fn parse(http_status: u16, body: &str) -> Failure {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error = parsed.as_ref().map(|v| &v["error"]);
        let text = |field: &str| {
            error
                .and_then(|e| e[field].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Failure {
            http_status,
            status: text("status"),
            message: text("message"),
            retry_after: None,
        }
    }
}

/// A failed answer to `call` on `topic`, classified.
pub fn classify(call: Call, topic: Topic<'_>, failure: &Failure) -> ConnectorError {
    let Topic { project, topic } = topic;
    let code = match &failure.status {
        Some(s) => format!("HTTP {} {s}", failure.http_status),
        None => format!("HTTP {}", failure.http_status),
    };
    let (kind, message, hint) = match (failure.status.as_deref(), failure.http_status) {
        (Some("UNAUTHENTICATED"), _) | (None, 401) => (
            ErrorKind::Unauthenticated,
            format!("Pub/Sub did not accept the credentials ({code})"),
            "check auth_config.service_account_json; the key may have been deleted or disabled"
                .to_string(),
        ),
        (Some("PERMISSION_DENIED"), _) | (None, 403) => (
            ErrorKind::Forbidden,
            format!(
                "access denied: {} on topic {topic} in project {project} ({code})",
                call.permission()
            ),
            format!(
                "grant {} on topic {topic} to the service account (role {}), and check that the Pub/Sub API is enabled in project {project}",
                call.permission(),
                call.role()
            ),
        ),
        (Some("NOT_FOUND"), _) | (None, 404) => (
            ErrorKind::NotFound,
            format!("topic {topic} does not exist in project {project} ({code})"),
            format!(
                "create topic {topic} in project {project} (gcloud pubsub topics create {topic} --project {project}), or correct config.topic and config.project_id"
            ),
        ),
        (Some("RESOURCE_EXHAUSTED"), _) | (None, 429) => (
            ErrorKind::RateLimited,
            format!("Pub/Sub is throttling publishes to topic {topic} ({code})"),
            "the records are retried with backoff; raise the project's Pub/Sub quota if this persists"
                .to_string(),
        ),
        (Some("DEADLINE_EXCEEDED"), _) | (None, 504) => (
            ErrorKind::Timeout,
            format!("Pub/Sub did not finish in time on topic {topic} ({code})"),
            "the records are retried".to_string(),
        ),
        (Some("UNAVAILABLE" | "INTERNAL" | "UNKNOWN" | "ABORTED" | "CANCELLED"), _)
        | (None, 500..=599) => (
            ErrorKind::Unavailable,
            format!("Pub/Sub failed on topic {topic} ({code})"),
            "the records are retried with backoff".to_string(),
        ),
        (None, 413) => (
            ErrorKind::PayloadTooLarge,
            format!("Pub/Sub refused the request to topic {topic} as too large ({code})"),
            "send smaller records".to_string(),
        ),
        // INVALID_ARGUMENT, FAILED_PRECONDITION (a topic schema the message does not match, a
        // storage policy) and the rest: as any service's HTTP status reads (a refusal, mostly).
        (_, status) => match ErrorKind::from_http_status(status) {
            kind if kind.is_retryable() => (
                kind,
                format!("Pub/Sub failed on topic {topic} ({code})"),
                "the records are retried with backoff".to_string(),
            ),
            kind => (
                kind,
                format!("Pub/Sub refused the request to topic {topic} ({code})"),
                "check the topic's settings (schema, message storage policy) and the records"
                    .to_string(),
            ),
        },
    };
    let message = match &failure.message {
        Some(said) => format!("{message}: {}", said.chars().take(300).collect::<String>()),
        None => message,
    };
    ConnectorError::new(kind, message, hint).with_retry_after(failure.retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: Topic<'static> = Topic {
        project: "my-project",
        topic: "orders",
    };

    fn kind_of(call: Call, status: u16, body: &str) -> ConnectorError {
        classify(call, TOPIC, &Failure::parse(status, body))
    }

    #[test]
    fn grpc_status_names_decide() {
        let throttled = kind_of(
            Call::Publish,
            429,
            r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(throttled.kind, ErrorKind::RateLimited);
        assert!(throttled.is_retryable());
        assert!(
            throttled.message.contains("Quota exceeded"),
            "{throttled:?}"
        );

        let missing = kind_of(
            Call::GetTopic,
            404,
            r#"{"error":{"code":404,"message":"Topic not found","status":"NOT_FOUND"}}"#,
        );
        assert_eq!(missing.kind, ErrorKind::NotFound);
        assert!(
            missing
                .hint
                .contains("create topic orders in project my-project"),
            "{missing:?}"
        );

        let denied = kind_of(
            Call::Publish,
            403,
            r#"{"error":{"code":403,"message":"User not authorized","status":"PERMISSION_DENIED"}}"#,
        );
        assert_eq!(denied.kind, ErrorKind::Forbidden);
        assert!(!denied.is_retryable());
        assert!(denied.hint.contains("pubsub.topics.publish"), "{denied:?}");
        let denied_get = kind_of(
            Call::GetTopic,
            403,
            r#"{"error":{"status":"PERMISSION_DENIED"}}"#,
        );
        assert!(
            denied_get.hint.contains("pubsub.topics.get"),
            "{denied_get:?}"
        );

        let unauthenticated = kind_of(
            Call::Publish,
            401,
            r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#,
        );
        assert_eq!(unauthenticated.kind, ErrorKind::Unauthenticated);
        assert!(!unauthenticated.is_retryable());

        let down = kind_of(
            Call::Publish,
            503,
            r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#,
        );
        assert_eq!(down.kind, ErrorKind::Unavailable);
        assert!(down.is_retryable());
        let slow = kind_of(
            Call::Publish,
            504,
            r#"{"error":{"status":"DEADLINE_EXCEEDED"}}"#,
        );
        assert_eq!(slow.kind, ErrorKind::Timeout);
        let internal = kind_of(Call::Publish, 500, r#"{"error":{"status":"INTERNAL"}}"#);
        assert!(internal.is_retryable());
        let bad = kind_of(
            Call::Publish,
            400,
            r#"{"error":{"code":400,"message":"Some messages are empty","status":"INVALID_ARGUMENT"}}"#,
        );
        assert_eq!(bad.kind, ErrorKind::Rejected);
        let lost = kind_of(Call::Publish, 500, r#"{"error":{"status":"DATA_LOSS"}}"#);
        assert_eq!(lost.kind, ErrorKind::Unavailable);
    }

    #[test]
    fn bare_http_statuses_are_read_when_the_body_says_nothing() {
        for (status, kind) in [
            (401, ErrorKind::Unauthenticated),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::NotFound),
            (429, ErrorKind::RateLimited),
            (502, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
            (413, ErrorKind::PayloadTooLarge),
            (400, ErrorKind::Rejected),
            (409, ErrorKind::Conflict),
        ] {
            let e = kind_of(Call::Publish, status, "<html>gateway</html>");
            assert_eq!(e.kind, kind, "{status}: {e:?}");
        }
        // A status name the body gives wins over the HTTP status.
        assert_eq!(
            kind_of(
                Call::Publish,
                400,
                r#"{"error":{"status":"RESOURCE_EXHAUSTED"}}"#
            )
            .kind,
            ErrorKind::RateLimited
        );
    }
}
