//! Handler tests with `oneshot`: every route of the table behind the token, KG's error shapes, the
//! kernelspec endpoints, request validation, CORS, and a kernel's lifecycle on the test kernel.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use nbgate_api::{AppState, Config, CorsConfig, app, route_table};
use nbgate_kernel::KernelSpecs;
use nbgate_tests::{JupyterEnv, workspace_bin};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "t0ken";
const SOME_ID: &str = "00000000-0000-0000-0000-000000000000";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

fn state(specs: &Path, configure: impl FnOnce(&mut Config)) -> AppState {
    let mut config = Config::new(TOKEN, specs.parent().expect("parent").to_path_buf());
    config.specs = KernelSpecs::with_dirs(vec![specs.to_path_buf()]);
    config.default_kernel = Some("testk".into());
    config.start_timeout = Duration::from_secs(20);
    configure(&mut config);
    AppState::new(config)
}

/// A kernelspec directory with the test kernel as `testk` (and a logo) plus a spec without logo.
fn specs(env: &JupyterEnv) -> std::path::PathBuf {
    let dir = env.add_test_kernel("testk", &[]);
    std::fs::write(dir.join("logo-64x64.png"), b"\x89PNG fake").expect("logo");
    env.add_test_kernel("other", &[]);
    env.specs.join("kernels")
}

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("token {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).expect("request");
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .expect("body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        json,
    }
}

#[tokio::test]
async fn every_route_requires_the_token() {
    let env = JupyterEnv::new();
    let state = state(&specs(&env), |_| {});
    let table = route_table();
    assert!(table.len() >= 17, "the table lists every route: {table:?}");
    for route in &table {
        let uri = route.example_path(SOME_ID);
        for token in [None, Some("wrong"), Some("t0ke"), Some("t0kenx")] {
            let reply = call(&state, route.method.clone(), &uri, token, "").await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{route:?} with {token:?}"
            );
            assert_eq!(reply.json, json!({"reason": "Unauthorized", "message": ""}));
        }
        let reply = call(&state, route.method.clone(), &uri, Some(TOKEN), "").await;
        assert_ne!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{route:?} with the token"
        );
        // The query form works too.
        let sep = if uri.contains('?') { '&' } else { '?' };
        let reply = call(
            &state,
            route.method.clone(),
            &format!("{uri}{sep}token={TOKEN}"),
            None,
            "",
        )
        .await;
        assert_ne!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{route:?} with ?token="
        );
    }
    // Unknown paths are behind the token too, then KG's catch-all 404.
    assert_eq!(
        call(&state, Method::GET, "/tree", None, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = call(&state, Method::GET, "/tree", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json, json!({"reason": "Not Found", "message": ""}));
    let reply = call(&state, Method::PUT, "/api/kernels", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json["reason"], "Method Not Allowed");
}

#[tokio::test]
async fn preflight_passes_without_a_token_and_cors_only_when_configured() {
    let env = JupyterEnv::new();
    let plain = state(&specs(&env), |_| {});
    let reply = call(&plain, Method::OPTIONS, "/api/kernels", None, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let reply = call(&plain, Method::GET, "/api", Some(TOKEN), "").await;
    assert!(
        reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let cors = state(&specs(&env), |config| {
        config.cors = CorsConfig {
            allow_origin: Some("http://lab.example".into()),
            ..CorsConfig::default()
        };
    });
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/kernels")
        .header(header::ORIGIN, "http://lab.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .expect("request");
    let response = app(cors.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://lab.example"
    );
}

#[tokio::test]
async fn api_version_and_health() {
    let env = JupyterEnv::new();
    let state = state(&specs(&env), |_| {});
    let reply = call(&state, Method::GET, "/api", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json["version"].is_string());
    let reply = call(&state, Method::GET, "/api/health", Some(TOKEN), "").await;
    assert_eq!(reply.json["status"], "ok");
    assert_eq!(reply.json["kernels"], 0);
}

#[tokio::test]
async fn kernelspecs_as_kernel_gateway_serves_them() {
    let env = JupyterEnv::new();
    let state = state(&specs(&env), |_| {});
    let reply = call(&state, Method::GET, "/api/kernelspecs", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["default"], "testk");
    let testk = &reply.json["kernelspecs"]["testk"];
    assert_eq!(testk["name"], "testk");
    assert_eq!(testk["spec"]["display_name"], "Test kernel (testk)");
    assert_eq!(testk["spec"]["interrupt_mode"], "signal");
    assert_eq!(testk["spec"]["env"], json!({}));
    assert_eq!(
        testk["resources"],
        json!({"logo-64x64": "/kernelspecs/testk/logo-64x64.png"})
    );
    assert_eq!(reply.json["kernelspecs"]["other"]["resources"], json!({}));

    let reply = call(
        &state,
        Method::GET,
        "/api/kernelspecs/testk",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(reply.json, *testk);
    let reply = call(
        &state,
        Method::GET,
        "/api/kernelspecs/nope",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json["message"],
        "Kernel spec nope not found; available: other, testk"
    );

    let reply = call(
        &state,
        Method::GET,
        "/kernelspecs/testk/logo-64x64.png",
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(reply.headers[header::CACHE_CONTROL], "max-age=2592000");
    for missing in [
        "/kernelspecs/testk/nope.png",
        "/kernelspecs/testk/..",
        "/kernelspecs/nope/logo-64x64.png",
    ] {
        let reply = call(&state, Method::GET, missing, Some(TOKEN), "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn user_mistakes_get_precise_4xx() {
    let env = JupyterEnv::new();
    let state = state(&specs(&env), |config| config.max_kernels = Some(0));
    let cases: [(&str, &str, StatusCode, &str); 8] = [
        (
            "/api/kernels",
            "{",
            StatusCode::BAD_REQUEST,
            "invalid JSON body",
        ),
        (
            "/api/kernels",
            "[1]",
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ),
        (
            "/api/kernels",
            r#"{"name": 3}"#,
            StatusCode::BAD_REQUEST,
            "name must be a string",
        ),
        (
            "/api/kernels",
            r#"{"env": "x"}"#,
            StatusCode::BAD_REQUEST,
            "env must be an object",
        ),
        (
            "/api/kernels",
            r#"{"env": {"KERNEL_X": 1}}"#,
            StatusCode::BAD_REQUEST,
            "env values must be strings",
        ),
        (
            "/api/kernels",
            r#"{"name": "nope"}"#,
            StatusCode::NOT_FOUND,
            "available: other, testk",
        ),
        (
            "/api/kernels",
            r#"{"path": "../../etc"}"#,
            StatusCode::BAD_REQUEST,
            "inside the root",
        ),
        (
            "/api/kernels",
            "{}",
            StatusCode::FORBIDDEN,
            "Resource Limit",
        ),
    ];
    for (uri, body, status, message) in cases {
        let reply = call(&state, Method::POST, uri, Some(TOKEN), body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.json);
        let text = reply.json["message"].as_str().expect("message");
        assert!(text.contains(message), "{body}: {text}");
        assert!(reply.json["reason"].is_string());
    }
    for (method, uri) in [
        (Method::GET, format!("/api/kernels/{SOME_ID}")),
        (Method::DELETE, format!("/api/kernels/{SOME_ID}")),
        (Method::POST, format!("/api/kernels/{SOME_ID}/interrupt")),
        (Method::POST, format!("/api/kernels/{SOME_ID}/restart")),
        (Method::GET, format!("/api/kernels/{SOME_ID}/channels")),
    ] {
        let reply = call(&state, method.clone(), &uri, Some(TOKEN), "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(
            reply.json["message"],
            format!("Kernel does not exist: {SOME_ID}")
        );
    }
    let reply = call(&state, Method::GET, "/api/sessions/nope", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = call(
        &state,
        Method::POST,
        "/api/sessions",
        Some(TOKEN),
        r#"{"kernel": 1}"#,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

fn assert_model(model: &Value, name: &str) {
    assert_eq!(model["name"], name);
    assert!(
        model["id"].as_str().is_some_and(|id| id.len() == 36),
        "{model}"
    );
    let stamp = model["last_activity"].as_str().expect("last_activity");
    // %Y-%m-%dT%H:%M:%S.%fZ
    assert_eq!(stamp.len(), 27, "{stamp}");
    assert_eq!(&stamp[19..20], ".");
    assert!(stamp.ends_with('Z'));
    assert!(model["connections"].is_u64());
}

#[tokio::test]
async fn kernel_and_session_lifecycle_on_the_test_kernel() {
    let _ = workspace_bin("nbgate-testkernel");
    let env = JupyterEnv::new();
    let state = state(&specs(&env), |_| {});
    let reply = call(&state, Method::POST, "/api/kernels", Some(TOKEN), "").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_model(&reply.json, "testk");
    assert_eq!(
        reply.json["execution_state"], "idle",
        "not 'starting' forever"
    );
    let id = reply.json["id"].as_str().expect("id").to_owned();
    assert_eq!(
        reply.headers[header::LOCATION],
        format!("/api/kernels/{id}")
    );

    let list = call(&state, Method::GET, "/api/kernels", Some(TOKEN), "").await;
    assert_eq!(list.json.as_array().map(Vec::len), Some(1));
    let one = call(
        &state,
        Method::GET,
        &format!("/api/kernels/{id}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(one.json["id"], id.as_str());
    let interrupt = call(
        &state,
        Method::POST,
        &format!("/api/kernels/{id}/interrupt"),
        Some(TOKEN),
        "{}",
    )
    .await;
    assert_eq!(interrupt.status, StatusCode::NO_CONTENT);
    assert_eq!(interrupt.json, Value::Null);
    let restart = call(
        &state,
        Method::POST,
        &format!("/api/kernels/{id}/restart"),
        Some(TOKEN),
        "{}",
    )
    .await;
    assert_eq!(restart.status, StatusCode::OK);
    assert_eq!(restart.json["execution_state"], "idle");
    let delete = call(
        &state,
        Method::DELETE,
        &format!("/api/kernels/{id}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let gone = call(
        &state,
        Method::GET,
        &format!("/api/kernels/{id}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Sessions: KG's model, a new kernel each, deleting one stops its kernel.
    let body =
        r#"{"path": "nb.ipynb", "type": "notebook", "name": "", "kernel": {"name": "other"}}"#;
    let created = call(&state, Method::POST, "/api/sessions", Some(TOKEN), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let sid = created.json["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/sessions/{sid}")
    );
    assert_eq!(created.json["notebook"], json!({"path": "nb.ipynb"}));
    assert_model(&created.json["kernel"], "other");
    let patched = call(
        &state,
        Method::PATCH,
        &format!("/api/sessions/{sid}"),
        Some(TOKEN),
        r#"{"notebook": {"path": "moved.ipynb"}}"#,
    )
    .await;
    assert_eq!(patched.json["notebook"]["path"], "moved.ipynb");
    let listed = call(&state, Method::GET, "/api/sessions", Some(TOKEN), "").await;
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1));
    let deleted = call(
        &state,
        Method::DELETE,
        &format!("/api/sessions/{sid}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let kernels = call(&state, Method::GET, "/api/kernels", Some(TOKEN), "").await;
    assert_eq!(kernels.json, json!([]));
    state.kernels.shutdown_all().await;
    env.assert_no_survivors(Duration::from_secs(10));
}

#[tokio::test]
async fn a_token_with_url_special_characters_works_url_encoded_in_the_query() {
    let env = JupyterEnv::new();
    let mut config = Config::new("a+b/c==&d%", env.work());
    config.specs = KernelSpecs::with_dirs(vec![specs(&env)]);
    let state = AppState::new(config);
    // As a browser's URLSearchParams encodes it (JupyterLab's WebSocket URLs carry the token so).
    let reply = call(
        &state,
        Method::GET,
        "/api?token=a%2Bb%2Fc%3D%3D%26d%25",
        None,
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = call(&state, Method::GET, "/api?token=a+b/c==", None, "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "`+` is a space");
    let reply = call(&state, Method::GET, "/api", Some("a+b/c==&d%"), "").await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the header is taken as written"
    );
}
