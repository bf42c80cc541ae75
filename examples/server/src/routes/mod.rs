//! The REST routes, one module per resource, merged into one router.

use axum::Router;

use crate::state::AppState;

/// Every route of the API (without the state).
pub fn api() -> Router<AppState> {
    Router::new().merge(crate::auth::routes())
}
