//! SNS config: typed, documented (doc comments become the JSON Schema), validated without I/O;
//! it declares the keys read from each record (the FIFO message group, the subject and the
//! message attributes).

use std::collections::BTreeMap;

use courier_core::{ConfigSpec, FieldError};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most message attributes a user may set: SNS takes 10 on one message, and two carry the
/// event's type and id.
pub const MAX_ATTRIBUTES: usize = 10 - courier_messages::EVENT_ATTRIBUTE_COUNT;

/// The longest subject SNS takes, in characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Where messages go and what each carries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// The topic's ARN, e.g. `arn:aws:sns:us-east-1:123456789012:orders` (a FIFO topic's name
    /// ends in `.fifo`).
    #[schemars(length(min = 1, max = 1024))]
    pub topic_arn: String,
    /// The topic's AWS region, e.g. `us-east-1` (the region in the topic's ARN).
    pub region: String,
    /// The SNS endpoint, for local emulators; AWS by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Each message's group on a FIFO topic, read from its record: a dot path (`customer.id`)
    /// or a template (`{customer.id}-{type}`). Required for FIFO topics, refused otherwise. The
    /// record id is the deduplication id, so a retried delivery is deduplicated by SNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id_template: Option<String>,
    /// Each message's subject, read from its record (a dot path or a template). SNS takes at
    /// most 100 printable ASCII characters without line breaks; a record whose subject breaks
    /// these rules fails alone. Email subscriptions show it; others receive it in the
    /// notification envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_template: Option<String>,
    /// Message attributes (at most 8): attribute name → a template read from the record, sent
    /// as `String` attributes. Every message also carries `courier_event_type` and
    /// `courier_event_id`, names a user may not take.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: BTreeMap<String, String>,
}

impl SnsConfig {
    /// Whether the topic is a FIFO topic (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }
}

/// The order of [`SnsConfig::keys`]: the group, the subject, then the attributes.
pub(crate) const GROUP_KEY: usize = 0;
pub(crate) const SUBJECT_KEY: usize = 1;
pub(crate) const FIRST_ATTRIBUTE_KEY: usize = 2;

impl MessageConfig for SnsConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let group = KeySpec {
            field: "message_group_id_template",
            name: "message group id",
            template: self.message_group_id_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: 128,
        };
        let subject = KeySpec {
            field: "subject_template",
            name: "subject",
            template: self.subject_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_SUBJECT_CHARS,
        };
        let attributes = self.message_attributes.values().map(|template| KeySpec {
            field: "message_attributes",
            name: "message attribute",
            template: Some(template),
            fallback_field: None,
            fallback: None,
            max_chars: 256 * 1024,
        });
        [group, subject].into_iter().chain(attributes).collect()
    }
}

/// The parts of a topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
struct TopicArn<'a> {
    region: &'a str,
    name: &'a str,
}

fn parse_arn(arn: &str) -> Option<TopicArn<'_>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, name] = parts.as_slice() else {
        return None;
    };
    let name_ok = {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        (1..=256).contains(&name.len())
            && !base.is_empty()
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    (*prefix == "arn"
        && partition.starts_with("aws")
        && *service == "sns"
        && courier_aws::is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && name_ok)
        .then_some(TopicArn { region, name })
}

impl ConfigSpec for SnsConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match parse_arn(&self.topic_arn) {
            None => errors.push(FieldError::new(
                "/topic_arn",
                "must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:orders",
            )),
            Some(arn) if arn.region != self.region && courier_aws::is_region(&self.region) => {
                errors.push(FieldError::new(
                    "/topic_arn",
                    format!(
                        "names topic {} in region {}, but region is {}",
                        arn.name, arn.region, self.region
                    ),
                ))
            }
            Some(_) => {}
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
                "is required for a FIFO topic",
            )),
            (Some(_), false) => errors.push(FieldError::new(
                "/message_group_id_template",
                "applies to FIFO topics only (the topic ARN does not end in .fifo)",
            )),
            (Some(t), true) => {
                if let Err(m) = KeyTemplate::parse(t) {
                    errors.push(FieldError::new("/message_group_id_template", m));
                }
            }
            (None, false) => {}
        }
        if let Some(t) = &self.subject_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/subject_template", m));
        }
        if self.message_attributes.len() > MAX_ATTRIBUTES {
            errors.push(FieldError::new(
                "/message_attributes",
                format!(
                    "has more than {MAX_ATTRIBUTES} attributes (SNS takes 10 a message, and 2 name the event)"
                ),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "message_attributes",
            &self.message_attributes,
            "attribute",
            |name| courier_aws::check_message_attribute_name("SNS", name),
        ));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn paths(config: Value) -> Vec<String> {
        let mut base = json!({
            "topic_arn": "arn:aws:sns:us-east-1:123456789012:events",
            "region": "us-east-1",
        });
        for (k, v) in config.as_object().unwrap() {
            base[k] = v.clone();
        }
        let config: SnsConfig = serde_json::from_value(base).unwrap();
        config.validate().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn attributes_leave_room_for_the_event_and_may_not_take_its_names() {
        let eight: serde_json::Map<_, _> =
            (0..8).map(|i| (format!("a{i}"), json!("type"))).collect();
        assert!(paths(json!({"message_attributes": eight})).is_empty());
        let nine: serde_json::Map<_, _> =
            (0..9).map(|i| (format!("a{i}"), json!("type"))).collect();
        assert_eq!(
            paths(json!({"message_attributes": nine})),
            ["/message_attributes"]
        );
        assert_eq!(
            paths(json!({"message_attributes": {"Courier_Event_Id": "id", "a/b": "type"}})),
            [
                "/message_attributes/Courier_Event_Id",
                "/message_attributes/a~1b"
            ]
        );
    }

    #[test]
    fn fifo_topics_need_a_group_and_standard_topics_refuse_one() {
        let fifo = "arn:aws:sns:us-east-1:123456789012:orders.fifo";
        assert_eq!(
            paths(json!({"topic_arn": fifo})),
            ["/message_group_id_template"]
        );
        assert!(
            paths(json!({"topic_arn": fifo, "message_group_id_template": "customer.id"}))
                .is_empty()
        );
        assert_eq!(
            paths(json!({"message_group_id_template": "customer.id"})),
            ["/message_group_id_template"]
        );
    }

    #[test]
    fn the_arn_is_an_sns_topic_in_the_configured_region() {
        for bad in [
            "orders",
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "arn:aws:sns:us-east-1:1234:orders",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123456789012:or ders",
            "arn:aws:sns:us-east-1:123456789012:.fifo",
        ] {
            assert_eq!(paths(json!({"topic_arn": bad}))[0], "/topic_arn", "{bad}");
        }
        assert_eq!(
            paths(json!({"region": "eu-west-1"})),
            ["/topic_arn"],
            "the ARN's region must be the configured one"
        );
        assert_eq!(
            paths(json!({"subject_template": "{a"})),
            ["/subject_template"]
        );
    }
}
