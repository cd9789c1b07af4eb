//! The authorization-code flow with PKCE: an authorization URL whose `state` is bound to the
//! destination being connected, and the code exchange that checks it.

use std::fmt;
use std::time::{Duration, SystemTime};

use courier_core::{ConnectorError, ErrorKind, OAuthClient, Secret};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};

use crate::errors::classify;
use crate::provider::Provider;
use crate::tokens::Tokens;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One OAuth client registration at one provider.
pub struct OAuthApp {
    provider: Provider,
    client: Client,
    http: reqwest::Client,
    allow_private: bool,
}

impl fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthApp")
            .field("provider", &self.provider.name)
            .field("client_id", self.client.client_id())
            .finish_non_exhaustive()
    }
}

/// An authorization in progress: keep it (server-side) until the redirect comes back. Debug
/// shows neither the state nor the URL that carries it.
pub struct PendingAuthorization {
    /// The destination being connected.
    pub destination_id: String,
    /// The URL to send the person to.
    pub url: String,
    /// The `state` the redirect must bring back; it names the destination and carries a
    /// random nonce.
    pub state: Secret,
    pkce_verifier: Secret,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("destination_id", &self.destination_id)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// The PKCE verifier, for a host that keeps pending authorizations in a database (sealed)
    /// so the redirect may reach another replica.
    pub fn pkce_verifier(&self) -> &Secret {
        &self.pkce_verifier
    }

    /// A pending authorization as a host stored it.
    pub fn restore(destination_id: &str, state: Secret, pkce_verifier: Secret) -> Self {
        PendingAuthorization {
            destination_id: destination_id.to_string(),
            url: String::new(),
            state,
            pkce_verifier,
        }
    }
}

fn config_error(what: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("{what} is not a valid URL"),
        "correct the OAuth endpoint URLs",
    )
}

impl OAuthApp {
    /// `client_id` (and `client_secret` for confidential clients) registered at `provider`,
    /// redirecting to `redirect_uri`. Token requests go through a guarded client that follows
    /// no redirects and reaches private addresses only if `allow_private`. A URL that does not
    /// parse is an `invalid_config` error.
    pub fn new(
        provider: Provider,
        client_id: &str,
        client_secret: Option<&Secret>,
        redirect_uri: &str,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        let auth = AuthUrl::new(provider.authorization_url.clone())
            .map_err(|_| config_error("the authorization URL"))?;
        let token =
            TokenUrl::new(provider.token_url.clone()).map_err(|_| config_error("token_url"))?;
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|_| config_error("the redirect URI"))?;
        let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(redirect);
        if let Some(secret) = client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        // A token endpoint that redirects is not followed: that would be an SSRF vector.
        let http = courier_net::guarded_builder(allow_private)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                ConnectorError::internal("could not build the OAuth HTTP client").with_source(e)
            })?;
        Ok(OAuthApp {
            provider,
            client,
            http,
            allow_private,
        })
    }

    /// The app for a client a connector declared.
    pub fn from_client(
        client: &OAuthClient,
        redirect_uri: &str,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        Self::new(
            Provider::of_client(client),
            &client.client_id,
            client.client_secret.as_ref(),
            redirect_uri,
            allow_private,
        )
    }

    /// A client that only refreshes tokens (connectors delivering for a destination): the
    /// redirect URI is never sent.
    pub fn for_refresh(
        provider: Provider,
        client_id: &str,
        client_secret: Option<&Secret>,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        Self::new(
            provider,
            client_id,
            client_secret,
            "http://127.0.0.1/",
            allow_private,
        )
    }

    /// The HTTP client token requests go through (see [`crate::token_http`]).
    fn token_http(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<oauth2::HttpResponse, crate::token_http::TokenHttpError>,
                > + Send,
        >,
    > + '_ {
        move |request| {
            Box::pin(crate::token_http::send(
                self.http.clone(),
                self.allow_private,
                request,
            ))
        }
    }

    /// The provider this app authorizes with.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Starts connecting `destination_id`: the authorization URL (PKCE S256, the provider's
    /// scopes and offline parameters) and the state to check on return.
    pub fn start(&self, destination_id: &str) -> PendingAuthorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        // The state names the destination and carries a random nonce; `complete` checks both.
        let nonce = CsrfToken::new_random();
        let state = format!("{destination_id}.{}", nonce.secret());
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge)
            .add_scopes(self.provider.scopes.iter().cloned().map(Scope::new));
        for (k, v) in &self.provider.extra_params {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let (url, state) = request.url();
        PendingAuthorization {
            destination_id: destination_id.to_string(),
            url: url.to_string(),
            state: Secret::new(state.secret().clone()),
            pkce_verifier: Secret::new(verifier.secret().clone()),
        }
    }

    /// Which destination a returned `state` belongs to (for hosts that look pending
    /// authorizations up by it).
    pub fn destination_of_state(state: &str) -> Option<&str> {
        state
            .rsplit_once('.')
            .map(|(dest, _)| dest)
            .filter(|d| !d.is_empty())
    }

    /// Finishes the flow: checks the returned state against the pending one, then exchanges the
    /// code (with the PKCE verifier) for tokens.
    pub async fn complete(
        &self,
        pending: PendingAuthorization,
        returned_state: &str,
        code: &str,
    ) -> Result<Tokens, ConnectorError> {
        if !constant_time_eq(returned_state.as_bytes(), pending.state.expose().as_bytes()) {
            return Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!(
                    "the OAuth redirect does not belong to destination {}: the state does not match",
                    pending.destination_id
                ),
                "start the authorization again from this destination",
            ));
        }
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.pkce_verifier.expose().to_string(),
            ))
            .request_async(&self.token_http())
            .await
            .map_err(|e| classify(self.provider.name, e))?;
        Ok(tokens_from(&response, None))
    }

    /// Exchanges a refresh token. A rotated refresh token in the answer replaces the old one.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Tokens, ConnectorError> {
        let response = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_string()))
            .request_async(&self.token_http())
            .await
            .map_err(|e| classify(self.provider.name, e))?;
        Ok(tokens_from(&response, Some(refresh_token)))
    }
}

fn tokens_from(
    response: &oauth2::basic::BasicTokenResponse,
    previous_refresh: Option<&Secret>,
) -> Tokens {
    Tokens {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone()))
            .or_else(|| previous_refresh.cloned()),
        expires_at: response.expires_in().map(|d| SystemTime::now() + d),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
