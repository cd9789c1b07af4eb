//! Building the S3 client from config and credentials: static keys, the default AWS chain, or
//! an assumed role on top of either; endpoint and path style for S3-compatible stores.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use courier_core::{ConnectorError, ErrorKind, PayloadCap};
use courier_files::KeyTemplate;

use crate::config::{S3Auth, S3Config};

pub struct S3Client {
    pub config: S3Config,
    pub template: KeyTemplate,
    pub destination_id: String,
    pub cap: PayloadCap,
    pub credentials: SharedCredentialsProvider,
    /// Where the credentials come from, for messages (`access key AKIA…`, `role …`, `default chain`).
    pub identity: String,
    pub s3: aws_sdk_s3::Client,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("bucket", &self.config.bucket)
            .field("region", &self.config.region)
            .field("prefix", &self.config.prefix)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    pub async fn new(
        config: S3Config,
        auth: S3Auth,
        destination_id: String,
        cap: PayloadCap,
    ) -> Result<Self, ConnectorError> {
        let template = config.files.template().map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("key_template {m}"),
                "correct config.key_template",
            )
        })?;
        let region = Region::new(config.region.clone());
        let (mut credentials, mut identity) = match (&auth.access_key_id, &auth.secret_access_key) {
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
                        .region(region.clone())
                        .build()
                        .await;
                (
                    SharedCredentialsProvider::new(chain),
                    "the default AWS credential chain".to_string(),
                )
            }
        };
        if let Some(role_arn) = &auth.role_arn {
            let base = aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region.clone())
                .credentials_provider(credentials.clone())
                .build();
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name(format!("courier-{}", sanitize_session(&destination_id)))
                .configure(&base);
            if let Some(external_id) = &auth.external_id {
                builder = builder.external_id(external_id.clone());
            }
            credentials = SharedCredentialsProvider::new(builder.build().await);
            identity = format!("role {role_arn} (assumed with {identity})");
        }
        let mut s3 = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials.clone())
            .force_path_style(config.force_path_style)
            // The delivery policy owns retries and deadlines; SDK retries would multiply them.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(url) = &config.endpoint_url {
            s3 = s3.endpoint_url(url.clone());
        }
        Ok(S3Client {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            config,
            template,
            destination_id,
            cap,
            credentials,
            identity,
        })
    }

    /// The full object key: prefix + rendered key.
    pub fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.config.prefix)
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
