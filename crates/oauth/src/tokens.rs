//! Tokens and the per-destination `TokenManager`: refresh ahead of expiry, single-flight, rotated
//! refresh tokens saved before use, one refresh-and-retry on a 401, and a remembered
//! `reauth_required` after `invalid_grant` so a revoked destination is not hammered.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use courier_core::Tokens;
use courier_core::{ConnectorError, ErrorKind, Secret, TokenStore};
use tokio::sync::Mutex;

use crate::flow::OAuthApp;

/// What one API call made of its token.
#[derive(Debug)]
pub enum Attempt<T> {
    /// The call is over (the token was accepted, or it failed for another reason).
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
    /// invalid_grant was seen for `refused`: nothing works until a person reconnects, which
    /// stores new tokens; the store is looked at again every `recheck`, never the provider.
    Revoked {
        error: ConnectorError,
        refused: Secret,
        access: Secret,
        checked: Instant,
    },
}

/// Hands out a valid access token for one destination.
pub struct TokenManager {
    app: Arc<OAuthApp>,
    store: Arc<dyn TokenStore>,
    destination_id: String,
    margin: Duration,
    recheck: Duration,
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

/// How long a client whose refresh was refused watches the store for a rotation another
/// client (a replica, a connection test) made with the same refresh token a moment earlier:
/// a token endpoint's round trip, with room to spare.
const ROTATION_WAITS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_secs(2),
];

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
            recheck: Duration::from_secs(30),
            state: Mutex::new(State::Unloaded),
        }
    }

    /// Refreshes when fewer than `margin` remain before the access token expires.
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// How often a revoked destination's store is read again for tokens from a reconnection
    /// (default 30 seconds).
    pub fn with_revocation_recheck(mut self, every: Duration) -> Self {
        self.recheck = every;
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

    /// The stored tokens, when they are not the ones whose refresh token was refused.
    async fn stored_other_than(&self, refused: &Secret, access: &Secret) -> Option<Tokens> {
        let stored = self.store.load(&self.destination_id).await.ok()??;
        let other = stored.access_token.expose() != access.expose()
            || stored
                .refresh_token
                .as_ref()
                .is_some_and(|r| r.expose() != refused.expose());
        other.then_some(stored)
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
        if let State::Revoked {
            error,
            refused,
            access,
            checked,
        } = state
        {
            // A reconnection stores new tokens; until then, the error without a request.
            let reconnected = if checked.elapsed() >= self.recheck {
                *checked = Instant::now();
                self.stored_other_than(refused, access).await
            } else {
                None
            };
            match reconnected {
                Some(tokens) => {
                    tracing::info!(destination = %self.destination_id, "new OAuth tokens found after a revocation");
                    *state = State::Loaded {
                        tokens,
                        unsaved: false,
                    };
                }
                None => return Err(error.clone()),
            }
        }
        let mut tokens = match state {
            State::Loaded { tokens, unsaved } => {
                if *unsaved {
                    // A refreshed token is not used before it is stored.
                    self.store.save(&self.destination_id, tokens).await?;
                    *unsaved = false;
                }
                tokens.clone()
            }
            State::Unloaded | State::Revoked { .. } => unreachable!("loaded above"),
        };
        let usable = |t: &Tokens| {
            t.fresh(self.margin) && rejected.is_none_or(|r| r.expose() != t.access_token.expose())
        };
        if usable(&tokens) {
            return Ok(tokens.access_token);
        }
        // Another client of the same store (a connection test, another replica) may have
        // refreshed already: with rotating refresh tokens, ours would then be dead.
        if let Ok(Some(stored)) = self.store.load(&self.destination_id).await {
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
        // At most two refreshes: ours, and one with a token another client rotated meanwhile.
        for _ in 0..2 {
            let Some(refresh_token) = tokens.refresh_token.clone() else {
                return Err(reauth(format!(
                    "destination {}'s access token expired and there is no refresh token",
                    self.destination_id
                )));
            };
            let error = match self.app.refresh(&refresh_token).await {
                Ok(new) => return self.adopt_refreshed(state, new).await,
                Err(e) if e.kind == ErrorKind::ReauthRequired => e,
                Err(e) => return Err(e),
            };
            // Refused: either revoked, or another client refreshed with the same rotating
            // token a moment earlier and is storing the rotated one. Revoked until the store
            // shows otherwise, so a caller that gives up while watching it (an attempt's
            // timeout) leaves the refusal remembered, not the dead token in use.
            *state = State::Revoked {
                error: error.clone(),
                refused: refresh_token.clone(),
                access: tokens.access_token.clone(),
                checked: Instant::now(),
            };
            let mut rotated = None;
            for wait in ROTATION_WAITS {
                tokio::time::sleep(wait).await;
                rotated = self
                    .stored_other_than(&refresh_token, &tokens.access_token)
                    .await;
                if rotated.is_some() {
                    break;
                }
            }
            let Some(stored) = rotated else {
                return Err(error);
            };
            tracing::debug!(destination = %self.destination_id, "another client refreshed the OAuth tokens first");
            let access = stored.access_token.clone();
            let fresh = usable(&stored);
            *state = State::Loaded {
                tokens: stored.clone(),
                unsaved: false,
            };
            if fresh {
                return Ok(access);
            }
            tokens = stored;
        }
        Err(reauth(format!(
            "destination {}'s OAuth tokens keep changing under refreshes",
            self.destination_id
        )))
    }

    /// Stores refreshed tokens before they are used: with rotating refresh tokens the old one
    /// is now dead. They are kept in memory even when the store fails, so the rotated token is
    /// not lost: the next call stores them before using them.
    async fn adopt_refreshed(
        &self,
        state: &mut State,
        new: Tokens,
    ) -> Result<Secret, ConnectorError> {
        let access = new.access_token.clone();
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
}
