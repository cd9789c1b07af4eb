//! Tokens and the per-destination `TokenManager`: refresh ahead of expiry, single-flight, rotated
//! refresh tokens saved before use, one refresh-and-retry on a 401, and a remembered
//! `reauth_required` after `invalid_grant` so a revoked destination is not hammered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use courier_core::Tokens;
use courier_core::{ConnectorError, ErrorKind, Secret, TokenStore};
use tokio::sync::Mutex;

use crate::flow::OAuthApp;

/// What one API call made of its token.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(Result<T, ConnectorError>),
    /// The API answered 401: the token was refused.
    Unauthorized,
}

enum State {
    Unloaded,
    Loaded(Tokens),
    /// invalid_grant was seen: nothing will work until a person reconnects.
    Revoked(ConnectorError),
}

/// Hands out a valid access token for one destination.
pub struct TokenManager {
    app: Arc<OAuthApp>,
    store: Arc<dyn TokenStore>,
    destination_id: String,
    margin: Duration,
    /// Held across a refresh, so concurrent callers wait for one refresh instead of racing.
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("destination_id", &self.destination_id)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

fn reauth(message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::ReauthRequired,
        message,
        "connect the destination: complete the OAuth flow",
    )
}

impl TokenManager {
    /// Refreshes when fewer than `margin` (default 5 minutes) remain.
    pub fn new(
        app: Arc<OAuthApp>,
        store: Arc<dyn TokenStore>,
        destination_id: impl Into<String>,
    ) -> Self {
        TokenManager {
            app,
            store,
            destination_id: destination_id.into(),
            margin: Duration::from_secs(300),
            state: Mutex::new(State::Unloaded),
        }
    }

    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// A valid access token, refreshed first if it is about to expire.
    pub async fn access_token(&self) -> Result<Secret, ConnectorError> {
        let mut state = self.state.lock().await;
        self.current(&mut state, None).await
    }

    /// After the API refused `rejected` (401): refresh once, unless another caller already did.
    pub async fn refresh_after_unauthorized(
        &self,
        rejected: &Secret,
    ) -> Result<Secret, ConnectorError> {
        let mut state = self.state.lock().await;
        self.current(&mut state, Some(rejected)).await
    }

    /// Runs `call` with a token; on a 401 refreshes once and retries once. A second 401 means
    /// the grant itself is no good: `reauth_required`.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, ConnectorError>
    where
        F: FnMut(Secret) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let token = self.access_token().await?;
        match call(token.clone()).await {
            Attempt::Done(result) => result,
            Attempt::Unauthorized => {
                let fresh = self.refresh_after_unauthorized(&token).await?;
                match call(fresh).await {
                    Attempt::Done(result) => result,
                    Attempt::Unauthorized => Err(reauth(format!(
                        "the API refused a freshly refreshed token for destination {}",
                        self.destination_id
                    ))),
                }
            }
        }
    }

    async fn current(
        &self,
        state: &mut State,
        rejected: Option<&Secret>,
    ) -> Result<Secret, ConnectorError> {
        if let State::Unloaded = state {
            *state = match self.store.load(&self.destination_id).await? {
                Some(tokens) => State::Loaded(tokens),
                None => {
                    return Err(reauth(format!(
                        "destination {} has no OAuth tokens yet",
                        self.destination_id
                    )));
                }
            };
        }
        let tokens = match state {
            State::Revoked(e) => return Err(e.clone()),
            State::Loaded(tokens) => tokens.clone(),
            State::Unloaded => unreachable!("loaded above"),
        };
        let refused = rejected.is_some_and(|r| r.expose() == tokens.access_token.expose());
        if tokens.fresh(self.margin) && !refused {
            return Ok(tokens.access_token);
        }
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(reauth(format!(
                "destination {}'s access token expired and there is no refresh token",
                self.destination_id
            )));
        };
        match self.app.refresh(refresh_token).await {
            Ok(new) => {
                // Saved before it is used: with rotating refresh tokens the old one is now dead.
                self.store.save(&self.destination_id, &new).await?;
                let access = new.access_token.clone();
                *state = State::Loaded(new);
                tracing::debug!(destination = %self.destination_id, "OAuth access token refreshed");
                Ok(access)
            }
            Err(e) if e.kind == ErrorKind::ReauthRequired => {
                *state = State::Revoked(e.clone());
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
