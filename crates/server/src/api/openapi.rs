//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document built from the route table (so every
//! documented route exists and every route is documented), with the delivery policy's fields
//! taken from its JSON Schema.

use axum::Json;
use courier_core::schema::schema_of;
use courier_runtime::DeliveryPolicy;
use serde_json::{Map, Value, json};

use super::access::Access;
use super::routes::{Doc, table};

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn policy_properties() -> Map<String, Value> {
    schema_of::<DeliveryPolicy>()["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn schemas() -> Value {
    let mut input = json!({
        "name": {"type": "string", "maxLength": 200, "description": "Display name, unique in the workspace"},
        "slug": {"type": "string", "maxLength": 64, "description": "URL-safe name; derived from name when omitted"},
        "destination_type": {"type": "string", "description": "A connector type from the catalog"},
        "config": {"type": "object", "description": "Validated against the connector's config_schema"},
        "auth_config": {"type": "object", "writeOnly": true, "description": "Validated against the connector's auth_config_schema; stored encrypted, never returned"},
        "signing_secret": {"type": "string", "writeOnly": true, "description": "Webhook signing secret (whsec_...); generated when omitted"},
        "is_active": {"type": "boolean"},
        "payload_cap_bytes": {"type": ["integer", "null"], "minimum": 1},
    });
    let policy = policy_properties();
    input.as_object_mut().unwrap().extend(policy.clone());
    let mut destination = json!({
        "id": {"type": "string"},
        "workspace_id": {"type": "string"},
        "name": {"type": "string"},
        "slug": {"type": "string"},
        "destination_type": {"type": "string"},
        "config": {"type": "object"},
        "status": {"type": "string", "enum": ["pending", "connected", "error", "reauth_required", "disabled"]},
        "status_error": {"type": "string"},
        "is_active": {"type": "boolean"},
        "has_auth_config": {"type": "boolean"},
        "has_signing_secret": {"type": "boolean"},
        "has_oauth_tokens": {"type": "boolean", "description": "An OAuth flow stored tokens for it (google_drive, onedrive)"},
        "payload_cap_bytes": {"type": ["integer", "null"]},
        "event_count": {"type": "integer"},
        "last_delivery_at": {"type": ["string", "null"], "format": "date-time"},
        "last_delivery_status": {"type": ["string", "null"]},
        "created_by": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "signing_secret": {"type": "string", "description": "Only in the create response of a webhook created without one"},
    });
    destination.as_object_mut().unwrap().extend(policy);
    json!({
        "DestinationInput": {"type": "object", "additionalProperties": false, "properties": input,
                             "required": ["name", "destination_type", "config"]},
        "Destination": {"type": "object", "properties": destination},
        "DestinationList": {"type": "array", "items": {"$ref": "#/components/schemas/Destination"}},
        "TestInput": {"type": "object", "additionalProperties": false, "required": ["destination_type", "config"],
                      "properties": {"destination_type": {"type": "string"}, "config": {"type": "object"},
                                     "auth_config": {"type": "object"}, "signing_secret": {"type": "string"},
                                     "payload_cap_bytes": {"type": "integer", "minimum": 1}}},
        "Permissions": {"type": "array", "items": {"type": "object", "properties": {
            "destination_id": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "member"]},
            "trigger_syncs": {"type": "boolean"}, "configure_models_syncs": {"type": "boolean"},
            "manage_destination": {"type": "boolean"}}, "required": ["role"]}},
        "EventInput": {"oneOf": [
            {"type": "object", "required": ["type", "payload"], "additionalProperties": false, "properties": {
                "type": {"type": "string"}, "payload": {}, "idempotency_key": {"type": "string", "maxLength": 255}}},
            {"type": "object", "required": ["events"], "additionalProperties": false, "properties": {
                "events": {"type": "array", "maxItems": 1000, "items": {"type": "object"}}}}]},
        "Accepted": {"type": "object", "properties": {"id": {"type": "string"}, "duplicate": {"type": "boolean"},
                     "deliveries": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "string"}}}},
        "RouteInput": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "destination_id": {"type": "string"},
            "event_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "action": {"type": ["string", "null"]}, "is_active": {"type": "boolean"},
            "field_mapping": {"type": "array", "items": {"type": "object", "properties": {
                "source": {"type": "string"}, "target": {"type": "string"}, "default": {}, "value": {},
                "drop": {"const": true}}}}}},
        "Limits": {"type": "object", "additionalProperties": false, "description": "A workspace's own limits; an absent one is the operator's default", "properties": {
            "max_destinations": {"type": "integer", "minimum": 0}, "max_routes": {"type": "integer", "minimum": 0},
            "events_per_second": {"type": "number", "minimum": 0, "description": "For the whole workspace; 0: none"},
            "max_request_bytes": {"type": "integer", "minimum": 0}}},
        "WorkspaceInput": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "external_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "description": "The host's own tenant id; unique"},
            "metadata": {"type": "object", "description": "Free-form, up to 16 KiB as JSON"},
            "limits": {"$ref": "#/components/schemas/Limits"}}},
        "Workspace": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "external_id": {"type": ["string", "null"]},
            "metadata": {"type": "object"}, "limits": {"$ref": "#/components/schemas/Limits"},
            "effective_limits": {"type": "object", "description": "The limits in force"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
        "WorkspaceList": {"type": "object", "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Workspace"}},
            "next_cursor": {"type": ["string", "null"]}}},
        "ApiKeyInput": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "role": {"type": "string", "enum": ["admin", "member", "publisher", "viewer"]},
            "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "In the future; null: never"}}},
        "ApiKey": {"type": "object", "properties": {
            "id": {"type": "string"}, "workspace_id": {"type": "string"}, "name": {"type": "string"},
            "role": {"type": "string", "enum": ["operator", "admin", "member", "publisher", "viewer"]},
            "prefix": {"type": "string", "description": "The key's first characters, to tell keys apart"},
            "key": {"type": "string", "description": "Only in the create response: the key itself, shown once"},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "last_used_at": {"type": ["string", "null"], "format": "date-time"}}},
        "ApiKeyList": {"type": "object", "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}},
        "AuditLog": {"type": "object", "properties": {
            "data": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "workspace_id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                "key_id": {"type": "string"}, "key_name": {"type": "string"}, "action": {"type": "string"},
                "resource_id": {"type": ["string", "null"]},
                "outcome": {"type": "string", "enum": ["succeeded", "denied", "failed"]},
                "status": {"type": "integer"}, "request_id": {"type": ["string", "null"]}}}},
            "next_cursor": {"type": ["string", "null"]}}},
        "OAuthStart": {"type": "object", "additionalProperties": false, "required": ["destination_id"], "properties": {
            "destination_id": {"type": "string", "description": "The destination to connect; its type must be the path's"},
            "return_to": {"type": "string", "format": "uri", "description": "Where the browser goes after the callback, with oauth_status (and oauth_error) added"}}},
        "OAuthStarted": {"type": "object", "properties": {
            "authorization_url": {"type": "string", "format": "uri", "description": "Send the person here"},
            "destination_id": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"], "properties": {
                "code": {"type": "string", "enum": ["validation_error", "unauthorized", "forbidden", "not_found",
                                                      "conflict", "limit_reached", "rate_limited", "payload_too_large", "internal"]},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "properties": {
                    "path": {"type": "string"}, "message": {"type": "string"}}}}}}}},
    })
}

fn operation(doc: &Doc, path: &str) -> Value {
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok_content = if doc.sse {
        json!({"text/event-stream": {"schema": {"type": "string"}}})
    } else {
        let schema = match doc.ok.1 {
            Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
            None => json!({}),
        };
        json!({"application/json": {"schema": schema}})
    };
    let mut responses = Map::new();
    responses.insert(
        doc.ok.0.to_string(),
        json!({"description": "success", "content": ok_content}),
    );
    if doc.needs_key() {
        responses.insert("401".into(), error("no key, or an unknown key"));
        responses.insert("404".into(), error("not found (or another workspace's)"));
        responses.insert("429".into(), error("rate limited; see Retry-After"));
    }
    if let Some(access) = doc
        .access
        .filter(|a| !matches!(a, Access::Open | Access::AnyKey))
    {
        let why = format!(
            "the key's role may not call this (it needs {} access)",
            access.as_str()
        );
        responses.insert("403".into(), error(&why));
    }
    if doc.body.is_some() {
        responses.insert("413".into(), error("the body is over the size limit"));
        responses.insert(
            "422".into(),
            error("invalid fields, each with its JSON path"),
        );
    }
    let mut op = json!({
        "summary": doc.summary,
        "tags": [doc.tag],
        "operationId": format!("{}_{}", doc.method, path.trim_start_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
        "responses": responses,
        "x-courier-access": doc.access.map(Access::as_str),
    });
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    if let Some(body) = doc.body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {
            "schema": {"$ref": format!("#/components/schemas/{body}")}}}});
    }
    if !doc.needs_key() {
        op["security"] = json!([]);
    }
    op
}

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (doc, path, _) in table() {
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[doc.method] = operation(&doc, path);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Courier Destinations API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Destinations, connection tests and the connector catalog of a Courier host service."
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key (ck_...)"}},
            "schemas": schemas(),
        },
        "paths": paths,
    })
}
