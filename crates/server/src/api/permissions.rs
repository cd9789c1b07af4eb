//! Per-destination role permissions (`trigger_syncs`, `configure_models_syncs`,
//! `manage_destination`), shown and changed per role and enforced: a `member` without
//! `manage_destination` cannot change or delete the destination. Admins may always do
//! everything.

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::State;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::valid::{Input, Valid};
use crate::ids;
use crate::store::{DestinationRow, Role};

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

/// Refuses (403) a caller whose role lacks `permission` on `d` (404 for a destination the
/// caller's portal session does not see).
pub fn require(who: &Principal, d: &DestinationRow, permission: &str) -> Result<(), ApiError> {
    // A portal session's hidden destinations are not found, whatever the permission.
    who.sees(d)?;
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

/// What one role may do on a destination.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RolePermissions {
    pub destination_id: String,
    pub role: PermissionRole,
    pub trigger_syncs: bool,
    pub configure_models_syncs: bool,
    pub manage_destination: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermissionRole {
    Admin,
    Member,
}

/// `true`, the only value an admin's permissions take.
#[derive(Debug, Clone, Copy)]
pub struct AlwaysTrue;

impl<'de> Deserialize<'de> for AlwaysTrue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match bool::deserialize(d)? {
            true => Ok(AlwaysTrue),
            false => Err(serde::de::Error::custom(
                "admins always have every permission",
            )),
        }
    }
}

impl JsonSchema for AlwaysTrue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AlwaysTrue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"const": true, "description": "Admins always have every permission"})
    }
}

/// One role's permissions to set (`destination_id` is accepted as the lists show it, and
/// ignored).
// An admin's flags and either role's destination_id are only checked, never used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "role", rename_all = "snake_case", deny_unknown_fields)]
pub enum PermissionChange {
    Admin {
        #[serde(default)]
        #[schemars(with = "String")]
        destination_id: Option<String>,
        #[serde(default)]
        #[schemars(with = "AlwaysTrue")]
        trigger_syncs: Option<AlwaysTrue>,
        #[serde(default)]
        #[schemars(with = "AlwaysTrue")]
        configure_models_syncs: Option<AlwaysTrue>,
        #[serde(default)]
        #[schemars(with = "AlwaysTrue")]
        manage_destination: Option<AlwaysTrue>,
    },
    Member {
        #[serde(default)]
        #[schemars(with = "String")]
        destination_id: Option<String>,
        #[serde(default)]
        #[schemars(with = "bool")]
        trigger_syncs: Option<bool>,
        #[serde(default)]
        #[schemars(with = "bool")]
        configure_models_syncs: Option<bool>,
        #[serde(default)]
        #[schemars(with = "bool")]
        manage_destination: Option<bool>,
    },
}

/// `PUT .../permissions`: one entry per role to change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct PermissionChanges(#[schemars(length(max = 2))] pub Vec<PermissionChange>);

impl Input for PermissionChanges {}

fn listing(d: &DestinationRow) -> Vec<RolePermissions> {
    vec![
        RolePermissions {
            destination_id: d.id.clone(),
            role: PermissionRole::Admin,
            trigger_syncs: true,
            configure_models_syncs: true,
            manage_destination: true,
        },
        RolePermissions {
            destination_id: d.id.clone(),
            role: PermissionRole::Member,
            trigger_syncs: member_has(d, "trigger_syncs"),
            configure_models_syncs: member_has(d, "configure_models_syncs"),
            manage_destination: member_has(d, "manage_destination"),
        },
    ]
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
) -> ApiResult<Json<Vec<RolePermissions>>> {
    let d = load(&state, &who, &ws, &dest).await?;
    Ok(Json(listing(&d)))
}

/// `PUT .../permissions` with `[{"role": "member", "manage_destination": true, ...}]`.
pub async fn put(
    state: State,
    who: Principal,
    Path((ws, dest)): Path<(String, String)>,
    Valid(PermissionChanges(changes)): Valid<PermissionChanges>,
) -> ApiResult<Json<Vec<RolePermissions>>> {
    let mut d = load(&state, &who, &ws, &dest).await?;
    if !who.is_admin() {
        return Err(ApiError::forbidden("only admins change permissions"));
    }
    let mut member = d.permissions["member"].clone();
    for change in changes {
        if let PermissionChange::Member {
            trigger_syncs,
            configure_models_syncs,
            manage_destination,
            ..
        } = change
        {
            for (name, given) in [
                ("trigger_syncs", trigger_syncs),
                ("configure_models_syncs", configure_models_syncs),
                ("manage_destination", manage_destination),
            ] {
                if let Some(b) = given {
                    member[name] = json!(b);
                }
            }
        }
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
