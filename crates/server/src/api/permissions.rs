//! Per-destination role permissions (`trigger_syncs`, `configure_models_syncs`,
//! `manage_destination`), shown and changed per role and enforced: a `member` without
//! `manage_destination` cannot change or delete the destination. Admins may always do
//! everything.

use axum::Json;
use axum::extract::Path;
use courier_core::FieldError;
use serde_json::{Value, json};

use super::State;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::{DestinationRow, Role};

pub const PERMISSIONS: &[&str] = &[
    "trigger_syncs",
    "configure_models_syncs",
    "manage_destination",
];

/// What a new destination starts with: members may trigger syncs only.
pub fn defaults() -> Value {
    json!({
        "member": {"trigger_syncs": true, "configure_models_syncs": false, "manage_destination": false}
    })
}

fn member_has(d: &DestinationRow, permission: &str) -> bool {
    d.permissions["member"][permission]
        .as_bool()
        .unwrap_or(false)
}

/// Refuses (403) a caller whose role lacks `permission` on `d`.
pub fn require(who: &Principal, d: &DestinationRow, permission: &str) -> Result<(), ApiError> {
    match who.key.role {
        Role::Operator | Role::Admin => Ok(()),
        Role::Member if member_has(d, permission) => Ok(()),
        Role::Member => Err(ApiError::forbidden(format!(
            "the member role lacks {permission} on this destination"
        ))),
        // Their routes' guard refuses them first; refused here too.
        Role::Publisher | Role::Viewer => Err(ApiError::forbidden(format!(
            "the {} role lacks {permission}",
            who.key.role.as_str()
        ))),
    }
}

fn listing(d: &DestinationRow) -> Value {
    let admin = json!({"destination_id": d.id, "role": "admin", "trigger_syncs": true,
                       "configure_models_syncs": true, "manage_destination": true});
    let mut member = json!({"destination_id": d.id, "role": "member"});
    for p in PERMISSIONS {
        member[*p] = json!(member_has(d, p));
    }
    json!([admin, member])
}

async fn load(state: &State, who: &Principal, ws: &str, dest: &str) -> ApiResult<DestinationRow> {
    let ws = who.workspace(ws)?;
    state
        .store
        .destination(ws, dest)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))
}

pub async fn get(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let d = load(&state, &who, &ws, &dest).await?;
    Ok(Json(listing(&d)))
}

/// `PUT .../permissions` with `[{"role": "member", "manage_destination": true, ...}]`.
pub async fn put(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut d = load(&state, &who, &ws, &dest).await?;
    if !who.is_admin() {
        return Err(ApiError::forbidden("only admins change permissions"));
    }
    let Some(entries) = body.as_array() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "",
            "must be an array of {role, trigger_syncs, configure_models_syncs, manage_destination}",
        )]));
    };
    let mut errors = Vec::new();
    let mut member = d.permissions["member"].clone();
    for (i, entry) in entries.iter().enumerate() {
        let Some(fields) = entry.as_object() else {
            errors.push(FieldError::new(format!("/{i}"), "must be an object"));
            continue;
        };
        let role = fields.get("role").and_then(Value::as_str);
        for (key, value) in fields {
            let path = format!("/{i}/{}", courier_core::spec::pointer_segment(key));
            match key.as_str() {
                "role" | "destination_id" => {}
                k if PERMISSIONS.contains(&k) => match (role, value.as_bool()) {
                    (_, None) => errors.push(FieldError::new(path, "must be true or false")),
                    (Some("member"), Some(b)) => member[k] = json!(b),
                    (Some("admin"), Some(true)) => {}
                    (Some("admin"), Some(false)) => {
                        errors.push(FieldError::new(path, "admins always have every permission"))
                    }
                    _ => {}
                },
                _ => errors.push(FieldError::new(path, "is not a permission")),
            }
        }
        if !matches!(role, Some("admin" | "member")) {
            errors.push(FieldError::new(
                format!("/{i}/role"),
                "must be admin or member",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    d.permissions["member"] = member;
    let read_at = std::mem::replace(&mut d.updated_at, ids::now());
    if !state
        .store
        .update_destination(&d, &read_at)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::changed_meanwhile());
    }
    Ok(Json(listing(&d)))
}
