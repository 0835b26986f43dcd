//! The HTTP client of the origin's `/api/v1` routes. Every call returns the parsed body or a
//! [`Failure`]; none of them panics or hands a raw error to a page.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use web_sys::RequestCache;

use onsale_shared::api::{
    API_PREFIX, ConfirmRequest, EventDetail, EventList, FAN_SESSION_HEADER, FanSession, HoldRequest, HoldResponse,
    OrderView, QueueStatus, SEAT_COUNT_HEADER, SeatMap,
};
use onsale_shared::{ErrorCode, EventId, HoldId, OrderId, SeatIndex};

use super::browser;
use crate::failure::Failure;
use crate::stored::{self, FAN_KEY};

fn url(path: &str) -> String {
    format!("{API_PREFIX}{path}")
}

async fn send(request: RequestBuilder) -> Result<Response, Failure> {
    request.send().await.map_err(|_| Failure::Network)
}

/// Records the server's clock from the `Date` header, and turns an error status into a
/// [`Failure`] read from the body.
async fn check(response: Response) -> Result<Response, Failure> {
    if let Some(server_now) = response.headers().get("date").and_then(|date| stored::parse_http_date(&date)) {
        browser::record_server_time(server_now);
    }
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let retry_after = response.headers().get("retry-after");
    let body = response.text().await.unwrap_or_default();
    let failure = Failure::from_response(status, &body, retry_after.as_deref());
    if matches!(failure.code(), Some(ErrorCode::FanSessionInvalid | ErrorCode::FanSessionMissing)) {
        // The stored session no longer verifies (new keys on the server); the next request
        // starts a new one.
        browser::remove(FAN_KEY);
    }
    Err(failure)
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, Failure> {
    let status = response.status();
    let text = response.text().await.map_err(|_| Failure::Network)?;
    serde_json::from_str(&text).map_err(|_| Failure::Unreadable { status })
}

async fn get_json<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, Failure> {
    json(check(send(request).await?).await?).await
}

/// Returns the fan session from localStorage, or a new one from `POST /fans`.
pub async fn fan_session() -> Result<FanSession, Failure> {
    if let Some(session) = browser::load::<FanSession>(FAN_KEY) {
        return Ok(session);
    }
    let session: FanSession = get_json(Request::post(&url("/fans"))).await?;
    browser::save(FAN_KEY, &session);
    Ok(session)
}

async fn as_fan(request: RequestBuilder) -> Result<RequestBuilder, Failure> {
    let session = fan_session().await?;
    Ok(request.header(FAN_SESSION_HEADER, &session.session))
}

/// `GET /events`, filtered by city and by an inclusive range of local dates (YYYY-MM-DD).
pub async fn list_events(city: &str, from: &str, to: &str) -> Result<EventList, Failure> {
    let mut params = vec![("limit", "200")];
    for (name, value) in [("city", city), ("from", from), ("to", to)] {
        if !value.trim().is_empty() {
            params.push((name, value.trim()));
        }
    }
    get_json(Request::get(&url("/events")).query(params)).await
}

pub async fn event_detail(event: EventId) -> Result<EventDetail, Failure> {
    get_json(Request::get(&url(&format!("/events/{event}")))).await
}

/// `GET /events/{id}/seats`. The body is about 2 MB for a stadium, which the CDN and the
/// browser cache serve after the first load.
pub async fn seat_map(event: EventId) -> Result<SeatMap, Failure> {
    get_json(Request::get(&url(&format!("/events/{event}/seats")))).await
}

/// The response to one availability poll.
pub enum BitmapPoll {
    /// The bitmap did not change since the entity tag the request carried.
    NotModified,
    Changed {
        bytes: Vec<u8>,
        etag: Option<String>,
        seat_count: Option<u32>,
    },
}

/// `GET /events/{id}/availability` with `If-None-Match`. The request bypasses the browser
/// cache, so that a 304 reaches the app as the sign that the map did not change.
pub async fn availability(event: EventId, etag: Option<&str>) -> Result<BitmapPoll, Failure> {
    let mut request = Request::get(&url(&format!("/events/{event}/availability"))).cache(RequestCache::NoStore);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = send(request).await?;
    if response.status() == 304 {
        return Ok(BitmapPoll::NotModified);
    }
    let response = check(response).await?;
    let headers = response.headers();
    let etag = headers.get("etag");
    let seat_count = headers.get(SEAT_COUNT_HEADER).and_then(|value| value.parse().ok());
    let bytes = response.binary().await.map_err(|_| Failure::Network)?;
    Ok(BitmapPoll::Changed { bytes, etag, seat_count })
}

fn queue_url(event: EventId) -> String {
    url(&format!("/events/{event}/queue"))
}

/// Joins the event's queue; joining again keeps the same place.
pub async fn join_queue(event: EventId) -> Result<QueueStatus, Failure> {
    get_json(as_fan(Request::post(&queue_url(event))).await?).await
}

pub async fn queue_status(event: EventId) -> Result<QueueStatus, Failure> {
    get_json(as_fan(Request::get(&queue_url(event))).await?).await
}

/// Returns the WebSocket URL of the waiting room, on the page's own host. A WebSocket handshake
/// cannot carry headers, so the session goes in the query.
pub fn queue_socket_url(event: EventId, session: &str) -> String {
    let location = leptos::prelude::window().location();
    let protocol = if location.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    let session = String::from(js_sys::encode_uri_component(session));
    format!("{protocol}://{host}{}/ws?session={session}", queue_url(event))
}

async fn admitted(request: RequestBuilder, token: &str) -> Result<RequestBuilder, Failure> {
    Ok(as_fan(request).await?.header("authorization", &format!("Bearer {token}")))
}

fn build_json<T: serde::Serialize>(request: RequestBuilder, body: &T) -> Result<Request, Failure> {
    // These request types have no maps and no custom serializers, so serializing them does not
    // fail. The error is mapped all the same, never unwrapped.
    request.json(body).map_err(|_| Failure::Unreadable { status: 0 })
}

/// Holds the seats, all or none.
pub async fn hold(event: EventId, token: &str, seats: &[u32]) -> Result<HoldResponse, Failure> {
    let seats = seats.iter().filter_map(|seat| SeatIndex::new(*seat).ok()).collect();
    let request = admitted(Request::post(&url(&format!("/events/{event}/holds"))), token).await?;
    let request = build_json(request, &HoldRequest { seats })?;
    json(check(request.send().await.map_err(|_| Failure::Network)?).await?).await
}

/// Releases a hold; its seats go back on sale.
pub async fn release(event: EventId, token: &str, hold: HoldId) -> Result<(), Failure> {
    let request = admitted(Request::delete(&url(&format!("/events/{event}/holds/{hold}"))), token).await?;
    check(send(request).await?).await.map(|_| ())
}

/// Pays for a hold and returns the order.
pub async fn confirm(event: EventId, token: &str, hold: HoldId, email: &str, card: &str) -> Result<OrderView, Failure> {
    let path = format!("/events/{event}/holds/{hold}/confirm");
    let request = admitted(Request::post(&url(&path)), token).await?;
    let body = ConfirmRequest { email: email.trim().to_owned(), card_number: card.trim().to_owned() };
    let request = build_json(request, &body)?;
    json(check(request.send().await.map_err(|_| Failure::Network)?).await?).await
}

pub async fn order(order: OrderId) -> Result<OrderView, Failure> {
    get_json(as_fan(Request::get(&url(&format!("/orders/{order}")))).await?).await
}
