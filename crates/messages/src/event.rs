//! The event a record carries, as the attributes (headers, properties) every message
//! destination adds beside the user's own, under names the user may not take.

use std::collections::BTreeMap;

use courier_core::spec::pointer_segment;
use courier_core::{FieldError, Record};

use crate::KeyTemplate;

/// The attribute naming the event's type (e.g. `order.created`).
pub const EVENT_TYPE_ATTRIBUTE: &str = "courier_event_type";
/// The attribute naming the event's id (shared by the records one event fans out to).
pub const EVENT_ID_ATTRIBUTE: &str = "courier_event_id";
/// How many attribute slots the event attributes take on a message.
pub const EVENT_ATTRIBUTE_COUNT: usize = 2;

/// The event attributes of `record`: none when the host did not name its event.
pub fn event_attributes(record: &Record) -> Vec<(&'static str, &str)> {
    match &record.event {
        Some(e) => vec![
            (EVENT_TYPE_ATTRIBUTE, e.event_type.as_str()),
            (EVENT_ID_ATTRIBUTE, e.event_id.as_str()),
        ],
        None => Vec::new(),
    }
}

/// Whether `name` is one of the event attributes (compared without case: some targets fold
/// it), which a user's attribute may not shadow.
pub fn is_event_attribute(name: &str) -> bool {
    name.eq_ignore_ascii_case(EVENT_TYPE_ATTRIBUTE) || name.eq_ignore_ascii_case(EVENT_ID_ATTRIBUTE)
}

/// Checks a config's map of attribute (or property) name → template, each problem at
/// `/{field}/{name}`: a name `name_rule` refuses (it says why), else one of the event
/// attributes (`noun` names what the target calls them); a template that does not parse.
pub fn check_named_templates(
    field: &str,
    templates: &BTreeMap<String, String>,
    noun: &str,
    name_rule: impl Fn(&str) -> Result<(), String>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (name, template) in templates {
        let path = format!("/{field}/{}", pointer_segment(name));
        if let Err(why) = name_rule(name) {
            errors.push(FieldError::new(path.clone(), why));
        } else if is_event_attribute(name) {
            errors.push(FieldError::new(
                path.clone(),
                format!("is the {noun} every message carries for the event; choose another name"),
            ));
        }
        if let Err(m) = KeyTemplate::parse(template) {
            errors.push(FieldError::new(path, m));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_an_event_carries_both_attributes() {
        let r = Record::new("dlv_1", "{}").with_event("order.created", "evt_1");
        assert_eq!(
            event_attributes(&r),
            [
                ("courier_event_type", "order.created"),
                ("courier_event_id", "evt_1")
            ]
        );
        assert!(event_attributes(&Record::new("dlv_1", "{}")).is_empty());
        assert!(is_event_attribute("Courier_Event_Type"));
        assert!(!is_event_attribute("event_type"));
    }
}
