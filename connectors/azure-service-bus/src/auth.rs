//! Authorizing requests: a shared access signature signed locally from a policy's key (renewed
//! before it expires), or an Entra ID token for a service principal (azure_identity, through
//! the guarded transport, cached until it nears expiry).

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::credentials::{Secret as AzureSecret, TokenCredential};
use azure_core::error::ErrorKind as AzureKind;
use azure_core::http::{
    AsyncRawResponse, AsyncResponseBody, ClientOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Secret};
use futures::Stream;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

/// The scope of Entra ID tokens for Service Bus, in every cloud.
pub const SCOPE: &str = "https://servicebus.azure.net/.default";
/// How long a signed token is valid.
const SAS_LIFETIME_SECS: u64 = 3600;
/// A token this close to expiry is signed again.
const SAS_RENEW_SECS: u64 = 300;
/// The most of an Entra ID answer read (a token answer is a few kilobytes).
const TOKEN_BODY_CAP: usize = 1024 * 1024;

/// What `sr`, `sig` and `skn` are encoded with: everything but letters, digits and `-_.~`,
/// as the Azure SDKs encode them.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `Authorization` value for `resource_uri` signed with a shared access policy's key,
/// valid until `expiry` (Unix seconds): `sig` is the base64 HMAC-SHA256, keyed with the key's
/// text, of the URL-encoded resource URI, a newline and the expiry.
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry: u64) -> String {
    let encoded = utf8_percent_encode(resource_uri, ENCODE).to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{encoded}\n{expiry}").as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "SharedAccessSignature sr={encoded}&sig={}&se={expiry}&skn={}",
        utf8_percent_encode(&sig, ENCODE),
        utf8_percent_encode(key_name, ENCODE)
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A shared access policy's key and the resource its tokens are signed for.
pub struct SasKey {
    key_name: String,
    key: Secret,
    resource: String,
    /// The token last signed and its expiry.
    cached: Mutex<Option<(String, u64)>>,
}

impl SasKey {
    /// A key signing tokens for `resource` (the entity's URI).
    pub fn new(key_name: String, key: Secret, resource: String) -> Self {
        SasKey {
            key_name,
            key,
            resource,
            cached: Mutex::new(None),
        }
    }

    /// The policy's name.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// A token valid for a while yet, signed again when the last one nears expiry.
    fn token(&self) -> String {
        let now = unix_now();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((token, expiry)) if *expiry > now + SAS_RENEW_SECS => token.clone(),
            _ => {
                let expiry = now + SAS_LIFETIME_SECS;
                let token = sas_token(&self.resource, &self.key_name, self.key.expose(), expiry);
                *cached = Some((token.clone(), expiry));
                token
            }
        }
    }
}

/// How requests are authorized.
pub enum Signer {
    /// A shared access signature, from a key or a connection string.
    Sas(SasKey),
    /// An Entra ID token for a service principal.
    Entra(Arc<dyn TokenCredential>),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Sas(key) => f
                .debug_struct("Sas")
                .field("key_name", &key.key_name)
                .field("resource", &key.resource)
                .finish_non_exhaustive(),
            Signer::Entra(_) => f.write_str("Entra"),
        }
    }
}

impl Signer {
    /// The `Authorization` header's value for the next request.
    pub async fn authorization(&self) -> Result<String, ConnectorError> {
        match self {
            Signer::Sas(key) => Ok(key.token()),
            Signer::Entra(credential) => {
                let token = credential
                    .get_token(&[SCOPE], None)
                    .await
                    .map_err(entra_error)?;
                Ok(format!("Bearer {}", token.token.secret()))
            }
        }
    }
}

/// A service principal's credential: client-credentials tokens from `authority_host` (public
/// cloud by default), fetched through `transport`, without retries (the runtime decides).
pub fn principal(
    tenant_id: &str,
    client_id: &str,
    secret: &Secret,
    authority_host: Option<&str>,
    transport: Transport,
) -> Result<Arc<dyn TokenCredential>, ConnectorError> {
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    let mut client_options = ClientOptions {
        transport: Some(transport),
        retry: RetryOptions::none(),
        ..Default::default()
    };
    if let Some(host) = authority_host {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host.to_string();
        client_options.cloud = Some(Arc::new(custom.into()));
    }
    let credential = ClientSecretCredential::new(
        tenant_id,
        client_id.to_string(),
        AzureSecret::new(secret.expose().to_string()),
        Some(ClientSecretCredentialOptions { client_options }),
    )
    .map_err(|e| {
        ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the service principal cannot be used: {}", e.kind()),
            "check tenant_id, client_id and authority_host in auth_config",
        )
    })?;
    Ok(credential)
}

/// The status of the answer behind a failed token request, looking through the credential's
/// wrapping, or whether it got no answer at all.
fn entra_status(err: &azure_core::Error) -> Option<Result<u16, ()>> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(azure) = e.downcast_ref::<azure_core::Error>() {
            match azure.kind() {
                AzureKind::HttpResponse { status, .. } => return Some(Ok(u16::from(*status))),
                AzureKind::Connection | AzureKind::Io => return Some(Err(())),
                _ => {}
            }
        }
        current = e.source();
    }
    None
}

/// A failed token request as a classified error: refused credentials are permanent, an
/// authority that cannot be reached or is busy is transient.
pub fn entra_error(err: azure_core::Error) -> ConnectorError {
    let error = match entra_status(&err) {
        Some(Err(())) => ConnectorError::new(
            ErrorKind::Unavailable,
            "could not reach the Entra ID authority to sign in the service principal",
            "check auth_config.authority_host and network access; the request is retried",
        ),
        Some(Ok(429)) => ConnectorError::new(
            ErrorKind::RateLimited,
            "Entra ID is throttling token requests for the service principal",
            "the request is retried with backoff",
        ),
        Some(Ok(status)) if status >= 500 => ConnectorError::new(
            ErrorKind::Unavailable,
            format!("Entra ID failed to issue a token (HTTP {status})"),
            "the request is retried",
        ),
        Some(Ok(status)) => ConnectorError::new(
            ErrorKind::Unauthenticated,
            format!("Entra ID did not issue a token for the service principal (HTTP {status})"),
            "check tenant_id, client_id and client_secret in auth_config (and authority_host for sovereign clouds)",
        ),
        None => ConnectorError::new(
            ErrorKind::Unauthenticated,
            "Entra ID did not issue a token for the service principal",
            "check tenant_id, client_id and client_secret in auth_config (and authority_host for sovereign clouds)",
        ),
    };
    error.with_source(err)
}

/// The guarded client as the Azure SDK's transport, each answer's body cut at
/// [`TOKEN_BODY_CAP`] so an authority cannot make the destination hold an endless body.
pub fn transport(http: reqwest::Client) -> Transport {
    Transport::new(Arc::new(Capped(Arc::new(http))))
}

#[derive(Debug)]
struct Capped(Arc<dyn HttpClient>);

#[async_trait::async_trait]
impl HttpClient for Capped {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let (status, headers, body) = self.0.execute_request(request).await?.deconstruct();
        let body = CappedBody {
            inner: Box::pin(body),
            read: 0,
        };
        Ok(AsyncRawResponse::new(status, headers, Box::pin(body)))
    }
}

struct CappedBody {
    inner: Pin<Box<AsyncResponseBody>>,
    read: usize,
}

impl Stream for CappedBody {
    type Item = azure_core::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.read > TOKEN_BODY_CAP {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.read += chunk.len();
                if self.read > TOKEN_BODY_CAP {
                    return Poll::Ready(Some(Err(azure_core::Error::with_message(
                        AzureKind::Io,
                        "the answer is longer than 1 MiB; the rest is not read",
                    ))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_documented_form() {
        let token = sas_token(
            "https://acme.servicebus.windows.net/orders",
            "send",
            "key",
            1_700_000_000,
        );
        let fields = token.strip_prefix("SharedAccessSignature ").unwrap();
        assert!(
            fields.starts_with("sr=https%3A%2F%2Facme.servicebus.windows.net%2Forders&sig="),
            "{token}"
        );
        assert!(fields.ends_with("&se=1700000000&skn=send"), "{token}");
        // The same signature as any documented implementation computes.
        let sig = fields.split('&').nth(1).unwrap().trim_start_matches("sig=");
        let decoded = percent_encoding::percent_decode_str(sig)
            .decode_utf8()
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"https%3A%2F%2Facme.servicebus.windows.net%2Forders\n1700000000");
        assert_eq!(decoded, STANDARD.encode(mac.finalize().into_bytes()));
        // A known answer, computed apart from this code with Microsoft's Python sample
        // (urllib.parse.quote_plus, hmac, base64).
        assert_eq!(
            token,
            "SharedAccessSignature sr=https%3A%2F%2Facme.servicebus.windows.net%2Forders&sig=XZGT7KtCaAQPrWLNaBASmo5Y87Bl35rX59mOJdR%2BUWM%3D&se=1700000000&skn=send"
        );
    }

    #[test]
    fn a_signed_token_is_reused_until_it_nears_expiry() {
        let key = SasKey::new("send".into(), Secret::new("k"), "https://x/q".into());
        let first = key.token();
        assert_eq!(key.token(), first);
        *key.cached.lock().unwrap() = Some(("stale".into(), unix_now() + 10));
        assert!(
            key.token().starts_with("SharedAccessSignature "),
            "signed again"
        );
        let (_, expiry) = key.cached.lock().unwrap().clone().unwrap();
        assert!(expiry > unix_now() + SAS_RENEW_SECS);
        assert!(!format!("{:?}", Signer::Sas(key)).contains("sig="));
    }
}
