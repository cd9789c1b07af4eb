//! `courier test`, `fields` and `deliver` for the `sftp` type, run as a binary against OpenSSH's
//! sshd; the password given never appears in the output.

use std::process::Output;

async fn courier(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(args)
        .output()
        .await
        .unwrap()
}

fn shown(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn test_fields_and_deliver_work_for_sftp() {
    let sshd = courier_testbed::sshd::sshd();
    let password = &sshd.password;
    let directory = courier_testbed::fresh_name("cli");
    let config = serde_json::json!({
        "host": sshd.host, "port": sshd.port,
        "username": sshd.user, "directory": directory, "create_directories": true,
        "host_key_fingerprint": sshd.fingerprint,
        "format": "csv", "columns": ["id", "email"], "file_name_template": "{batch_id}.{ext}"
    })
    .to_string();
    let auth = sshd.password_auth().to_string();

    let o = courier(&[
        "test", "--type", "sftp", "--config", &config, "--auth", &auth,
    ])
    .await;
    let out = shown(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("host_key") && out.contains(&sshd.fingerprint),
        "the fingerprint seen is printed: {out}"
    );
    assert!(!out.contains(password), "{out}");

    let o = courier(&[
        "fields", "--type", "sftp", "--config", &config, "--auth", &auth,
    ])
    .await;
    let fields: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(fields[1]["name"], "email");

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(
        &input,
        "{\"id\":1,\"email\":\"a@x.io\"}\n{\"id\":2,\"email\":\"b@x.io\"}\n",
    )
    .unwrap();
    let o = courier(&[
        "deliver",
        "--type",
        "sftp",
        "--config",
        &config,
        "--auth",
        &auth,
        "--input",
        input.to_str().unwrap(),
    ])
    .await;
    let out = shown(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains(password), "{out}");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["delivered"], 2);

    let written = sshd.root.join(&directory);
    let files: Vec<_> = std::fs::read_dir(&written).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(
        std::fs::read_to_string(files[0].path()).unwrap(),
        "id,email\r\n1,a@x.io\r\n2,b@x.io\r\n"
    );
}
