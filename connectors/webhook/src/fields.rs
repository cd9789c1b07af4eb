//! `describe_fields` for webhooks: the top-level properties of the configured body schema, or a
//! single `payload` object when there is none.

use courier_core::{Field, FieldType};
use serde_json::Value;

pub fn describe(schema: Option<&Value>) -> Vec<Field> {
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return vec![Field::new(
            "payload",
            FieldType::Object,
            true,
            "The record's payload, sent as the request body exactly as given",
        )];
    };
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    props
        .iter()
        .map(|(name, prop)| {
            Field::new(
                name,
                field_type(prop),
                required.contains(&name.as_str()),
                prop.get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn field_type(prop: &Value) -> FieldType {
    let ty = match prop.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // ["string", "null"]: the first non-null type.
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any"),
        _ => "any",
    };
    match (ty, prop.get("format").and_then(Value::as_str)) {
        ("string", Some("date-time")) => FieldType::Datetime,
        ("string", _) => FieldType::String,
        ("integer", _) => FieldType::Integer,
        ("number", _) => FieldType::Number,
        ("boolean", _) => FieldType::Boolean,
        ("object", _) => FieldType::Object,
        ("array", _) => FieldType::Array,
        _ => FieldType::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_schema_and_default() {
        let schema = json!({"type":"object","required":["email"],"properties":{
            "email":{"type":"string","description":"Who"},
            "at":{"type":"string","format":"date-time"},
            "n":{"type":["integer","null"]}}});
        let fields = describe(Some(&schema));
        assert_eq!(
            fields[0],
            Field::new("email", FieldType::String, true, "Who")
        );
        assert_eq!(fields[1].field_type, FieldType::Datetime);
        assert_eq!(fields[2].field_type, FieldType::Integer);
        assert!(!fields[2].required);
        assert_eq!(describe(None)[0].name, "payload");
    }
}
