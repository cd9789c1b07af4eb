//! The message-connector shape: a destination that sends each record as one message (streams,
//! queues, topics, buses) implements [`MessageConnector`]: how one record becomes one request
//! entry, and how one request of entries is sent. [`Messages`] makes it a [`Connector`]: key
//! templates are parsed once and rendered per record, records that cannot be sent are refused
//! alone, entries are grouped within the provider's limits, and every record gets its own
//! outcome from the provider's per-entry answer.

use std::fmt;
use std::ops::Deref;

use courier_core::{
    AuthSpec, Batch, BatchOutcome, ConfigSpec, Connector, ConnectorError, ConnectorMeta, Delivered,
    Endpoint, Env, ErrorKind, Field, OAuthClient, Probe, Record,
};

use crate::deliver::deliver_messages;
use crate::key::KeyTemplate;

/// What one provider request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Entries per request (Kinesis PutRecords: 500; SQS SendMessageBatch: 10).
    pub max_records: usize,
    /// Bytes per request, as the provider counts them.
    pub max_request_bytes: usize,
    /// Bytes per entry, as the provider counts them (an entry over it is refused alone).
    pub max_record_bytes: usize,
}

/// A key read from each record by a template in the config: a partition key, an ordering or
/// message-group key, a hash key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec<'a> {
    /// The config field the template comes from (`partition_key_template`).
    pub field: &'static str,
    /// What the key is called in messages (`partition key`).
    pub name: &'static str,
    /// The template; `None` when the config leaves this key out.
    pub template: Option<&'a str>,
    /// The config field of the value used when a record has nothing at the template's path;
    /// `None` when this key has no fallback (such a record is refused alone).
    pub fallback_field: Option<&'static str>,
    /// The fallback's value, when the config sets it.
    pub fallback: Option<&'a str>,
    /// The longest key the provider takes, in characters.
    pub max_chars: usize,
}

/// The config of a message connector: the keys it reads from each record.
pub trait MessageConfig: ConfigSpec {
    /// The keys, in the order [`MessageConnector::entry`] receives their values.
    fn keys(&self) -> Vec<KeySpec<'_>>;
}

/// The keys read from one record, in [`MessageConfig::keys`] order (`None`: no template).
pub type Keys = [Option<String>];

/// A destination that sends records one message each. Wrap it in [`Messages`] to get a
/// [`Connector`]; the crate exports the wrapped type under the connector's name:
///
/// ```ignore
/// pub type Kinesis = Messages<KinesisMessages>;
/// pub const Kinesis: Kinesis = Messages(KinesisMessages);
/// ```
#[courier_core::async_trait]
pub trait MessageConnector: Clone + Send + Sync + 'static {
    /// The destination's config; its keys are found through [`MessageConfig`].
    type Config: MessageConfig;
    /// The destination's credentials.
    type Auth: AuthSpec;
    /// What the connector talks to the provider with. Its Debug output must not show secrets.
    type Remote: fmt::Debug + Send + Sync + 'static;
    /// One record as the provider's request takes it.
    type Entry: Send;

    /// What the connector is, for the catalog.
    fn metadata(&self) -> &'static ConnectorMeta;

    /// The provider's limits for one request with this config.
    fn limits(&self, config: &Self::Config) -> BatchLimits;

    /// The limits a delivery plans with: [`MessageConnector::limits`] unless the target says
    /// more of itself (an SQS queue's own maximum message size), which a connector may look
    /// up here (and keep in its remote).
    async fn limits_for(&self, client: &MessageClient<Self>) -> BatchLimits {
        self.limits(&client.config)
    }

    /// Every host the config and credentials make the connector contact (see
    /// [`Connector::endpoints`]).
    fn endpoints(&self, config: &Self::Config, auth: &Self::Auth) -> Vec<Endpoint>;

    /// For OAuth destinations, how to run the authorization flow with this auth_config.
    fn oauth_client(&self, auth: &Self::Auth) -> Option<OAuthClient> {
        let _ = auth;
        None
    }

    /// Builds the remote client, without network I/O.
    async fn connect(
        &self,
        config: &Self::Config,
        auth: Self::Auth,
        env: &Env,
    ) -> Result<Self::Remote, ConnectorError>;

    /// Checks the connection step by step through `probe`, touching the real target.
    async fn test(
        &self,
        client: &MessageClient<Self>,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError>;

    /// The fields a message has, for field mapping.
    fn fields(&self, config: &Self::Config) -> Vec<Field>;

    /// One record's entry and its size as the provider counts it, or why this record alone
    /// cannot be sent (`Rejected`, `PayloadTooLarge`). `keys` are already rendered.
    fn entry(
        &self,
        client: &MessageClient<Self>,
        record: &Record,
        keys: &Keys,
    ) -> Result<(usize, Self::Entry), ConnectorError>;

    /// The key whose messages the provider keeps in order (a FIFO message group, an ordering
    /// key, a session), if the entry has one. Once an entry of a key fails in a way that is
    /// retried, the entries of that key in the batch's later requests are not sent: they fail
    /// with its error, to be retried with it, rather than overtake it. (Within one request the
    /// provider's own ordering rules apply.) None by default.
    fn order_key<'e>(&self, entry: &'e Self::Entry) -> Option<&'e str> {
        let _ = entry;
        None
    }

    /// Sends one request (within [`MessageConnector::limits`]): one result per entry, in
    /// order, or the error that failed the whole request.
    async fn send(
        &self,
        client: &MessageClient<Self>,
        entries: Vec<Self::Entry>,
    ) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError>;
}

/// A message connector as a [`Connector`]: the one blanket implementation every message
/// connector shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Messages<C>(pub C);

/// A message destination's client: its config and parsed key templates around the
/// connector's own remote client (which it dereferences to).
pub struct MessageClient<C: MessageConnector> {
    /// The destination's config.
    pub config: C::Config,
    /// The keys' templates, parsed, in [`MessageConfig::keys`] order.
    pub(crate) keys: Vec<Option<KeyTemplate>>,
    /// The connector's own client.
    pub remote: C::Remote,
}

impl<C: MessageConnector> MessageClient<C> {
    /// Wraps a remote client built outside [`Connector::connect`] (tests that customize the
    /// provider's SDK), parsing the config's key templates as `connect` does.
    pub fn new(config: C::Config, remote: C::Remote) -> Result<Self, ConnectorError> {
        Ok(MessageClient {
            keys: parse_keys(&config)?,
            config,
            remote,
        })
    }
}

/// The config's key templates, parsed; a bad one is the config's error at its field.
fn parse_keys<T: MessageConfig>(config: &T) -> Result<Vec<Option<KeyTemplate>>, ConnectorError> {
    config
        .keys()
        .iter()
        .map(|spec| {
            spec.template
                .map(|t| {
                    KeyTemplate::parse(t).map_err(|m| {
                        ConnectorError::new(
                            ErrorKind::InvalidConfig,
                            format!("{} {m}", spec.field),
                            format!("correct config.{}", spec.field),
                        )
                    })
                })
                .transpose()
        })
        .collect()
}

impl<C: MessageConnector> Deref for MessageClient<C> {
    type Target = C::Remote;

    fn deref(&self) -> &C::Remote {
        &self.remote
    }
}

impl<C: MessageConnector> fmt::Debug for MessageClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config is left out: what of it is safe to show, the remote's Debug shows.
        f.debug_struct("MessageClient")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[courier_core::async_trait]
impl<C: MessageConnector> Connector for Messages<C> {
    type Config = C::Config;
    type Auth = C::Auth;
    type Client = MessageClient<C>;

    fn metadata(&self) -> &'static ConnectorMeta {
        self.0.metadata()
    }

    fn endpoints(&self, config: &C::Config, auth: &C::Auth) -> Vec<Endpoint> {
        self.0.endpoints(config, auth)
    }

    fn oauth_client(&self, auth: &C::Auth) -> Option<OAuthClient> {
        self.0.oauth_client(auth)
    }

    async fn connect(
        &self,
        config: C::Config,
        auth: C::Auth,
        env: &Env,
    ) -> Result<MessageClient<C>, ConnectorError> {
        // Templates first: a config that cannot work builds no SDK client.
        let keys = parse_keys(&config)?;
        let remote = self.0.connect(&config, auth, env).await?;
        Ok(MessageClient {
            config,
            keys,
            remote,
        })
    }

    async fn test(
        &self,
        client: &MessageClient<C>,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError> {
        self.0.test(client, probe).await
    }

    async fn describe_fields(
        &self,
        client: &MessageClient<C>,
    ) -> Result<Vec<Field>, ConnectorError> {
        Ok(self.0.fields(&client.config))
    }

    async fn deliver(&self, client: &MessageClient<C>, batch: &Batch) -> BatchOutcome {
        deliver_messages(&self.0, client, batch).await
    }
}
