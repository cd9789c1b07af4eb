//! Building the Service Bus side of a destination from config and auth_config, without I/O: the
//! entity's URLs, the guarded HTTP client and how requests are signed; and the one place
//! requests are sent from.

use std::fmt;
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::MessageClient;

use crate::auth::{SasKey, Signer};
use crate::config::{AzureServiceBusAuth, AzureServiceBusConfig};
use crate::connection_string::ConnectionString;
use crate::errors::{Action, Answer};

/// A Service Bus destination's client: config, key templates and the Service Bus side.
pub type AzureServiceBusClient = MessageClient<crate::AzureServiceBusMessages>;

/// The Service Bus side of an [`AzureServiceBusClient`].
pub struct ServiceBusRemote {
    /// The guarded HTTP client (no redirects, no proxies, checked addresses).
    pub http: reqwest::Client,
    /// The entity's URL, `{base}/{entity_path}` (its description is read here).
    pub entity_url: String,
    /// Where messages are sent: `{entity_url}/messages`.
    pub messages_url: String,
    /// The queue or topic, for messages.
    pub entity: String,
    /// How requests are authorized, for messages (`connection string`, `shared access key`,
    /// `service principal`).
    pub method: &'static str,
    /// How requests are signed.
    pub(crate) signer: Signer,
}

impl fmt::Debug for ServiceBusRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBusRemote")
            .field("entity_url", &self.entity_url)
            .field("method", &self.method)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        message,
        format!("correct {field}"),
    )
}

impl ServiceBusRemote {
    /// The remote for `config` and `auth`: the base URL (checked against the host's network
    /// policy), a connection string's namespace and entity checked against the config, and
    /// the signer. Credentials are not tried here (the connection test does that).
    pub fn new(
        config: &AzureServiceBusConfig,
        auth: AzureServiceBusAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
        let allow_private = env.allow_private_network;
        let base = config.base_url();
        courier_net::check_url("Azure Service Bus", &base, allow_private)?;
        let http = courier_net::guarded_builder(allow_private)
            .connect_timeout(Duration::from_secs(10))
            // An answer slower than this is a failed attempt, retried (the host's attempt
            // timeout may be shorter).
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                ConnectorError::internal("could not build the HTTP client").with_source(e)
            })?;
        let entity_url = format!("{base}/{}", config.entity_path);
        let (signer, method) = if let Some(text) = &auth.connection_string {
            let cs = ConnectionString::parse(text.expose()).map_err(|m| {
                invalid(
                    "auth_config.connection_string",
                    format!("connection_string {m}"),
                )
            })?;
            let configured = url::Url::parse(&base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            if cs.host != configured {
                return Err(invalid(
                    "config.namespace (or config.endpoint) or auth_config.connection_string",
                    format!(
                        "the connection string is for namespace {}, but the config names {configured}",
                        cs.host
                    ),
                ));
            }
            if let Some(path) = &cs.entity_path
                && !path.eq_ignore_ascii_case(&config.entity_path)
            {
                return Err(invalid(
                    "config.entity_path or auth_config.connection_string",
                    format!(
                        "the connection string's policy is for entity {path}, but config.entity_path is {}",
                        config.entity_path
                    ),
                ));
            }
            let key = SasKey::new(
                cs.key_name.clone(),
                courier_core::Secret::new(cs.key.clone()),
                entity_url.clone(),
            );
            (Signer::Sas(key), "connection string")
        } else if let (Some(name), Some(key)) = (&auth.sas_key_name, &auth.sas_key) {
            let key = SasKey::new(name.clone(), key.clone(), entity_url.clone());
            (Signer::Sas(key), "shared access key")
        } else if let (Some(tenant), Some(client_id), Some(secret)) =
            (&auth.tenant_id, &auth.client_id, &auth.client_secret)
        {
            // Entra ID tokens are bearer credentials: they travel over https only.
            if !base.starts_with("https://") {
                return Err(invalid(
                    "config.endpoint",
                    "a service principal's tokens are sent over https only; the endpoint is http",
                ));
            }
            if let Some(host) = &auth.authority_host {
                courier_net::check_url("Microsoft Entra ID", host, allow_private)?;
            }
            let transport = crate::auth::transport(http.clone());
            let credential = crate::auth::principal(
                tenant,
                client_id,
                secret,
                auth.authority_host.as_deref(),
                transport,
            )?;
            (Signer::Entra(credential), "service principal")
        } else {
            return Err(invalid("auth_config", "auth_config names no credentials"));
        };
        Ok(ServiceBusRemote {
            http,
            messages_url: format!("{entity_url}/messages"),
            entity_url,
            entity: config.entity_path.clone(),
            method,
            signer,
        })
    }

    /// Sends `request` with the `Authorization` header, and reads a failed answer's status,
    /// `Retry-After` and detail. `Ok` carries the successful response, body unread.
    pub(crate) async fn execute(
        &self,
        action: Action,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ConnectorError> {
        let authorization = self.signer.authorization().await?;
        let response = request
            .header(reqwest::header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| courier_net::transport_error("Azure Service Bus", e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let answer = Answer::read(response).await;
        Err(crate::errors::classify(action, &self.entity, &answer))
    }
}
