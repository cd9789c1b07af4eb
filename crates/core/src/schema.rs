//! JSON Schema (draft 2020-12) generation from config types, and validation of JSON against it that
//! reports every problem with its JSON path and never quotes the offending value (it may be a secret).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::spec::{FieldError, pointer_segment};
use jsonschema::error::ValidationErrorKind;

/// The draft 2020-12 schema of `T`, as JSON (generated once per type, then copied).
pub fn schema_of<T: JsonSchema + 'static>() -> Value {
    static SCHEMAS: OnceLock<Mutex<HashMap<TypeId, Value>>> = OnceLock::new();
    let cache = SCHEMAS.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(schema) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return schema.clone();
    }
    let schema = generate::<T>();
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, schema.clone());
    schema
}

fn generate<T: JsonSchema>() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    // The title is the Rust type name, which means nothing to a form builder.
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("title");
    }
    add_empty_properties(&mut schema);
    schema
}

/// jsonschema reports `additionalProperties: false` on an object schema without `properties` as
/// a bare false-schema failure at the parent path; an explicit empty `properties` makes it name
/// the unknown field, as it does everywhere else.
fn add_empty_properties(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(false))
                && !map.contains_key("properties")
            {
                map.insert("properties".into(), Value::Object(Default::default()));
            }
            map.values_mut().for_each(add_empty_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(add_empty_properties),
        _ => {}
    }
}

/// The compiled validator of `schema`; compiling costs far more than validating, and a process
/// sees only a handful of schemas, so each is compiled once.
fn validator(schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let cache = VALIDATORS.get_or_init(Default::default);
    let key = schema.to_string();
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(v.clone());
    }
    let compiled = Arc::new(jsonschema::draft202012::new(schema).map_err(|e| e.to_string())?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, compiled.clone());
    Ok(compiled)
}

/// Every way `instance` fails `schema`, each with `prefix` + the instance path.
pub fn validate_against(schema: &Value, instance: &Value, prefix: &str) -> Vec<FieldError> {
    let validator = match validator(schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![FieldError::new(
                prefix,
                format!("internal error: the connector's schema does not compile ({e})"),
            )];
        }
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(instance) {
        describe(
            error.kind(),
            prefix,
            error.instance_path().as_str(),
            &mut errors,
        );
    }
    dedup(errors)
}

/// One problem per place: the first found (a value too short and off its pattern is told
/// the first; fixing it shows the next, if any).
fn dedup(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.path.clone()));
    errors
}

/// Describes one failure at `prefix` + `at` (the instance path, which nested failures carry
/// whole, from the root of the instance).
fn describe(kind: &ValidationErrorKind, prefix: &str, at: &str, out: &mut Vec<FieldError>) {
    use ValidationErrorKind as K;
    let path = &format!("{prefix}{at}");
    let message = match kind {
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            for name in unexpected {
                out.push(FieldError::new(
                    format!("{path}/{}", pointer_segment(name)),
                    "unknown field",
                ));
            }
            return;
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            out.push(FieldError::new(
                format!("{path}/{}", pointer_segment(name)),
                "is required",
            ));
            return;
        }
        K::Type { kind } => {
            let names: Vec<String> = match kind {
                jsonschema::error::TypeKind::Single(t) => vec![t.to_string()],
                jsonschema::error::TypeKind::Multiple(set) => {
                    set.iter().map(|t| t.to_string()).collect()
                }
            };
            format!("must be of type {}", names.join(" or "))
        }
        K::Enum { options } => format!("must be one of {}", compact(options)),
        K::Constant { expected_value } => format!("must be {}", compact(expected_value)),
        K::Minimum { limit } => format!("must be at least {limit}"),
        K::Maximum { limit } => format!("must be at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::MinLength { limit } => format!("must be at least {limit} characters long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinProperties { limit } => format!("must have at least {limit} entries"),
        K::MaxProperties { limit } => format!("must have at most {limit} entries"),
        K::UniqueItems => "must not contain duplicate items".to_string(),
        K::Pattern { pattern } => format!("must match the pattern {pattern}"),
        K::Format { format } => format!("must be a valid {format}"),
        K::MultipleOf { .. } => "is not an allowed multiple".to_string(),
        K::OneOfNotValid { context } | K::AnyOf { context } => {
            // Enums with documented variants are a oneOf of constants: list the allowed values.
            let consts: Option<Vec<String>> = context
                .iter()
                .map(|errs| match errs.as_slice() {
                    [e] => match e.kind() {
                        K::Constant { expected_value } => Some(compact(expected_value)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                out.push(FieldError::new(
                    path,
                    format!("must be one of {}", consts.join(", ")),
                ));
                return;
            }
            // Report the alternative that got furthest (fewest errors), which is what a person
            // most likely meant, rather than "matches none of the alternatives".
            if let Some(best) = context.iter().min_by_key(|errs| errs.len())
                && !best.is_empty()
            {
                for e in best {
                    describe(e.kind(), prefix, e.instance_path().as_str(), out);
                }
                return;
            }
            "does not match any of the allowed forms".to_string()
        }
        K::OneOfMultipleValid { .. } => "matches more than one of the allowed forms".to_string(),
        K::FalseSchema => "is not allowed".to_string(),
        K::Not { .. } => "is not allowed here".to_string(),
        _ => "is invalid".to_string(),
    };
    out.push(FieldError::new(path, message));
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.floor_char_boundary(200)])
    } else {
        s
    }
}

/// Checks `instance` against `T`'s own schema: every problem at its JSON path under `prefix`.
/// For request bodies: the schema and its compiled validator are made once per type, so a
/// call costs a validation.
pub fn validate_as<T: JsonSchema + 'static>(
    instance: &Value,
    prefix: &str,
) -> Result<(), Vec<FieldError>> {
    static VALIDATORS: OnceLock<Mutex<HashMap<TypeId, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let cache = VALIDATORS.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    let cached = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    let validator = match cached {
        Some(v) => v,
        None => {
            let compiled = validator(&schema_of::<T>()).map_err(|e| {
                vec![FieldError::new(
                    prefix,
                    format!("internal error: the schema does not compile ({e})"),
                )]
            })?;
            cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, compiled.clone());
            compiled
        }
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(instance) {
        describe(
            error.kind(),
            prefix,
            error.instance_path().as_str(),
            &mut errors,
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(dedup(errors))
    }
}

/// Builds `T` from a value that passed its schema; a problem the schema missed is reported at
/// its path, without quoting values (a body may carry secrets).
pub fn from_checked<T: DeserializeOwned>(
    instance: Value,
    prefix: &str,
) -> Result<T, Vec<FieldError>> {
    deserialize::<T>(instance, prefix, false)
}

/// [`validate_as`], then [`from_checked`].
pub fn parse_as<T: JsonSchema + DeserializeOwned + 'static>(
    instance: Value,
    prefix: &str,
) -> Result<T, Vec<FieldError>> {
    validate_as::<T>(&instance, prefix)?;
    from_checked(instance, prefix)
}

/// Validates `instance` against `T`'s schema, then deserializes it. All schema problems are
/// returned together; a deserialization problem the schema missed is reported with its path.
/// `quote_values` is false for auth_config, whose values may be secrets.
pub fn parse<T: DeserializeOwned>(
    schema: &Value,
    instance: &Value,
    prefix: &str,
    quote_values: bool,
) -> Result<T, Vec<FieldError>> {
    match parse_lenient(schema, instance, prefix, quote_values) {
        (Some(value), errors) if errors.is_empty() => Ok(value),
        (_, errors) => Err(errors),
    }
}

/// As [`parse`], but also returns a best-effort value when there are errors: the instance with
/// every offending top-level field removed, if that still deserializes. Callers use it to run
/// semantic checks on the remaining fields, so one round reports every problem.
pub fn parse_lenient<T: DeserializeOwned>(
    schema: &Value,
    instance: &Value,
    prefix: &str,
    quote_values: bool,
) -> (Option<T>, Vec<FieldError>) {
    let errors = validate_against(schema, instance, prefix);
    if errors.is_empty() {
        return match deserialize::<T>(instance.clone(), prefix, quote_values) {
            Ok(v) => (Some(v), errors),
            Err(e) => (None, e),
        };
    }
    let mut pruned = instance.clone();
    if let Some(obj) = pruned.as_object_mut() {
        for e in &errors {
            let rest = e.path.strip_prefix(prefix).unwrap_or_default();
            if let Some(key) = rest.strip_prefix('/').and_then(|r| r.split('/').next()) {
                obj.remove(&key.replace("~1", "/").replace("~0", "~"));
            }
        }
    }
    let value = if validate_against(schema, &pruned, prefix).is_empty() {
        deserialize::<T>(pruned, prefix, quote_values).ok()
    } else {
        None
    };
    (value, errors)
}

fn deserialize<T: DeserializeOwned>(
    value: Value,
    prefix: &str,
    quote_values: bool,
) -> Result<T, Vec<FieldError>> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = serde_path(e.path());
        let message = if quote_values {
            e.inner().to_string()
        } else {
            "is invalid".to_string()
        };
        vec![FieldError::new(format!("{prefix}{path}"), message)]
    })
}

fn serde_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => out.push_str(&format!("/{}", pointer_segment(key))),
            Segment::Enum { variant } => out.push_str(&format!("/{}", pointer_segment(variant))),
            Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_alternative_failing_deep_inside_an_array_is_named_once_at_its_path() {
        let schema = json!({"type": "array", "items": {"anyOf": [
            {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
            {"type": "integer"}
        ]}});
        let errors = validate_against(&schema, &json!([1, {"a": null}]), "/list");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/list/1/a"], "{errors:?}");
    }

    #[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        url: String,
        #[serde(default)]
        retries: Option<u32>,
        #[schemars(range(min = 1, max = 10))]
        level: u8,
    }

    #[test]
    fn reports_every_problem_with_paths() {
        let schema = schema_of::<Example>();
        let errors = validate_against(
            &schema,
            &json!({"retries": "x", "level": 99, "bogus": 1}),
            "/config",
        );
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.contains(&"/config/url: is required".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"/config/bogus: unknown field".to_string()),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("/config/retries: must be of type")),
            "{text:?}"
        );
        assert!(
            text.contains(&"/config/level: must be at most 10".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn schema_is_draft_2020_12() {
        let schema = schema_of::<Example>();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(jsonschema::meta::is_valid(&schema));
    }

    #[test]
    fn values_are_never_quoted() {
        let schema = schema_of::<Example>();
        let errors = validate_against(&schema, &json!({"url": 424242, "level": 5}), "");
        assert!(
            errors.iter().all(|e| !e.message.contains("424242")),
            "{errors:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,64}") {
            let schema = schema_of::<Example>();
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = parse::<Example>(&schema, &v, "/config", true);
            }
        }
    }
}
