//! The destinations portal at `/portal`: the exchange of a portal URL's one-time token for the
//! session cookie, the cookie itself, CSRF for cookie-authenticated calls, and the portal's
//! files, built into the binary.

pub mod assets;
pub mod cookie;
pub mod csrf;
pub mod exchange;
