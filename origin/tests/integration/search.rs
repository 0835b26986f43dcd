//! SearchService routes over HTTP, on the seeded tour.

use crate::common::TestApp;

#[tokio::test]
async fn search_routes_over_http() {
    let app = TestApp::start().await;
    crate::search_http::check_search_routes(&app.http, &format!("http://{}", app.address), &app.db).await;
}
