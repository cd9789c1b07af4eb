//! Field mapping from event fields to a destination's fields, applied in order to a copy of the
//! payload: rename (`{"source": "user.email", "target": "email"}`, optional `"default"` when the
//! source is missing), constant (`{"target": "source", "value": "courier"}`), drop
//! (`{"source": "password", "drop": true}`). An empty mapping passes the payload through.

use courier_core::FieldError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Rename {
        source: Vec<String>,
        target: Vec<String>,
        default: Option<Value>,
    },
    Constant {
        target: Vec<String>,
        value: Value,
    },
    Drop {
        source: Vec<String>,
    },
}

impl Rule {
    /// The top-level field the rule writes, if any.
    pub fn target_field(&self) -> Option<&str> {
        match self {
            Rule::Rename { target, .. } | Rule::Constant { target, .. } => {
                target.first().map(String::as_str)
            }
            Rule::Drop { .. } => None,
        }
    }
}

fn dot_path(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    let text = match value {
        Some(Value::String(s)) => s,
        Some(_) => {
            errors.push(FieldError::new(
                path,
                "must be a dot path such as user.email",
            ));
            return None;
        }
        None => {
            errors.push(FieldError::new(path, "is required"));
            return None;
        }
    };
    let segments: Vec<String> = text.split('.').map(str::to_string).collect();
    let ok = !text.is_empty()
        && text.len() <= 256
        && segments
            .iter()
            .all(|s| !s.is_empty() && !s.chars().any(char::is_control));
    if ok {
        Some(segments)
    } else {
        errors.push(FieldError::new(
            path,
            "must be a dot path such as user.email",
        ));
        None
    }
}

/// Parses a route's `field_mapping`; problems at `/field_mapping/<i>/<key>`.
pub fn parse(mapping: &Value) -> Result<Vec<Rule>, Vec<FieldError>> {
    let Value::Array(items) = mapping else {
        return Err(vec![FieldError::new(
            "/field_mapping",
            "must be an array of rules",
        )]);
    };
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("/field_mapping/{i}{k}");
        let Value::Object(fields) = item else {
            errors.push(FieldError::new(at(""), "must be an object"));
            continue;
        };
        for key in fields.keys() {
            if !["source", "target", "default", "value", "drop"].contains(&key.as_str()) {
                errors.push(FieldError::new(
                    at(&format!("/{}", courier_core::spec::pointer_segment(key))),
                    "is not a mapping key",
                ));
            }
        }
        let has = |k: &str| fields.contains_key(k);
        if has("drop") {
            if fields["drop"] != Value::Bool(true) {
                errors.push(FieldError::new(at("/drop"), "must be true"));
            }
            if has("target") || has("value") || has("default") {
                errors.push(FieldError::new(
                    at(""),
                    "a drop rule has only source and drop",
                ));
            }
            if let Some(source) = dot_path(fields.get("source"), &at("/source"), &mut errors) {
                rules.push(Rule::Drop { source });
            }
        } else if has("value") {
            if has("source") || has("default") {
                errors.push(FieldError::new(
                    at(""),
                    "a constant rule has only target and value",
                ));
            }
            if let Some(target) = dot_path(fields.get("target"), &at("/target"), &mut errors) {
                rules.push(Rule::Constant {
                    target,
                    value: fields["value"].clone(),
                });
            }
        } else {
            let source = dot_path(fields.get("source"), &at("/source"), &mut errors);
            let target = dot_path(fields.get("target"), &at("/target"), &mut errors);
            if let (Some(source), Some(target)) = (source, target) {
                rules.push(Rule::Rename {
                    source,
                    target,
                    default: fields.get("default").cloned(),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Removes the value at `path`, and each parent object the removal leaves empty (a renamed
/// `customer.email` leaves no `customer: {}` behind).
fn take(object: &mut Map<String, Value>, path: &[String]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return object.remove(first);
    }
    let child = object.get_mut(first)?.as_object_mut()?;
    let taken = take(child, rest);
    if taken.is_some() && child.is_empty() {
        object.remove(first);
    }
    taken
}

fn put(object: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for p in parents {
        let slot = current
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        current = slot.as_object_mut().expect("made an object above");
    }
    current.insert(last.clone(), value);
}

/// The payload after the rules; a non-object payload passes only through an empty mapping.
pub fn apply(rules: &[Rule], payload: &Value) -> Result<Value, String> {
    if rules.is_empty() {
        return Ok(payload.clone());
    }
    let Value::Object(original) = payload else {
        return Err("the field mapping needs a JSON object payload".into());
    };
    let mut out = original.clone();
    for rule in rules {
        match rule {
            Rule::Rename {
                source,
                target,
                default,
            } => {
                if let Some(v) = take(&mut out, source).or_else(|| default.clone()) {
                    put(&mut out, target, v);
                }
            }
            Rule::Constant { target, value } => put(&mut out, target, value.clone()),
            Rule::Drop { source } => {
                take(&mut out, source);
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_a_field_out_leaves_no_empty_parent() {
        let rules = parse(&serde_json::json!([
            {"source": "customer.email", "target": "email"},
            {"source": "a.b.c", "drop": true},
        ]))
        .unwrap();
        let out = apply(
            &rules,
            &serde_json::json!({"customer": {"email": "x@example.com"}, "a": {"b": {"c": 1}, "d": 2}, "e": {}}),
        )
        .unwrap();
        assert_eq!(
            out,
            serde_json::json!({"a": {"d": 2}, "e": {}, "email": "x@example.com"})
        );
    }
    use serde_json::json;

    #[test]
    fn rules_rename_set_default_and_drop_in_order() {
        let rules = parse(&json!([
            {"source": "user.email", "target": "email"},
            {"source": "plan", "target": "tier", "default": "free"},
            {"target": "meta.source", "value": "courier"},
            {"source": "password", "drop": true},
        ]))
        .unwrap();
        let out = apply(
            &rules,
            &json!({"user": {"email": "a@x.io", "id": 7}, "password": "pw", "n": 1}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"user": {"id": 7}, "n": 1, "email": "a@x.io", "tier": "free", "meta": {"source": "courier"}})
        );
        assert_eq!(apply(&[], &json!([1])).unwrap(), json!([1]));
        assert!(apply(&rules, &json!([1])).is_err());
    }

    #[test]
    fn bad_rules_are_reported_by_path() {
        let errors = parse(&json!([{"source": "", "target": "x"}, {"target": "y", "value": 1, "source": "z"}, {"drop": false, "source": "a"}, 5, {"sauce": "a"}]))
            .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/field_mapping/0/source",
                "/field_mapping/1",
                "/field_mapping/2/drop",
                "/field_mapping/3",
                "/field_mapping/4/sauce",
                "/field_mapping/4/source",
                "/field_mapping/4/target"
            ]
        );
    }
}
