//! Building the GCS client: the guarded HTTP client (courier-net: names resolved once and
//! checked, no proxies, no redirects) for the JSON API, and the credentials that sign its
//! requests (a service account key signs its own tokens: no token endpoint is called).
//! Retries are left to Courier's delivery policy: every call is made once.

use std::fmt;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_files::FileClient;
use google_cloud_auth::credentials::{CacheableResource, Credentials, anonymous, service_account};

use crate::config::{GcsAuth, GcsConfig, check_key};
use crate::errors::SERVICE;

/// The public JSON API endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://storage.googleapis.com";

/// A GCS destination's client: config, name template and the GCS side.
pub type GcsClient = FileClient<crate::GcsFiles>;

/// The GCS side of a [`GcsClient`]: credentials, endpoint and the HTTP client.
pub struct GcsRemote {
    /// What signs each request (a service account key, or anonymous for emulators).
    pub credentials: Credentials,
    /// The JSON API endpoint, without a trailing `/`.
    pub endpoint: String,
    /// Who the requests are signed as, for messages.
    pub identity: String,
    /// The guarded client every request goes through.
    pub http: reqwest::Client,
    /// The host's policy, for URLs the service hands back (upload sessions).
    pub allow_private: bool,
    /// The bucket and name prefix, for the URLs and names built below.
    bucket: String,
    prefix: String,
}

impl fmt::Debug for GcsRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsRemote")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>, hint: &str) -> ConnectorError {
    ConnectorError::new(ErrorKind::InvalidConfig, message, hint)
}

impl GcsRemote {
    /// Builds the credentials and the guarded HTTP client without I/O: the service account
    /// key's, or anonymous ones when there is no key and `endpoint` is set (emulators). Fails
    /// on an unusable key, on neither key nor endpoint, or on an endpoint at a literal
    /// non-public address the host does not allow.
    pub fn new(config: &GcsConfig, auth: GcsAuth, env: &Env) -> Result<Self, ConnectorError> {
        let allow_private = env.allow_private_network;
        // An endpoint spelled as an address is checked here (resolvers see only names).
        if let Some(endpoint) = &config.endpoint {
            courier_net::check_url(SERVICE, endpoint, allow_private)?;
        }
        let (credentials, identity) = match (&auth.service_account_json, &config.endpoint) {
            (Some(key), _) => {
                let key = check_key(key.expose()).map_err(|m| {
                    invalid(
                        format!("service_account_json {m}"),
                        "correct auth_config.service_account_json",
                    )
                })?;
                let email = key["client_email"].as_str().unwrap_or_default().to_string();
                let credentials = service_account::Builder::new(key).build().map_err(|_| {
                    invalid(
                        "service_account_json cannot be used as a service account key",
                        "paste the whole key file downloaded from the Google Cloud console",
                    )
                })?;
                (credentials, format!("service account {email}"))
            }
            (None, Some(_)) => (anonymous::Builder::new().build(), "anonymous".to_string()),
            (None, None) => {
                return Err(invalid(
                    "auth_config.service_account_json is required unless config.endpoint is set",
                    "add the service account's JSON key to auth_config",
                ));
            }
        };
        let endpoint = config
            .endpoint
            .as_deref()
            .unwrap_or(GOOGLE_ENDPOINT)
            .trim_end_matches('/')
            .to_string();
        let http = courier_net::guarded_builder(allow_private)
            .connect_timeout(std::time::Duration::from_secs(10))
            // A stalled answer fails; a long upload that keeps moving is bounded by the
            // delivery's timeout_ms.
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ConnectorError::internal(format!("no HTTP client: {e}")))?;
        Ok(GcsRemote {
            credentials,
            endpoint,
            identity,
            http,
            allow_private,
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        })
    }

    /// The full object name: prefix + rendered key.
    pub fn object_name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Where objects are uploaded (`uploadType` is added per request).
    pub fn upload_url(&self) -> String {
        format!("{}/upload/storage/v1/b/{}/o", self.endpoint, self.bucket)
    }

    /// The headers that sign a JSON API request (none for anonymous credentials).
    pub async fn auth_headers(&self) -> Result<http::HeaderMap, ConnectorError> {
        match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
            Err(e) => Err(ConnectorError::new(
                ErrorKind::Unauthenticated,
                format!(
                    "the {} credentials cannot sign requests: {e}",
                    self.identity
                ),
                "check auth_config.service_account_json (a PKCS#8 private key from the key file)",
            )),
        }
    }

    /// `gs://bucket/name`, for references and messages.
    pub fn url_of(&self, name: &str) -> String {
        format!("gs://{}/{name}", self.bucket)
    }

    /// The JSON API URL of an object.
    pub fn object_url(&self, name: &str) -> String {
        let encoded =
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        format!("{}/storage/v1/b/{}/o/{encoded}", self.endpoint, self.bucket)
    }
}
