//! The Cloudflare Worker: the gate in front of the origin, and the Cache API for browse routes.
//!
//! Variables (`[vars]` in `wrangler.toml`):
//! - `ORIGIN_URL`: base URL of the origin API, such as `https://origin.example.com`.
//! - `ASSETS_URL` (optional): base URL of the static app files; `ORIGIN_URL` when unset.
//! - `TOKEN_ALGORITHM`, `TOKEN_PUBLIC_KEY`, `TOKEN_LEEWAY_SECONDS`: see [`GateConfig`].
//!
//! Responses from the cache carry `x-onsale-edge-cache: HIT`; responses that the Worker fetched
//! and stored carry `MISS`, and those it could not store carry `BYPASS`. Seat and pass-through
//! responses are returned untouched, which keeps the queue WebSocket's upgrade intact.
//!
//! NOTE: the Cache API stores per data center and does not merge concurrent misses, so during the
//! first second after the bitmap expires each data center may send a few requests to the origin
//! rather than one.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use onsale_shared::{ErrorBody, ErrorCode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit, WorkerGlobalScope};
use worker::{Context, Env, Url, console_error, console_warn, event};

use crate::cache::{CONDITIONAL_HEADERS, etag_matches, store_policy};
use crate::config::{ConfigError, GateConfig};
use crate::gate::{Decision, Gate, REJECTION_HEADERS, Rejection};
use crate::route::RouteClass;

/// Response header that names how the edge cache served a cacheable route.
const CACHE_STATUS_HEADER: &str = "x-onsale-edge-cache";

/// The Worker's settings, read from its variables once per isolate.
struct Settings {
    gate: Gate,
    origin: Result<Url, ConfigError>,
    assets: Result<Url, ConfigError>,
}

thread_local! {
    // An isolate runs on one thread, and its variables stay the same for its lifetime.
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
    static CONFIG_LOGGED: Cell<bool> = const { Cell::new(false) };
}

fn settings(env: &Env) -> Rc<Settings> {
    SETTINGS.with(|cell| cell.get_or_init(|| Rc::new(read_settings(env))).clone())
}

fn read_settings(env: &Env) -> Settings {
    let var = |name: &str| env.var(name).ok().map(|value| value.to_string());
    let gate = match GateConfig::from_vars(var) {
        Ok(config) => Gate::new(&config),
        Err(err) => Gate::misconfigured(err),
    };
    let origin = base_url("ORIGIN_URL", var("ORIGIN_URL"));
    let assets = match var("ASSETS_URL").filter(|value| !value.trim().is_empty()) {
        Some(value) => base_url("ASSETS_URL", Some(value)),
        None => origin.clone(),
    };
    Settings { gate, origin, assets }
}

fn base_url(name: &str, value: Option<String>) -> Result<Url, ConfigError> {
    let value =
        value.filter(|value| !value.trim().is_empty()).ok_or_else(|| ConfigError(format!("{name} is not set")))?;
    let url = Url::parse(value.trim()).map_err(|err| ConfigError(format!("{name} is not a valid URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError(format!("{name} must be an http or https URL")));
    }
    Ok(url)
}

/// Logs each configuration problem once per isolate, not once per request.
fn log_config_errors(settings: &Settings) {
    if CONFIG_LOGGED.with(|logged| logged.replace(true)) {
        return;
    }
    let errors = [settings.gate.config_error(), settings.origin.as_ref().err(), settings.assets.as_ref().err()];
    for error in errors.into_iter().flatten() {
        console_error!("{error}");
    }
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    match handle(request, &env, &ctx).await {
        Ok(response) => Ok(response),
        Err(err) => {
            console_error!("edge request failed: {err:?}");
            Ok(error_response(&ErrorBody::new(ErrorCode::InternalError), &[])?)
        }
    }
}

async fn handle(request: Request, env: &Env, ctx: &Context) -> Result<Response, JsValue> {
    let settings = settings(env);
    log_config_errors(&settings);

    let url = Url::parse(&request.url()).map_err(|err| JsValue::from_str(&format!("request URL: {err}")))?;
    let method = request.method();
    let authorization = request.headers().get("authorization")?;
    let now = js_sys::Date::now();

    let class = match settings.gate.decide(&method, url.path(), authorization.as_deref(), now) {
        Decision::Reject(rejection) => return rejection_response(&rejection),
        Decision::Forward(class) => class,
    };

    let base = if class == RouteClass::Asset { &settings.assets } else { &settings.origin };
    let Ok(base) = base else {
        return error_response(&ErrorBody::new(ErrorCode::InternalError), &[]);
    };
    let target = target_url(base, &url);

    let outcome = if class.is_cached() {
        cached_fetch(&request, &target, &class, ctx).await
    } else {
        let upstream = origin_request(&request, &target, false)?;
        send(&upstream).await
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(err) => {
            // The origin could not be reached: the client retries, as after any 503.
            console_error!("origin request failed: {err:?}");
            let body = ErrorBody::new(ErrorCode::ServiceUnavailable);
            error_response(&body, &[("retry-after", "1")])
        }
    }
}

/// Builds the origin URL for a request: the base URL's scheme, host and port (and path prefix, if any),
/// then the request's path and query.
fn target_url(base: &Url, request_url: &Url) -> String {
    let mut target = base.as_str().trim_end_matches('/').to_owned();
    target.push_str(request_url.path());
    if let Some(query) = request_url.query() {
        target.push('?');
        target.push_str(query);
    }
    target
}

/// Copies the client's request for the origin: same method, headers and body, except `Host`
/// (the origin URL sets it) and, when the edge fetches to store, the conditional headers.
fn origin_request(request: &Request, target: &str, unconditional: bool) -> Result<Request, JsValue> {
    let headers = Headers::new_with_headers(&request.headers())?;
    headers.delete("host")?;
    if unconditional {
        for name in CONDITIONAL_HEADERS {
            headers.delete(name)?;
        }
    }
    let init = RequestInit::new();
    init.set_method(&request.method());
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = request.body() {
        init.set_body(&body);
    }
    Request::new_with_str_and_init(target, &init)
}

async fn send(request: &Request) -> Result<Response, JsValue> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    JsFuture::from(global.fetch_with_request(request)).await?.dyn_into::<Response>()
}

/// Cloudflare's default cache (`caches.default`), read as a property so that no binding can panic.
fn default_cache() -> Result<Cache, JsValue> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let caches = global.caches()?;
    Ok(js_sys::Reflect::get(&caches, &JsValue::from_str("default"))?.unchecked_into())
}

/// Serves a cacheable `GET` from the edge cache, or fetches it from the origin and stores it as
/// [`store_policy`] allows.
async fn cached_fetch(request: &Request, target: &str, class: &RouteClass, ctx: &Context) -> Result<Response, JsValue> {
    let cache = default_cache()?;
    // The cache key is the client's URL alone, so conditional or credential headers of one client
    // never shape what another one gets.
    let key = Request::new_with_str(&request.url())?;
    let if_none_match = request.headers().get("if-none-match")?;

    let cached = JsFuture::from(cache.match_with_request(&key)).await?;
    if let Ok(hit) = cached.dyn_into::<Response>() {
        return conditional_response(hit, if_none_match.as_deref(), "HIT");
    }

    let upstream = origin_request(request, target, true)?;
    let response = send(&upstream).await?;
    let headers = response.headers();
    let policy = store_policy(
        class,
        response.status(),
        headers.get("cache-control")?.as_deref(),
        headers.has("set-cookie")?,
        request.headers().has("authorization")?,
    );
    let Some(policy) = policy else {
        return conditional_response(response, if_none_match.as_deref(), "BYPASS");
    };

    let stored = match policy.cache_control {
        Some(cache_control) => with_headers(&response.clone()?, &[("cache-control", &cache_control)])?,
        None => response.clone()?,
    };
    ctx.wait_until(async move {
        if let Err(err) = JsFuture::from(cache.put_with_request(&key, &stored)).await {
            console_warn!("storing a response in the edge cache failed: {err:?}");
        }
    });
    conditional_response(response, if_none_match.as_deref(), "MISS")
}

/// Marks how the cache served the response, and responds to a matching `If-None-Match` with 304.
fn conditional_response(
    response: Response,
    if_none_match: Option<&str>,
    cache_status: &str,
) -> Result<Response, JsValue> {
    let etag = response.headers().get("etag")?;
    let not_modified = response.status() == 200
        && matches!((if_none_match, etag.as_deref()), (Some(condition), Some(etag)) if etag_matches(condition, etag));
    if !not_modified {
        return with_headers(&response, &[(CACHE_STATUS_HEADER, cache_status)]);
    }
    let headers = Headers::new_with_headers(&response.headers())?;
    for name in ["content-length", "content-type"] {
        headers.delete(name)?;
    }
    headers.set(CACHE_STATUS_HEADER, cache_status)?;
    let init = ResponseInit::new();
    init.set_status(304);
    init.set_headers(&headers);
    Response::new_with_opt_str_and_init(None, &init)
}

/// Copies `response` with headers set, because fetched and cached responses have immutable
/// headers.
fn with_headers(response: &Response, extra: &[(&str, &str)]) -> Result<Response, JsValue> {
    let headers = Headers::new_with_headers(&response.headers())?;
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)
}

fn rejection_response(rejection: &Rejection) -> Result<Response, JsValue> {
    error_response(rejection.body(), &[])
}

/// Builds a JSON error response with the status of its code, marked `no-store`.
fn error_response(body: &ErrorBody, extra: &[(&str, &str)]) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in REJECTION_HEADERS.iter().chain(extra) {
        headers.set(name, value)?;
    }
    let init = ResponseInit::new();
    init.set_status(body.error.code.http_status());
    init.set_headers(&headers);
    let json = serde_json::to_string(body).map_err(|err| JsValue::from_str(&err.to_string()))?;
    Response::new_with_opt_str_and_init(Some(&json), &init)
}
