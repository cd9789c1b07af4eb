//! Building the S3 client from config and credentials: static keys, the default AWS chain, or
//! an assumed role on top of either; endpoint and path style for S3-compatible stores.

use std::fmt;

use courier_aws::AwsCredentials;
use courier_core::{ConnectorError, ErrorKind, PayloadCap};
use courier_files::KeyTemplate;

use crate::config::{S3Auth, S3Config};

pub struct S3Client {
    pub config: S3Config,
    pub template: KeyTemplate,
    pub destination_id: String,
    pub cap: PayloadCap,
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    pub s3: aws_sdk_s3::Client,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("bucket", &self.config.bucket)
            .field("region", &self.config.region)
            .field("prefix", &self.config.prefix)
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl S3Client {
    pub async fn new(
        config: S3Config,
        auth: S3Auth,
        destination_id: String,
        cap: PayloadCap,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        courier_aws::check_endpoint(config.endpoint_url.as_deref(), allow_private)?;
        let template = config.files.template().map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("key_template {m}"),
                "correct config.key_template",
            )
        })?;
        let aws =
            AwsCredentials::from_auth(&auth, &config.region, &destination_id, allow_private).await;
        let sdk = aws.sdk_config(
            &config.region,
            config.endpoint_url.as_deref(),
            allow_private,
        );
        let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(config.force_path_style);
        Ok(S3Client {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            config,
            template,
            destination_id,
            cap,
            aws,
        })
    }

    /// The full object key: prefix + rendered key.
    pub fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.config.prefix)
    }
}
