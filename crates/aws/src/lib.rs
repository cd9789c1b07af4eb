//! AWS credentials shared by the AWS connectors (s3, kinesis): the auth_config type, its
//! validation, and the SDK credential provider built from it (access keys, the default chain, or
//! a role assumed on top of either).
//!
//! ```
//! use courier_aws::{AwsAuth, AwsCredentials};
//! use courier_core::{AuthSpec, Secret};
//!
//! // An auth_config with access keys; every problem is reported at its path.
//! let auth = AwsAuth {
//!     access_key_id: Some("AKIAIOSFODNN7EXAMPLE".into()),
//!     secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
//!     ..AwsAuth::default()
//! };
//! assert!(auth.validate().is_empty());
//!
//! let not_a_role = AwsAuth {
//!     role_arn: Some("arn:aws:iam::123456789012:user/courier".into()),
//!     ..AwsAuth::default()
//! };
//! assert_eq!(not_a_role.validate()[0].path, "/role_arn");
//!
//! // When a connector connects: the credentials, then the SDK settings its service client is
//! // built from (`aws_sdk_s3::config::Builder::from(&config)`).
//! async fn sdk_config(auth: &AwsAuth, destination_id: &str) -> aws_config::SdkConfig {
//!     let credentials = AwsCredentials::from_auth(auth, "eu-west-1", destination_id, false).await;
//!     credentials.sdk_config("eu-west-1", None, false)
//! }
//! ```

#![warn(missing_docs)]

mod sdk_error;
mod transport;

pub use sdk_error::{Call, classify_sdk_error};
pub use transport::{check_endpoint, guarded_http_client, refusal};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use courier_core::{AuthSpec, ConnectorError, Endpoint, ErrorKind, FieldError, Probe, Secret};
use schemars::JsonSchema;
use serde::Deserialize;

/// Credentials: access keys, a role to assume, or nothing (the default AWS credential chain:
/// environment, profile, web identity, container or instance role).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsAuth {
    /// An access key id, with `secret_access_key`.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret for `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// A role to assume (with the keys above, or the default chain, as the base identity).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires.
    #[serde(default)]
    pub external_id: Option<String>,
}

impl AwsAuth {
    /// Where these credentials send requests of their own: STS in `region`, when a role is
    /// assumed (the SDK's regional STS endpoint).
    pub fn endpoints(&self, region: &str) -> Vec<Endpoint> {
        self.role_arn
            .as_ref()
            .and_then(|_| {
                Endpoint::url(
                    "/auth_config/role_arn",
                    &format!("https://sts.{region}.amazonaws.com"),
                )
            })
            .into_iter()
            .collect()
    }
}

impl AuthSpec for AwsAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => errors.push(FieldError::new(
                "/secret_access_key",
                "is required with access_key_id",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                "/access_key_id",
                "is required with secret_access_key",
            )),
            _ => {}
        }
        if self.session_token.is_some() && self.access_key_id.is_none() {
            errors.push(FieldError::new(
                "/session_token",
                "only applies with access_key_id and secret_access_key",
            ));
        }
        if let Some(arn) = &self.role_arn
            && !is_role_arn(arn)
        {
            errors.push(FieldError::new(
                "/role_arn",
                "must be an IAM role ARN such as arn:aws:iam::123456789012:role/courier",
            ));
        }
        if self.external_id.is_some() && self.role_arn.is_none() {
            errors.push(FieldError::new(
                "/external_id",
                "only applies with role_arn",
            ));
        }
        errors
    }
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].len() > 5
        && parts[5].starts_with("role/")
}

/// Why `name` cannot be an SQS or SNS message attribute name, if it cannot: 1–256 letters,
/// digits, `_`, `-` and `.`, no leading, trailing or doubled `.`, not starting with `AWS.` or
/// `Amazon.` (any case).
pub fn check_message_attribute_name(service: &str, name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let ok = (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is not an {service} attribute name (letters, digits, `_`, `-`, `.`; not starting with AWS. or Amazon.)"
        ))
    }
}

/// Whether a region name looks like one (`us-east-1`).
pub fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The provider for an auth_config, and a description of the identity for messages.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// The SDK credential provider: the access keys, the default chain, or a role assumed with
    /// either.
    pub provider: SharedCredentialsProvider,
    /// `access key AKIA…WXYZ`, `the default AWS credential chain`, `role … (assumed with …)`.
    pub identity: String,
}

impl AwsCredentials {
    /// `allow_private`: may STS (for an assumed role) be reached on a non-public address.
    pub async fn from_auth(
        auth: &AwsAuth,
        region: &str,
        session_name: &str,
        allow_private: bool,
    ) -> Self {
        let region = Region::new(region.to_string());
        let (mut provider, mut identity) = match (&auth.access_key_id, &auth.secret_access_key) {
            (Some(id), Some(secret)) => {
                let creds = Credentials::new(
                    id.clone(),
                    secret.expose().to_string(),
                    auth.session_token.as_ref().map(|t| t.expose().to_string()),
                    None,
                    "courier-auth-config",
                );
                (
                    SharedCredentialsProvider::new(creds),
                    format!("access key {}", redact_key_id(id)),
                )
            }
            _ => {
                let chain =
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(RegionProviderChain::first_try(region.clone()))
                        .build()
                        .await;
                (
                    SharedCredentialsProvider::new(chain),
                    "the default AWS credential chain".to_string(),
                )
            }
        };
        if let Some(role_arn) = &auth.role_arn {
            let base = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region.clone())
                .credentials_provider(provider.clone())
                .http_client(guarded_http_client(allow_private))
                .build();
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name(format!("courier-{}", sanitize_session(session_name)))
                .configure(&base);
            if let Some(external_id) = &auth.external_id {
                builder = builder.external_id(external_id.clone());
            }
            provider = SharedCredentialsProvider::new(builder.build().await);
            identity = format!("role {role_arn} (assumed with {identity})");
        }
        AwsCredentials { provider, identity }
    }
}

impl AwsCredentials {
    /// The SDK settings every AWS connector uses: region, these credentials, an optional
    /// endpoint, and no SDK retries (the delivery policy owns retries and deadlines; SDK retries
    /// would multiply them). Each service builds its client with `Builder::from(&config)`.
    /// Every request goes through [`guarded_http_client`] (`allow_private`: the host's policy).
    pub fn sdk_config(
        &self,
        region: &str,
        endpoint_url: Option<&str>,
        allow_private: bool,
    ) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .http_client(guarded_http_client(allow_private))
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(self.provider.clone())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(url) = endpoint_url {
            builder = builder.endpoint_url(url);
        }
        builder.build()
    }

    /// The `authentication` test step, decided by the answer to the connector's first request
    /// (which also decides its resource step): only a credential error fails it.
    pub async fn authentication_step<T>(
        &self,
        probe: &mut Probe,
        service: &str,
        answer: &Result<T, ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let refused = answer
            .as_ref()
            .err()
            .filter(|e| e.kind == ErrorKind::Unauthenticated)
            .cloned();
        let message = format!("{service} accepted the credentials ({})", self.identity);
        probe
            .step("authentication", async move {
                match refused {
                    Some(e) => Err(e),
                    None => Ok(((), message)),
                }
            })
            .await
    }

    /// The `credentials` test step: resolves the credentials (no request to the service yet).
    pub async fn check(&self) -> Result<((), String), ConnectorError> {
        use aws_credential_types::provider::ProvideCredentials;
        self.provider.provide_credentials().await.map_err(|e| {
            ConnectorError::new(
                ErrorKind::Unauthenticated,
                format!("no AWS credentials from {}: {e}", self.identity),
                "set access_key_id and secret_access_key in auth_config, or configure the default AWS chain where Courier runs",
            )
        })?;
        Ok(((), format!("credentials from {}", self.identity)))
    }
}

/// `AKIA…WXYZ`: enough to recognise a key in messages, not enough to use it.
fn redact_key_id(id: &str) -> String {
    if id.len() <= 8 {
        return "…".into();
    }
    format!("{}…{}", &id[..4], &id[id.len() - 4..])
}

fn sanitize_session(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
        .take(50)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_rules() {
        let auth = AwsAuth {
            access_key_id: Some("AKIA".into()),
            role_arn: Some("arn:aws:iam::1:user/x".into()),
            ..AwsAuth::default()
        };
        let paths: Vec<String> = auth.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/secret_access_key", "/role_arn"]);
        assert!(is_role_arn("arn:aws:iam::123456789012:role/courier"));
        assert!(is_region("eu-west-1") && !is_region("us east"));
        assert_eq!(redact_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
    }
}
