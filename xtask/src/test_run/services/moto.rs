//! moto (S3, Kinesis, SQS, SNS, EventBridge), pinned, in a Python virtualenv under the cache. It
//! runs in its IAM mode: after the first three unauthenticated actions (which create a test user,
//! its access key and an allow-all policy) every request must be signed with that key, so tests
//! can check what happens with bad credentials.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Service, port_open, run};

const PACKAGE: &str = "moto[server]==5.2.5";

pub const MOTO: Service = Service {
    name: "moto",
    install,
    preferred_port: None,
    start,
    ready: port_open,
    ready_timeout: Duration::from_secs(30),
    prepare,
    scratch: None,
};

fn venv(cache: &Path) -> std::path::PathBuf {
    cache.join("venv")
}

fn install(cache: &Path) -> Result<()> {
    let venv = venv(cache);
    let marker = venv.join(".courier-installed");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == PACKAGE) {
        return Ok(());
    }
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PACKAGE,
    ]))?;
    std::fs::write(&marker, PACKAGE).context("cannot write the install marker")?;
    Ok(())
}

fn start(cache: &Path, port: u16) -> Result<std::process::Child> {
    let log = std::fs::File::create(cache.join("moto.log")).context("cannot create moto.log")?;
    Command::new(venv(cache).join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start moto_server")
}

/// Exactly three IAM actions (the unauthenticated allowance), then prints the key.
const BOOTSTRAP: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="courier-tests")
key = iam.create_access_key(UserName="courier-tests")["AccessKey"]
iam.put_user_policy(UserName="courier-tests", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kinesis:*", "sqs:*", "sns:*", "events:*"], "Resource": "*"}]}))
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

fn prepare(cache: &Path, port: u16) -> Result<super::Env> {
    let url = format!("http://127.0.0.1:{port}");
    let output = Command::new(venv(cache).join("bin/python"))
        .args(["-c", BOOTSTRAP, &url])
        .output()
        .context("cannot run the moto IAM bootstrap")?;
    if !output.status.success() {
        bail!(
            "moto IAM bootstrap failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8(output.stdout).context("bootstrap output is not UTF-8")?;
    let mut parts = text.split_whitespace();
    let (Some(id), Some(secret)) = (parts.next(), parts.next()) else {
        bail!("moto IAM bootstrap printed no access key");
    };
    Ok(vec![
        ("COURIER_TEST_MOTO_URL".into(), url),
        ("COURIER_TEST_AWS_ACCESS_KEY_ID".into(), id.into()),
        ("COURIER_TEST_AWS_SECRET_ACCESS_KEY".into(), secret.into()),
    ])
}
