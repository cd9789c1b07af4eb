//! SQS config: typed, documented (doc comments become the JSON Schema), validated without I/O;
//! it declares the keys read from each record (the FIFO message group and the message
//! attributes).

use std::collections::BTreeMap;

use courier_core::{ConfigSpec, FieldError};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most message attributes a user may set: SQS takes 10 on one message, and two carry the
/// event's type and id.
const MAX_ATTRIBUTES: usize = 10 - courier_messages::EVENT_ATTRIBUTE_COUNT;

/// Where messages go and what each carries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// The queue's URL, e.g. `https://sqs.us-east-1.amazonaws.com/123456789012/orders` (a FIFO
    /// queue's name ends in `.fifo`).
    #[schemars(length(min = 1, max = 2048))]
    pub queue_url: String,
    /// The queue's AWS region, e.g. `us-east-1`.
    pub region: String,
    /// The SQS endpoint, for local emulators; AWS by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Each message's group on a FIFO queue, read from its record: a dot path (`customer.id`)
    /// or a template (`{customer.id}-{type}`). Required for FIFO queues, refused otherwise. The
    /// record id is the deduplication id, so a retried delivery is deduplicated by SQS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id_template: Option<String>,
    /// Message attributes (at most 8): attribute name → a template read from the record. Every
    /// message also carries `courier_event_type` and `courier_event_id`, names a user may not take.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: BTreeMap<String, String>,
    /// Seconds each message stays invisible after it is sent (standard queues only; FIFO queues
    /// take the queue's own delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 900))]
    pub delay_seconds: Option<u32>,
}

impl SqsConfig {
    /// Whether the queue is a FIFO queue (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.queue_url.trim_end_matches('/').ends_with(".fifo")
    }
}

impl MessageConfig for SqsConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let group = KeySpec {
            field: "message_group_id_template",
            name: "message group id",
            template: self.message_group_id_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: 128,
        };
        let attributes = self.message_attributes.values().map(|template| KeySpec {
            field: "message_attributes",
            name: "message attribute",
            template: Some(template),
            fallback_field: None,
            fallback: None,
            max_chars: 64 * 1024,
        });
        std::iter::once(group).chain(attributes).collect()
    }
}

impl ConfigSpec for SqsConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let url_ok =
            self.queue_url.starts_with("https://") || self.queue_url.starts_with("http://");
        if !url_ok
            || self
                .queue_url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .is_none_or(str::is_empty)
        {
            errors.push(FieldError::new(
                "/queue_url",
                "must be a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/orders",
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
        match (&self.message_group_id_template, self.is_fifo()) {
            (None, true) => errors.push(FieldError::new(
                "/message_group_id_template",
                "is required for a FIFO queue",
            )),
            (Some(_), false) => errors.push(FieldError::new(
                "/message_group_id_template",
                "applies to FIFO queues only (the queue URL does not end in .fifo)",
            )),
            (Some(t), true) => {
                if let Err(m) = KeyTemplate::parse(t) {
                    errors.push(FieldError::new("/message_group_id_template", m));
                }
            }
            (None, false) => {}
        }
        if self.delay_seconds.is_some() && self.is_fifo() {
            errors.push(FieldError::new(
                "/delay_seconds",
                "applies to standard queues only (a FIFO queue takes its own delay)",
            ));
        }
        if self.message_attributes.len() > MAX_ATTRIBUTES {
            errors.push(FieldError::new(
                "/message_attributes",
                format!("has more than {MAX_ATTRIBUTES} attributes"),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "message_attributes",
            &self.message_attributes,
            "attribute",
            |name| courier_aws::check_message_attribute_name("SQS", name),
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(attributes: serde_json::Value) -> SqsConfig {
        serde_json::from_value(json!({
            "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
            "region": "us-east-1",
            "message_attributes": attributes,
        }))
        .unwrap()
    }

    #[test]
    fn attributes_leave_room_for_the_event_and_may_not_take_its_names() {
        let paths =
            |c: &SqsConfig| -> Vec<String> { c.validate().into_iter().map(|e| e.path).collect() };
        let eight: serde_json::Map<_, _> =
            (0..8).map(|i| (format!("a{i}"), json!("type"))).collect();
        assert!(paths(&config(json!(eight))).is_empty());
        let nine: serde_json::Map<_, _> =
            (0..9).map(|i| (format!("a{i}"), json!("type"))).collect();
        assert_eq!(paths(&config(json!(nine))), ["/message_attributes"]);
        assert_eq!(
            paths(&config(json!({"Courier_Event_Id": "id", "a/b": "type"}))),
            [
                "/message_attributes/Courier_Event_Id",
                "/message_attributes/a~1b"
            ]
        );
    }
}
