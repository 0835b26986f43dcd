//! SearchService routes: event browse by city and date, event detail and seat geometry.

use axum::Router;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
