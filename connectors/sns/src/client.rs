//! The SNS client built from config and the shared AWS credentials.

use std::fmt;

use aws_sdk_sns::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sns::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use courier_aws::{AwsAuth, AwsCredentials};
use courier_core::{ConnectorError, Env};
use courier_messages::MessageClient;

use crate::config::SnsConfig;

/// An SNS destination's client: config, key templates and the SNS side.
pub type SnsClient = MessageClient<crate::SnsMessages>;

/// The SNS side of an [`SnsClient`]: credentials and the SDK client.
pub struct SnsRemote {
    /// The credentials and where they come from (for messages).
    pub aws: AwsCredentials,
    /// The SDK client.
    pub sns: aws_sdk_sns::Client,
}

impl fmt::Debug for SnsRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsRemote")
            .field("identity", &self.aws.identity)
            .finish_non_exhaustive()
    }
}

impl SnsRemote {
    /// The remote, with a hook over the SDK's config builder (interceptors, timeouts).
    pub async fn new(
        config: &SnsConfig,
        auth: AwsAuth,
        env: &Env,
        customize: impl FnOnce(aws_sdk_sns::config::Builder) -> aws_sdk_sns::config::Builder,
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
        let builder = aws_sdk_sns::config::Builder::from(&sdk).interceptor(SpacesAsPlus);
        Ok(SnsRemote {
            sns: aws_sdk_sns::Client::from_conf(customize(builder).build()),
            aws,
        })
    }
}

/// A client whose SDK config is customized (tests inject failures with an interceptor).
pub async fn client_with_sdk_settings(
    config: SnsConfig,
    auth: AwsAuth,
    env: &Env,
    customize: impl FnOnce(aws_sdk_sns::config::Builder) -> aws_sdk_sns::config::Builder,
) -> Result<SnsClient, ConnectorError> {
    let remote = SnsRemote::new(&config, auth, env, customize).await?;
    MessageClient::new(config, remote)
}

/// Spaces in SNS's form-encoded request bodies sent as `+` (`%20` from the Rust SDK), as boto3
/// and the AWS CLI send them and SNS reads them. Emulators that check signatures (moto in its
/// IAM mode) re-encode the parsed form the way boto3 does before hashing it, so a body with
/// `%20` fails their signature check although AWS accepts it. A `+` in a value is sent as
/// `%2B`, so nothing else changes; runs before signing, so the signature covers the body sent.
#[derive(Debug)]
struct SpacesAsPlus;

impl Intercept for SpacesAsPlus {
    fn name(&self) -> &'static str {
        "SpacesAsPlus"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = ctx.request_mut();
        let form = request
            .headers()
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let Some(body) = request.body().bytes().filter(|_| form) else {
            return Ok(());
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return Ok(());
        };
        if !text.contains("%20") {
            return Ok(());
        }
        let body = text.replace("%20", "+");
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body);
        Ok(())
    }
}
