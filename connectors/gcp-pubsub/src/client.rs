//! Building the Pub/Sub client: the guarded HTTP client (courier-net: names resolved once and
//! checked, no proxies, no redirects) for the REST API, and the credentials that sign its
//! requests (a service account key signs its own tokens for the Pub/Sub scope: no token
//! endpoint is called). Retries are left to Courier's delivery policy: every call is made once.

use std::fmt;
use std::time::Duration;

use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::MessageClient;
use google_cloud_auth::credentials::service_account::AccessSpecifier;
use google_cloud_auth::credentials::{CacheableResource, Credentials, service_account};

use crate::config::{GcpPubsubAuth, GcpPubsubConfig, check_key};
use crate::errors::SERVICE;

/// The public REST endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://pubsub.googleapis.com";
/// The OAuth scope tokens are signed for.
pub const PUBSUB_SCOPE: &str = "https://www.googleapis.com/auth/pubsub";

/// A Pub/Sub destination's client: config, key templates and the Pub/Sub side.
pub type GcpPubsubClient = MessageClient<crate::GcpPubsubMessages>;

/// The Pub/Sub side of a [`GcpPubsubClient`]: credentials, the topic's URLs and the HTTP client.
pub struct PubsubRemote {
    /// What signs each request: a service account key, or nothing (the emulator).
    credentials: Option<Credentials>,
    /// Who the requests are signed as, for messages.
    pub identity: String,
    /// The REST endpoint, without a trailing `/`.
    pub endpoint: String,
    /// `projects/{project}/topics/{topic}`, for messages.
    pub topic_name: String,
    /// The topic's REST URL (`{endpoint}/v1/projects/{project}/topics/{topic}`).
    pub topic_url: String,
    /// The guarded client every request goes through.
    pub http: reqwest::Client,
}

impl fmt::Debug for PubsubRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubsubRemote")
            .field("topic", &self.topic_name)
            .field("endpoint", &self.endpoint)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>, hint: &str) -> ConnectorError {
    ConnectorError::new(ErrorKind::InvalidConfig, message, hint)
}

impl PubsubRemote {
    /// Builds the credentials and the guarded HTTP client without I/O: the service account
    /// key's, or none when there is no key and `endpoint` is set (the emulator). Fails on an
    /// unusable key, on neither key nor endpoint, or on an endpoint at a literal non-public
    /// address the host does not allow.
    pub fn new(
        config: &GcpPubsubConfig,
        auth: GcpPubsubAuth,
        env: &Env,
    ) -> Result<Self, ConnectorError> {
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
                let credentials = service_account::Builder::new(key)
                    .with_access_specifier(AccessSpecifier::from_scopes([PUBSUB_SCOPE]))
                    .build()
                    .map_err(|_| {
                        invalid(
                            "service_account_json cannot be used as a service account key",
                            "paste the whole key file downloaded from the Google Cloud console",
                        )
                    })?;
                (Some(credentials), format!("service account {email}"))
            }
            (None, Some(_)) => (None, "no credentials (emulator)".to_string()),
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
        // Topic ids may hold `%`, which a URL path would read as an escape.
        let topic = config.topic.replace('%', "%25");
        let topic_name = format!("projects/{}/topics/{}", config.project_id, config.topic);
        let topic_url = format!(
            "{endpoint}/v1/projects/{}/topics/{topic}",
            config.project_id
        );
        let http = courier_net::guarded_builder(allow_private)
            .connect_timeout(Duration::from_secs(10))
            // A stalled answer fails; the whole attempt is bounded by the delivery's timeout_ms.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ConnectorError::internal(format!("no HTTP client: {e}")))?;
        Ok(PubsubRemote {
            credentials,
            identity,
            endpoint,
            topic_name,
            topic_url,
            http,
        })
    }

    /// Whether requests are signed (a service account key was given).
    pub fn signs(&self) -> bool {
        self.credentials.is_some()
    }

    /// The headers that sign a request (none without credentials). The key signs a token
    /// locally; whether Pub/Sub accepts it, only an answer says.
    pub async fn auth_headers(&self) -> Result<http::HeaderMap, ConnectorError> {
        let Some(credentials) = &self.credentials else {
            return Ok(http::HeaderMap::new());
        };
        match credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
            Err(e) => Err(ConnectorError::new(
                ErrorKind::Unauthenticated,
                format!("the {} key cannot sign a token", self.identity),
                "check auth_config.service_account_json: private_key must be the key file's PKCS#8 key",
            )
            .with_source(e)),
        }
    }

    /// The topic's `:publish` URL.
    pub fn publish_url(&self) -> String {
        format!("{}:publish", self.topic_url)
    }
}
