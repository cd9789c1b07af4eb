//! `courier oauth`: the authorization-code flow with PKCE for a person at a terminal. The
//! redirect comes back to a one-shot loopback server; the code is exchanged, and the
//! auth_config for the destination (client and tokens) is printed or written 0600.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use courier_core::Secret;
use courier_oauth::{OAuthApp, Provider, Tokens};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::OAuthArgs;
use crate::error::CliError;

type Redirect = std::collections::HashMap<String, String>;

pub async fn run(args: OAuthArgs) -> Result<ExitCode, CliError> {
    let provider = provider(&args)?;
    if args.r#type == "google_drive" && args.client_secret.is_none() {
        return Err(CliError::Input(
            "--client-secret is required for google_drive (Google issues one to every OAuth client)".into(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            CliError::Failed(format!("could not listen on 127.0.0.1:{}: {e}", args.port))
        })?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("no local address: {e}")))?;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", addr.port());
    let secret = args.client_secret.as_deref().map(Secret::new);
    let app = OAuthApp::new(
        provider,
        &args.client_id,
        secret.as_ref(),
        &redirect_uri,
        true,
    )
    .map_err(|e| CliError::Input(e.message))?;
    let pending = app.start("cli");
    eprintln!(
        "Open this URL in a browser and allow access:\n\n{}\n",
        pending.url
    );
    eprintln!("Waiting for the redirect to {redirect_uri} ...");

    let (tx, mut rx) = mpsc::channel::<Redirect>(1);
    let expected = Arc::new(pending.state.expose().to_string());
    let server = Router::new()
        .route("/callback", get(callback))
        .with_state((tx, expected));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(listener, server)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let received = tokio::time::timeout(Duration::from_secs(args.timeout_secs), rx.recv()).await;
    // Graceful: the browser still gets its page.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    let query = match received {
        Ok(Some(q)) => q,
        _ => {
            return Err(CliError::Failed(format!(
                "no redirect came back within {} s",
                args.timeout_secs
            )));
        }
    };
    if let Some(error) = query.get("error") {
        let detail = query
            .get("error_description")
            .map(String::as_str)
            .unwrap_or("");
        return Err(CliError::Failed(format!(
            "the provider refused the authorization: {error} {detail}"
        )));
    }
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return Err(CliError::Failed(
            "the redirect carried no code or state".into(),
        ));
    };
    let tokens = app
        .complete(pending, state, code)
        .await
        .map_err(|e| CliError::Failed(format!("{} ({})", e.message, e.hint)))?;
    if tokens.refresh_token.is_none() {
        eprintln!(
            "warning: the provider issued no refresh token; the destination will need reconnecting when the access token expires"
        );
    }
    let auth = auth_config(&args, &tokens);
    write_out(&args, &auth)?;
    Ok(ExitCode::SUCCESS)
}

fn provider(args: &OAuthArgs) -> Result<Provider, CliError> {
    let mut provider = match args.r#type.as_str() {
        "google_drive" => Provider::google_drive(),
        "onedrive" => Provider::onedrive_tenant(&args.tenant),
        other => {
            return Err(CliError::Input(format!(
                "--type {other} does not use OAuth; use google_drive or onedrive"
            )));
        }
    };
    if let Some(url) = &args.authorization_url {
        provider.authorization_url = url.clone();
    }
    if let Some(url) = &args.token_url {
        provider.token_url = url.clone();
    }
    Ok(provider)
}

/// The redirect: only one carrying this flow's state counts (anything else that reaches the
/// port, a prefetch or another page, is answered 400 and ignored).
async fn callback(
    State((tx, expected)): State<(mpsc::Sender<Redirect>, Arc<String>)>,
    Query(q): Query<Redirect>,
) -> (StatusCode, Html<&'static str>) {
    if q.get("state").map(String::as_str) != Some(expected.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Html(
                "<!doctype html><title>Courier</title><p>This is not the authorization Courier is waiting for.</p>",
            ),
        );
    }
    let _ = tx.try_send(q);
    (
        StatusCode::OK,
        Html(
            "<!doctype html><title>Courier</title><p>Courier received the authorization. You can close this window and return to the terminal.</p>",
        ),
    )
}

/// The destination's auth_config: the client, the tokens, and the endpoints that differ from
/// the defaults.
fn auth_config(args: &OAuthArgs, tokens: &Tokens) -> Value {
    let mut auth = json!({
        "client_id": args.client_id,
        "access_token": tokens.access_token.expose(),
    });
    if let Some(secret) = &args.client_secret {
        auth["client_secret"] = json!(secret);
    }
    if let Some(refresh) = &tokens.refresh_token {
        auth["refresh_token"] = json!(refresh.expose());
    }
    if args.r#type == "onedrive" {
        auth["tenant"] = json!(args.tenant);
    }
    if let Some(url) = &args.token_url {
        auth["token_url"] = json!(url);
    }
    if let Some(url) = &args.authorization_url {
        auth["authorization_url"] = json!(url);
    }
    auth
}

fn write_out(args: &OAuthArgs, auth: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(auth).unwrap_or_default() + "\n";
    match &args.output {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| {
                CliError::Failed(format!("could not write {}: {e}", path.display()))
            })?;
            // An existing file keeps its mode on open: narrow it before writing tokens in.
            #[cfg(unix)]
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| {
                    CliError::Failed(format!("could not restrict {}: {e}", path.display()))
                })?;
            file.write_all(text.as_bytes()).map_err(|e| {
                CliError::Failed(format!("could not write {}: {e}", path.display()))
            })?;
            eprintln!("auth_config written to {} (mode 0600)", path.display());
            Ok(())
        }
    }
}
