//! OAuth for destinations that need it (Google Drive, OneDrive): the authorization-code flow with
//! PKCE and a state bound to the destination, tokens kept in a host-implemented `TokenStore`,
//! refresh ahead of expiry, single-flight refresh per destination with rotated refresh tokens
//! stored before use, one refresh-and-retry on a 401, and `reauth_required` on `invalid_grant`.

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
