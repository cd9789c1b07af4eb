//! moto, the AWS emulator `cargo xtask test` starts in IAM mode, with a test user's keys in the
//! environment (`COURIER_TEST_MOTO_URL`, `COURIER_TEST_AWS_ACCESS_KEY_ID`,
//! `COURIER_TEST_AWS_SECRET_ACCESS_KEY`). One handle serves every service moto emulates; the
//! S3 methods come with the `s3` feature, the Kinesis ones with `kinesis`, the SQS ones with
//! `sqs`, the SNS ones with `sns` and the EventBridge ones with `eventbridge` (both read back
//! through an SQS queue wired to the topic or bus).

use serde_json::{Value, json};

#[cfg(feature = "eventbridge")]
mod eventbridge;
#[cfg(feature = "kinesis")]
mod kinesis;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "sqs")]
mod sqs;
#[cfg(any(feature = "sns", feature = "eventbridge"))]
mod subscribed;

#[cfg(feature = "eventbridge")]
pub use eventbridge::EventBus;
#[cfg(feature = "sns")]
pub use sns::SnsTopic;
#[cfg(feature = "sqs")]
pub use sqs::SqsMessage;

/// The region every client and config built here names.
const REGION: &str = "us-east-1";

/// The running moto and the test user's keys.
#[derive(Debug, Clone)]
pub struct Moto {
    /// The server's base URL, the endpoint for every service.
    pub url: String,
    /// The test user's access key id.
    pub key_id: String,
    /// The test user's secret access key.
    pub secret: String,
}

/// The running moto, or a panic naming the missing variable and how to start moto.
pub fn moto() -> Moto {
    let var = |name| crate::required_var(name, "moto");
    Moto {
        url: var("COURIER_TEST_MOTO_URL"),
        key_id: var("COURIER_TEST_AWS_ACCESS_KEY_ID"),
        secret: var("COURIER_TEST_AWS_SECRET_ACCESS_KEY"),
    }
}

impl Moto {
    /// The moto the environment names, or `None` when any of its variables is unset (a
    /// benchmark then starts one of its own).
    pub fn from_env() -> Option<Moto> {
        let var = |name| std::env::var(name).ok();
        Some(Moto {
            url: var("COURIER_TEST_MOTO_URL")?,
            key_id: var("COURIER_TEST_AWS_ACCESS_KEY_ID")?,
            secret: var("COURIER_TEST_AWS_SECRET_ACCESS_KEY")?,
        })
    }

    /// The moto the environment names, or one started here from the copy `cargo xtask test`
    /// installed (without IAM: any keys are accepted), stopped when the guard drops. For
    /// benchmarks, which may run without the test services.
    #[cfg(feature = "start")]
    pub fn from_env_or_started() -> (Moto, Option<courier_benchkit::ChildGuard>) {
        use courier_benchkit::{emulator_cache, free_port, start_emulator};
        if let Some(moto) = Moto::from_env() {
            return (moto, None);
        }
        let port = free_port();
        let mut command =
            std::process::Command::new(format!("{}/venv/bin/moto_server", emulator_cache()));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let guard = start_emulator(command, port, "moto");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            key_id: "bench".into(),
            secret: "bench".into(),
        };
        (moto, Some(guard))
    }

    /// The connector's `auth` JSON: the test user's access keys.
    pub fn auth(&self) -> Value {
        json!({"access_key_id": self.key_id, "secret_access_key": self.secret})
    }
}
