//! `POST /api/schedules/preview` through the whole app: the scheduler's own checks by field, the
//! description and next runs in the schedule's zone (across a DST change, from a fixed clock), the
//! `count` bounds, malformed bodies, and the token.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use nbgate_api::{AppState, Config, app};
use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::{Clock, ExecutorRunner, Scheduler, SchedulerConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const TOKEN: &str = "t0ken";

/// Always the same instant: Friday 27 March 2026, 12:00 UTC, two days before Europe/Paris moves
/// from +01:00 to +02:00 (Sunday 29 March, 02:00 local).
struct Fixed(DateTime<Utc>);

impl Clock for Fixed {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

struct Api {
    root: tempfile::TempDir,
    _data: tempfile::TempDir,
    shutdown: CancellationToken,
    state: AppState,
}

impl Api {
    async fn start() -> Api {
        let root = tempfile::tempdir().expect("root");
        let data = tempfile::tempdir().expect("data");
        let specs = KernelSpecs::with_dirs(vec![root.path().join("kernels")]);
        let mut config = SchedulerConfig::new(root.path(), data.path());
        config.clock = Arc::new(Fixed(Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap()));
        config.runner = Arc::new(ExecutorRunner::new(specs.clone()));
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start(config, shutdown.clone())
            .await
            .expect("scheduler starts");
        let mut config = Config::new(TOKEN, root.path().to_path_buf());
        config.specs = specs;
        let state = AppState::new(config).with_scheduler(scheduler, shutdown.clone());
        Api {
            root,
            _data: data,
            shutdown,
            state,
        }
    }

    /// Sends `body` as it is, with `content_type` and the token if `token`.
    async fn send(
        &self,
        uri: &str,
        token: bool,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(uri);
        if token {
            request = request.header(header::AUTHORIZATION, format!("token {TOKEN}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body.to_owned())).expect("request");
        let response = app(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn preview(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let text = body.to_string();
        self.send(uri, true, Some("application/json"), &text).await
    }

    async fn send_get(&self, uri: &str) -> (StatusCode, Value) {
        let request = Request::get(uri)
            .header(header::AUTHORIZATION, format!("token {TOKEN}"))
            .body(Body::empty())
            .expect("request");
        let response = app(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let executor = self.state.executor.as_ref().expect("scheduler");
        executor.scheduler.stopped().await;
    }
}

fn strings(value: &Value) -> Vec<&str> {
    let items = value.as_array().expect("an array");
    items
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect()
}

#[tokio::test]
async fn next_runs_are_in_the_schedule_zone_across_a_dst_change() {
    let api = Api::start().await;
    let body = json!({"cron": "0 6 * * *", "timezone": "Europe/Paris"});
    let (status, answer) = api.preview("/api/schedules/preview?count=3", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["errors"], json!({}));
    assert_eq!(answer["description"], "Every day at 06:00 (Europe/Paris)");
    // 06:00 local each day: 05:00 UTC before the change, 04:00 UTC after it.
    assert_eq!(
        strings(&answer["next_runs"]),
        [
            "2026-03-28T06:00:00+01:00",
            "2026-03-29T06:00:00+02:00",
            "2026-03-30T06:00:00+02:00",
        ]
    );

    // Weekdays only, from a Friday afternoon: Monday next, after the change. The default count is 5.
    let body = json!({"cron": "0 6 * * 1-5", "timezone": "Europe/Paris"});
    let (status, answer) = api.preview("/api/schedules/preview", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["description"],
        "Every weekday at 06:00 (Europe/Paris)"
    );
    assert_eq!(
        strings(&answer["next_runs"]),
        [
            "2026-03-30T06:00:00+02:00",
            "2026-03-31T06:00:00+02:00",
            "2026-04-01T06:00:00+02:00",
            "2026-04-02T06:00:00+02:00",
            "2026-04-03T06:00:00+02:00",
        ]
    );

    // A friendly interval in a zone without DST; the zone defaults to UTC as on creation.
    let (_, answer) = api
        .preview(
            "/api/schedules/preview?count=2",
            json!({"every": "90 minutes"}),
        )
        .await;
    assert_eq!(answer["description"], "Every 90 minutes (UTC)");
    assert_eq!(
        strings(&answer["next_runs"]),
        ["2026-03-27T13:30:00+00:00", "2026-03-27T15:00:00+00:00"]
    );
    api.stop().await;
}

#[tokio::test]
async fn each_wrong_field_is_reported_at_that_field_with_the_creation_message() {
    let api = Api::start().await;
    std::fs::write(api.root.path().join("a_file"), "x").expect("file");
    let body = json!({
        "name": "Daily Report",
        "cron": "61 6 * * *",
        "timezone": "Mars/Olympus",
        "retries": 101,
        "max_concurrent": "two",
        "timeout": -1,
        "cell_timeout": 0.5,
        "notify": {"url": "ftp://example.com/hook"},
        "output_dir": "a_file/out",
        "outputs": ["/etc/passwd"],
        "notebook": "missing.ipynb",
        "colour": "blue",
    });
    let (status, answer) = api.preview("/api/schedules/preview", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], false);
    let errors = answer["errors"].as_object().expect("errors");
    let expected = [
        ("name", "invalid name \"Daily Report\""),
        ("cron", "invalid cron expression \"61 6 * * *\""),
        ("timezone", "unknown time zone \"Mars/Olympus\""),
        ("retries", "retries must be 0 to 100, got 101"),
        (
            "max_concurrent",
            "max_concurrent: invalid type: string \"two\", expected",
        ),
        (
            "timeout",
            "timeout must be a positive number of seconds, got -1",
        ),
        ("notify", "invalid webhook URL \"ftp://example.com/hook\""),
        ("output_dir", "invalid path \"a_file/out\""),
        ("outputs", "invalid output pattern \"/etc/passwd\""),
        ("notebook", "notebook \"missing.ipynb\" not found"),
        ("colour", "colour: unknown field `colour`"),
    ];
    for (field, start) in expected {
        let message = errors[field].as_str().unwrap_or_default();
        assert!(message.starts_with(start), "{field}: {message:?}");
    }
    // A fractional timeout is valid (the server takes any positive number of seconds).
    assert_eq!(errors.len(), expected.len(), "{answer}");
    assert_eq!(answer["description"], Value::Null);
    assert_eq!(answer["next_runs"], json!([]));

    // The bounds are the server's: 100 retries, a fraction of a second.
    let body = json!({"retries": 100, "timeout": 0.25, "cron": "0 6 * * *"});
    let (_, answer) = api.preview("/api/schedules/preview", body).await;
    assert_eq!(answer["valid"], true, "{answer}");

    // A valid zone with a wrong expression: the zone is not blamed, nothing is described.
    let body = json!({"cron": "0 6 * *", "timezone": "Asia/Tokyo"});
    let (_, answer) = api.preview("/api/schedules/preview", body).await;
    assert_eq!(
        answer["errors"]
            .as_object()
            .map(|e| e.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["cron"])
    );
    assert_eq!(answer["description"], Value::Null);

    // Both recurrences: each is blamed with the creation's words.
    let body = json!({"cron": "0 6 * * *", "every": "1h"});
    let (_, answer) = api.preview("/api/schedules/preview", body).await;
    assert_eq!(
        answer["errors"]["every"],
        "give exactly one of `cron` and `every`"
    );
    assert_eq!(answer["errors"]["cron"], answer["errors"]["every"]);
    api.stop().await;
}

#[tokio::test]
async fn nothing_given_is_valid_and_nothing_is_stored() {
    let api = Api::start().await;
    let (status, answer) = api.preview("/api/schedules/preview", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"valid": true, "errors": {}, "description": null, "next_runs": []})
    );
    let body = json!({"name": "daily", "notebook": "missing.ipynb", "cron": "0 6 * * *"});
    api.preview("/api/schedules/preview", body).await;
    let (_, schedules) = api.send_get("/api/schedules").await;
    assert_eq!(schedules["items"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn count_is_bounded_and_bodies_must_be_json_objects() {
    let api = Api::start().await;
    let cron = json!({"cron": "* * * * *"});
    for count in ["0", "51"] {
        let uri = format!("/api/schedules/preview?count={count}");
        let (status, answer) = api.preview(&uri, cron.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(
            answer["message"],
            format!("count must be 1 to 50, got {count}")
        );
    }
    let (status, answer) = api
        .preview("/api/schedules/preview?count=50", cron.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["next_runs"].as_array().map(Vec::len), Some(50));
    let (status, answer) = api
        .preview("/api/schedules/preview?count=many", cron.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().is_some(), "{answer}");

    let json = Some("application/json");
    let uri = "/api/schedules/preview";
    for (content_type, body, expected) in [
        (json, "not json", StatusCode::BAD_REQUEST),
        (json, "{\"cron\": ", StatusCode::BAD_REQUEST),
        (json, "[1, 2]", StatusCode::UNPROCESSABLE_ENTITY),
        (json, "\"0 6 * * *\"", StatusCode::UNPROCESSABLE_ENTITY),
        (None, "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let (status, answer) = api.send(uri, true, content_type, body).await;
        assert_eq!(status, expected, "{body:?}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{body:?}: {answer}");
    }
    api.stop().await;
}

#[tokio::test]
async fn the_preview_needs_the_token() {
    let api = Api::start().await;
    let body = json!({"cron": "0 6 * * *"}).to_string();
    let uri = "/api/schedules/preview";
    let (status, _) = api.send(uri, false, Some("application/json"), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .send(
            &format!("{uri}?token=wrong"),
            false,
            Some("application/json"),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .send(
            &format!("{uri}?token={TOKEN}"),
            false,
            Some("application/json"),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.stop().await;
}
