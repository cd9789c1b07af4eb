//! `courier serve`: the Destinations API host service. It links the catalog, keeps workspaces,
//! API keys and destinations in SQLite (embedded, the default) or Postgres, seals secrets at
//! rest, and exposes the API under `/api/v1` and the destinations portal under `/portal`.

pub mod api;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod delivery;
mod holds;
pub mod ids;
mod listen;
#[cfg(test)]
mod parse_properties;
pub mod portal;
mod run;
pub mod store;
pub mod tokens;

pub use config::{Overrides, ServerConfig};
pub use run::{Server, bootstrap, run};
