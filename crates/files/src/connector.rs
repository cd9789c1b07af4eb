//! The file-connector shape: a destination that writes each batch as files implements
//! [`FileConnector`] (connect, test, upload one planned file) and [`Files`] makes it a
//! [`Connector`]: planning, splitting, the payload cap, the record outcomes, field
//! description and the key template are done once, here.

use std::fmt;
use std::ops::Deref;

use courier_core::{
    AuthSpec, Batch, BatchOutcome, ConfigSpec, Connector, ConnectorError, ConnectorMeta, Delivered,
    Endpoint, Env, ErrorKind, Field, OAuthClient, PayloadCap, Probe,
};

use crate::deliver::deliver_files;
use crate::options::FileLayout;
use crate::plan::PlannedFile;
use crate::template::KeyTemplate;

/// The config of a file connector: how files are laid out and named.
pub trait FileConfig: ConfigSpec {
    /// Format, compression, CSV columns, splitting and the size limit.
    fn layout(&self) -> &FileLayout;

    /// The config field file names are rendered from (`key_template`, `file_name_template`)
    /// and its text. [`Files`] parses it once when the client is built.
    fn name_template(&self) -> (&'static str, &str);
}

/// A destination that writes batches as files (object stores, SFTP, Drive, OneDrive). Wrap it
/// in [`Files`] to get a [`Connector`]; the crate exports the wrapped type under the
/// connector's name:
///
/// ```ignore
/// pub type S3 = Files<S3Files>;
/// pub const S3: S3 = Files(S3Files);
/// ```
#[courier_core::async_trait]
pub trait FileConnector: Clone + Send + Sync + 'static {
    /// The destination's config; its file options are found through [`FileConfig`].
    type Config: FileConfig;
    /// The destination's credentials.
    type Auth: AuthSpec;
    /// What the connector talks to the store with (an SDK client, an HTTP client and its
    /// token source, a session pool). Its Debug output must not show secrets.
    type Remote: fmt::Debug + Send + Sync + 'static;

    /// What the connector is, for the catalog.
    fn metadata(&self) -> &'static ConnectorMeta;

    /// Every host the config and credentials make the connector contact (see
    /// [`Connector::endpoints`]).
    fn endpoints(&self, config: &Self::Config, auth: &Self::Auth) -> Vec<Endpoint>;

    /// For OAuth destinations, how to run the authorization flow with this auth_config.
    fn oauth_client(&self, auth: &Self::Auth) -> Option<OAuthClient> {
        let _ = auth;
        None
    }

    /// Builds the remote client. Should not do network I/O: `test` is where the target is
    /// checked. The config stays with the [`FileClient`] that wraps the result.
    async fn connect(
        &self,
        config: &Self::Config,
        auth: Self::Auth,
        env: &Env,
    ) -> Result<Self::Remote, ConnectorError>;

    /// Checks the connection step by step through `probe`, touching the real target; ends
    /// with [`crate::probe_write`] where the store allows it.
    async fn test(
        &self,
        client: &FileClient<Self>,
        probe: &mut Probe,
    ) -> Result<(), ConnectorError>;

    /// Writes one planned file whole (the same key on every retry of the batch), or fails
    /// leaving nothing partial behind. Encode with [`PlannedFile::encode`] (small files) or
    /// [`crate::PartStream`] (in parts): both keep encoding off the async threads.
    async fn upload(
        &self,
        client: &FileClient<Self>,
        batch: &Batch,
        file: &PlannedFile,
    ) -> Result<Delivered, ConnectorError>;
}

/// A file connector as a [`Connector`]: the one blanket implementation every file connector
/// shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<C>(pub C);

/// A file destination's client: its config, the parsed name template and the host's
/// destination id and payload cap, around the connector's own remote client (which it
/// dereferences to).
pub struct FileClient<C: FileConnector> {
    /// The destination's config.
    pub config: C::Config,
    /// File names, parsed from the config's template.
    pub template: KeyTemplate,
    /// The host's id of the destination (a template variable).
    pub destination_id: String,
    /// The most one file may hold before compression.
    pub cap: PayloadCap,
    /// The connector's own client.
    pub remote: C::Remote,
}

impl<C: FileConnector> Deref for FileClient<C> {
    type Target = C::Remote;

    fn deref(&self) -> &C::Remote {
        &self.remote
    }
}

impl<C: FileConnector> fmt::Debug for FileClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config is left out: what of it is safe to show, the remote's Debug shows.
        f.debug_struct("FileClient")
            .field("destination_id", &self.destination_id)
            .field("cap", &self.cap)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[courier_core::async_trait]
impl<C: FileConnector> Connector for Files<C> {
    type Config = C::Config;
    type Auth = C::Auth;
    type Client = FileClient<C>;

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
    ) -> Result<FileClient<C>, ConnectorError> {
        let (field, text) = config.name_template();
        let template = KeyTemplate::parse(text).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("{field} {m}"),
                format!("correct config.{field}"),
            )
        })?;
        let remote = self.0.connect(&config, auth, env).await?;
        Ok(FileClient {
            config,
            template,
            destination_id: env.destination_id.clone(),
            cap: env.payload_cap,
            remote,
        })
    }

    async fn test(&self, client: &FileClient<C>, probe: &mut Probe) -> Result<(), ConnectorError> {
        self.0.test(client, probe).await
    }

    async fn describe_fields(&self, client: &FileClient<C>) -> Result<Vec<Field>, ConnectorError> {
        Ok(client.config.layout().fields())
    }

    async fn deliver(&self, client: &FileClient<C>, batch: &Batch) -> BatchOutcome {
        let enveloped;
        let batch = if client.config.layout().record_envelope {
            enveloped = crate::envelope::wrap(batch);
            &enveloped
        } else {
            batch
        };
        deliver_files(
            batch,
            client.config.layout(),
            &client.template,
            client.cap,
            &client.destination_id,
            |file| async move { self.0.upload(client, batch, &file).await },
        )
        .await
    }
}
