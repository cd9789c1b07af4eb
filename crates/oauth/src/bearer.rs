//! `BearerClient`: API requests with a destination's access token, refreshed ahead of expiry,
//! and on a 401 refreshed once and sent once more; transport failures come back classified.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use courier_core::{ConnectorError, Secret, SharedTokenStore, Tokens};

use courier_net::transport_error;

use crate::flow::OAuthApp;
use crate::store::SeededStore;
use crate::tokens::{Attempt, TokenManager};

/// An HTTP client that signs requests with one destination's OAuth access token. Its
/// connections are guarded ([`courier_net`]): unless private networks are allowed, nothing it
/// sends (URLs a service hands back included) reaches a non-public address.
#[derive(Debug)]
pub struct BearerClient {
    http: reqwest::Client,
    tokens: TokenManager,
    /// Named in transport errors ("could not reach Google Drive").
    service: &'static str,
    allow_private: bool,
}

/// The tokens an auth_config carries, as the store's fallback: an access token without a
/// known expiry is tried as is (a 401 refreshes it); a refresh token alone is refreshed first.
pub fn seed_tokens(
    access_token: Option<&Secret>,
    refresh_token: Option<&Secret>,
) -> Option<Tokens> {
    if access_token.is_none() && refresh_token.is_none() {
        return None;
    }
    Some(Tokens {
        access_token: access_token.cloned().unwrap_or_else(|| Secret::new("")),
        refresh_token: refresh_token.cloned(),
        expires_at: match access_token {
            Some(_) => None,
            None => Some(SystemTime::UNIX_EPOCH),
        },
        scopes: Vec::new(),
    })
}

impl BearerClient {
    /// `host_store` is the host's token store (`Env::token_store`); `seed` the auth_config's
    /// tokens, used until the host's store holds any for this destination.
    pub fn new(
        service: &'static str,
        app: Arc<OAuthApp>,
        host_store: Option<SharedTokenStore>,
        seed: Option<Tokens>,
        destination_id: &str,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        // API calls never follow redirects: an upload answered with one is an error.
        let http = courier_net::guarded_builder(allow_private)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| {
                ConnectorError::internal("could not build the HTTP client").with_source(e)
            })?;
        let store = Arc::new(SeededStore::new(host_store, seed));
        Ok(BearerClient {
            http,
            tokens: TokenManager::new(app, store, destination_id),
            service,
            allow_private,
        })
    }

    /// The plain client, for requests that must not carry the token (upload-session URLs
    /// the service handed back), once `url` is checked: an address spelled in it must be
    /// public too (the client's resolver only sees names).
    pub fn plain(&self, url: &str) -> Result<&reqwest::Client, ConnectorError> {
        courier_net::check_url(self.service, url, self.allow_private)?;
        Ok(&self.http)
    }

    /// The token manager behind this client.
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// Sends the request `build` makes with a valid token; a 401 refreshes the token and
    /// sends it once more. Any other status is the caller's to interpret.
    pub async fn send<F>(&self, build: F) -> Result<reqwest::Response, ConnectorError>
    where
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        self.tokens
            .call(|token| {
                let request = build(&self.http, token.expose()).build();
                async move {
                    let request = match request {
                        Ok(request) => request,
                        Err(e) => return Attempt::Done(Err(transport_error(self.service, e))),
                    };
                    if let Err(e) = courier_net::check_url(
                        self.service,
                        request.url().as_str(),
                        self.allow_private,
                    ) {
                        return Attempt::Done(Err(e));
                    }
                    match self.http.execute(request).await {
                        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                            Attempt::Unauthorized
                        }
                        Ok(r) => Attempt::Done(Ok(r)),
                        Err(e) => Attempt::Done(Err(transport_error(self.service, e))),
                    }
                }
            })
            .await
    }
}
