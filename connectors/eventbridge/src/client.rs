//! The EventBridge client built from config and the shared AWS credentials.

use std::fmt;

use courier_aws::{AwsAuth, AwsCredentials};
use courier_core::{ConnectorError, Env, ErrorKind};
use courier_messages::{KeyTemplate, MessageClient};

use crate::config::EventbridgeConfig;

/// An EventBridge destination's client: config and the EventBridge side.
pub type EventbridgeClient = MessageClient<crate::EventbridgeMessages>;

/// The EventBridge side of an [`EventbridgeClient`]: credentials, the SDK client and the
/// parsed detail type template.
pub struct EventbridgeRemote {
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    /// The SDK client.
    pub events: aws_sdk_eventbridge::Client,
    /// `detail_type_template`, parsed.
    pub detail_type: Option<KeyTemplate>,
}

impl fmt::Debug for EventbridgeRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventbridgeRemote")
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl EventbridgeRemote {
    /// The remote, with a hook over the SDK's config builder (interceptors, timeouts).
    pub async fn new(
        config: &EventbridgeConfig,
        auth: AwsAuth,
        env: &Env,
        customize: impl FnOnce(
            aws_sdk_eventbridge::config::Builder,
        ) -> aws_sdk_eventbridge::config::Builder,
    ) -> Result<Self, ConnectorError> {
        let detail_type = config
            .detail_type_template
            .as_deref()
            .map(KeyTemplate::parse)
            .transpose()
            .map_err(|m| {
                ConnectorError::new(
                    ErrorKind::InvalidConfig,
                    format!("detail_type_template {m}"),
                    "correct config.detail_type_template",
                )
            })?;
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
        let builder = aws_sdk_eventbridge::config::Builder::from(&sdk);
        Ok(EventbridgeRemote {
            events: aws_sdk_eventbridge::Client::from_conf(customize(builder).build()),
            aws,
            detail_type,
        })
    }
}

/// A client whose SDK config is customized (tests inject failures with an interceptor).
pub async fn client_with_sdk_settings(
    config: EventbridgeConfig,
    auth: AwsAuth,
    env: &Env,
    customize: impl FnOnce(aws_sdk_eventbridge::config::Builder) -> aws_sdk_eventbridge::config::Builder,
) -> Result<EventbridgeClient, ConnectorError> {
    let remote = EventbridgeRemote::new(&config, auth, env, customize).await?;
    MessageClient::new(config, remote)
}
