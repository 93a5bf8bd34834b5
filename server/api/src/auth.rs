//! The token and CORS. A request carries the token as `?token=T` (checked first, as KG does; browsers
//! cannot set headers on WebSockets) or `Authorization: token T`; the comparison is constant-time.
//! OPTIONS (CORS preflight) passes without a token. CORS headers are sent only when an origin is allowed.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::{ApiError, AppState, CorsConfig};

/// Middleware over every route: 401 unless the request carries the configured token.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::OPTIONS {
        // A preflight never carries credentials; answer it (CorsLayer, when configured, adds headers).
        return StatusCode::OK.into_response();
    }
    let expected = state.config.token.as_bytes();
    if expected.is_empty() || presented(&request).is_some_and(|token| matches(&token, expected)) {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// The token a request presents: the query's `token` (URL-decoded, as browsers encode it), else the
/// `Authorization: token T` header.
fn presented(request: &Request) -> Option<Cow<'_, [u8]>> {
    let from_query = request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name == "token").then(|| url_decode(value.as_bytes()))
        })
    });
    from_query.or_else(|| {
        let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
        let (scheme, token) = value.split_at_checked(6)?;
        scheme
            .eq_ignore_ascii_case(b"token ")
            .then(|| Cow::Borrowed(token.trim_ascii()))
    })
}

/// `application/x-www-form-urlencoded` decoding: `+` for a space, then `%XX` escapes. A malformed
/// escape is kept as written.
fn url_decode(value: &[u8]) -> Cow<'_, [u8]> {
    if !value.contains(&b'+') {
        return percent_encoding::percent_decode(value).into();
    }
    let spaced: Vec<u8> = value
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    Cow::Owned(percent_encoding::percent_decode(&spaced).collect())
}

/// Constant-time in the token's content (the length is not secret).
fn matches(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

/// The CORS layer, or `None` when no origin is allowed (then no CORS header is ever sent).
pub(crate) fn cors_layer(config: &CorsConfig) -> Option<CorsLayer> {
    let origin = config.allow_origin.as_deref()?;
    let mut layer = CorsLayer::new();
    layer = if origin == "*" {
        // A wildcard with credentials is invalid CORS; mirror the request's origin instead.
        if config.allow_credentials {
            layer.allow_origin(AllowOrigin::mirror_request())
        } else {
            layer.allow_origin(AllowOrigin::any())
        }
    } else {
        let origins: Vec<HeaderValue> = split(origin).filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(origins))
    };
    layer = match config.allow_methods.as_deref() {
        Some(methods) => layer.allow_methods(AllowMethods::list(
            split(methods).filter_map(|m| m.parse::<Method>().ok()),
        )),
        None => layer.allow_methods(AllowMethods::mirror_request()),
    };
    layer = match config.allow_headers.as_deref() {
        Some(headers) => layer.allow_headers(AllowHeaders::list(
            split(headers).filter_map(|h| h.parse().ok()),
        )),
        None => layer.allow_headers(AllowHeaders::mirror_request()),
    };
    if let Some(headers) = config.expose_headers.as_deref() {
        layer = layer.expose_headers(ExposeHeaders::list(
            split(headers).filter_map(|h| h.parse().ok()),
        ));
    }
    if config.allow_credentials {
        layer = layer.allow_credentials(true);
    }
    layer = layer.max_age(config.max_age.unwrap_or(Duration::ZERO));
    Some(layer)
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// Whether a WebSocket from `origin` may connect: same host, or an allowed origin.
pub(crate) fn origin_allowed(
    config: &CorsConfig,
    origin: Option<&str>,
    host: Option<&str>,
) -> bool {
    let Some(origin) = origin else {
        return true; // not a browser
    };
    if let Some(allowed) = config.allow_origin.as_deref()
        && (allowed == "*" || split(allowed).any(|a| a == origin))
    {
        return true;
    }
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    host.is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, authorization: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn token_comes_from_query_first_then_header() {
        let token = |r: &Request| presented(r).map(|t| t.into_owned());
        let r = request("/api?x=1&token=abc", Some("token zzz"));
        assert_eq!(token(&r), Some(b"abc".to_vec()));
        let r = request("/api", Some("token abc"));
        assert_eq!(token(&r), Some(b"abc".to_vec()));
        let r = request("/api", Some("Bearer abc"));
        assert_eq!(token(&r), None, "Bearer is not KG's scheme");
        assert_eq!(token(&request("/api", None)), None);
        // Browsers URL-encode the query (`URLSearchParams`): a token with `+`, `/`, `=` or a space
        // must still match; a malformed escape is compared as written.
        let r = request("/api?token=a%2Bb%2Fc%3D%3D+d", None);
        assert_eq!(token(&r), Some(b"a+b/c== d".to_vec()));
        let r = request("/api?token=50%25%zz%4", None);
        assert_eq!(token(&r), Some(b"50%%zz%4".to_vec()));
    }

    #[test]
    fn comparison_needs_the_whole_token() {
        assert!(matches(b"secret", b"secret"));
        assert!(!matches(b"secre", b"secret"));
        assert!(!matches(b"secret!", b"secret"));
        assert!(!matches(b"", b"secret"));
    }

    #[test]
    fn origins() {
        let none = CorsConfig::default();
        assert!(origin_allowed(&none, None, Some("h:1")));
        assert!(origin_allowed(&none, Some("http://h:1"), Some("h:1")));
        assert!(!origin_allowed(&none, Some("http://evil"), Some("h:1")));
        let star = CorsConfig {
            allow_origin: Some("*".into()),
            ..CorsConfig::default()
        };
        assert!(origin_allowed(&star, Some("http://evil"), Some("h:1")));
    }
}
