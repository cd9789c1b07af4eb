//! What a topic Courier publishes to must be (no wildcards, not empty, not a `$` system topic,
//! at most 65535 bytes, no control characters or non-characters), and the topic the
//! connection test publishes to.

use crate::config::MAX_STRING_BYTES;

/// What stands in for each placeholder of a topic template in the connection test's topic.
pub const PROBE_SEGMENT: &str = "courier-connection-test";

/// `Ok` for a topic a client may publish to; otherwise why not.
pub fn check(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("must not be an empty topic".into());
    }
    if topic.len() > MAX_STRING_BYTES {
        return Err(format!(
            "is a topic of {} bytes, over MQTT's 65535",
            topic.len()
        ));
    }
    if topic.contains(['+', '#']) {
        return Err("may not contain the wildcards + or # (they are for subscriptions)".into());
    }
    if topic.starts_with('$') {
        return Err("may not start with $ (topics such as $SYS are the broker's own)".into());
    }
    crate::text::check(topic)
}

/// The topic template with each `{…}` placeholder replaced by [`PROBE_SEGMENT`]: a topic of
/// the configured shape for the connection test (`orders/{customer.id}` →
/// `orders/courier-connection-test`; a topic without placeholders is itself).
pub fn probe_topic(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + PROBE_SEGMENT.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(PROBE_SEGMENT);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_topics_keep_the_templates_shape() {
        assert_eq!(
            probe_topic("orders/{customer.id}/{type}"),
            "orders/courier-connection-test/courier-connection-test"
        );
        assert_eq!(probe_topic("orders"), "orders");
        assert_eq!(probe_topic("{type}"), PROBE_SEGMENT);
    }

    #[test]
    fn topics_publishers_may_not_use_are_refused() {
        assert!(check("a/b/c").is_ok());
        assert!(check("/leading/slash").is_ok());
        for bad in [
            "",
            "a/+",
            "#",
            "a\0",
            "$SYS/broker",
            "a\u{7}b",
            "a\u{9F}",
            "a\u{FFFF}",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
