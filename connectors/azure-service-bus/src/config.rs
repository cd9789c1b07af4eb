//! Service Bus config and auth_config: typed, documented (doc comments become the JSON Schema),
//! validated without I/O; the config declares the keys read from each record (the session id
//! and the application properties).

use std::collections::BTreeMap;

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, KeyTemplate, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connection_string::ConnectionString;

/// The longest application property value taken from a record, in characters.
pub const MAX_PROPERTY_CHARS: usize = 32 * 1024;
/// The most application properties a user may set (the event's two come on top).
pub const MAX_PROPERTIES: usize = 64;

/// Where messages go and what each carries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureServiceBusConfig {
    /// The Service Bus namespace, e.g. `acme-prod` for
    /// `https://acme-prod.servicebus.windows.net` (6-50 letters, digits and hyphens). Set this
    /// or `endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"acme-prod")]
    pub namespace: Option<String>,
    /// The namespace's base URL, for sovereign clouds and local stand-ins, e.g.
    /// `https://acme.servicebus.chinacloudapi.cn`. Set this or `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"https://acme.servicebus.usgovcloudapi.net")]
    pub endpoint: Option<String>,
    /// The queue or topic messages are sent to, e.g. `orders` (segments of letters, digits,
    /// `.`, `-` and `_`, separated by `/`).
    #[schemars(length(min = 1, max = 260), example = &"orders")]
    pub entity_path: String,
    /// Each message's `SessionId`, read from its record: a dot path (`customer.id`) or a
    /// template (`{customer.id}-{region}`). Required by queues with sessions; without it
    /// messages carry no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"customer.id")]
    pub session_id_template: Option<String>,
    /// Application properties: property name → a template read from the record, e.g.
    /// `{"event_type": "type"}`. Every message also carries `courier_event_type` and
    /// `courier_event_id`, names a user may not take.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub application_properties: BTreeMap<String, String>,
}

impl AzureServiceBusConfig {
    /// The namespace's base URL, without a trailing `/`.
    pub fn base_url(&self) -> String {
        match (&self.endpoint, &self.namespace) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, Some(ns)) => format!("https://{ns}.servicebus.windows.net"),
            (None, None) => String::new(),
        }
    }
}

impl MessageConfig for AzureServiceBusConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let session = KeySpec {
            field: "session_id_template",
            name: "session id",
            template: self.session_id_template.as_deref(),
            fallback_field: None,
            fallback: None,
            max_chars: 128,
        };
        let properties = self.application_properties.values().map(|t| KeySpec {
            field: "application_properties",
            name: "application property",
            template: Some(t),
            fallback_field: None,
            fallback: None,
            max_chars: MAX_PROPERTY_CHARS,
        });
        std::iter::once(session).chain(properties).collect()
    }
}

/// Whether `name` is a namespace name Azure accepts: 6-50 letters, digits and hyphens,
/// starting with a letter and ending with a letter or digit.
fn is_namespace(name: &str) -> bool {
    (6..=50).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Why `path` is not a queue or topic path, if it is not.
pub(crate) fn entity_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() || path.len() > 260 {
        return Some("must be 1 to 260 characters");
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !s.starts_with('.')
            && !s.ends_with('.')
    };
    if !path.split('/').all(segment_ok) {
        return Some(
            "must be a queue or topic name: segments of letters, digits, `.`, `-` and `_` separated by single `/`",
        );
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.eq_ignore_ascii_case("messages")
        || path.to_ascii_lowercase().contains("/subscriptions/")
    {
        return Some("must name a queue or topic (messages are sent to the entity itself)");
    }
    None
}

/// Whether `name` is an application property name Courier sends: 1-128 visible characters.
fn property_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.chars().count())
        && name.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

impl ConfigSpec for AzureServiceBusConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.namespace, &self.endpoint) {
            (None, None) => errors.push(FieldError::new("", "needs namespace or endpoint")),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                "/endpoint",
                "cannot be set with namespace; choose one",
            )),
            _ => {}
        }
        if let Some(ns) = &self.namespace
            && !is_namespace(ns)
        {
            errors.push(FieldError::new(
                "/namespace",
                "must be a namespace name (6-50 letters, digits and hyphens, starting with a letter), e.g. acme-prod for acme-prod.servicebus.windows.net",
            ));
        }
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.query().is_none()
                        && u.fragment().is_none()
                        && u.username().is_empty()
                        && u.password().is_none() => {}
                _ => errors.push(FieldError::new(
                    "/endpoint",
                    "must be an absolute http(s) URL without credentials, query or fragment, e.g. https://acme.servicebus.windows.net",
                )),
            }
        }
        if let Some(problem) = entity_path_problem(&self.entity_path) {
            errors.push(FieldError::new("/entity_path", problem));
        }
        if let Some(t) = &self.session_id_template
            && let Err(m) = KeyTemplate::parse(t)
        {
            errors.push(FieldError::new("/session_id_template", m));
        }
        if self.application_properties.len() > MAX_PROPERTIES {
            errors.push(FieldError::new(
                "/application_properties",
                format!("has more than {MAX_PROPERTIES} properties"),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "application_properties",
            &self.application_properties,
            "property",
            |name| {
                property_name_ok(name).then_some(()).ok_or_else(|| {
                    "must be 1-128 characters without spaces or control characters".to_string()
                })
            },
        ));
        errors
    }
}

/// How Courier signs in: exactly one of a connection string, a shared access policy's key
/// name and key, or an Entra ID service principal (`tenant_id`, `client_id`,
/// `client_secret`). The policy or role needs Send rights on the entity (Manage, or the Azure
/// Service Bus Data Owner role, also lets the connection test read the entity's description).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureServiceBusAuth {
    /// A connection string from the namespace's or entity's shared access policy:
    /// `Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=...`
    /// (an `EntityPath` must match `entity_path`).
    #[serde(default)]
    pub connection_string: Option<Secret>,
    /// The shared access policy's name, e.g. `RootManageSharedAccessKey` (with `sas_key`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 256), example = &"courier-send")]
    pub sas_key_name: Option<String>,
    /// The shared access policy's primary or secondary key (with `sas_key_name`).
    #[serde(default)]
    pub sas_key: Option<Secret>,
    /// The Entra ID (Azure AD) tenant of the service principal, a GUID or a domain such as
    /// `contoso.onmicrosoft.com`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The service principal's application (client) id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The service principal's client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The Entra ID authority for sovereign clouds, e.g. `https://login.chinacloudapi.cn`;
    /// `https://login.microsoftonline.com` by default.
    #[serde(default)]
    pub authority_host: Option<String>,
}

impl AzureServiceBusAuth {
    /// Whether any service principal field is set.
    pub fn is_principal(&self) -> bool {
        self.tenant_id.is_some() || self.client_id.is_some() || self.client_secret.is_some()
    }
}

impl AuthSpec for AzureServiceBusAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let sas = self.sas_key_name.is_some() || self.sas_key.is_some();
        let methods = [self.connection_string.is_some(), sas, self.is_principal()];
        match methods.iter().filter(|&&m| m).count() {
            0 => errors.push(FieldError::new(
                "",
                "needs one of connection_string, sas_key_name + sas_key, or tenant_id + client_id + client_secret",
            )),
            1 => {}
            _ => errors.push(FieldError::new(
                "",
                "sets more than one of connection_string, the shared access key and the service principal; choose one",
            )),
        }
        if sas {
            if self.sas_key_name.is_none() {
                errors.push(FieldError::new("/sas_key_name", "is required with sas_key"));
            }
            if self.sas_key.is_none() {
                errors.push(FieldError::new("/sas_key", "is required with sas_key_name"));
            }
        }
        if let Some(name) = &self.sas_key_name
            && (name.is_empty()
                || name.len() > 256
                || name.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            errors.push(FieldError::new(
                "/sas_key_name",
                "must be a shared access policy name (1-256 characters, no spaces)",
            ));
        }
        if let Some(key) = &self.sas_key
            && (key.expose().is_empty() || key.expose().len() > 256)
        {
            errors.push(FieldError::new(
                "/sas_key",
                "must be the policy's key (1-256 characters)",
            ));
        }
        if let Some(cs) = &self.connection_string
            && let Err(message) = ConnectionString::parse(cs.expose())
        {
            errors.push(FieldError::new("/connection_string", message));
        }
        if self.is_principal() {
            for (present, field) in [
                (self.tenant_id.is_some(), "/tenant_id"),
                (self.client_id.is_some(), "/client_id"),
                (self.client_secret.is_some(), "/client_secret"),
            ] {
                if !present {
                    errors.push(FieldError::new(
                        field,
                        "is required for a service principal",
                    ));
                }
            }
        }
        if let Some(tenant) = &self.tenant_id
            && (tenant.is_empty()
                || tenant.len() > 256
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            errors.push(FieldError::new(
                "/tenant_id",
                "must be a tenant id (a GUID) or domain such as contoso.onmicrosoft.com",
            ));
        }
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 256)
        {
            errors.push(FieldError::new(
                "/client_id",
                "must be the application (client) id",
            ));
        }
        if let Some(secret) = &self.client_secret
            && secret.expose().is_empty()
        {
            errors.push(FieldError::new("/client_secret", "must not be empty"));
        }
        if let Some(host) = &self.authority_host {
            if self.tenant_id.is_none() {
                errors.push(FieldError::new(
                    "/authority_host",
                    "only applies with a service principal",
                ));
            }
            match url::Url::parse(host) {
                Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
                _ => errors.push(FieldError::new(
                    "/authority_host",
                    "must be an https URL such as https://login.microsoftonline.com",
                )),
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn config_errors(value: Value) -> Vec<String> {
        let config: AzureServiceBusConfig = serde_json::from_value(value).unwrap();
        config.validate().into_iter().map(|e| e.path).collect()
    }

    fn auth_errors(value: Value) -> Vec<String> {
        let auth: AzureServiceBusAuth = serde_json::from_value(value).unwrap();
        auth.validate().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn namespace_or_endpoint_and_an_entity() {
        assert!(
            config_errors(json!({"namespace": "acme-prod", "entity_path": "orders"})).is_empty()
        );
        assert!(
            config_errors(json!({"endpoint": "http://127.0.0.1:9/", "entity_path": "a/b-c.d_e"}))
                .is_empty()
        );
        assert_eq!(config_errors(json!({"entity_path": "orders"})), [""]);
        assert_eq!(
            config_errors(
                json!({"namespace": "acme-prod", "endpoint": "https://x", "entity_path": "o"})
            ),
            ["/endpoint"]
        );
        for bad in [
            "",
            "a//b",
            "/a",
            "a/",
            "a b",
            "q/messages",
            "t/subscriptions/s",
            ".a",
        ] {
            assert_eq!(
                config_errors(json!({"namespace": "acme-prod", "entity_path": bad})),
                ["/entity_path"],
                "{bad:?}"
            );
        }
        for bad in ["acme", "1acme-prod", "acme-prod-", "acme_prod"] {
            assert_eq!(
                config_errors(json!({"namespace": bad, "entity_path": "o"})),
                ["/namespace"],
                "{bad:?}"
            );
        }
        assert_eq!(
            config_errors(json!({"endpoint": "https://u:p@x.example", "entity_path": "o"})),
            ["/endpoint"]
        );
    }

    #[test]
    fn properties_may_not_take_the_event_names_and_templates_are_checked() {
        let paths = config_errors(json!({
            "namespace": "acme-prod", "entity_path": "o",
            "session_id_template": "{a",
            "application_properties": {"Courier_Event_Type": "type", "a/b": "x..y", "ok": "type"}
        }));
        assert_eq!(
            paths,
            [
                "/session_id_template",
                "/application_properties/Courier_Event_Type",
                "/application_properties/a~1b"
            ]
        );
        let many: serde_json::Map<_, _> = (0..=MAX_PROPERTIES)
            .map(|i| (format!("p{i}"), json!("type")))
            .collect();
        assert_eq!(
            config_errors(
                json!({"namespace": "acme-prod", "entity_path": "o", "application_properties": many})
            ),
            ["/application_properties"]
        );
    }

    #[test]
    fn exactly_one_way_to_sign_in() {
        assert!(auth_errors(json!({"sas_key_name": "send", "sas_key": "k"})).is_empty());
        assert!(
            auth_errors(json!({"tenant_id": "contoso.onmicrosoft.com", "client_id": "c", "client_secret": "s"}))
                .is_empty()
        );
        assert_eq!(auth_errors(json!({})), [""]);
        assert_eq!(
            auth_errors(json!({"sas_key_name": "send", "sas_key": "k", "client_secret": "s"})),
            ["", "/tenant_id", "/client_id"]
        );
        assert_eq!(auth_errors(json!({"sas_key": "k"})), ["/sas_key_name"]);
        assert_eq!(
            auth_errors(json!({"connection_string": "Endpoint=sb://x/"})),
            ["/connection_string"]
        );
        assert_eq!(
            auth_errors(
                json!({"tenant_id": "t", "client_id": "c", "client_secret": "s",
                "authority_host": "http://login.example"})
            ),
            ["/authority_host"]
        );
    }
}
