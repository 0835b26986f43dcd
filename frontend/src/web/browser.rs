//! Thin wrappers over browser APIs: localStorage, clocks, timers, the `window.onsaleMetrics`
//! figures that tests read, and the panic hook that keeps a crash from leaving a blank page.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

fn window() -> web_sys::Window {
    leptos::prelude::window()
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// Reads a JSON value from localStorage; a missing or unreadable entry reads as `None`.
pub fn load<T: DeserializeOwned>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

/// Writes a JSON value to localStorage. A full or disabled storage only loses the value for
/// the next reload, so the failure is logged and otherwise ignored.
pub fn save<T: Serialize>(key: &str, value: &T) {
    let Ok(text) = serde_json::to_string(value) else {
        return;
    };
    if let Some(storage) = storage()
        && storage.set_item(key, &text).is_err()
    {
        web_sys::console::warn_1(&format!("localStorage is full or disabled; {key} is not kept").into());
    }
}

pub fn remove(key: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(key);
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, on the browser's clock.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

thread_local! {
    /// Server clock minus browser clock, in milliseconds, from the last `Date` header seen.
    static SERVER_OFFSET_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Records the server's clock from a response's `Date` header (milliseconds since the epoch).
/// The header is cut to the second, so the server's time was up to a second later. Taking the
/// late end makes countdowns end up to a second early, never late.
pub fn record_server_time(date_header_ms: i64) {
    SERVER_OFFSET_MS.with(|offset| offset.set(date_header_ms as f64 + 1000.0 - now_ms()));
}

/// Returns the server's clock as last measured, in milliseconds since the Unix epoch. `Date`
/// headers have a resolution of one second, and so has this estimate.
pub fn server_now_ms() -> f64 {
    now_ms() + SERVER_OFFSET_MS.with(std::cell::Cell::get)
}

/// Converts a server expiry into a deadline on the browser's clock, in milliseconds.
pub fn client_deadline(expires_at: chrono::DateTime<chrono::Utc>) -> f64 {
    let now = now_ms();
    crate::stored::client_deadline_ms(expires_at.timestamp_millis(), Some(server_now_ms() as i64), now)
}

/// Monotonic time in milliseconds, for measuring durations.
pub fn perf_now() -> f64 {
    window().performance().map(|performance| performance.now()).unwrap_or_else(now_ms)
}

/// Returns whether the page is in a background tab, where polling can rest.
pub fn page_hidden() -> bool {
    window().document().is_some_and(|document| document.hidden())
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Returns the `window.onsaleMetrics` object, creating it on first use.
fn metrics_object() -> Option<js_sys::Object> {
    let window = window();
    let key = JsValue::from_str("onsaleMetrics");
    let existing = js_sys::Reflect::get(&window, &key).ok().filter(|value| value.is_object());
    match existing {
        Some(object) => object.dyn_into::<js_sys::Object>().ok(),
        None => {
            let object = js_sys::Object::new();
            js_sys::Reflect::set(&window, &key, &object).ok()?;
            Some(object)
        }
    }
}

/// Sets one figure of `window.onsaleMetrics`.
pub fn set_metric(name: &str, value: f64) {
    if let Some(object) = metrics_object() {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(name), &JsValue::from_f64(value));
    }
}

/// Adds one to a counter of `window.onsaleMetrics`.
pub fn count_metric(name: &str) {
    if let Some(object) = metrics_object() {
        let current = js_sys::Reflect::get(&object, &JsValue::from_str(name)).ok().and_then(|v| v.as_f64());
        set_metric(name, current.unwrap_or(0.0) + 1.0);
    }
}

/// Reloads the page, for the "start a new session" step.
pub fn reload() {
    let _ = window().location().reload();
}

/// Logs a panic to the console and replaces the page with a plain message, so that a bug
/// never leaves the fan in front of a blank or frozen screen.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("onsale app crashed: {info}").into());
        let Some(body) = window().document().and_then(|document| document.body()) else {
            return;
        };
        body.set_inner_html(
            "<main class=\"crash\" data-testid=\"app-crashed\" role=\"alert\">\
             <h1>Something went wrong in this page</h1>\
             <p>Your place in the queue and any seats you hold are kept. \
             Reload the page to carry on.</p>\
             <p><a href=\"\" onclick=\"location.reload();return false;\">Reload</a></p></main>",
        );
    }));
}
