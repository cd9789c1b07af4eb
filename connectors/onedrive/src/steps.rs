//! The OneDrive connection test: the token is valid (refreshed if needed) → the drive and its
//! owner are identified → the folder exists and accepts files (an upload session is opened for a
//! probe name and cancelled at once, so nothing is written).

use courier_core::{ConnectorError, Probe, StepSpec};
use courier_files::probe_name;

use crate::client::GraphClient;
use crate::session;

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "authentication",
        label: "OAuth token valid (refreshed if needed)",
    },
    StepSpec {
        name: "account",
        label: "Drive and account identified",
    },
    StepSpec {
        name: "folder",
        label: "Folder exists and is writable",
    },
];

pub async fn run(client: &GraphClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe
        .step("authentication", async {
            client.api.tokens().access_token().await?;
            Ok(((), "an access token is ready".to_string()))
        })
        .await?;
    probe
        .step("account", async {
            let who = client.account().await?;
            Ok(((), format!("writing to the drive of {who}")))
        })
        .await?;
    probe
        .step("folder", async {
            client.folder().await?;
            let upload = session::open(client, &probe_name()).await?;
            session::cancel(client, &upload).await;
            let folder = if client.folder.is_empty() { "/" } else { client.folder.as_str() };
            Ok(((), format!("folder {folder} accepts new files (a probe upload session was opened and cancelled)")))
        })
        .await?;
    Ok(())
}
