//! Route classification: what the edge does with a request, decided from its method and path.
//!
//! The origin's routes live under `/api/v1` (`onsale_shared::api::API_PREFIX`). Every path at or
//! below `/api/v1/events/{event_id}/holds` is a seat route, whatever the method and whatever
//! follows, so no variant of a seat path reaches the origin without a token. Path segments are
//! compared after percent-decoding and with empty segments skipped. That makes the edge at least
//! as strict as the origin's router, which matches literal segments on the raw path.

use onsale_shared::api::API_PREFIX;

/// The edge's handling of a request, decided by its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteClass {
    /// Hold, release or confirm: the request needs an admission token for the event whose raw
    /// path segment is `event`. The segment is parsed by the gate, as the origin parses it.
    Seat { event: String },
    /// Event list, event page or seat geometry (`GET` only): cached as the origin's
    /// `Cache-Control` allows.
    Browse,
    /// The availability bitmap (`GET` only): cached for at most [`crate::cache::BITMAP_EDGE_TTL_SECS`].
    Availability,
    /// A static app file, anything outside the API (`GET` only): cached as the origin's
    /// `Cache-Control` allows.
    Asset,
    /// Straight to the origin, never cached: queue join, status and WebSocket, fan sessions,
    /// orders, the operator API, and every non-`GET` request that is not a seat route.
    PassThrough,
}

impl RouteClass {
    /// Returns whether the edge looks the response up in its cache and stores it there.
    pub fn is_cached(&self) -> bool {
        matches!(self, RouteClass::Browse | RouteClass::Availability | RouteClass::Asset)
    }
}

/// Classifies a request. `path` is the URL path as received, without the query string.
pub fn classify(method: &str, path: &str) -> RouteClass {
    let segments: Vec<String> =
        path.split('/').filter(|segment| !segment.is_empty()).map(decode_segment_lossy).collect();
    let prefix: Vec<&str> = API_PREFIX.split('/').filter(|segment| !segment.is_empty()).collect();

    let is_api = segments.len() >= prefix.len() && segments.iter().zip(&prefix).all(|(a, b)| a == b);
    if !is_api {
        return if method == "GET" { RouteClass::Asset } else { RouteClass::PassThrough };
    }
    let rest: Vec<&str> = segments.iter().skip(prefix.len()).map(String::as_str).collect();

    // Seat routes first, for every method: /events/{event_id}/holds and anything below it.
    if let ["events", event, "holds", ..] = rest.as_slice() {
        // The gate parses the raw segment the way the origin's path extractor does.
        let raw_event = raw_segment(path, prefix.len() + 1).unwrap_or_else(|| (*event).to_owned());
        return RouteClass::Seat { event: raw_event };
    }

    if method != "GET" {
        return RouteClass::PassThrough;
    }
    match rest.as_slice() {
        ["events"] | ["events", _] | ["events", _, "seats"] => RouteClass::Browse,
        ["events", _, "availability"] => RouteClass::Availability,
        _ => RouteClass::PassThrough,
    }
}

/// Returns the `index`-th non-empty segment of `path`, still percent-encoded.
fn raw_segment(path: &str, index: usize) -> Option<String> {
    path.split('/').filter(|segment| !segment.is_empty()).nth(index).map(str::to_owned)
}

/// Percent-decodes a path segment for comparison. A segment that does not decode to UTF-8 is kept
/// as it is, so it matches no literal.
fn decode_segment_lossy(segment: &str) -> String {
    percent_decode(segment).unwrap_or_else(|| segment.to_owned())
}

/// Decodes `%XX` escapes. Returns `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        if byte == b'%' {
            let high = bytes.get(position + 1).and_then(|digit| (*digit as char).to_digit(16))?;
            let low = bytes.get(position + 2).and_then(|digit| (*digit as char).to_digit(16))?;
            decoded.push((high * 16 + low) as u8);
            position += 3;
        } else {
            decoded.push(byte);
            position += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(event: &str) -> RouteClass {
        RouteClass::Seat { event: event.to_owned() }
    }

    #[test]
    fn seat_routes_for_every_method() {
        for method in ["POST", "DELETE", "GET", "PUT", "HEAD", "OPTIONS"] {
            assert_eq!(classify(method, "/api/v1/events/7/holds"), seat("7"), "{method}");
            assert_eq!(classify(method, "/api/v1/events/7/holds/h1"), seat("7"), "{method}");
            assert_eq!(classify(method, "/api/v1/events/7/holds/h1/confirm"), seat("7"), "{method}");
        }
    }

    #[test]
    fn seat_route_variants_stay_gated() {
        assert_eq!(classify("POST", "/api/v1/events/7/holds/"), seat("7"));
        assert_eq!(classify("POST", "/api/v1//events/7/holds"), seat("7"));
        assert_eq!(classify("POST", "//api/v1/events/7//holds"), seat("7"));
        assert_eq!(classify("POST", "/api/v1/events/7/hold%73"), seat("7"));
        assert_eq!(classify("POST", "/%61pi/v1/events/7/holds"), seat("7"));
        assert_eq!(classify("POST", "/api/v1/events/%37/holds"), seat("%37"));
        assert_eq!(classify("POST", "/api/v1/events/abc/holds"), seat("abc"));
        assert_eq!(classify("POST", "/api/v1/events/7/holds/h1/confirm/extra"), seat("7"));
    }

    #[test]
    fn browse_and_bitmap_routes() {
        assert_eq!(classify("GET", "/api/v1/events"), RouteClass::Browse);
        assert_eq!(classify("GET", "/api/v1/events/7"), RouteClass::Browse);
        assert_eq!(classify("GET", "/api/v1/events/7/seats"), RouteClass::Browse);
        assert_eq!(classify("GET", "/api/v1/events/7/availability"), RouteClass::Availability);
        assert!(classify("GET", "/api/v1/events/7/seats").is_cached());
        assert_eq!(classify("HEAD", "/api/v1/events/7/seats"), RouteClass::PassThrough);
    }

    #[test]
    fn queue_and_private_routes_pass_through() {
        assert_eq!(classify("POST", "/api/v1/events/7/queue"), RouteClass::PassThrough);
        assert_eq!(classify("GET", "/api/v1/events/7/queue"), RouteClass::PassThrough);
        assert_eq!(classify("GET", "/api/v1/events/7/queue/ws"), RouteClass::PassThrough);
        assert_eq!(classify("POST", "/api/v1/fans"), RouteClass::PassThrough);
        assert_eq!(classify("GET", "/api/v1/orders/o1"), RouteClass::PassThrough);
        assert_eq!(classify("POST", "/api/v1/admin/events/7/queue"), RouteClass::PassThrough);
        assert!(!classify("GET", "/api/v1/events/7/queue").is_cached());
    }

    #[test]
    fn everything_outside_the_api_is_an_asset() {
        assert_eq!(classify("GET", "/"), RouteClass::Asset);
        assert_eq!(classify("GET", "/index.html"), RouteClass::Asset);
        assert_eq!(classify("GET", "/pkg/onsale_frontend_bg.wasm"), RouteClass::Asset);
        assert_eq!(classify("GET", "/api/v2/events"), RouteClass::Asset);
        assert_eq!(classify("POST", "/index.html"), RouteClass::PassThrough);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%e2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
