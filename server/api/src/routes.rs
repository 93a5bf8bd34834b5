//! One row of the route table. Each resource module lists its routes; [`crate::route_table`] joins
//! them and [`into_router`] turns the table into the router, so what is served and what the auth tests
//! enumerate are the same list.

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, on};

use crate::AppState;

/// A method, a path (axum syntax, `{id}` for a segment) and its handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub(crate) handler: MethodRouter<AppState>,
}

impl Route {
    pub(crate) fn new<H, T>(method: Method, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = axum::routing::MethodFilter::try_from(method.clone())
            .unwrap_or(axum::routing::MethodFilter::GET);
        Self {
            method,
            path,
            handler: on(filter, handler),
        }
    }

    /// The route with `f` applied to each of its responses (the executor API's error body).
    pub(crate) fn map_response<F, Fut>(self, f: F) -> Self
    where
        F: Fn(axum::response::Response) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = axum::response::Response> + Send + 'static,
    {
        Self {
            handler: self.handler.layer(axum::middleware::map_response(f)),
            ..self
        }
    }

    /// The path with every `{param}` replaced by `value`, for tests that walk the table.
    pub fn example_path(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = self.path;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .map_or(rest.len(), |end| start + end + 1);
            out.push_str(value);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The router serving every route of `table`; routes sharing a path share one method router.
pub(crate) fn into_router(table: Vec<Route>) -> Router<AppState> {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for route in table {
        match by_path.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, handler)) => {
                *handler = std::mem::replace(handler, MethodRouter::new()).merge(route.handler)
            }
            None => by_path.push((route.path, route.handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_paths_fill_every_parameter() {
        let route = Route::new(Method::GET, "/kernelspecs/{name}/{file}", || async {});
        assert_eq!(route.example_path("x"), "/kernelspecs/x/x");
        let plain = Route::new(Method::GET, "/api", || async {});
        assert_eq!(plain.example_path("x"), "/api");
    }
}
