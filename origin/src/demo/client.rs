//! The demo's HTTP and WebSocket client: one method per API route, all over one
//! `reqwest::Client` so that every fan reuses the pooled connections.

use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::{self, Message};

use onsale_shared::api::{
    API_PREFIX, ConfirmRequest, EventDetail, EventList, EventStats, FAN_SESSION_HEADER, FanSession, HoldRequest,
    HoldResponse, OrderView, QueueControl, QueueFigures, QueueStatus, SEAT_COUNT_HEADER, SeatMap, TicketDeliveries,
};
use onsale_shared::{ErrorCode, EventId, HoldId, SeatBitmap, SeatIndex};

use crate::config::Secret;

/// Time limit of one HTTP request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Maximum wait that a `Retry-After` header may impose on a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The API call that failed or was timed, as named in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    CreateFan,
    Search,
    EventDetail,
    SeatMap,
    Availability,
    Join,
    QueueStatus,
    QueueSocket,
    Hold,
    Release,
    Confirm,
    QueueControl,
    Stats,
    Deliveries,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateFan => "create fan",
            Operation::Search => "search",
            Operation::EventDetail => "event detail",
            Operation::SeatMap => "seat map",
            Operation::Availability => "availability",
            Operation::Join => "join",
            Operation::QueueStatus => "queue status",
            Operation::QueueSocket => "queue socket",
            Operation::Hold => "hold",
            Operation::Release => "release",
            Operation::Confirm => "confirm",
            Operation::QueueControl => "queue control",
            Operation::Stats => "stats",
            Operation::Deliveries => "deliveries",
        }
    }

    /// Returns whether sending the request twice has the effect of sending it once. A confirmation
    /// qualifies because the origin finds the hold's order instead of charging again. A hold
    /// does not, because a lost response may have bound the admission to a hold already.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Operation::Hold)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cause of a request that got no complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No connection, or the WebSocket handshake failed.
    Connect,
    /// The request or the handshake ran out of time.
    Timeout,
    /// The connection broke off after it was established.
    Lost,
}

impl TransportFailure {
    pub fn code(self) -> &'static str {
        match self {
            TransportFailure::Connect => "connection_failed",
            TransportFailure::Timeout => "timeout",
            TransportFailure::Lost => "connection_lost",
        }
    }
}

/// A failed API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The server responded with an error status. `code` is the error body's code, or
    /// `http_<status>` when the body carries none.
    #[error("{operation} failed with HTTP {status} {code}: {message}")]
    Api {
        operation: Operation,
        status: u16,
        code: String,
        message: String,
        details: serde_json::Value,
        retry_after: Option<Duration>,
    },
    /// No complete response: the connection failed, broke off or timed out.
    #[error("{operation} failed: {cause}")]
    Transport { operation: Operation, failure: TransportFailure, cause: String },
    /// A success status with a body that does not parse as the expected type.
    #[error("{operation} returned HTTP {status} with an unreadable body: {cause}")]
    Decode { operation: Operation, status: u16, cause: String },
}

impl CallError {
    pub fn operation(&self) -> Operation {
        match self {
            CallError::Api { operation, .. }
            | CallError::Transport { operation, .. }
            | CallError::Decode { operation, .. } => *operation,
        }
    }

    /// Returns the code that the report counts this failure under.
    pub fn code(&self) -> String {
        match self {
            CallError::Api { code, .. } => code.clone(),
            CallError::Transport { failure, .. } => failure.code().to_owned(),
            CallError::Decode { .. } => "unreadable_body".to_owned(),
        }
    }

    pub fn has_code(&self, expected: ErrorCode) -> bool {
        matches!(self, CallError::Api { code, .. } if code == expected.as_str())
    }

    /// Returns whether the same request may succeed if sent again shortly: a 503 or 429, or no response
    /// at all to an idempotent request.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Api { status, .. } => matches!(status, 429 | 503),
            CallError::Transport { operation, .. } => operation.is_idempotent(),
            CallError::Decode { .. } => false,
        }
    }

    /// Returns how long to wait before retry number `retry` (1 for the first): the server's
    /// `Retry-After`, capped, or else 250 ms doubled on each retry up to 2 s.
    pub fn retry_delay(&self, retry: u32) -> Duration {
        match self {
            CallError::Api { retry_after: Some(delay), .. } => (*delay).min(MAX_RETRY_AFTER),
            _ => Duration::from_millis(250 << retry.clamp(1, 4).saturating_sub(1)),
        }
    }

    /// Returns the seats that a `seat_unavailable` response lists as taken.
    pub fn unavailable_seats(&self) -> Vec<SeatIndex> {
        let CallError::Api { details, .. } = self else {
            return Vec::new();
        };
        details
            .get("seats")
            .and_then(|seats| seats.as_array())
            .map(|seats| {
                seats
                    .iter()
                    .filter_map(|seat| seat.as_u64())
                    .filter_map(|seat| u32::try_from(seat).ok())
                    .filter_map(|seat| SeatIndex::new(seat).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn transport(operation: Operation, err: &reqwest::Error) -> Self {
        let failure = if err.is_timeout() {
            TransportFailure::Timeout
        } else if err.is_connect() {
            TransportFailure::Connect
        } else {
            TransportFailure::Lost
        };
        CallError::Transport { operation, failure, cause: error_chain(err) }
    }

    /// Reads an error response: the code and message of its error body, if it has one.
    fn from_error_body(operation: Operation, status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|body| body.get("error"));
        let text = |field: &str| error.and_then(|e| e.get(field)).and_then(|v| v.as_str()).map(str::to_owned);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        CallError::Api {
            operation,
            status,
            code: text("code").unwrap_or_else(|| format!("http_{status}")),
            message: text("message")
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()),
            details: error.and_then(|e| e.get("details")).cloned().unwrap_or(serde_json::Value::Null),
            retry_after,
        }
    }
}

/// Formats an error with its sources, outermost first.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Client of one onsale deployment.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash, such as `http://127.0.0.1:8080`.
    base: String,
    admin_token: Option<Secret>,
}

impl ApiClient {
    /// Builds the client. `max_connections` bounds the idle connections kept per host, which
    /// should match the number of fans in flight.
    pub fn new(base_url: &str, admin_token: Option<Secret>, max_connections: usize) -> anyhow::Result<Self> {
        let parsed =
            reqwest::Url::parse(base_url).map_err(|err| anyhow::anyhow!("invalid --url {base_url:?}: {err}"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "invalid --url {base_url:?}: expected an http:// or https:// URL"
        );
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(max_connections)
            .user_agent(concat!("onsale-demo/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base: base_url.trim_end_matches('/').to_owned(), admin_token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    async fn send(&self, operation: Operation, request: RequestBuilder) -> Result<Response, CallError> {
        let response = request.send().await.map_err(|err| CallError::transport(operation, &err))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|err| CallError::transport(operation, &err))?;
        Err(CallError::from_error_body(operation, status, &headers, &body))
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        operation: Operation,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        let response = self.send(operation, request).await?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|err| CallError::transport(operation, &err))?;
        serde_json::from_slice(&body).map_err(|err| CallError::Decode { operation, status, cause: err.to_string() })
    }

    fn admin(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.admin_token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    /// `POST /fans`: a new fan session.
    pub async fn create_fan(&self) -> Result<FanSession, CallError> {
        self.send_json(Operation::CreateFan, self.http.post(self.url("/fans"))).await
    }

    /// `GET /events?city=&from=&to=`: events in a city on one local date.
    pub async fn search(&self, city: &str, date: chrono::NaiveDate) -> Result<EventList, CallError> {
        let date = date.format("%Y-%m-%d").to_string();
        let request = self.http.get(self.url("/events")).query(&[("city", city), ("from", &date), ("to", &date)]);
        self.send_json(Operation::Search, request).await
    }

    /// `GET /events/{id}`.
    pub async fn event_detail(&self, event: EventId) -> Result<EventDetail, CallError> {
        self.send_json(Operation::EventDetail, self.http.get(self.url(&format!("/events/{event}")))).await
    }

    /// `GET /events/{id}/seats`: the seat geometry.
    pub async fn seat_map(&self, event: EventId) -> Result<SeatMap, CallError> {
        self.send_json(Operation::SeatMap, self.http.get(self.url(&format!("/events/{event}/seats")))).await
    }

    /// `GET /events/{id}/availability`: the bitmap, sized by the `x-onsale-seat-count` header.
    pub async fn availability(&self, event: EventId) -> Result<SeatBitmap, CallError> {
        let operation = Operation::Availability;
        let response = self.send(operation, self.http.get(self.url(&format!("/events/{event}/availability")))).await?;
        let status = response.status().as_u16();
        let seat_count = response
            .headers()
            .get(SEAT_COUNT_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u32>().ok())
            .ok_or_else(|| CallError::Decode {
                operation,
                status,
                cause: format!("missing or invalid {SEAT_COUNT_HEADER} header"),
            })?;
        let body = response.bytes().await.map_err(|err| CallError::transport(operation, &err))?;
        SeatBitmap::from_bytes(seat_count, &body).map_err(|err| CallError::Decode {
            operation,
            status,
            cause: err.to_string(),
        })
    }

    /// `POST /events/{id}/queue`: joins the waiting room (idempotent per fan).
    pub async fn join(&self, event: EventId, session: &str) -> Result<QueueStatus, CallError> {
        let request = self.http.post(self.url(&format!("/events/{event}/queue"))).header(FAN_SESSION_HEADER, session);
        self.send_json(Operation::Join, request).await
    }

    /// `GET /events/{id}/queue`: the fan's place, or the admission token again.
    pub async fn queue_status(&self, event: EventId, session: &str) -> Result<QueueStatus, CallError> {
        let request = self.http.get(self.url(&format!("/events/{event}/queue"))).header(FAN_SESSION_HEADER, session);
        self.send_json(Operation::QueueStatus, request).await
    }

    /// Opens the waiting-room WebSocket, `GET /events/{id}/queue/ws?session=...`.
    ///
    /// NOTE: tokio-tungstenite is built without a TLS feature, so against an https:// URL the
    /// `wss://` handshake fails and every fan falls back to polling the queue status.
    pub async fn queue_socket(&self, event: EventId, session: &str) -> Result<QueueSocket, CallError> {
        let operation = Operation::QueueSocket;
        let ws_base = match self.base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => self.base.clone(),
        };
        let mut url =
            reqwest::Url::parse(&format!("{ws_base}{API_PREFIX}/events/{event}/queue/ws")).map_err(|err| {
                CallError::Transport { operation, failure: TransportFailure::Connect, cause: err.to_string() }
            })?;
        url.query_pairs_mut().append_pair("session", session);

        let connect = tokio_tungstenite::connect_async(url.as_str());
        match tokio::time::timeout(REQUEST_TIMEOUT, connect).await {
            Ok(Ok((stream, _response))) => Ok(QueueSocket { stream }),
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status().as_u16();
                let body = response.body().as_deref().unwrap_or_default();
                Err(CallError::from_error_body(operation, status, &HeaderMap::new(), body))
            }
            Ok(Err(err)) => {
                Err(CallError::Transport { operation, failure: TransportFailure::Connect, cause: error_chain(&err) })
            }
            Err(_) => Err(CallError::Transport {
                operation,
                failure: TransportFailure::Timeout,
                cause: "the handshake timed out".to_owned(),
            }),
        }
    }

    /// `POST /events/{id}/holds`.
    pub async fn hold(
        &self,
        event: EventId,
        session: &str,
        token: &str,
        seats: Vec<SeatIndex>,
    ) -> Result<HoldResponse, CallError> {
        let request = self
            .http
            .post(self.url(&format!("/events/{event}/holds")))
            .header(FAN_SESSION_HEADER, session)
            .bearer_auth(token)
            .json(&HoldRequest { seats });
        self.send_json(Operation::Hold, request).await
    }

    /// `DELETE /events/{id}/holds/{hold_id}`.
    pub async fn release(&self, event: EventId, session: &str, token: &str, hold: HoldId) -> Result<(), CallError> {
        let request = self
            .http
            .delete(self.url(&format!("/events/{event}/holds/{hold}")))
            .header(FAN_SESSION_HEADER, session)
            .bearer_auth(token);
        self.send(Operation::Release, request).await.map(drop)
    }

    /// `POST /events/{id}/holds/{hold_id}/confirm`.
    pub async fn confirm(
        &self,
        event: EventId,
        session: &str,
        token: &str,
        hold: HoldId,
        checkout: &ConfirmRequest,
    ) -> Result<OrderView, CallError> {
        let request = self
            .http
            .post(self.url(&format!("/events/{event}/holds/{hold}/confirm")))
            .header(FAN_SESSION_HEADER, session)
            .bearer_auth(token)
            .json(checkout);
        self.send_json(Operation::Confirm, request).await
    }

    /// `POST /admin/events/{id}/queue`: an operator action on the queue.
    pub async fn control_queue(&self, event: EventId, control: &QueueControl) -> Result<EventStats, CallError> {
        let request = self.admin(self.http.post(self.url(&format!("/admin/events/{event}/queue")))).json(control);
        self.send_json(Operation::QueueControl, request).await
    }

    /// `GET /admin/events/{id}/stats`: the sale's figures.
    pub async fn stats(&self, event: EventId) -> Result<EventStats, CallError> {
        let request = self.admin(self.http.get(self.url(&format!("/admin/events/{event}/stats"))));
        self.send_json(Operation::Stats, request).await
    }

    /// `GET /admin/events/{id}/queue`: the queue and sale counters, without the oversell checks.
    pub async fn queue_figures(&self, event: EventId) -> Result<QueueFigures, CallError> {
        let request = self.admin(self.http.get(self.url(&format!("/admin/events/{event}/queue"))));
        self.send_json(Operation::Stats, request).await
    }

    /// `GET /admin/events/{id}/deliveries`: how long the event's tickets took to be emailed.
    pub async fn deliveries(&self, event: EventId) -> Result<TicketDeliveries, CallError> {
        let request = self.admin(self.http.get(self.url(&format!("/admin/events/{event}/deliveries"))));
        self.send_json(Operation::Deliveries, request).await
    }
}

/// The waiting-room WebSocket of one fan.
pub struct QueueSocket {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl QueueSocket {
    /// Waits for the next status message. Returns `None` once the server closes the socket.
    /// The stream itself replies to pings while it is read.
    pub async fn next_status(&mut self) -> Option<Result<QueueStatus, CallError>> {
        let operation = Operation::QueueSocket;
        while let Some(message) = self.stream.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    let status = serde_json::from_str::<QueueStatus>(&text).map_err(|err| CallError::Decode {
                        operation,
                        status: 101,
                        cause: err.to_string(),
                    });
                    return Some(status);
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(err) => {
                    return Some(Err(CallError::Transport {
                        operation,
                        failure: TransportFailure::Lost,
                        cause: error_chain(&err),
                    }));
                }
            }
        }
        None
    }

    /// Closes the socket politely. Errors are of no interest once the token is in hand.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_gives_code_and_seats() {
        let body = br#"{"error":{"code":"seat_unavailable","message":"Taken.","details":{"seats":[4,5]}}}"#;
        let err = CallError::from_error_body(Operation::Hold, 409, &HeaderMap::new(), body);
        assert!(err.has_code(ErrorCode::SeatUnavailable));
        assert_eq!(err.code(), "seat_unavailable");
        assert_eq!(err.unavailable_seats(), vec![SeatIndex::new(4).unwrap(), SeatIndex::new(5).unwrap()]);
        assert!(!err.is_retryable());
    }

    #[test]
    fn error_without_body_is_named_by_status() {
        let err = CallError::from_error_body(Operation::Join, 502, &HeaderMap::new(), b"Bad Gateway");
        assert_eq!(err.code(), "http_502");
        assert!(err.to_string().contains("Bad Gateway"), "{err}");
    }

    #[test]
    fn unavailable_is_retried_after_its_header() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        let body = br#"{"error":{"code":"service_unavailable","message":"Busy."}}"#;
        let err = CallError::from_error_body(Operation::Confirm, 503, &headers, body);
        assert!(err.is_retryable());
        assert_eq!(err.retry_delay(1), Duration::from_secs(2));
        headers.insert(RETRY_AFTER, "600".parse().unwrap());
        let err = CallError::from_error_body(Operation::Confirm, 503, &headers, body);
        assert_eq!(err.retry_delay(1), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_without_header_backs_off() {
        let err = CallError::Transport {
            operation: Operation::Join,
            failure: TransportFailure::Connect,
            cause: "refused".into(),
        };
        let delays: Vec<u64> = (1..=6).map(|retry| err.retry_delay(retry).as_millis() as u64).collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 2000, 2000]);
    }

    #[test]
    fn lost_hold_response_is_not_retried() {
        let timed_out = |operation| CallError::Transport {
            operation,
            failure: TransportFailure::Timeout,
            cause: "timed out".into(),
        };
        let (hold, confirm) = (timed_out(Operation::Hold), timed_out(Operation::Confirm));
        assert!(!hold.is_retryable());
        assert!(confirm.is_retryable());
        assert_eq!(hold.code(), "timeout");
    }
}
