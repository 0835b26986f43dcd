//! The Lambda@Edge glue: the gate exported to JavaScript with wasm-bindgen (`--target nodejs`).
//!
//! `edge/lambda/handler.js` builds one [`LambdaGate`] from the `config.json` packaged beside it
//! and calls [`LambdaGate::check`] for every CloudFront viewer request, with `Date.now()` as the
//! clock. An `undefined` result lets the request through to CloudFront's cache and the origin,
//! and a [`Verdict`] is the response CloudFront sends instead.

use wasm_bindgen::prelude::wasm_bindgen;

use crate::config::{ConfigError, GateConfig};
use crate::gate::{Decision, Gate};

/// The gate of one Lambda@Edge deployment.
#[wasm_bindgen]
pub struct LambdaGate {
    gate: Gate,
}

/// A response generated at the edge: the status and the JSON body. The handler adds
/// `content-type: application/json` and `cache-control: no-store`.
#[wasm_bindgen(getter_with_clone)]
pub struct Verdict {
    pub status: u16,
    pub code: String,
    pub body: String,
}

#[wasm_bindgen]
impl LambdaGate {
    /// Builds the gate from the text of `config.json`. It returns no error: with a configuration
    /// that cannot be used, every seat request gets a 500 response, and `configError` gives the reason.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str) -> LambdaGate {
        let gate = match serde_json::from_str::<GateConfig>(config_json) {
            Ok(config) => Gate::new(&config),
            Err(err) => Gate::misconfigured(ConfigError(format!("config.json is not valid: {err}"))),
        };
        LambdaGate { gate }
    }

    /// Returns why the gate cannot check tokens, or `undefined` when it can.
    #[wasm_bindgen(getter, js_name = configError)]
    pub fn config_error(&self) -> Option<String> {
        self.gate.config_error().map(ToString::to_string)
    }

    /// Decides one request: `undefined` to let it through, or the response to send instead.
    /// `uri` is CloudFront's `request.uri` (the path, without the query string), and
    /// `authorization` the header value, or `undefined` when the request has none.
    pub fn check(&self, method: &str, uri: &str, authorization: Option<String>, now_millis: f64) -> Option<Verdict> {
        match self.gate.decide(method, uri, authorization.as_deref(), now_millis) {
            Decision::Forward(_) => None,
            Decision::Reject(rejection) => Some(Verdict {
                status: rejection.status(),
                code: rejection.code().as_str().to_owned(),
                body: rejection.body_json(),
            }),
        }
    }
}
