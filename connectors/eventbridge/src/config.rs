//! EventBridge config: typed, documented (doc comments become the JSON Schema), validated
//! without I/O. The detail type is read from each record by the connector itself (with the
//! record's event type, then [`DEFAULT_DETAIL_TYPE`], when the template gives none), so the
//! config declares no key of the shared message shape.

use courier_core::{ConfigSpec, FieldError};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The detail type of an event whose record names no event type (and whose
/// `detail_type_template`, if any, finds nothing).
pub const DEFAULT_DETAIL_TYPE: &str = "courier.event";

/// The longest `source` EventBridge takes, in characters.
pub const MAX_SOURCE_CHARS: usize = 256;

/// The longest detail type EventBridge takes, in characters.
pub const MAX_DETAIL_TYPE_CHARS: usize = 128;

/// Where events go and how each is described.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventbridgeConfig {
    /// The event bus: its name (`default`, `orders`) or its ARN
    /// (`arn:aws:events:us-east-1:123456789012:event-bus/orders`, for a bus of another account).
    #[schemars(length(min = 1, max = 1600))]
    pub event_bus_name: String,
    /// The bus's AWS region, e.g. `us-east-1` (the region in the bus's ARN, when an ARN is
    /// given).
    pub region: String,
    /// The EventBridge endpoint, for local emulators; AWS by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Every event's `source`, which rules match on: e.g. `com.acme.orders`. At most 256
    /// characters; names starting with `aws.` are AWS's own.
    #[schemars(length(min = 1, max = 256))]
    pub source: String,
    /// Each event's `detail-type`, read from its record: a dot path (`kind`) or a template
    /// (`order.{status}`). Without it, or for a record where it finds nothing, the detail type
    /// is the record's event type, and `courier.event` for a record without one. At most 128
    /// characters; a longer one fails its record alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_type_template: Option<String>,
}

impl MessageConfig for EventbridgeConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        // The detail type falls back to the record's event type, which the shared keys cannot
        // express: the connector renders it (see `send::event`).
        Vec::new()
    }
}

/// The parts of an event bus ARN: `arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`.
fn arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let name = resource.strip_prefix("event-bus/")?;
    (*prefix == "arn"
        && partition.starts_with("aws")
        && *service == "events"
        && courier_aws::is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && bus_name_ok(name))
    .then_some(region)
}

/// Whether `name` is an event bus name (a partner bus's name has `/` in it).
fn bus_name_ok(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// Why EventBridge would refuse `source`, if it would.
fn source_problem(source: &str) -> Option<String> {
    if source.trim().is_empty() {
        return Some("must not be empty".into());
    }
    if source.chars().count() > MAX_SOURCE_CHARS {
        return Some(format!("is longer than {MAX_SOURCE_CHARS} characters"));
    }
    if source.to_ascii_lowercase().starts_with("aws.") {
        return Some("must not start with `aws.`, which EventBridge keeps for AWS services".into());
    }
    if source.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    None
}

impl ConfigSpec for EventbridgeConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let bus = &self.event_bus_name;
        if bus.starts_with("arn:") {
            match arn_region(bus) {
                None => errors.push(FieldError::new(
                    "/event_bus_name",
                    "must be an event bus name or an ARN such as arn:aws:events:us-east-1:123456789012:event-bus/orders",
                )),
                Some(region) if region != self.region && courier_aws::is_region(&self.region) => {
                    errors.push(FieldError::new(
                        "/event_bus_name",
                        format!("is a bus in region {region}, but region is {}", self.region),
                    ))
                }
                Some(_) => {}
            }
        } else if !bus_name_ok(bus) {
            errors.push(FieldError::new(
                "/event_bus_name",
                "must be an event bus name (letters, digits, `.`, `-`, `_`, `/`; at most 256) or its ARN",
            ));
        }
        if !courier_aws::is_region(&self.region) {
            errors.push(FieldError::new(
                "/region",
                "must be an AWS region name such as us-east-1",
            ));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(FieldError::new(
                "/endpoint_url",
                "must be an absolute http(s) URL",
            ));
        }
        if let Some(problem) = source_problem(&self.source) {
            errors.push(FieldError::new("/source", problem));
        }
        if let Some(t) = &self.detail_type_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/detail_type_template", m));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn paths(config: Value) -> Vec<String> {
        let mut base = json!({
            "event_bus_name": "orders",
            "region": "us-east-1",
            "source": "com.acme.orders",
        });
        for (k, v) in config.as_object().unwrap() {
            base[k] = v.clone();
        }
        let config: EventbridgeConfig = serde_json::from_value(base).unwrap();
        config.validate().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn the_source_follows_the_eventbridge_rules() {
        assert!(paths(json!({})).is_empty());
        for bad in ["", " ", "aws.orders", "AWS.s3", "a\nb"] {
            assert_eq!(paths(json!({"source": bad})), ["/source"], "{bad:?}");
        }
        assert!(paths(json!({"source": "x".repeat(256)})).is_empty());
        assert_eq!(paths(json!({"source": "x".repeat(257)})), ["/source"]);
        assert!(paths(json!({"source": "awsome.app"})).is_empty());
    }

    #[test]
    fn the_bus_is_a_name_or_an_arn_in_the_configured_region() {
        for good in [
            "default",
            "aws.partner/example.com/123/orders",
            "arn:aws:events:us-east-1:123456789012:event-bus/orders",
        ] {
            assert!(paths(json!({"event_bus_name": good})).is_empty(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "arn:aws:sns:us-east-1:123456789012:orders",
            "arn:aws:events:us-east-1:123456789012:rule/orders",
            "arn:aws:events:eu-west-1:123456789012:event-bus/orders",
        ] {
            assert_eq!(
                paths(json!({"event_bus_name": bad})),
                ["/event_bus_name"],
                "{bad}"
            );
        }
        assert_eq!(
            paths(json!({"detail_type_template": "a..b"})),
            ["/detail_type_template"]
        );
    }
}
