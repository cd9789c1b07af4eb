//! The Drive connection test: the token is valid (refreshed if needed) → the account is
//! identified → the folder exists and the account can add files to it.

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::DriveClient;

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "authentication",
        label: "OAuth token valid (refreshed if needed)",
    },
    StepSpec {
        name: "account",
        label: "Google account identified",
    },
    StepSpec {
        name: "folder",
        label: "Folder exists and is writable",
    },
];

pub async fn run(client: &DriveClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe
        .step("authentication", async {
            client.api.tokens().access_token().await?;
            Ok(((), "an access token is ready".to_string()))
        })
        .await?;
    probe
        .step("account", async {
            let who = client.account().await?;
            Ok(((), format!("signed in as {who}")))
        })
        .await?;
    probe
        .step("folder", async {
            let folder = client.folder().await?;
            if !folder.writable {
                return Err(ConnectorError::new(
                    ErrorKind::Forbidden,
                    format!(
                        "the connected account cannot add files to folder \"{}\" ({})",
                        folder.name, client.folder_label
                    ),
                    "give the account edit access to the folder, or pick another folder",
                ));
            }
            Ok(((), format!("folder \"{}\" accepts new files", folder.name)))
        })
        .await?;
    Ok(())
}
