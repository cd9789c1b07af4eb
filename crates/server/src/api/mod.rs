//! The HTTP API under `/api/v1`, plus `/healthz` and `/readyz`.

pub mod access;
mod api_keys;
pub(crate) mod audit;
mod auth;
mod body;
pub(crate) mod capabilities;
mod catalog;
mod deliveries;
mod destinations;
mod error;
pub(crate) mod event_routes;
pub(crate) mod event_types;
pub(crate) mod events;
mod health;
pub(crate) mod input;
pub mod limits;
pub mod model;
mod oauth;
mod observe;
mod openapi;
mod permissions;
mod portal_sessions;
mod query;
mod rate_limit;
mod resolver;
pub mod routes;
pub(crate) mod rules;
pub(crate) mod secrets;
mod strict_json;
mod test_slots;
mod testing;
mod valid;
mod view;
pub(crate) mod workspaces;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use courier_catalog::Catalog;

use crate::config::ServerConfig;
use crate::crypto::Sealer;
use crate::store::Store;

pub use access::Access;
pub use error::ApiError;
pub use routes::{access_list, access_table_markdown};

/// The OpenAPI document of the API with `catalog`'s connector types, as `/api/v1/openapi.json`
/// serves it.
pub fn openapi_document(catalog: &Catalog) -> Result<serde_json::Value, String> {
    let mut document = openapi::try_document()?;
    openapi::with_catalog(&mut document, catalog);
    Ok(document)
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub sealer: Sealer,
    pub catalog: Catalog,
    pub config: ServerConfig,
    /// Requests per second per key to the management API.
    pub limiter: rate_limit::RateLimiter,
    /// Requests per second per key sending events.
    pub intake_limiter: rate_limit::RateLimiter,
    /// Failed authentications per client address.
    pub auth_failures: rate_limit::RateLimiter,
    pub keys: auth::KeyCache,
    /// Each workspace's limits in force.
    pub limits: limits::LimitsCache,
    /// Events per second per workspace (its `events_per_second` limit).
    pub workspace_intake: rate_limit::RateLimiter,
    /// When each key's use was last written (`last_used_at`).
    pub key_use: auth::KeyUse,
    /// Connection tests running, per workspace.
    pub(crate) tests: test_slots::TestSlots,
    /// Stores accepted events and delivers them.
    pub engine: Arc<crate::delivery::Engine>,
    /// Where each workspace's events go, cached.
    pub routing: Arc<crate::delivery::Routing>,
    /// The catalog document, serialized once: it only changes with the build.
    pub catalog_json: axum::body::Bytes,
    /// The OpenAPI document, made on its first request: it only changes with the build too.
    pub openapi_json: std::sync::OnceLock<axum::body::Bytes>,
    /// The operator's rules for destinations, from the config and the catalog, made once.
    pub rules: rules::ServerRules,
}

impl AppState {
    pub fn new(
        store: Store,
        sealer: Sealer,
        catalog: Catalog,
        config: ServerConfig,
        engine: Arc<crate::delivery::Engine>,
    ) -> Self {
        let routing = engine.routing();
        let limiter = rate_limit::RateLimiter::new(config.rate_limit_per_second);
        let intake_limiter = rate_limit::RateLimiter::new(config.intake_rate_limit_per_second);
        let catalog_json = serde_json::to_vec(&catalog.document())
            .unwrap_or_default()
            .into();
        AppState {
            rules: rules::ServerRules::of(&config, &catalog),
            keys: auth::KeyCache::default(),
            key_use: auth::KeyUse::default(),
            limits: limits::LimitsCache::default(),
            workspace_intake: rate_limit::RateLimiter::new(1),
            tests: test_slots::TestSlots::default(),
            auth_failures: rate_limit::RateLimiter::per_minute(config.auth_failures_per_minute),
            engine,
            routing,
            catalog_json,
            openapi_json: std::sync::OnceLock::new(),
            store,
            sealer,
            catalog,
            config,
            limiter,
            intake_limiter,
        }
    }
}

pub type State = axum::extract::State<Arc<AppState>>;

/// Refuses a route table with an unguarded route (see [`routes::check`]).
pub fn check_routes() -> Result<(), String> {
    routes::check(&routes::table())
}

/// The API's router: every route behind the guard of the access it declares.
pub fn router(state: Arc<AppState>) -> Router {
    observe::init();
    let mut router = Router::new();
    for (doc, path, method_router) in routes::table() {
        // `check_routes` ran at bind; a route without access would still be refused here.
        let route = access::Guarded {
            access: doc.access.unwrap_or(Access::Operator),
            audit: doc.audit,
            portal: doc.portal,
        };
        let guarded = method_router.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            move |state: axum::extract::State<Arc<AppState>>,
                  request: axum::extract::Request,
                  next: axum::middleware::Next| {
                access::guard(route, state, request, next)
            },
        ));
        router = router.route(path, guarded);
    }
    router
        .merge(crate::portal::assets::router())
        .fallback(|| async { ApiError::not_found("API endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .route_layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}
