//! The Kinesis client built from config and the shared AWS credentials.

use std::fmt;

use courier_aws::{AwsAuth, AwsCredentials};
use courier_core::{ConnectorError, Env};
use courier_messages::MessageClient;

use crate::config::KinesisConfig;

/// A Kinesis destination's client: config, key templates and the Kinesis side.
pub type KinesisClient = MessageClient<crate::KinesisMessages>;

/// The Kinesis side of a [`KinesisClient`]: credentials and the SDK client.
pub struct KinesisRemote {
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    /// The SDK client, set up for the config's region and endpoint.
    pub kinesis: aws_sdk_kinesis::Client,
    /// What messages call the stream.
    pub stream: String,
}

impl fmt::Debug for KinesisRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KinesisRemote")
            .field("stream", &self.stream)
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl KinesisRemote {
    /// The remote, with a hook over the SDK's config builder (interceptors, timeouts).
    pub async fn new(
        config: &KinesisConfig,
        auth: AwsAuth,
        env: &Env,
        customize: impl FnOnce(aws_sdk_kinesis::config::Builder) -> aws_sdk_kinesis::config::Builder,
    ) -> Result<Self, ConnectorError> {
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
        let builder = aws_sdk_kinesis::config::Builder::from(&sdk);
        Ok(KinesisRemote {
            kinesis: aws_sdk_kinesis::Client::from_conf(customize(builder).build()),
            aws,
            stream: config.stream_label(),
        })
    }
}

/// A client whose SDK config is customized (tests inject failures with an interceptor).
pub async fn client_with_sdk_settings(
    config: KinesisConfig,
    auth: AwsAuth,
    env: &Env,
    customize: impl FnOnce(aws_sdk_kinesis::config::Builder) -> aws_sdk_kinesis::config::Builder,
) -> Result<KinesisClient, ConnectorError> {
    let remote = KinesisRemote::new(&config, auth, env, customize).await?;
    MessageClient::new(config, remote)
}
