//! The HTTP API under `/api/v1`, plus `/healthz` and `/readyz`.

mod auth;
mod body;
mod catalog;
mod destinations;
mod error;
mod health;
mod input;
mod permissions;
mod rate_limit;
mod secrets;
mod testing;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use courier_catalog::Catalog;

use crate::config::ServerConfig;
use crate::crypto::Sealer;
use crate::store::Store;

pub use error::ApiError;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub sealer: Sealer,
    pub catalog: Catalog,
    pub config: ServerConfig,
    pub limiter: rate_limit::RateLimiter,
}

impl AppState {
    pub fn new(store: Store, sealer: Sealer, catalog: Catalog, config: ServerConfig) -> Self {
        let limiter = rate_limit::RateLimiter::new(config.rate_limit_per_second);
        AppState {
            store,
            sealer,
            catalog,
            config,
            limiter,
        }
    }
}

pub type State = axum::extract::State<Arc<AppState>>;

pub fn router(state: Arc<AppState>) -> Router {
    let ws = "/api/v1/workspaces/{ws}";
    let dest = "/api/v1/workspaces/{ws}/destinations/{dest}";
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/catalog/connectors", get(catalog::list))
        .route("/api/v1/catalog/connectors/{type}", get(catalog::one))
        .route("/api/v1/workspaces", get(catalog::workspaces))
        .route(
            &format!("{ws}/destinations"),
            get(destinations::list).post(destinations::create),
        )
        .route(&format!("{ws}/destinations/test"), post(testing::test_new))
        .route(
            dest,
            get(destinations::get)
                .put(destinations::put)
                .patch(destinations::patch)
                .delete(destinations::delete),
        )
        .route(&format!("{dest}/test"), post(testing::test_existing))
        .route(&format!("{dest}/fields"), get(testing::fields))
        .route(&format!("{dest}/rotate-secret"), post(secrets::rotate))
        .route(
            &format!("{dest}/permissions"),
            get(permissions::get).put(permissions::put),
        )
        .fallback(|| async { ApiError::not_found("route") })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}
