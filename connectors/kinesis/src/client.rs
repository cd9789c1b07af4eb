//! The Kinesis client built from config and the shared AWS credentials.

use std::fmt;

use courier_aws::{AwsAuth, AwsCredentials};
use courier_core::{ConnectorError, ErrorKind};

use crate::config::KinesisConfig;
use crate::key::KeyTemplate;

pub struct KinesisClient {
    pub config: KinesisConfig,
    pub partition_key: KeyTemplate,
    pub explicit_hash_key: Option<KeyTemplate>,
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    pub kinesis: aws_sdk_kinesis::Client,
}

impl fmt::Debug for KinesisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KinesisClient")
            .field("stream", &self.config.stream_label())
            .field("region", &self.config.region)
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl KinesisClient {
    pub async fn new(
        config: KinesisConfig,
        auth: AwsAuth,
        destination_id: &str,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        Self::with_sdk_settings(config, auth, destination_id, allow_private, |b| b).await
    }

    /// As `new`, with a hook over the SDK's config builder (interceptors, timeouts).
    pub async fn with_sdk_settings(
        config: KinesisConfig,
        auth: AwsAuth,
        destination_id: &str,
        allow_private: bool,
        customize: impl FnOnce(aws_sdk_kinesis::config::Builder) -> aws_sdk_kinesis::config::Builder,
    ) -> Result<Self, ConnectorError> {
        let invalid = |field: &str, m: String| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("{field} {m}"),
                format!("correct config.{field}"),
            )
        };
        let partition_key = KeyTemplate::parse(&config.partition_key_template)
            .map_err(|m| invalid("partition_key_template", m))?;
        let explicit_hash_key = config
            .explicit_hash_key_template
            .as_deref()
            .map(KeyTemplate::parse)
            .transpose()
            .map_err(|m| invalid("explicit_hash_key_template", m))?;
        courier_aws::check_endpoint(config.endpoint_url.as_deref(), allow_private)?;
        let aws =
            AwsCredentials::from_auth(&auth, &config.region, destination_id, allow_private).await;
        let sdk = aws.sdk_config(
            &config.region,
            config.endpoint_url.as_deref(),
            allow_private,
        );
        let builder = aws_sdk_kinesis::config::Builder::from(&sdk);
        Ok(KinesisClient {
            kinesis: aws_sdk_kinesis::Client::from_conf(customize(builder).build()),
            config,
            partition_key,
            explicit_hash_key,
            aws,
        })
    }
}
