//! Extractors. Authentication lives here, so no handler can forget it: a handler that takes
//! [`Admitted`] runs only for a caller with a verified admission token for the route's event.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use onsale_shared::api::FAN_SESSION_HEADER;
use onsale_shared::token::{TokenError, VerifiedAdmission, bearer_token};
use onsale_shared::{ErrorCode, EventId, FanId, HoldId, OrderId};

use super::{ApiError, AppState};

/// A JSON body whose rejections become stable error codes naming the problem.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(ErrorCode::UnsupportedMediaType)),
            Err(JsonRejection::JsonDataError(err)) => Err(ApiError::new(ErrorCode::InvalidRequest)
                .message(format!("The request body does not match the expected shape: {}", err.body_text()))),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::new(ErrorCode::InvalidRequest).message("The request body is not valid JSON."))
            }
            Err(JsonRejection::BytesRejection(err)) if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(ErrorCode::PayloadTooLarge))
            }
            Err(other) => Err(ApiError::new(ErrorCode::InvalidRequest).message(other.body_text())),
        }
    }
}

/// Reads one named path parameter and parses it, answering 400 with the value at fault.
fn path_param<T>(parts: &Parts, name: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let params = parts
        .extensions
        .get::<PathParams>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("path parameters read before routing")))?;
    let raw = params
        .0
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route has no {name} parameter")))?;
    raw.parse::<T>().map_err(|err| ApiError::invalid(name, &raw, err))
}

/// The route's path parameters, decoded once per request and kept in its extensions.
#[derive(Clone)]
struct PathParams(Vec<(String, String)>);

async fn raw_path_params(parts: &mut Parts, state: &AppState) -> Result<(), ApiError> {
    if parts.extensions.get::<PathParams>().is_none() {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("path", parts.uri.path(), rejection.body_text()))?;
        let params = raw.iter().map(|(key, value)| (key.to_owned(), value.to_owned())).collect();
        parts.extensions.insert(PathParams(params));
    }
    Ok(())
}

/// The `{event_id}` of the route.
pub struct EventPath(pub EventId);

impl FromRequestParts<AppState> for EventPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        raw_path_params(parts, state).await?;
        Ok(EventPath(path_param(parts, "event_id")?))
    }
}

/// The `{hold_id}` of the route.
pub struct HoldPath(pub HoldId);

impl FromRequestParts<AppState> for HoldPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        raw_path_params(parts, state).await?;
        Ok(HoldPath(path_param(parts, "hold_id")?))
    }
}

/// The `{order_id}` of the route.
pub struct OrderPath(pub OrderId);

impl FromRequestParts<AppState> for OrderPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        raw_path_params(parts, state).await?;
        Ok(OrderPath(path_param(parts, "order_id")?))
    }
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    session: Option<String>,
}

/// The fan making the request, from the `x-onsale-fan` header (or the `session` query
/// parameter, for WebSocket handshakes that cannot set headers).
pub struct Caller(pub FanId);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = match parts.headers.get(FAN_SESSION_HEADER) {
            Some(value) => value.to_str().map_err(|_| ApiError::new(ErrorCode::FanSessionInvalid))?.to_owned(),
            None => Query::<SessionQuery>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|Query(query)| query.session)
                .ok_or_else(|| ApiError::new(ErrorCode::FanSessionMissing))?,
        };
        state.sessions.verify(&session).map(Caller).map_err(ApiError::new)
    }
}

/// A caller with a valid admission token for the route's event: signature, algorithm, expiry
/// (with leeway), event and fan are all checked here. The nonce's single use is enforced by the
/// seat scripts, in the same atomic step as their first write.
pub struct Admitted {
    pub fan: FanId,
    pub event: EventId,
    pub admission: VerifiedAdmission,
}

impl FromRequestParts<AppState> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let EventPath(event) = EventPath::from_request_parts(parts, state).await?;
        let Caller(fan) = Caller::from_request_parts(parts, state).await?;
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| token_error(TokenError::Missing))?;
        let token = bearer_token(header.as_bytes()).map_err(token_error)?;
        let admission = state.verifier.verify_for(token, event, Some(&fan), state.clock.now()).map_err(token_error)?;
        Ok(Admitted { fan, event, admission })
    }
}

pub fn token_error(err: TokenError) -> ApiError {
    ApiError::new(err.code()).details(serde_json::json!({ "reason": err.to_string() }))
}
