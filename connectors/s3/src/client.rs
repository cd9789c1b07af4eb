//! Building the S3 client from config and credentials: static keys, the default AWS chain, or
//! an assumed role on top of either; endpoint and path style for S3-compatible stores.

use std::fmt;

use courier_aws::AwsCredentials;
use courier_core::{ConnectorError, Env};
use courier_files::FileClient;

use crate::config::{S3Auth, S3Config};

/// An S3 destination's client: config, name template and the S3 side.
pub type S3Client = FileClient<crate::S3Files>;

/// The S3 side of an [`S3Client`]: credentials and the SDK client.
pub struct S3Remote {
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    /// The SDK client, set up for the config's region, endpoint and path style.
    pub s3: aws_sdk_s3::Client,
    /// The key prefix, for [`S3Remote::object_key`].
    prefix: String,
}

impl fmt::Debug for S3Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Remote")
            .field("prefix", &self.prefix)
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl S3Remote {
    /// Builds the credentials and SDK client for `config` and `auth`. Fails only when
    /// `endpoint_url` is a literal non-public address and `env` does not allow private
    /// networks; credentials are not checked here (the connection test does that).
    pub async fn new(config: &S3Config, auth: S3Auth, env: &Env) -> Result<Self, ConnectorError> {
        let allow_private = env.allow_private_network;
        courier_aws::check_endpoint(config.endpoint_url.as_deref(), allow_private)?;
        let aws =
            AwsCredentials::from_auth(&auth, &config.region, &env.destination_id, allow_private)
                .await;
        let sdk = aws.sdk_config(
            &config.region,
            config.endpoint_url.as_deref(),
            allow_private,
        );
        let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(config.force_path_style);
        Ok(S3Remote {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            aws,
            prefix: config.prefix.clone(),
        })
    }

    /// The full object key: prefix + rendered key.
    pub fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}
