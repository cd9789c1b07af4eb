//! Pub/Sub config and auth_config: typed, documented (doc comments become the JSON Schema) and
//! validated without I/O; the config declares the keys read from each record (the ordering key
//! and the attributes).

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, Endpoint, FieldError, Secret};
use courier_messages::{EVENT_ATTRIBUTE_COUNT, KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Attributes Pub/Sub takes on one message.
pub const PUBSUB_MAX_ATTRIBUTES: usize = 100;
/// The most attributes a user may set: two of Pub/Sub's 100 carry the event's type and id.
pub const MAX_ATTRIBUTES: usize = PUBSUB_MAX_ATTRIBUTES - EVENT_ATTRIBUTE_COUNT;
/// The longest attribute name Pub/Sub takes, in bytes.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 256;
/// The longest attribute value Pub/Sub takes, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// The longest ordering key Pub/Sub takes, in bytes.
pub const MAX_ORDERING_KEY_BYTES: usize = 1024;

/// Which topic messages are published to, and what each carries beside the record's payload.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpPubsubConfig {
    /// The Google Cloud project that owns the topic, e.g. `my-project`.
    #[schemars(length(min = 1, max = 100), extend("examples" = ["my-project"]))]
    pub project_id: String,
    /// The topic's id within the project (the part after `topics/`), e.g. `orders`. It must
    /// exist: Courier does not create topics.
    #[schemars(length(min = 3, max = 255), extend("examples" = ["orders"]))]
    pub topic: String,
    /// The Pub/Sub API endpoint: the emulator (`http://127.0.0.1:8085`), a locational endpoint
    /// (`https://us-east1-pubsub.googleapis.com`, which keeps ordered messages in one region)
    /// or a private one; `https://pubsub.googleapis.com` by default. With an endpoint,
    /// `service_account_json` may be left out, as the emulator needs no credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["https://us-east1-pubsub.googleapis.com", "http://127.0.0.1:8085"]))]
    pub endpoint: Option<String>,
    /// Each message's ordering key, read from its record: a dot path (`customer.id`) or a
    /// template (`{customer.id}-{type}`), at most 1,024 bytes. Messages with the same key reach
    /// subscriptions that enable message ordering in the order of their records; a record
    /// without the key's fields fails alone. Without it, messages carry no ordering key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["customer.id"]))]
    pub ordering_key_template: Option<String>,
    /// Message attributes: name → a template read from the record, as for the ordering key. At
    /// most 98 (Pub/Sub takes 100 and two name the event); names of at most 256 bytes that do
    /// not start with `goog`; values of at most 1,024 bytes. Every message also carries
    /// `courier_event_type` and `courier_event_id`, names a user may not take.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("examples" = [{"event_type": "type", "customer": "customer.id"}]))]
    pub attributes: BTreeMap<String, String>,
}

impl MessageConfig for GcpPubsubConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let ordering = KeySpec {
            field: "ordering_key_template",
            name: "ordering key",
            template: self.ordering_key_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_ORDERING_KEY_BYTES,
        };
        let attributes = self.attributes.values().map(|template| KeySpec {
            field: "attributes",
            name: "attribute",
            template: Some(template),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_ATTRIBUTE_VALUE_BYTES,
        });
        std::iter::once(ordering).chain(attributes).collect()
    }
}

impl ConfigSpec for GcpPubsubConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !is_project_id(&self.project_id) {
            errors.push(FieldError::new(
                "/project_id",
                "must be a Google Cloud project id (6-30 lowercase letters, digits and `-`, starting with a letter), such as my-project",
            ));
        }
        if let Err(message) = check_topic(&self.topic) {
            errors.push(FieldError::new("/topic", message));
        }
        if let Some(endpoint) = &self.endpoint
            && !is_endpoint(endpoint)
        {
            errors.push(FieldError::new(
                "/endpoint",
                "must be an http(s) URL without a path, e.g. https://us-east1-pubsub.googleapis.com",
            ));
        }
        if let Some(template) = &self.ordering_key_template
            && let Err(message) = KeyTemplate::parse(template)
        {
            errors.push(FieldError::new("/ordering_key_template", message));
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            errors.push(FieldError::new(
                "/attributes",
                format!(
                    "has more than {MAX_ATTRIBUTES} attributes (Pub/Sub takes {PUBSUB_MAX_ATTRIBUTES} and two name the event)"
                ),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "attributes",
            &self.attributes,
            "attribute",
            check_attribute_name,
        ));
        errors
    }
}

/// A Google Cloud project id: 6-30 lowercase letters, digits and `-`, starting with a letter
/// and not ending with `-`; older domain-scoped projects prefix `example.com:`.
fn is_project_id(id: &str) -> bool {
    let (domain, name) = id.rsplit_once(':').unwrap_or(("", id));
    let domain_ok = domain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
    domain_ok
        && (6..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
}

/// Why `topic` cannot be a topic id, if it cannot: Pub/Sub's naming rule (3-255 letters,
/// digits, `-_.~+%`, starting with a letter, not starting with `goog`).
fn check_topic(topic: &str) -> Result<(), &'static str> {
    if topic.starts_with("projects/") {
        return Err("must be the topic's id only (the part after `topics/`), not its full name");
    }
    let ok = (3..=255).contains(&topic.len())
        && topic.starts_with(|c: char| c.is_ascii_alphabetic())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+%".contains(&b));
    if !ok {
        return Err(
            "must be a Pub/Sub topic id: 3-255 letters, digits, `-`, `_`, `.`, `~`, `+` or `%`, starting with a letter",
        );
    }
    if topic.starts_with("goog") {
        return Err("must not start with `goog` (reserved by Google)");
    }
    Ok(())
}

/// An http(s) URL with a host and without a path, query or credentials.
fn is_endpoint(url: &str) -> bool {
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let authority = rest.trim_end_matches('/');
    scheme_ok
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@'])
        && Endpoint::url("/config/endpoint", url).is_some()
}

/// Why `name` cannot be a user's attribute name, if it cannot.
pub fn check_attribute_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an attribute name must not be empty".into());
    }
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(format!(
            "is longer than Pub/Sub's {MAX_ATTRIBUTE_NAME_BYTES} bytes for an attribute name"
        ));
    }
    if name
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("goog"))
    {
        return Err("must not start with `goog` (Pub/Sub reserves those names)".into());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if courier_messages::is_event_attribute(name) {
        return Err(
            "is the attribute every message carries for the event; choose another name".into(),
        );
    }
    Ok(())
}

/// A service account's JSON key. It may be left out only when `endpoint` is set: the Pub/Sub
/// emulator takes requests without credentials.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpPubsubAuth {
    /// The service account key file's contents (JSON with `type: service_account`,
    /// `client_email`, `private_key`, ...). Optional when `endpoint` is set, since the
    /// emulator needs no credentials. The account needs `pubsub.topics.publish` on the topic
    /// (role Pub/Sub Publisher) and, for the connection test's topic check,
    /// `pubsub.topics.get` (role Pub/Sub Viewer).
    #[serde(default)]
    pub service_account_json: Option<Secret>,
}

impl AuthSpec for GcpPubsubAuth {
    fn validate(&self) -> Vec<FieldError> {
        match &self.service_account_json {
            Some(key) => match check_key(key.expose()) {
                Ok(_) => Vec::new(),
                Err(message) => vec![FieldError::new("/service_account_json", message)],
            },
            None => Vec::new(),
        }
    }
}

/// The key file as JSON with the fields Courier and Google's client need, or what is wrong
/// with it (never quoting it).
pub fn check_key(text: &str) -> Result<serde_json::Value, String> {
    let key: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "is not valid JSON".to_string())?;
    let Some(object) = key.as_object() else {
        return Err("must be a JSON object (the key file's contents)".into());
    };
    if object.get("type").and_then(|t| t.as_str()) != Some("service_account") {
        return Err("must have \"type\": \"service_account\"".into());
    }
    let missing: Vec<&str> = ["client_email", "private_key", "private_key_id"]
        .into_iter()
        .filter(|f| {
            object
                .get(*f)
                .and_then(|v| v.as_str())
                .is_none_or(str::is_empty)
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!("is missing {}", missing.join(", ")));
    }
    let pem = object["private_key"].as_str().unwrap_or_default();
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("has a private_key that is not a PKCS#8 PEM key".into());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> GcpPubsubConfig {
        let mut base = json!({"project_id": "my-project", "topic": "orders"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn paths(c: &GcpPubsubConfig) -> Vec<String> {
        c.validate().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn projects_topics_and_endpoints() {
        assert!(paths(&config(json!({}))).is_empty());
        for ok in ["my-project", "example.com:my-project", "a12345"] {
            assert!(is_project_id(ok), "{ok}");
        }
        for bad in ["My-Project", "p1", "1project", "project-", "a/b/../c", ""] {
            assert!(!is_project_id(bad), "{bad}");
        }
        for ok in ["orders", "Orders.v2~x+y%z", "abc"] {
            assert!(check_topic(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1orders",
            "goog-orders",
            "projects/p/topics/t",
            "a/b",
            "a b",
        ] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
        for ok in [
            "http://127.0.0.1:8085",
            "https://us-east1-pubsub.googleapis.com/",
        ] {
            assert!(is_endpoint(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8085",
            "https://pubsub.googleapis.com/v1",
            "https://user@pubsub.googleapis.com",
            "ftp://x",
            "https://",
        ] {
            assert!(!is_endpoint(bad), "{bad}");
        }
    }

    #[test]
    fn hostile_attribute_names_are_refused_at_their_paths() {
        let long = "n".repeat(257);
        let c = config(json!({"attributes": {
            "": "type",
            "googRegion": "type",
            "GOOG": "type",
            "Courier_Event_Id": "type",
            "goog/x~y": "type",
            "line\nbreak": "type",
            long.clone(): "type",
            "ok": "{unclosed",
            "fine": "customer.id",
        }}));
        let mut found = paths(&c);
        found.sort();
        let mut expected = vec![
            "/attributes/".to_string(),
            "/attributes/googRegion".into(),
            "/attributes/GOOG".into(),
            "/attributes/Courier_Event_Id".into(),
            "/attributes/goog~1x~0y".into(),
            "/attributes/line\nbreak".into(),
            format!("/attributes/{long}"),
            "/attributes/ok".into(),
        ];
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn attributes_leave_room_for_the_event() {
        let n = |count: usize| -> serde_json::Map<String, serde_json::Value> {
            (0..count)
                .map(|i| (format!("a{i}"), json!("type")))
                .collect()
        };
        assert!(paths(&config(json!({"attributes": n(98)}))).is_empty());
        assert_eq!(
            paths(&config(json!({"attributes": n(99)}))),
            ["/attributes"]
        );
    }

    #[test]
    fn key_files_are_checked_without_quoting_them() {
        let good = r#"{"type":"service_account","client_email":"a@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n","private_key_id":"k1"}"#;
        assert!(check_key(good).is_ok());
        assert_eq!(check_key("s3cr3t").unwrap_err(), "is not valid JSON");
        let e = check_key(r#"{"type":"service_account","private_key":"s3cr3t"}"#).unwrap_err();
        assert_eq!(e, "is missing client_email, private_key_id");
    }
}
