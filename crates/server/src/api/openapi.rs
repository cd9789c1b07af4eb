//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, built from the route table (so every
//! documented route exists and every route is documented) and the Rust types of its requests,
//! query strings, responses and stream events (so the document says what the code parses and
//! writes). Request types are described as they deserialize, responses as they serialize.

use axum::http::header;
use axum::response::IntoResponse;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::access::Access;
use super::error::ErrorBody;
use super::routes::{Doc, table};

pub async fn serve(state: super::State) -> impl IntoResponse {
    let body = state.openapi_json.get_or_init(|| {
        let document =
            super::openapi_document(&state.catalog).unwrap_or_else(|e| json!({"error": e}));
        serde_json::to_vec(&document).unwrap_or_default().into()
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}

/// The connector types this build has, where the document names one: `destination_type`
/// fields and `{type}` path parameters (OAuth routes: the types that connect with OAuth).
pub fn with_catalog(doc: &mut Value, catalog: &courier_catalog::Catalog) {
    let all: Vec<&str> = catalog.types().collect();
    let oauth: Vec<&str> = all
        .iter()
        .copied()
        .filter(|t| {
            catalog
                .get(t)
                .is_ok_and(|c| c.metadata().capabilities.oauth.is_some())
        })
        .collect();
    if let Some(schema) = doc.pointer_mut("/components/schemas/ConnectorType") {
        schema["enum"] = json!(all);
    }
    connector_schemas(doc, catalog);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let types = if path.contains("/oauth/") {
            &oauth
        } else {
            &all
        };
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in parameters
                .iter_mut()
                .filter(|p| p["name"] == "type" && p["in"] == "path")
            {
                p["schema"] = json!({"type": "string", "enum": types});
            }
        }
    }
}

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.contract = contract;
    settings.meta_schema = None;
    SchemaGenerator::new(settings)
}

/// The generators: what requests may hold, what responses do hold, and query strings (whose
/// types are inlined into parameters, not published as components).
struct Generators {
    input: SchemaGenerator,
    output: SchemaGenerator,
    params: SchemaGenerator,
}

/// A query parameter is absent or has a value: `null` is not one it can take.
fn without_null(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            obj.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(options)) = obj.get("anyOf").cloned() {
        let kept: Vec<Value> = options
            .into_iter()
            .filter(|o| o.get("type") != Some(&json!("null")))
            .collect();
        if let [only] = kept.as_slice() {
            obj.remove("anyOf");
            if let Value::Object(inner) = only {
                for (k, v) in inner {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        } else {
            obj.insert("anyOf".into(), Value::Array(kept));
        }
    }
}

fn to_value(schema: Schema) -> Value {
    schema.to_value()
}

/// What each error status means, for every route that can answer it.
fn error_meaning(status: u16, doc: &Doc) -> String {
    match status {
        303 => "redirect".into(),
        400 if doc.content_type == Some("text/html") => {
            "the link (an OAuth callback, a portal URL) is not one this server made, was used already, or expired".into()
        }
        400 => "the body is not JSON, or holds a key twice".into(),
        401 if !doc.needs_key() => "the metrics token is missing or wrong".into(),
        401 => "no key, an unknown, revoked or expired key".into(),
        403 if doc.content_type == Some("text/html") => {
            "the form was not sent from this server's own page".into()
        }
        403 => format!(
            "the key's role may not call this (it needs {} access)",
            doc.access.map(Access::as_str).unwrap_or_default()
        ),
        404 => "not found (or in another workspace)".into(),
        405 => "the path does not take this method".into(),
        408 => "the body did not arrive in time".into(),
        409 => "conflicts with what is stored (a name taken, a resource in use, a limit reached)"
            .into(),
        413 => {
            "the body is over the size limit (max_body_bytes, the workspace's max_request_bytes)"
                .into()
        }
        415 => "the body is not application/json".into(),
        422 => "invalid fields or parameters, each at its JSON path".into(),
        429 => "rate limited; see Retry-After".into(),
        503 => "storing failed; nothing was accepted, send again (see Retry-After)".into(),
        _ => "an error".into(),
    }
}

/// Every status a route can answer besides success: from its access, its body, its query and
/// what its handler declares.
fn error_statuses(doc: &Doc, path: &str) -> Vec<u16> {
    let mut statuses = vec![];
    if doc.needs_key() {
        statuses.extend([401, 429]);
    }
    if doc
        .access
        .is_some_and(|a| !matches!(a, Access::Open | Access::AnyKey))
    {
        statuses.push(403);
    }
    if path.contains('{') {
        statuses.push(404);
    }
    if doc.body.is_some() {
        statuses.extend([400, 408, 413, 415, 422]);
    }
    if doc.query.is_some() {
        statuses.push(422);
    }
    statuses.extend(doc.errors.iter().copied());
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

fn error_response(status: u16, description: &str, doc: &Doc) -> Value {
    if (300..400).contains(&status) {
        return json!({"description": "the browser is sent on (an OAuth callback to return_to, a portal URL to /portal/)",
                      "headers": {"Location": {"required": true, "schema": {"type": "string"}}}});
    }
    match doc.content_type {
        // A page for a person (the OAuth callback) says what went wrong as a page.
        Some(kind @ "text/html") => json!({"description": description,
                                           "content": {kind: {"schema": {"type": "string"}}}}),
        _ => json!({"description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
    }
}

fn success_response(doc: &Doc, g: &mut Generators) -> Value {
    let schema = doc.ok.1.map(|f| to_value(f(&mut g.output)));
    let content = match (doc.sse, doc.content_type, schema) {
        (Some(events), _, _) => {
            // Each event of the stream, as OpenAPI 3.1 describes stream items: its name, and
            // its data as JSON text of a schema.
            let kinds: Vec<Value> = events
                .iter()
                .map(|(name, data)| {
                    json!({"type": "object", "required": ["event", "data"], "properties": {
                        "event": {"const": name},
                        "data": {"type": "string", "contentMediaType": "application/json",
                                 "contentSchema": to_value(data(&mut g.output))},
                        "id": {"type": "string"},
                        "retry": {"type": "integer"},
                    }})
                })
                .collect();
            json!({"text/event-stream": {"schema": {"oneOf": kinds}}})
        }
        (None, Some(kind), _) => json!({kind: {"schema": {"type": "string"}}}),
        (None, None, Some(schema)) => json!({"application/json": {"schema": schema}}),
        (None, None, None) => {
            return json!({"description": doc.ok_description.unwrap_or("no content")});
        }
    };
    json!({"description": doc.ok_description.unwrap_or("success"), "content": content})
}

/// The query parameters, from the query type's properties.
fn query_parameters(doc: &Doc, g: &mut Generators) -> Vec<Value> {
    let Some(query) = doc.query else {
        return Vec::new();
    };
    let resolved = to_value(query(&mut g.params));
    let required: Vec<&str> = resolved["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = resolved["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            without_null(&mut schema);
            let description = schema
                .as_object_mut()
                .and_then(|s| s.remove("description"));
            let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()),
                               "schema": schema});
            if let Some(d) = description {
                p["description"] = d;
            }
            p
        })
        .collect()
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
        .collect();
    let mut id = method.to_string();
    for w in words {
        id.push('_');
        id.push_str(&w.replace(['{', '}'], "").replace(['-', '.'], "_"));
    }
    id
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true,
                          "schema": {"type": "string", "minLength": 1, "pattern": super::model::ID_PATTERN}}))
        .collect()
}

fn operation(doc: &Doc, path: &str, g: &mut Generators) -> Value {
    let mut responses = Map::new();
    responses.insert(doc.ok.0.to_string(), success_response(doc, g));
    for status in error_statuses(doc, path) {
        responses.insert(
            status.to_string(),
            error_response(status, &error_meaning(status, doc), doc),
        );
    }
    let mut op = json!({
        "summary": doc.summary,
        "tags": [doc.tag],
        "operationId": operation_id(doc.method, path),
        "responses": responses,
        "x-courier-access": doc.access.map(Access::as_str),
    });
    if let Some(text) = doc.description {
        op["description"] = json!(text);
    }
    let mut parameters = path_parameters(path);
    parameters.extend(query_parameters(doc, g));
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    if let Some(body) = doc.body {
        let schema = to_value(body(&mut g.input));
        op["requestBody"] = json!({"required": !doc.body_optional,
                                   "content": {"application/json": {"schema": schema}}});
    }
    if !doc.needs_key() {
        op["security"] = json!([]);
    }
    op
}

/// An operation a link leads to.
struct Target {
    operation_id: String,
    path: String,
}

/// Each connector's `config` and `auth_config` schemas, published as components, and tied to
/// `destination_type` in the bodies that name one (a create, a test of a new config): a body
/// the connector would refuse for its shape is one the document refuses too.
fn connector_schemas(doc: &mut Value, catalog: &courier_catalog::Catalog) {
    let mut published = Map::new();
    let mut kinds = Vec::new();
    for type_id in catalog.types() {
        let Ok(connector) = catalog.get(type_id) else {
            continue;
        };
        let name = pascal(type_id);
        let config = hoist(
            &format!("{name}Config"),
            &connector.config_schema(),
            &mut published,
        );
        let auth = hoist(
            &format!("{name}AuthConfig"),
            &connector.auth_schema(),
            &mut published,
        );
        kinds.push((type_id, config, auth));
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    schemas.extend(published);
    // Each body becomes one alternative per connector type: the same fields, with that type's
    // config and auth_config (a self-contained `oneOf`, which generators and validators read
    // alike).
    for body in ["DestinationCreate", "TestInput"] {
        let Some(Value::Object(base)) = schemas.get(body).cloned() else {
            continue;
        };
        let alternatives: Vec<Value> = kinds
            .iter()
            .map(|(type_id, config, auth)| {
                let mut one = base.clone();
                if let Some(Value::Object(properties)) = one.get_mut("properties") {
                    properties.insert("destination_type".into(), json!({"const": type_id}));
                    properties.insert("config".into(), config.clone());
                    if properties.contains_key("auth_config") {
                        properties.insert(
                            "auth_config".into(),
                            json!({"allOf": [auth], "writeOnly": true}),
                        );
                    }
                }
                one.remove("description");
                Value::Object(one)
            })
            .collect();
        let mut replaced = Map::new();
        if let Some(description) = base.get("description") {
            replaced.insert("description".into(), description.clone());
        }
        replaced.insert("oneOf".into(), Value::Array(alternatives));
        schemas.insert(body.to_string(), Value::Object(replaced));
    }
}

/// `webhook` → `Webhook`, `azure_blob` → `AzureBlob`.
fn pascal(type_id: &str) -> String {
    type_id
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Publishes a root schema as `components.schemas[name]`, its `$defs` beside it as
/// `{name}{Def}`, and answers the reference to it.
fn hoist(name: &str, schema: &Value, into: &mut Map<String, Value>) -> Value {
    let mut root = schema.clone();
    let defs = root
        .as_object_mut()
        .and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        })
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    let rename = |def: &str| format!("{name}{def}");
    fn rewrite(v: &mut Value, rename: &dyn Fn(&str) -> String) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get_mut("$ref")
                    && let Some(def) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/components/schemas/{}", rename(def));
                }
                map.values_mut().for_each(|v| rewrite(v, rename));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, rename)),
            _ => {}
        }
    }
    rewrite(&mut root, &rename);
    for (def, mut schema) in defs {
        rewrite(&mut schema, &rename);
        into.insert(rename(&def), schema);
    }
    into.insert(name.to_string(), root);
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Links from where an item's id appears to the operations on that item and below it: a
/// create's answer (`id`) and a list's first item (`data/0/id`), so clients and stateful
/// testers can follow them.
fn add_links(paths: &mut Map<String, Value>) {
    // The parent path, the item's parameter, and the operations under the item.
    let mut targets: Vec<(String, String, Vec<Target>)> = Vec::new();
    for path in paths.keys() {
        let segments: Vec<&str> = path.split('/').collect();
        for (i, segment) in segments.iter().enumerate().skip(1) {
            let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                continue;
            };
            let parent = segments[..i].join("/");
            if !paths.contains_key(&parent) {
                continue;
            }
            let ops: Vec<Target> = paths[path]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, op)| {
                    Some(Target {
                        operation_id: op["operationId"].as_str()?.to_string(),
                        path: path.clone(),
                    })
                })
                .collect();
            match targets
                .iter_mut()
                .find(|(p, q, _)| *p == parent && q == param)
            {
                Some((_, _, list)) => list.extend(ops),
                None => targets.push((parent, param.to_string(), ops)),
            }
        }
    }
    for (parent, param, ops) in targets {
        for (method, status, id_at) in [
            ("post", "201", "#/id"),
            ("post", "202", "#/id"),
            ("get", "200", "#/data/0/id"),
        ] {
            let Some(answer) = paths
                .get_mut(&parent)
                .and_then(|item| item.get_mut(method))
                .and_then(|op| op["responses"].get_mut(status))
            else {
                continue;
            };
            let mut links = answer["links"].as_object().cloned().unwrap_or_default();
            for Target {
                operation_id: op_id,
                path: target_path,
            } in &ops
            {
                let mut parameters = Map::new();
                let mut complete = true;
                for p in target_path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                {
                    let value = if p == param {
                        format!("$response.body{id_at}")
                    } else if parent.contains(&format!("{{{p}}}")) {
                        format!("$request.path.{p}")
                    } else {
                        // An id neither the answer nor the request has.
                        complete = false;
                        break;
                    };
                    parameters.insert(p.to_string(), json!(value));
                }
                if complete {
                    links.insert(
                        op_id.clone(),
                        json!({"operationId": op_id, "parameters": parameters}),
                    );
                }
            }
            answer["links"] = Value::Object(links);
        }
    }
}

/// `"default": null` on a field that cannot be null: an optional field left out is absent, not
/// null (schemars writes the `Option`'s default).
fn strip_null_defaults(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let nullable = match map.get("type") {
                Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
                Some(t) => t == "null",
                None => map.contains_key("anyOf") || map.contains_key("oneOf"),
            };
            if map.get("default") == Some(&Value::Null) && !nullable {
                map.remove("default");
            }
            map.values_mut().for_each(strip_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null_defaults),
        _ => {}
    }
}

/// Request and response types of one name must be one schema: a clash is a bug in the types.
fn merge_definitions(g: &mut Generators) -> Result<Map<String, Value>, String> {
    let mut all = g.input.take_definitions(true);
    for (name, schema) in g.output.take_definitions(true) {
        match all.get(&name) {
            Some(existing) if *existing != schema => {
                return Err(format!(
                    "{name} is described differently as a request and as a response"
                ));
            }
            _ => {
                all.insert(name, schema);
            }
        }
    }
    Ok(all)
}

/// The document, or what is wrong with the route table's types.
pub fn try_document() -> Result<Value, String> {
    let mut params = SchemaSettings::draft2020_12();
    params.inline_subschemas = true;
    params.meta_schema = None;
    let mut g = Generators {
        input: generator(Contract::Deserialize),
        output: generator(Contract::Serialize),
        params: SchemaGenerator::new(params),
    };
    g.output.subschema_for::<ErrorBody>();
    let mut paths: Map<String, Value> = Map::new();
    for (doc, path, _) in table() {
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[doc.method] = operation(&doc, path, &mut g);
    }
    add_links(&mut paths);
    let schemas = merge_definitions(&mut g)?;
    let mut document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Courier Destinations API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Destinations, routes, events and their deliveries, connection tests, tenancy and the connector catalog of a Courier host service. Errors always have the shape of `Error`."
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (ck_...): Authorization: Bearer <key>"}},
            "schemas": schemas,
        },
        "paths": paths,
    });
    strip_null_defaults(&mut document);
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_and_link_resolves_and_every_answer_is_documented() {
        let doc = try_document().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            assert!(doc.pointer(&r[1..]).is_some(), "{r} does not resolve");
        }
        let mut ids = std::collections::HashSet::new();
        let ops: Vec<(&String, &String, &Value)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .iter()
                    .map(move |(m, op)| (path, m, op))
            })
            .collect();
        for (_, _, op) in &ops {
            assert!(ids.insert(op["operationId"].as_str().unwrap()), "{op}");
        }
        for (path, method, op) in &ops {
            let responses = op["responses"].as_object().unwrap();
            let secured = op.get("security") != Some(&json!([]));
            if secured {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path}");
            }
            for answer in responses.values() {
                for link in answer["links"].as_object().into_iter().flatten() {
                    let target = link.1["operationId"].as_str().unwrap();
                    assert!(ids.contains(target), "{method} {path} links to {target}");
                }
            }
        }
        // Creates link to what they made.
        let created =
            &doc["paths"]["/api/v1/workspaces/{ws}/destinations"]["post"]["responses"]["201"];
        assert!(
            created["links"]
                .as_object()
                .unwrap()
                .contains_key("get_workspaces_ws_destinations_dest_fields"),
            "{created}"
        );
    }

    #[test]
    fn request_fields_are_not_nullable_unless_null_means_something() {
        let doc = try_document().unwrap();
        let create = &doc["components"]["schemas"]["DestinationCreate"]["properties"];
        assert_eq!(create["name"]["type"], "string", "{create}");
        assert_eq!(
            create["payload_cap_bytes"]["type"],
            json!(["integer", "null"]),
            "null clears the cap"
        );
        let stream = &doc["paths"]["/api/v1/workspaces/{ws}/destinations/test"]["post"]["responses"]
            ["200"]["content"]["text/event-stream"]["schema"]["oneOf"];
        assert_eq!(stream[0]["properties"]["event"]["const"], "step");
        assert_eq!(stream[1]["properties"]["event"]["const"], "done");
    }
}
