//! Request tracing without secrets: each request's span records the method and the path only. The
//! query is left out because it may carry the token (`?token=T`, as browsers send it on WebSockets).

use axum::extract::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;

type MakeSpan = fn(&Request) -> tracing::Span;

/// tower-http's HTTP trace layer with a span that never holds the query string.
pub(crate) fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan> {
    TraceLayer::new_for_http().make_span_with(span as MakeSpan)
}

fn span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_span_has_the_path_but_never_the_query() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = Request::builder()
                .uri("/api/kernels/k/channels?session_id=s&token=s3cret")
                .body(axum::body::Body::empty())
                .expect("request");
            let span = span(&request);
            span.in_scope(|| tracing::debug!("inside"));
        });
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8");
        assert!(text.contains("path=/api/kernels/k/channels"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("session_id"),
            "{text}"
        );
    }
}
