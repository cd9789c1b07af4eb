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
    /// The tokens in use; `unsaved` when the store refused them (retried on every call).
    Loaded {
        tokens: Tokens,
        unsaved: bool,
    },
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
                Some(tokens) => State::Loaded {
                    tokens,
                    unsaved: false,
                },
                None => {
                    return Err(reauth(format!(
                        "destination {} has no OAuth tokens yet",
                        self.destination_id
                    )));
                }
            };
        }
        let mut tokens = match state {
            State::Revoked(e) => return Err(e.clone()),
            State::Loaded { tokens, unsaved } => {
                if *unsaved {
                    // A refreshed token is not used before it is stored.
                    self.store.save(&self.destination_id, tokens).await?;
                    *unsaved = false;
                }
                tokens.clone()
            }
            State::Unloaded => unreachable!("loaded above"),
        };
        let usable = |t: &Tokens| {
            t.fresh(self.margin) && rejected.is_none_or(|r| r.expose() != t.access_token.expose())
        };
        if usable(&tokens) {
            return Ok(tokens.access_token);
        }
        // Another client of the same store (a connection test, another replica) may have
        // refreshed already: with rotating refresh tokens, ours would then be dead.
        if let State::Loaded { unsaved: false, .. } = state
            && let Ok(Some(stored)) = self.store.load(&self.destination_id).await
        {
            let newer = stored.access_token.expose() != tokens.access_token.expose();
            if newer && usable(&stored) {
                let access = stored.access_token.clone();
                *state = State::Loaded {
                    tokens: stored,
                    unsaved: false,
                };
                return Ok(access);
            }
            if newer {
                tokens = stored;
            }
        }
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(reauth(format!(
                "destination {}'s access token expired and there is no refresh token",
                self.destination_id
            )));
        };
        match self.app.refresh(refresh_token).await {
            Ok(new) => {
                let access = new.access_token.clone();
                // Saved before it is used: with rotating refresh tokens the old one is now
                // dead. Kept in memory even when the store fails, so the rotated token is not
                // lost: the next call stores it before using it.
                let saved = self.store.save(&self.destination_id, &new).await;
                *state = State::Loaded {
                    tokens: new,
                    unsaved: saved.is_err(),
                };
                if let Err(e) = saved {
                    tracing::warn!(destination = %self.destination_id, error = %e.message, "refreshed OAuth tokens could not be stored; storing them again before use");
                    return Err(e);
                }
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
