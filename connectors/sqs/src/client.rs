//! The SQS client built from config and the shared AWS credentials.

use std::fmt;

use courier_aws::{AwsAuth, AwsCredentials};
use courier_core::{ConnectorError, Env};
use courier_messages::MessageClient;

use crate::config::SqsConfig;

/// An SQS destination's client: config, key templates and the SQS side.
pub type SqsClient = MessageClient<crate::SqsMessages>;

/// The SQS side of an [`SqsClient`]: credentials and the SDK client.
pub struct SqsRemote {
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    /// The SDK client.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue's maximum message size, once read (`MaximumMessageSize`).
    pub(crate) max_message_bytes: tokio::sync::OnceCell<usize>,
}

impl fmt::Debug for SqsRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsRemote")
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl SqsRemote {
    /// The remote, with a hook over the SDK's config builder (interceptors, timeouts).
    pub async fn new(
        config: &SqsConfig,
        auth: AwsAuth,
        env: &Env,
        customize: impl FnOnce(aws_sdk_sqs::config::Builder) -> aws_sdk_sqs::config::Builder,
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
        let builder = aws_sdk_sqs::config::Builder::from(&sdk);
        Ok(SqsRemote {
            sqs: aws_sdk_sqs::Client::from_conf(customize(builder).build()),
            aws,
            max_message_bytes: tokio::sync::OnceCell::new(),
        })
    }
}

/// A client whose SDK config is customized (tests inject failures with an interceptor).
pub async fn client_with_sdk_settings(
    config: SqsConfig,
    auth: AwsAuth,
    env: &Env,
    customize: impl FnOnce(aws_sdk_sqs::config::Builder) -> aws_sdk_sqs::config::Builder,
) -> Result<SqsClient, ConnectorError> {
    let remote = SqsRemote::new(&config, auth, env, customize).await?;
    MessageClient::new(config, remote)
}
