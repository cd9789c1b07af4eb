//! Building the container client from config and auth_config: Shared Key signing (account key
//! or a connection string with one), a SAS in the URL, or an Entra ID service principal.
//! Retries are left to Courier's delivery policy, so the SDK makes one attempt per call.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{Secret as AzureSecret, TokenCredential};
use azure_core::http::policies::Policy;
use azure_core::http::{ClientOptions, RetryOptions, Transport, Url};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use courier_core::{ConnectorError, Env, ErrorKind};
use courier_files::FileClient;

use crate::config::{AzureBlobAuth, AzureBlobConfig};
use crate::connection_string::ConnectionString;
use crate::shared_key::SharedKeyPolicy;

/// An Azure Blob destination's client: config, name template and the Azure side.
pub type AzureBlobClient = FileClient<crate::AzureBlobFiles>;

/// The Azure side of an [`AzureBlobClient`]: the container client and how it signs.
pub struct AzureBlobRemote {
    /// The SDK's client for the container, signing as configured.
    pub container: BlobContainerClient,
    /// The container's URL without any SAS, for references and messages.
    pub container_url: String,
    /// How requests are authorized, for messages (`account key`, `SAS token`, ...).
    pub method: &'static str,
    /// The Entra ID credential, when signing in as a service principal.
    pub token: Option<Arc<dyn TokenCredential>>,
    /// The name prefix, for [`AzureBlobRemote::blob_name`].
    prefix: String,
}

impl fmt::Debug for AzureBlobRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBlobRemote")
            .field("container_url", &self.container_url)
            .field("prefix", &self.prefix)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// How requests are signed.
enum Signer {
    SharedKey(SharedKeyPolicy),
    Sas(String),
    Token(Arc<dyn TokenCredential>),
}

fn invalid(field: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        message,
        format!("correct {field}"),
    )
}

impl AzureBlobRemote {
    /// Builds the container client for `config` and `auth` without I/O: picks the signer,
    /// resolves the endpoint (config, then connection string, then the account's default) and
    /// checks it against the host's network policy. Credentials are not tried here (the
    /// connection test does that).
    pub fn new(
        config: &AzureBlobConfig,
        auth: AzureBlobAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
        let allow_private = env.allow_private_network;
        // Every connection goes through the guarded client; endpoints spelled as addresses are
        // checked here (its resolver sees only names).
        let transport = crate::transport::guarded_transport(allow_private)?;
        if let Some(host) = &auth.authority_host {
            courier_net::check_url("Microsoft Entra ID", host, allow_private)?;
        }
        let (signer, method, auth_endpoint) = signer(config, &auth, &transport)?;
        let endpoint = config
            .endpoint
            .clone()
            .or(auth_endpoint)
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", config.account));
        courier_net::check_url("Azure Blob Storage", &endpoint, allow_private)?;
        let mut url = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|_| invalid("config.endpoint", "endpoint is not a URL"))?;
        url.path_segments_mut()
            .map_err(|_| invalid("config.endpoint", "endpoint cannot hold a path"))?
            .pop_if_empty()
            .push(&config.container);
        let container_url = url.to_string();
        let mut policies: Vec<Arc<dyn Policy>> = Vec::new();
        let mut token = None;
        match signer {
            Signer::SharedKey(policy) => policies.push(Arc::new(policy)),
            Signer::Sas(query) => url.set_query(Some(&query)),
            Signer::Token(credential) => token = Some(credential),
        }
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                per_try_policies: policies,
                retry: RetryOptions::none(),
                transport: Some(transport),
                ..Default::default()
            },
            ..Default::default()
        };
        let container =
            BlobContainerClient::new(url, token.clone(), Some(options)).map_err(|e| {
                // The SDK refuses a token credential on plain http; say so plainly.
                invalid(
                    "config.endpoint",
                    format!("cannot use this endpoint with {method}: {e}"),
                )
            })?;
        Ok(AzureBlobRemote {
            container,
            container_url,
            method,
            token,
            prefix: config.prefix.clone(),
        })
    }

    /// The full blob name: prefix + rendered key.
    pub fn blob_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// The signer, a label for messages, and the endpoint a connection string names.
fn signer(
    config: &AzureBlobConfig,
    auth: &AzureBlobAuth,
    transport: &Transport,
) -> Result<(Signer, &'static str, Option<String>), ConnectorError> {
    let bad_key = || invalid("auth_config.account_key", "account_key is not base64");
    if let Some(key) = &auth.account_key {
        let policy = SharedKeyPolicy::new(&config.account, key.expose()).ok_or_else(bad_key)?;
        return Ok((Signer::SharedKey(policy), "account key", None));
    }
    if let Some(sas) = &auth.sas_token {
        let query = sas.expose().trim().trim_start_matches('?').to_string();
        return Ok((Signer::Sas(query), "SAS token", None));
    }
    if let Some(text) = &auth.connection_string {
        let cs = ConnectionString::parse(text.expose()).map_err(|m| {
            invalid(
                "auth_config.connection_string",
                format!("connection_string {m}"),
            )
        })?;
        if let Some(name) = &cs.account_name
            && name != &config.account
        {
            return Err(invalid(
                "config.account or auth_config.connection_string",
                format!(
                    "the connection string is for account {name}, but config.account is {}",
                    config.account
                ),
            ));
        }
        let signer = match (&cs.account_key, &cs.shared_access_signature) {
            (Some(key), _) => {
                Signer::SharedKey(SharedKeyPolicy::new(&config.account, key).ok_or_else(|| {
                    invalid(
                        "auth_config.connection_string",
                        "the connection string's AccountKey is not base64",
                    )
                })?)
            }
            (None, Some(sas)) => Signer::Sas(sas.trim_start_matches('?').to_string()),
            (None, None) => {
                return Err(invalid(
                    "auth_config.connection_string",
                    "the connection string has neither AccountKey nor SharedAccessSignature",
                ));
            }
        };
        return Ok((signer, "connection string", cs.blob_endpoint));
    }
    let (Some(tenant), Some(client_id), Some(secret)) =
        (&auth.tenant_id, &auth.client_id, &auth.client_secret)
    else {
        return Err(invalid("auth_config", "auth_config names no credentials"));
    };
    let mut client_options = ClientOptions {
        transport: Some(transport.clone()),
        ..Default::default()
    };
    if let Some(host) = &auth.authority_host {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host.clone();
        client_options.cloud = Some(Arc::new(custom.into()));
    }
    let credential = ClientSecretCredential::new(
        tenant,
        client_id.clone(),
        AzureSecret::new(secret.expose().to_string()),
        Some(ClientSecretCredentialOptions { client_options }),
    )
    .map_err(|e| {
        invalid(
            "auth_config",
            format!("the service principal cannot be used: {e}"),
        )
    })?;
    Ok((Signer::Token(credential), "service principal", None))
}
