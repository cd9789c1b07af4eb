//! Signing in with a `.creds` file (a user JWT and its nkey seed) against a nats-server in
//! operator mode: an operator, an account (with JetStream) and a user made for the test, their
//! JWTs signed with their nkeys as `nsc` would. With the user's `.creds` every step passes and
//! records arrive; a user signed by an account the server does not know fails at
//! `authentication`; content that is not a `.creds` file is refused naming the field.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use courier_connector_nats::Nats;
use courier_core::{Batch, DynConnector, ErrorKind, StepStatus};
use courier_testbed::brokers::{OwnBroker, Recipe, nats};
use nkeys::KeyPair;
use serde_json::{Value, json};

/// Where the operator and account settings are written in the server's directory.
const TRUST_FILE: &str = "trust.conf";

/// A NATS JWT with `claims` (`nats` being the type's own), for `subject`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "jti": courier_testbed::fresh_name("jti"),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A `.creds` file's content, as `nsc` writes it.
fn creds(user_jwt: &str, user: &KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n",
        user.seed().unwrap()
    )
}

/// A user of `account` (signed by its key), with no limits, as `.creds` content.
fn user_creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let claims = json!({
        "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
        "type": "user", "version": 2,
    });
    creds(&jwt(account, &user.public_key(), "courier", claims), &user)
}

/// The operator, the account it signed (JetStream allowed), and the server settings trusting
/// them (with a system account).
struct Trust {
    account: KeyPair,
    settings: String,
}

fn trust() -> Trust {
    let operator = KeyPair::new_operator();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "courier-test-operator",
        json!({"type": "operator", "version": 2}),
    );
    let account = KeyPair::new_account();
    let limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
    });
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "courier-test-account",
        json!({"limits": limits, "type": "account", "version": 2}),
    );
    // JetStream needs a system account for its internal subscriptions.
    let system = KeyPair::new_account();
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        json!({"type": "account", "version": 2}),
    );
    let settings = format!(
        "operator: {operator_jwt}\nsystem_account: {system}\nresolver: MEMORY\nresolver_preload: {{\n  {system}: {system_jwt}\n  {}: {account_jwt}\n}}\n",
        account.public_key(),
        system = system.public_key(),
    );
    Trust { account, settings }
}

/// nats-server in operator mode, with JetStream, trusting what `trust.conf` in `dir` names.
fn operator_server(dir: &Path, port: u16) -> Command {
    let config = format!(
        // An include is found relative to the including file (both are in `dir`).
        "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n}}\ninclude \"{TRUST_FILE}\"\n",
        dir.join("jetstream").display(),
    );
    nats::command_with(dir, &config)
}

#[tokio::test]
async fn a_creds_file_signs_in_and_others_are_refused() {
    let trust = trust();
    let recipe = Recipe {
        name: "nats-server (operator)",
        command: operator_server,
        ..nats::NATS
    };
    let settings = trust.settings.clone();
    let broker = OwnBroker::start_prepared(recipe, move |dir| {
        std::fs::write(dir.join(TRUST_FILE), settings).unwrap()
    });
    let port = broker.port();
    let creds = user_creds(&trust.account);

    // A stream made by another client of the same account, signed in with its own creds.
    let reader = async_nats::ConnectOptions::with_credentials(&user_creds(&trust.account))
        .unwrap()
        .connect(nats::url(port))
        .await
        .expect("the reader signs in with its .creds");
    let js = async_nats::jetstream::new(reader);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "CREDS".into(),
        subjects: vec!["creds.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();

    let config = common::config(port, "creds.orders");
    let auth = json!({ "credentials": creds });
    let report = common::test_report(config.clone(), auth.clone()).await;
    assert!(report.success, "{report:#?}");
    let authentication = report
        .steps
        .iter()
        .find(|s| s.name == "authentication")
        .unwrap();
    assert_eq!(authentication.status, StepStatus::Passed);
    let destination = Nats
        .build(&common::spec(config.clone(), auth))
        .await
        .unwrap();
    let outcome = destination
        .deliver(&Batch::new("b1", common::records("creds", 3)))
        .await;
    assert_eq!(outcome.delivered_count(), 3, "{outcome:?}");
    let mut stream = js.get_stream("CREDS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 3);

    // A user whose account the server does not trust.
    let stranger = json!({ "credentials": user_creds(&KeyPair::new_account()) });
    let report = common::test_report(config.clone(), stranger.clone()).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert_eq!(failed.error_kind, Some(ErrorKind::Unauthenticated));
    let destination = Nats
        .build(&common::spec(config.clone(), stranger))
        .await
        .unwrap();
    let out = destination
        .deliver(&Batch::new("b2", common::records("stranger", 1)))
        .await;
    let e = out.records[0].error().expect("refused");
    assert_eq!(e.kind, ErrorKind::Unauthenticated, "{e:?}");
    assert_eq!(stream.info().await.unwrap().state.messages, 3);

    // Content that is not a .creds file is named by its field and never echoed.
    let garbage = "not-a-creds-file-7f3e";
    let report = common::test_report(config, json!({ "credentials": garbage })).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(
        failed.error_kind,
        Some(ErrorKind::InvalidConfig),
        "{failed:#?}"
    );
    let said = format!("{failed:?}");
    assert!(said.contains("credentials"), "{said}");
    assert!(!said.contains(garbage), "{said}");
}
