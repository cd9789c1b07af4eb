//! NATS config and credentials: typed, documented (doc comments become the JSON Schema) and
//! validated without I/O; the config declares the keys read from each record (the subject's
//! placeholders and the headers).

use std::collections::BTreeMap;

use async_nats::ServerAddr;
use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_messages::{KeySpec, MessageConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::subject::{MAX_SUBJECT_CHARS, SubjectTemplate};

/// The most servers one destination lists.
const MAX_SERVERS: usize = 16;
/// The most headers a user may set on each message.
const MAX_HEADERS: usize = 32;

/// Where messages go and what each carries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// The servers of one cluster, as `nats://host:4222` or `tls://host:4222` URLs (port 4222
    /// when none is given; `tls://` always uses TLS, `nats://` when the server asks for it).
    /// Courier connects to one of them and moves to another when it fails. Servers a cluster
    /// advertises beyond this list are not used.
    #[schemars(length(min = 1, max = 16))]
    pub servers: Vec<String>,
    /// The subject each record is published to: fixed (`orders.created`) or with placeholders
    /// read from the record's payload (`orders.{customer.region}`). A record whose rendered
    /// subject is empty, holds a space or a wildcard (`*`, `>`) fails alone.
    #[schemars(length(min = 1, max = 1024))]
    pub subject_template: String,
    /// Publish through JetStream (the default): a record counts as delivered once the stream
    /// capturing its subject has stored it and acknowledged it, and its record id is the
    /// `Nats-Msg-Id`, so the stream drops a retried copy within its duplicate window. Off,
    /// messages go to core NATS (publish and flush): at most once, to whoever subscribes at
    /// that moment, with nothing stored.
    #[serde(default = "default_jetstream")]
    pub jetstream: bool,
    /// Headers on every message: header name → a template read from the record (a dot path
    /// such as `customer.id`, or `{customer.id}-{type}`). Every message also carries
    /// `courier_event_type`, `courier_event_id` and `Nats-Msg-Id`; names starting with
    /// `Nats-` are the server's and may not be set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A CA certificate (PEM) to trust for the servers' TLS certificates, for clusters with a
    /// private CA; without it the system's roots are used. Certificates and host names are
    /// always verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_jetstream() -> bool {
    true
}

impl NatsConfig {
    /// The parsed subject template (validation has refused a bad one; a bad one here is
    /// reported as an empty fixed subject, which no publish accepts).
    pub fn subject(&self) -> SubjectTemplate {
        SubjectTemplate::parse(&self.subject_template)
            .unwrap_or_else(|_| SubjectTemplate::Fixed(String::new()))
    }
}

impl MessageConfig for NatsConfig {
    fn keys(&self) -> Vec<KeySpec<'_>> {
        let subject_placeholders = match SubjectTemplate::parse(&self.subject_template) {
            Ok(SubjectTemplate::Template(_)) => Some(self.subject_template.as_str()),
            _ => None,
        };
        let subject = KeySpec {
            field: "subject_template",
            name: "subject",
            template: subject_placeholders,
            fallback_field: None,
            fallback: None,
            max_chars: MAX_SUBJECT_CHARS,
        };
        let headers = self.headers.values().map(|template| KeySpec {
            field: "headers",
            name: "header",
            template: Some(template),
            fallback_field: None,
            fallback: None,
            max_chars: 8 * 1024,
        });
        std::iter::once(subject).chain(headers).collect()
    }
}

impl ConfigSpec for NatsConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.servers.is_empty() {
            errors.push(FieldError::new("/servers", "must list at least one server"));
        }
        if self.servers.len() > MAX_SERVERS {
            errors.push(FieldError::new(
                "/servers",
                format!("lists more than {MAX_SERVERS} servers"),
            ));
        }
        for (i, server) in self.servers.iter().enumerate() {
            if let Err(message) = parse_server(server) {
                errors.push(FieldError::new(format!("/servers/{i}"), message));
            }
        }
        if let Err(message) = SubjectTemplate::parse(&self.subject_template) {
            errors.push(FieldError::new("/subject_template", message));
        }
        if self.headers.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "/headers",
                format!("has more than {MAX_HEADERS} headers"),
            ));
        }
        errors.extend(courier_messages::check_named_templates(
            "headers",
            &self.headers,
            "header",
            check_header_name,
        ));
        if let Some(pem) = &self.ca_pem
            && let Err(message) = crate::tls::parse_ca(pem)
        {
            errors.push(FieldError::new("/ca_pem", message));
        }
        errors
    }
}

/// A server URL as the client takes it, or why it cannot be used. Messages never quote the
/// URL (it could carry credentials).
pub fn parse_server(raw: &str) -> Result<ServerAddr, String> {
    let scheme_ok = raw.starts_with("nats://") || raw.starts_with("tls://");
    if !scheme_ok {
        return Err("must be a nats:// or tls:// URL such as nats://nats.example.com:4222".into());
    }
    let addr: ServerAddr = raw
        .parse()
        .map_err(|_| "must be a nats:// or tls:// URL such as nats://nats.example.com:4222")?;
    if addr.host().is_empty() {
        return Err("must name a host".into());
    }
    if addr.has_user_pass() || addr.password().is_some() {
        return Err("must not contain credentials; set them in auth_config".into());
    }
    let url = addr.clone().into_inner();
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a server address without a path, query or fragment".into());
    }
    Ok(addr)
}

/// Whether `name` is a header name NATS carries and Courier leaves to the user.
fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err("must be 1 to 256 characters".into());
    }
    if name.chars().any(|c| !c.is_ascii_graphic() || c == ':') {
        return Err("must be printable ASCII without spaces or `:`".into());
    }
    if name.len() >= 5 && name[..5].eq_ignore_ascii_case("nats-") {
        return Err(
            "starts with `Nats-`: such headers instruct the server and are not set here".into(),
        );
    }
    Ok(())
}

/// How Courier signs in: exactly one of a token, a user name and password, an nkey seed, or
/// the content of a `.creds` file (a user JWT and its nkey seed, from `nsc` or Synadia
/// Cloud). The user needs publish permission on the subjects and, with JetStream, subscribe
/// permission on `_INBOX.>` for the acknowledgements.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsAuth {
    /// A token the server's `authorization { token }` accepts.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The user name (with `password`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub username: Option<String>,
    /// The user's password (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// A user nkey seed (`SU…`, 58 characters): the server knows the user by its public key.
    #[serde(default)]
    pub nkey_seed: Option<Secret>,
    /// The content of a `.creds` file: `-----BEGIN NATS USER JWT-----` … and the user's nkey
    /// seed.
    #[serde(default)]
    pub credentials: Option<Secret>,
}

impl NatsAuth {
    /// What kind of credential this is, for messages (never the value).
    pub fn method(&self) -> &'static str {
        if self.token.is_some() {
            "a token"
        } else if self.nkey_seed.is_some() {
            "an nkey"
        } else if self.credentials.is_some() {
            "a .creds file"
        } else {
            "a user name and password"
        }
    }
}

impl AuthSpec for NatsAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let user = self.username.is_some() || self.password.is_some();
        let methods = [
            self.token.is_some(),
            user,
            self.nkey_seed.is_some(),
            self.credentials.is_some(),
        ];
        match methods.iter().filter(|&&m| m).count() {
            0 => errors.push(FieldError::new(
                "",
                "needs one of token, username + password, nkey_seed or credentials",
            )),
            1 => {}
            _ => errors.push(FieldError::new(
                "",
                "sets more than one of token, username + password, nkey_seed and credentials; choose one",
            )),
        }
        if user {
            match &self.username {
                None => errors.push(FieldError::new("/username", "is required with password")),
                Some(name) if name.is_empty() || name.chars().any(char::is_whitespace) => errors
                    .push(FieldError::new(
                        "/username",
                        "must be a user name without spaces",
                    )),
                Some(_) => {}
            }
            match &self.password {
                None => errors.push(FieldError::new("/password", "is required with username")),
                Some(p) if p.expose().is_empty() => {
                    errors.push(FieldError::new("/password", "must not be empty"))
                }
                Some(_) => {}
            }
        }
        if let Some(token) = &self.token
            && token.expose().trim().is_empty()
        {
            errors.push(FieldError::new("/token", "must not be empty"));
        }
        if let Some(seed) = &self.nkey_seed
            && !is_user_seed(seed.expose().trim())
        {
            errors.push(FieldError::new(
                "/nkey_seed",
                "must be a user nkey seed: 58 characters starting with SU",
            ));
        }
        if let Some(creds) = &self.credentials
            && async_nats::ConnectOptions::with_credentials(creds.expose()).is_err()
        {
            errors.push(FieldError::new(
                "/credentials",
                "must be the content of a .creds file: a user JWT and the user's nkey seed",
            ));
        }
        errors
    }
}

/// Whether `seed` looks like a user nkey seed (the client checks its checksum on connect).
fn is_user_seed(seed: &str) -> bool {
    seed.len() == 58
        && seed.starts_with("SU")
        && seed
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn config_errors(patch: Value) -> Vec<String> {
        let mut config = json!({
            "servers": ["nats://nats.example.com:4222"],
            "subject_template": "orders.created",
        });
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        let config: NatsConfig = serde_json::from_value(config).unwrap();
        config.validate().iter().map(|e| e.to_string()).collect()
    }

    fn auth_errors(auth: Value) -> Vec<String> {
        let auth: NatsAuth = serde_json::from_value(auth).unwrap();
        auth.validate().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_good_config_validates_and_jetstream_is_the_default() {
        assert!(config_errors(json!({})).is_empty());
        let config: NatsConfig = serde_json::from_value(json!({
            "servers": ["tls://a.example.com", "nats://10.0.0.1:4333"],
            "subject_template": "orders.{customer.region}",
            "headers": {"Customer": "customer.id"},
        }))
        .unwrap();
        assert!(config.validate().is_empty());
        assert!(config.jetstream);
    }

    #[test]
    fn servers_need_a_nats_or_tls_url_without_credentials() {
        let errors = config_errors(json!({"servers": [
            "http://a.example.com", "nats.example.com:4222", "nats://u:secretpw@a.example.com",
            "tls://a.example.com:4222", "nats://"
        ]}));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("/servers/0: must be a nats:// or tls:// URL"));
        assert!(errors[1].starts_with("/servers/1: must be a nats:// or tls:// URL"));
        assert!(errors[2].starts_with("/servers/2: must not contain credentials"));
        assert!(errors[3].starts_with("/servers/4:"));
        assert!(!errors.concat().contains("secretpw"));
        assert_eq!(
            config_errors(json!({"servers": []})),
            ["/servers: must list at least one server"]
        );
    }

    #[test]
    fn subject_templates_are_checked_at_save_time() {
        let paths = |t: &str| config_errors(json!({ "subject_template": t }));
        assert!(paths("orders.{id}")[..].is_empty());
        for bad in [
            "orders.*",
            "orders >",
            "orders.{id",
            "",
            "orders..{id}",
            "$JS.API.X",
        ] {
            let errors = paths(bad);
            assert_eq!(errors.len(), 1, "{bad:?}: {errors:?}");
            assert!(errors[0].starts_with("/subject_template: "), "{errors:?}");
        }
    }

    #[test]
    fn headers_are_checked_by_name_and_template() {
        let errors = config_errors(json!({"headers": {
            "Nats-Msg-Id": "id", "courier_event_id": "id", "bad name": "id", "ok": "{a", "Fine": "a.b"
        }}));
        assert_eq!(
            errors,
            [
                "/headers/Nats-Msg-Id: starts with `Nats-`: such headers instruct the server and are not set here",
                "/headers/bad name: must be printable ASCII without spaces or `:`",
                "/headers/courier_event_id: is the header every message carries for the event; choose another name",
                "/headers/ok: has an unclosed `{`",
            ]
        );
    }

    #[test]
    fn ca_pem_must_be_a_certificate() {
        let errors = config_errors(json!({"ca_pem": "not a certificate"}));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("/ca_pem: "), "{errors:?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let config = serde_json::from_value::<NatsConfig>(json!({
            "servers": ["nats://a:4222"], "subject_template": "x", "stream": "X"
        }));
        assert!(config.is_err());
        let auth = serde_json::from_value::<NatsAuth>(json!({"user": "x"}));
        assert!(auth.is_err());
    }

    #[test]
    fn exactly_one_credential() {
        assert!(auth_errors(json!({"token": "t0k"})).is_empty());
        assert!(auth_errors(json!({"username": "u", "password": "p"})).is_empty());
        assert_eq!(
            auth_errors(json!({})),
            ["/: needs one of token, username + password, nkey_seed or credentials"]
        );
        let both = auth_errors(json!({"token": "t0k", "username": "u", "password": "p"}));
        assert!(both[0].starts_with("/: sets more than one"), "{both:?}");
        assert_eq!(
            auth_errors(json!({"username": "u"})),
            ["/password: is required with username"]
        );
        assert_eq!(
            auth_errors(json!({"password": "secretpw"})),
            ["/username: is required with password"]
        );
    }

    #[test]
    fn nkey_seeds_and_creds_are_checked_without_quoting_them() {
        let seed = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";
        assert!(auth_errors(json!({ "nkey_seed": seed })).is_empty());
        let errors = auth_errors(json!({"nkey_seed": "UAsecretseed"}));
        assert_eq!(
            errors,
            ["/nkey_seed: must be a user nkey seed: 58 characters starting with SU"]
        );
        let errors = auth_errors(json!({"credentials": "secretcreds"}));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("/credentials: "));
        assert!(!errors[0].contains("secretcreds"));
        let debug = format!(
            "{:?}",
            serde_json::from_value::<NatsAuth>(json!({"nkey_seed": seed})).unwrap()
        );
        assert!(!debug.contains(seed), "{debug}");
    }
}
