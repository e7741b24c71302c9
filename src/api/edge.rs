//! What every request passes through: a request id and tracing span, a timeout, a
//! panic catcher, CORS, and Matrix-shaped answers for unknown paths and methods.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use super::error::ApiError;

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Gives each request an id (also sent back as `X-Request-Id`) and a span carrying it,
/// and cuts off requests that run past `timeout`.
pub async fn request_span(timeout: Duration, request: Request, next: Next) -> Response {
    let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path());
    async move {
        let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!("request timed out");
                ApiError::timeout().into_response()
            }
        };
        let status = response.status();
        if status.is_server_error() {
            tracing::warn!(%status, "request failed");
        } else {
            tracing::debug!(%status, "request done");
        }
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
        }
        response
    }
    .instrument(span)
    .await
}

/// Turns a panic in a handler into a 500 `M_UNKNOWN`; the server keeps serving.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    // Logged inside the request span, so the line carries the request id.
    tracing::error!(panic = message, "handler panicked");
    ApiError::internal().into_response()
}

/// CORS as the spec asks for: any origin, the methods and headers clients use.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            HeaderName::from_static("x-requested-with"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
        ])
}

pub async fn unknown_endpoint() -> ApiError {
    ApiError::unrecognized("unrecognized request")
}

pub async fn wrong_method() -> ApiError {
    ApiError::method_not_allowed()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    async fn boom() -> &'static str {
        panic!("kaboom")
    }

    fn app() -> Router {
        Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "fine" }))
            .fallback(unknown_endpoint)
            .method_not_allowed_fallback(wrong_method)
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(axum::middleware::from_fn(|request, next| {
                request_span(Duration::from_secs(5), request, next)
            }))
            .layer(cors())
    }

    async fn call(
        router: Router,
        method: Method,
        path: &str,
    ) -> (http::StatusCode, http::HeaderMap, serde_json::Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("origin", "https://app.example")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn a_panic_is_a_500_and_the_router_keeps_serving() {
        let router = app();
        let (status, headers, body) = call(router.clone(), Method::GET, "/boom").await;
        assert_eq!(status, 500);
        assert_eq!(body["errcode"], "M_UNKNOWN");
        assert!(headers.contains_key("x-request-id"));
        let (status, _, _) = call(router, Method::GET, "/ok").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_matrix_errors_with_cors() {
        let (status, headers, body) = call(app(), Method::GET, "/nope").await;
        assert_eq!((status.as_u16(), body["errcode"].as_str()), (404, Some("M_UNRECOGNIZED")));
        assert_eq!(headers["access-control-allow-origin"], "*");
        let (status, _, body) = call(app(), Method::POST, "/ok").await;
        assert_eq!((status.as_u16(), body["errcode"].as_str()), (405, Some("M_UNRECOGNIZED")));
    }
}
