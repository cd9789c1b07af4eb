//! Local fakes of the APIs that have no emulator, for tests and benchmarks: an OAuth provider
//! (authorization with PKCE, token rotation, expiry, revocation), Google Drive v3 (multipart and
//! resumable uploads), Microsoft Graph drives (simple upload and upload sessions) and Azure
//! Service Bus's REST API (SAS and Entra ID auth, batch sends, sessions, duplicate detection).
//! Each fake follows the providers' public documentation, enforces what the real service
//! enforces (chunk multiples, size limits, offsets, bearer tokens), keeps what was uploaded for
//! reading back, logs every request, and can be told to fail the next request of a kind. Also
//! a TCP proxy that cuts a connection mid-request, for fault tests against real emulators, and a
//! server whose answers never end, for proving that clients read answers with a cap.

pub mod child;
pub mod drive;
mod faults;
pub mod flood;
pub mod graph;
mod http;
pub mod oauth;
pub mod proxy;
pub mod service_bus;

pub use child::{FakeChild, serve_if_child};
pub use drive::{DriveFake, DriveFile};
pub use faults::{Fault, Logged, Target};
pub use flood::Flood;
pub use graph::{GraphFake, GraphItem};
pub use oauth::{CLIENT_ID, CLIENT_SECRET, OAuthFake};
pub use service_bus::ServiceBusFake;
