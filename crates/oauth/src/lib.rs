//! OAuth for destinations that need it (Google Drive, OneDrive): the authorization-code flow with
//! PKCE and a state bound to the destination, tokens kept in a host-implemented `TokenStore`,
//! refresh ahead of expiry, single-flight refresh per destination with rotated refresh tokens
//! stored before use, one refresh-and-retry on a 401, and `reauth_required` on `invalid_grant`.
//!
//! Connecting a destination: send the person to the authorization URL, keep the pending
//! authorization, and exchange the code the redirect brings back for tokens.
//!
//! ```
//! use courier_core::{ConnectorError, Tokens};
//! use courier_oauth::{OAuthApp, PendingAuthorization, Provider};
//!
//! let app = OAuthApp::new(
//!     Provider::google_drive(),
//!     "my-client-id",
//!     None,
//!     "https://courier.example.com/oauth/callback",
//!     false,
//! )?;
//! let pending = app.start("dest_1");
//! assert!(pending.url.starts_with("https://accounts.google.com/"));
//! assert!(pending.url.contains("code_challenge_method=S256"));
//! // The state the redirect returns names the destination it belongs to.
//! assert_eq!(OAuthApp::destination_of_state(pending.state.expose()), Some("dest_1"));
//!
//! // When the redirect comes back with `state` and `code` (this calls the token endpoint):
//! async fn finish(
//!     app: &OAuthApp,
//!     pending: PendingAuthorization,
//!     state: &str,
//!     code: &str,
//! ) -> Result<Tokens, ConnectorError> {
//!     app.complete(pending, state, code).await
//! }
//! # Ok::<(), ConnectorError>(())
//! ```

#![warn(missing_docs)]

pub mod bearer;
mod errors;
pub mod flow;
pub mod provider;
pub mod store;
mod token_http;
pub mod tokens;

pub use bearer::{BearerClient, seed_tokens};
/// Capped response bodies and transport errors, shared with every HTTP connector.
pub use courier_net::{body, transport_error};
pub use flow::{OAuthApp, PendingAuthorization};
pub use provider::{Provider, check_endpoint};
pub use store::{MemoryTokenStore, SeededStore, TokenStore};
pub use tokens::{Attempt, TokenManager, Tokens};
