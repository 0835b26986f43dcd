//! `onsale up --static-dir`: the web app's files with their cache headers, `index.html` for the
//! app's own pages, and the API's JSON errors left as they were.

use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, IF_MODIFIED_SINCE, LAST_MODIFIED};
use tokio_util::sync::CancellationToken;

use onsale_origin::up::run_up_until;
use onsale_shared::ErrorBody;

mod up_support;
use up_support::{RunningUp, up_args};

const INDEX: &str = "<!doctype html><title>onsale test page</title>";
const SCRIPT: &str = "export default function init() {}";
const HASHED_JS: &str = "app-0123456789abcdef.js";
const HASHED_WASM: &str = "app-0123456789abcdef_bg.wasm";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn write_fake_app(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join(HASHED_JS), SCRIPT).unwrap();
    std::fs::write(dir.join(HASHED_WASM), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("robots.txt"), "User-agent: *\n").unwrap();
}

/// Starts `onsale up` on embedded engines with `static_dir` as the web app.
async fn start(data_dir: &Path, static_dir: &Path) -> RunningUp {
    let args = up_args(&[
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "false",
        "--static-dir",
        static_dir.to_str().unwrap(),
    ]);
    RunningUp::start(args).await
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response.headers().get(&name).map(|value| value.to_str().unwrap()).unwrap_or_default()
}

async fn json_error(response: reqwest::Response) -> ErrorBody {
    assert!(header(&response, CONTENT_TYPE).starts_with("application/json"), "{:?}", response.headers());
    response.json().await.expect("a JSON error body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_app_is_served_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let static_dir = dir.path().join("dist");
    write_fake_app(&static_dir);
    let up = start(&dir.path().join("data"), &static_dir).await;
    let base = up.origin.clone();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    // Hashed assets may be cached for a year.
    let script = get(&format!("/{HASHED_JS}")).await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(header(&script, CACHE_CONTROL), IMMUTABLE);
    assert!(header(&script, CONTENT_TYPE).contains("javascript"), "{:?}", script.headers());
    assert_eq!(script.text().await.unwrap(), SCRIPT);
    let wasm = get(&format!("/{HASHED_WASM}")).await.unwrap();
    assert_eq!(wasm.status(), StatusCode::OK);
    assert_eq!(header(&wasm, CACHE_CONTROL), IMMUTABLE);
    assert_eq!(header(&wasm, CONTENT_TYPE), "application/wasm");

    // The page and files with stable names are revalidated on every use.
    for path in ["/", "/index.html", "/robots.txt"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
    }
    let index = get("/").await.unwrap();
    let last_modified = header(&index, LAST_MODIFIED).to_owned();
    assert_eq!(index.text().await.unwrap(), INDEX);
    let revalidated = http.get(format!("{base}/")).header(IF_MODIFIED_SINCE, last_modified).send().await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    // The app's own pages get index.html.
    for path in ["/events/26", "/events/26/queue", "/orders/0f8c7d2e-1b7a-4d55-9d1e-5a4c3b2a1f00"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(response.text().await.unwrap(), INDEX, "{path}");
    }

    // A missing file is a 404, not the page: a stale script must not load HTML.
    let stale = get("/app-ffffffffffffffff.js").await.unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_error(stale).await.error.code.as_str(), "not_found");

    // The API keeps its routes and its JSON errors.
    let events = get("/api/v1/events").await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(header(&events, CONTENT_TYPE), "application/json");
    for path in ["/api/v1/nope", "/api/nope", "/api"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_error(response).await.error.code.as_str(), "not_found", "{path}");
    }
    let wrong_method = http.delete(format!("{base}/api/v1/events")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let post_to_page = http.post(format!("{base}/events/26")).send().await.unwrap();
    assert_eq!(post_to_page.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json_error(post_to_page).await.error.code.as_str(), "method_not_allowed");

    // A HEAD request gets the headers without the body.
    let head = http.head(format!("{base}/{HASHED_JS}")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, CACHE_CONTROL), IMMUTABLE);

    up.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_static_dir_fails_start() {
    let dir = tempfile::tempdir().unwrap();
    let args = up_args(&[
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "false",
        "--static-dir",
        dir.path().join("no-such-dir").to_str().unwrap(),
    ]);
    let err = run_up_until(args, CancellationToken::new(), |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err:#}");
}
