//! The edge's storage rules: which origin responses it may store, and for how long.
//!
//! The origin decides: a response is stored for as long as its `Cache-Control` allows
//! (`s-maxage`, else `max-age`), and never when it contains `no-store`, `no-cache` or `private`, sets
//! a cookie, or is not a 200. The availability bitmap is kept for at most
//! [`BITMAP_EDGE_TTL_SECS`], so a seat map is never more than about a second older at the edge
//! than at the origin. Its stored copy gets a plain `public, max-age=1`: the origin adds
//! `stale-while-revalidate=1` for browsers, which Cloudflare's Cache API ignores but Miniflare's
//! local cache adds to the lifetime, doubling it.

use crate::route::RouteClass;

/// Maximum time the edge keeps an availability bitmap, in seconds.
pub const BITMAP_EDGE_TTL_SECS: u32 = 1;

/// Conditional request headers the edge leaves out when it fetches a response to store, so the
/// origin sends the full body rather than a 304 that could not be stored. The edge evaluates the
/// condition itself ([`etag_matches`]).
pub const CONDITIONAL_HEADERS: [&str; 2] = ["if-none-match", "if-modified-since"];

/// The edge's storage decision for one origin response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePolicy {
    /// Seconds the stored copy stays fresh.
    pub ttl_secs: u32,
    /// A `Cache-Control` value for the stored copy, replacing the origin's; `None` keeps the
    /// origin's header.
    pub cache_control: Option<String>,
}

/// Decides whether and for how long the edge stores a response of the given route class.
/// `request_has_authorization` follows RFC 9111 section 3.5: a shared cache stores the response to a
/// request with credentials only when the origin marks it `public` or gives `s-maxage`.
pub fn store_policy(
    class: &RouteClass,
    status: u16,
    cache_control: Option<&str>,
    has_set_cookie: bool,
    request_has_authorization: bool,
) -> Option<StorePolicy> {
    if !class.is_cached() || status != 200 || has_set_cookie {
        return None;
    }
    let directives = Directives::parse(cache_control?);
    if directives.no_store || directives.no_cache || directives.private {
        return None;
    }
    if request_has_authorization && !directives.public && directives.s_maxage.is_none() {
        return None;
    }
    let ttl_secs = directives.s_maxage.or(directives.max_age).filter(|ttl| *ttl > 0)?;

    if *class == RouteClass::Availability {
        let ttl_secs = ttl_secs.min(BITMAP_EDGE_TTL_SECS);
        return Some(StorePolicy { ttl_secs, cache_control: Some(format!("public, max-age={ttl_secs}")) });
    }
    Some(StorePolicy { ttl_secs, cache_control: None })
}

/// The `Cache-Control` directives the edge acts on.
#[derive(Debug, Default, PartialEq, Eq)]
struct Directives {
    public: bool,
    private: bool,
    no_store: bool,
    no_cache: bool,
    max_age: Option<u32>,
    s_maxage: Option<u32>,
}

impl Directives {
    /// Parses a `Cache-Control` value. Unknown directives are ignored; a malformed or repeated
    /// lifetime makes the response unstorable, as RFC 9111 section 4.2.1 suggests.
    fn parse(value: &str) -> Self {
        let mut directives = Directives::default();
        let mut malformed = false;
        for part in value.split(',') {
            let (name, argument) = match part.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (part.trim(), None),
            };
            let seconds = || argument.and_then(|value| value.parse::<u32>().ok());
            match name.to_ascii_lowercase().as_str() {
                "public" => directives.public = true,
                "private" => directives.private = true,
                "no-store" => directives.no_store = true,
                "no-cache" => directives.no_cache = true,
                "max-age" => {
                    malformed |= directives.max_age.is_some() || seconds().is_none();
                    directives.max_age = seconds();
                }
                "s-maxage" => {
                    malformed |= directives.s_maxage.is_some() || seconds().is_none();
                    directives.s_maxage = seconds();
                }
                _ => {}
            }
        }
        if malformed {
            directives.no_store = true;
        }
        directives
    }
}

/// Returns whether an `If-None-Match` value matches a stored `ETag`, with the weak comparison that
/// RFC 9110 section 13.1.2 prescribes for `If-None-Match`.
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = opaque(etag);
    if_none_match.split(',').any(|candidate| candidate.trim() == "*" || opaque(candidate) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(class: &RouteClass, cache_control: &str) -> Option<StorePolicy> {
        store_policy(class, 200, Some(cache_control), false, false)
    }

    #[test]
    fn origin_browse_headers_are_stored_as_sent() {
        // The origin's values: browse and detail 60 s, seat geometry an hour.
        let expected = Some(StorePolicy { ttl_secs: 60, cache_control: None });
        assert_eq!(policy(&RouteClass::Browse, "public, max-age=60"), expected);
        assert_eq!(policy(&RouteClass::Browse, "public, max-age=3600").unwrap().ttl_secs, 3600);
        assert_eq!(policy(&RouteClass::Asset, "max-age=31536000, immutable").unwrap().ttl_secs, 31_536_000);
    }

    #[test]
    fn bitmap_is_micro_cached() {
        let origin = policy(&RouteClass::Availability, "public, max-age=1, stale-while-revalidate=1").unwrap();
        assert_eq!(origin, StorePolicy { ttl_secs: 1, cache_control: Some("public, max-age=1".to_owned()) });
        let longer = policy(&RouteClass::Availability, "public, max-age=30").unwrap();
        assert_eq!(longer.ttl_secs, BITMAP_EDGE_TTL_SECS);
        assert_eq!(longer.cache_control.as_deref(), Some("public, max-age=1"));
    }

    #[test]
    fn uncacheable_responses_are_not_stored() {
        let browse = RouteClass::Browse;
        assert_eq!(policy(&browse, "no-store"), None);
        assert_eq!(policy(&browse, "public, max-age=60, no-cache"), None);
        assert_eq!(policy(&browse, "private, max-age=60"), None);
        assert_eq!(policy(&browse, "public"), None);
        assert_eq!(policy(&browse, "public, max-age=0"), None);
        assert_eq!(policy(&browse, "public, max-age=soon"), None);
        assert_eq!(policy(&browse, "max-age=60, max-age=120"), None);
        assert_eq!(store_policy(&browse, 200, None, false, false), None);
        assert_eq!(store_policy(&browse, 404, Some("public, max-age=60"), false, false), None);
        assert_eq!(store_policy(&browse, 200, Some("public, max-age=60"), true, false), None);
        assert_eq!(policy(&RouteClass::PassThrough, "public, max-age=60"), None);
        assert_eq!(policy(&RouteClass::Seat { event: "7".into() }, "public, max-age=60"), None);
    }

    #[test]
    fn s_maxage_wins_and_credentials_need_public() {
        assert_eq!(policy(&RouteClass::Browse, "max-age=10, s-maxage=120").unwrap().ttl_secs, 120);
        assert_eq!(store_policy(&RouteClass::Browse, 200, Some("max-age=10"), false, true), None);
        assert!(store_policy(&RouteClass::Browse, 200, Some("public, max-age=10"), false, true).is_some());
        assert!(store_policy(&RouteClass::Browse, 200, Some("s-maxage=10"), false, true).is_some());
    }

    #[test]
    fn etag_comparison_is_weak() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "W/\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }
}
