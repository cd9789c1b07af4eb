//! Field reference from a JSON Schema as schemars generates it: a table of the top-level fields
//! (inline nested objects as `parent.child` rows), then a section per `$defs` entry it uses.

use serde_json::Value;

use super::markdown::{cell, code, inline_code, prose, table};

/// Deeper than any real config; stops runaway recursion on self-referencing schemas.
const MAX_DEPTH: usize = 8;

/// Markdown for the fields of `schema`. `secrets` adds a column marking `writeOnly` fields.
pub fn fields(schema: &Value, secrets: bool) -> String {
    let doc = SchemaDoc {
        root: schema,
        secrets,
    };
    let rows = doc.rows(schema, "", 0);
    let mut out = if rows.is_empty() {
        "No fields: the object must be empty (`{}`).\n".to_string()
    } else {
        doc.table(&rows)
    };
    for name in doc.referenced_defs() {
        out.push('\n');
        out.push_str(&doc.def_section(&name));
    }
    out
}

struct SchemaDoc<'a> {
    root: &'a Value,
    secrets: bool,
}

struct Row {
    name: String,
    ty: String,
    secret: bool,
    required: bool,
    default: Option<Value>,
    description: String,
}

impl SchemaDoc<'_> {
    fn rows(&self, object: &Value, prefix: &str, depth: usize) -> Vec<Row> {
        let Some(props) = object.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        let required = strings(object.get("required"));
        let mut rows = Vec::new();
        for (name, prop) in props {
            let full = format!("{prefix}{name}");
            rows.push(Row {
                name: full.clone(),
                ty: self.type_text(prop, 0),
                secret: self.is_secret(prop, 0),
                required: required.contains(&name.as_str()),
                default: prop.get("default").cloned(),
                description: self.description(prop),
            });
            let inner = non_null(prop);
            if inner.get("$ref").is_none() && inner.get("properties").is_some() && depth < MAX_DEPTH
            {
                rows.extend(self.rows(inner, &format!("{full}."), depth + 1));
            }
        }
        rows
    }

    fn table(&self, rows: &[Row]) -> String {
        let mut headers = vec!["Field", "Type"];
        if self.secrets {
            headers.push("Secret");
        }
        headers.extend(["Required", "Default", "Description"]);
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![inline_code(&r.name), r.ty.clone()];
                if self.secrets {
                    row.push(if r.secret {
                        "secret".into()
                    } else {
                        String::new()
                    });
                }
                row.push(if r.required { "yes" } else { "no" }.to_string());
                row.push(r.default.as_ref().map(code).unwrap_or_default());
                row.push(r.description.clone());
                row
            })
            .collect();
        table(&headers, &cells)
    }

    /// The definition a `$ref` points at, with its name.
    fn def(&self, reference: &str) -> Option<(&str, &Value)> {
        let name = reference
            .strip_prefix("#/$defs/")
            .or_else(|| reference.strip_prefix("#/definitions/"))?;
        let defs = self
            .root
            .get("$defs")
            .or_else(|| self.root.get("definitions"))?;
        defs.as_object()?
            .get_key_value(name)
            .map(|(k, d)| (k.as_str(), d))
    }

    fn description(&self, prop: &Value) -> String {
        if let Some(d) = prop.get("description").and_then(Value::as_str) {
            return d.to_string();
        }
        non_null(prop)
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.def(r))
            .and_then(|(_, d)| d.get("description").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    }

    fn type_text(&self, s: &Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return "…".to_string();
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return match self.def(r) {
                Some((_, def)) if enum_values(def).is_some() => self.type_text(def, depth + 1),
                Some((name, _)) => inline_code(name),
                None => inline_code(r),
            };
        }
        if let Some(c) = s.get("const") {
            return code(c);
        }
        if let Some(values) = enum_values(s) {
            return one_of(values.iter().map(|(v, _)| code(v)).collect());
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array) {
                let others: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
                let text = match tag_of(&others) {
                    Some((tag, values)) => format!(
                        "{} (by {})",
                        one_of(values.iter().map(code).collect()),
                        inline_code(&tag)
                    ),
                    None => others
                        .iter()
                        .map(|b| self.type_text(b, depth + 1))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let nullable = others.len() < branches.len();
                return if nullable {
                    format!("{text} or null")
                } else {
                    text
                };
            }
        }
        let base = match s.get("type") {
            Some(Value::String(t)) => self.named_type(t, s, depth),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| self.named_type(t, s, depth))
                .collect::<Vec<_>>()
                .join(" or "),
            _ if s.get("properties").is_some() => "object".to_string(),
            _ => "any".to_string(),
        };
        let notes = constraints(s);
        if notes.is_empty() {
            base
        } else {
            format!("{base} ({})", notes.join(", "))
        }
    }

    fn named_type(&self, t: &str, s: &Value, depth: usize) -> String {
        match (t, s.get("items"), s.get("additionalProperties")) {
            ("array", Some(items), _) => format!("array of {}", self.type_text(items, depth + 1)),
            ("object", _, Some(values)) if values.is_object() => {
                format!("map of {}", self.type_text(values, depth + 1))
            }
            _ => t.to_string(),
        }
    }

    fn is_secret(&self, s: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        if s.get("writeOnly") == Some(&Value::Bool(true)) {
            return true;
        }
        let by_ref = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.def(r))
            .is_some_and(|(_, d)| self.is_secret(d, depth + 1));
        let branches = ["anyOf", "oneOf", "allOf"]
            .iter()
            .filter_map(|k| s.get(*k).and_then(Value::as_array))
            .flatten()
            .chain(s.get("items"));
        by_ref || branches.into_iter().any(|b| self.is_secret(b, depth + 1))
    }

    /// The names of the definitions reachable from the root, in order of first use.
    fn referenced_defs(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut top = self.root.clone();
        if let Some(obj) = top.as_object_mut() {
            obj.remove("$defs");
            obj.remove("definitions");
        }
        collect_refs(&top, &mut found);
        let mut i = 0;
        while i < found.len() {
            if let Some((_, def)) = self.def(&found[i]) {
                collect_refs(def, &mut found);
            }
            i += 1;
        }
        found
            .into_iter()
            .filter_map(|r| self.def(&r).map(|(name, _)| name.to_string()))
            .collect()
    }

    fn def_section(&self, name: &str) -> String {
        let def = &self.root["$defs"][name];
        let def = if def.is_null() {
            &self.root["definitions"][name]
        } else {
            def
        };
        let mut out = format!("### {}\n\n", inline_code(name));
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            out.push_str(&format!("{}\n\n", prose(d)));
        }
        if let Some(values) = enum_values(def) {
            let rows: Vec<Vec<String>> = values
                .into_iter()
                .map(|(v, d)| vec![code(&v), d.unwrap_or_default()])
                .collect();
            out.push_str(&table(&["Value", "Description"], &rows));
            return out;
        }
        if def.get("properties").is_some() {
            out.push_str(&self.table(&self.rows(def, "", 0)));
            return out;
        }
        let branches = ["oneOf", "anyOf"]
            .iter()
            .find_map(|k| def.get(*k).and_then(Value::as_array));
        match branches {
            Some(branches) => {
                let others: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
                if let Some((tag, values)) = tag_of(&others) {
                    out.push_str(&format!(
                        "One of the following, chosen by {}:\n",
                        inline_code(&tag)
                    ));
                    for (variant, value) in others.iter().zip(values) {
                        out.push_str(&format!(
                            "\n#### {} = {}\n\n",
                            inline_code(&tag),
                            code(&value)
                        ));
                        if let Some(d) = variant.get("description").and_then(Value::as_str) {
                            out.push_str(&format!("{}\n\n", prose(d)));
                        }
                        out.push_str(&self.table(&self.rows(variant, "", 0)));
                    }
                } else {
                    out.push_str("One of:\n\n");
                    for b in others {
                        let secret = if self.is_secret(b, 0) { ", secret" } else { "" };
                        let d = b.get("description").and_then(Value::as_str).map(cell);
                        let d = d.map(|d| format!(": {d}")).unwrap_or_default();
                        out.push_str(&format!("- {}{secret}{d}\n", self.type_text(b, 0)));
                    }
                }
            }
            None => out.push_str(&format!("Type: {}\n", self.type_text(def, 0))),
        }
        out
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str)
                && !out.iter().any(|x| x == r)
            {
                out.push(r.to_string());
            }
            map.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_null(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null") || s.get("const") == Some(&Value::Null)
}

/// `prop` without an `Option` wrapper: the one non-null branch of a oneOf/anyOf, if that is all.
fn non_null(prop: &Value) -> &Value {
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = prop.get(key).and_then(Value::as_array) {
            let others: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
            if let [one] = others.as_slice() {
                return one;
            }
        }
    }
    prop
}

/// The allowed values of an enum-like schema (`enum`, or a oneOf/anyOf of constants), each with
/// its description when documented.
fn enum_values(s: &Value) -> Option<Vec<(Value, Option<String>)>> {
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(|v| (v.clone(), None)).collect());
    }
    let branches = ["oneOf", "anyOf"]
        .iter()
        .find_map(|k| s.get(*k).and_then(Value::as_array))?;
    let values: Option<Vec<_>> = branches
        .iter()
        .map(|b| {
            let value = b.get("const").cloned().or_else(|| {
                match b.get("enum")?.as_array()?.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                }
            })?;
            Some((
                value,
                b.get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ))
        })
        .collect();
    values.filter(|v| !v.is_empty())
}

/// For a oneOf of objects that all fix one property to a constant (serde's internally tagged
/// enums), the property and each branch's value.
fn tag_of(branches: &[&Value]) -> Option<(String, Vec<Value>)> {
    let first = branches.first()?.get("properties")?.as_object()?;
    first.keys().find_map(|tag| {
        let values: Option<Vec<Value>> = branches
            .iter()
            .map(|b| b.get("properties")?.get(tag)?.get("const").cloned())
            .collect();
        values.map(|v| (tag.clone(), v))
    })
}

fn one_of(mut values: Vec<String>) -> String {
    if values.len() == 1 {
        values.remove(0)
    } else {
        format!("one of {}", values.join(", "))
    }
}

fn constraints(s: &Value) -> Vec<String> {
    let rules: [(&str, &str, &str); 10] = [
        ("format", "", ""),
        ("minimum", "≥ ", ""),
        ("exclusiveMinimum", "> ", ""),
        ("maximum", "≤ ", ""),
        ("exclusiveMaximum", "< ", ""),
        ("minLength", "length ≥ ", ""),
        ("maxLength", "length ≤ ", ""),
        ("minItems", "≥ ", " items"),
        ("maxItems", "≤ ", " items"),
        ("pattern", "pattern ", ""),
    ];
    rules
        .iter()
        .filter_map(|(key, before, after)| {
            let v = s.get(*key)?;
            let text = match (key, v) {
                (&"pattern", Value::String(p)) => inline_code(p),
                (_, Value::String(t)) => t.clone(),
                _ => v.to_string(),
            };
            Some(format!("{before}{text}{after}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_config() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "Where and how records are sent.",
            "type": "object",
            "properties": {
                "url": { "description": "The endpoint | with a pipe.", "type": "string", "format": "uri" },
                "method": { "$ref": "#/$defs/HttpMethod", "default": "POST" },
                "timeout_ms": { "description": "Deadline.", "type": "integer", "format": "uint64",
                                "minimum": 1, "maximum": 300000, "default": 30000 },
                "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                "envelope": { "anyOf": [{ "$ref": "#/$defs/Envelope" }, { "type": "null" }] },
                "body": { "$ref": "#/$defs/BodyMode" },
                "limits": { "type": "object", "properties": { "max": { "type": "integer" } } }
            },
            "required": ["url"],
            "additionalProperties": false,
            "$defs": {
                "HttpMethod": { "type": "string", "enum": ["POST", "PUT"] },
                "BodyMode": { "oneOf": [
                    { "description": "One request per record.", "const": "json" },
                    { "description": "One per batch.", "const": "ndjson" }
                ] },
                "Envelope": { "description": "Wraps each payload.", "type": "object",
                    "properties": { "type": { "description": "Event type.", "type": "string", "minLength": 1 } },
                    "required": ["type"] }
            }
        })
    }

    #[test]
    fn config_table_and_definitions() {
        let md = fields(&sample_config(), false);
        let expected_rows = [
            "| Field | Type | Required | Default | Description |",
            "| `url` | string (uri) | yes | — | The endpoint \\| with a pipe. |",
            "| `method` | one of `\"POST\"`, `\"PUT\"` | no | `\"POST\"` | — |",
            "| `timeout_ms` | integer (uint64, ≥ 1, ≤ 300000) | no | `30000` | Deadline. |",
            "| `headers` | map of string | no | — | — |",
            "| `envelope` | `Envelope` or null | no | — | Wraps each payload. |",
            "| `body` | one of `\"json\"`, `\"ndjson\"` | no | — | — |",
            "| `limits` | object | no | — | — |",
            "| `limits.max` | integer | no | — | — |",
        ];
        for row in expected_rows {
            assert!(md.contains(row), "missing {row}\n{md}");
        }
        assert!(
            md.contains("### `Envelope`\n\nWraps each payload.\n\n| Field |"),
            "{md}"
        );
        assert!(
            md.contains("| `type` | string (length ≥ 1) | yes | — | Event type. |"),
            "{md}"
        );
        assert!(
            md.contains("| `\"json\"` | One request per record. |"),
            "{md}"
        );
        // Definitions appear in order of first use.
        let order: Vec<usize> = ["### `HttpMethod`", "### `Envelope`", "### `BodyMode`"]
            .iter()
            .map(|h| md.find(h).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{md}");
    }

    #[test]
    fn auth_table_marks_secrets_and_tagged_variants() {
        let auth = json!({
            "type": "object",
            "properties": {
                "signing_secret": { "anyOf": [
                    { "type": "string", "writeOnly": true },
                    { "type": "array", "items": { "type": "string", "writeOnly": true }, "maxItems": 10 },
                    { "type": "null" }
                ] },
                "credentials": { "anyOf": [{ "$ref": "#/$defs/Credentials" }, { "type": "null" }] }
            },
            "$defs": { "Credentials": { "oneOf": [
                { "description": "HTTP Basic.", "type": "object",
                  "properties": { "type": { "type": "string", "const": "basic" },
                                  "username": { "type": "string" },
                                  "password": { "type": "string", "writeOnly": true } },
                  "required": ["type", "username", "password"] },
                { "type": "object",
                  "properties": { "type": { "type": "string", "const": "bearer" },
                                  "token": { "type": "string", "writeOnly": true } },
                  "required": ["type", "token"] }
            ] } }
        });
        let md = fields(&auth, true);
        assert!(
            md.contains("| Field | Type | Secret | Required | Default | Description |"),
            "{md}"
        );
        assert!(
            md.contains("| `signing_secret` | string or array of string (≤ 10 items) or null | secret | no |"),
            "{md}"
        );
        assert!(
            md.contains("| `credentials` | `Credentials` or null | — | no |"),
            "{md}"
        );
        assert!(
            md.contains("One of the following, chosen by `type`:"),
            "{md}"
        );
        assert!(
            md.contains("#### `type` = `\"basic\"`\n\nHTTP Basic.\n\n"),
            "{md}"
        );
        assert!(
            md.contains("| `password` | string | secret | yes | — | — |"),
            "{md}"
        );
        assert!(md.contains("| `type` | `\"bearer\"` | — | yes |"), "{md}");
    }

    #[test]
    fn empty_object() {
        let md = fields(
            &json!({ "type": "object", "properties": {}, "additionalProperties": false }),
            true,
        );
        assert_eq!(md, "No fields: the object must be empty (`{}`).\n");
    }
}
