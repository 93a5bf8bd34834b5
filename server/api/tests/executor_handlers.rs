//! The executor API through `app(state).oneshot`: every route's happy path and its user mistakes (each a
//! precise 4xx with `{"message"}`), on a real scheduler running the test kernel; the OpenAPI document
//! against the route table; the API without a scheduler.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt as _;
use nbgate_api::{AppState, Config, app, route_table};
use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::{EventKind, ExecutorRunner, Received, Scheduler, SchedulerConfig};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const TOKEN: &str = "t0ken";
const WAIT: Duration = Duration::from_secs(60);

struct Api {
    env: JupyterEnv,
    _data: tempfile::TempDir,
    shutdown: CancellationToken,
    state: AppState,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
    text: String,
}

/// A notebook for the test kernel (`testk`), or for `language` with a parameters cell.
fn notebook(language: &str, parameters: Option<&str>, cells: &[&str]) -> String {
    let mut all = Vec::new();
    if let Some(source) = parameters {
        all.push(
            json!({"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    for (i, source) in cells.iter().enumerate() {
        all.push(
            json!({"cell_type": "code", "id": format!("c{i}"), "metadata": {},
                        "source": source, "outputs": [], "execution_count": null}),
        );
    }
    json!({"nbformat": 4, "nbformat_minor": 5, "cells": all,
           "metadata": {"kernelspec": {"name": "testk", "display_name": "testk", "language": language}}})
    .to_string()
}

impl Api {
    async fn start() -> Api {
        let env = JupyterEnv::new();
        env.add_test_kernel("testk", &[]);
        let specs = KernelSpecs::with_dirs(vec![env.specs.join("kernels")]);
        let data = tempfile::tempdir().expect("data dir");
        let mut scheduler_config = SchedulerConfig::new(env.work(), data.path());
        scheduler_config.runner = Arc::new(ExecutorRunner::new(specs.clone()));
        scheduler_config.kernel_env = env.vars();
        scheduler_config.concurrency = 2;
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start(scheduler_config, shutdown.clone())
            .await
            .expect("scheduler starts");
        let mut config = Config::new(TOKEN, env.work());
        config.specs = specs;
        let state = AppState::new(config).with_scheduler(scheduler, shutdown.clone());
        let api = Api {
            env,
            _data: data,
            shutdown,
            state,
        };
        api.write(
            "ok.ipynb",
            &notebook("testlang", None, &["echo hello", "echo world"]),
        );
        api.write(
            "fail.ipynb",
            &notebook(
                "testlang",
                None,
                &["echo one", "error ValueError bad value"],
            ),
        );
        api.write(
            "hang.ipynb",
            &notebook("testlang", None, &["echo before", "hang"]),
        );
        api.write(
            "params.ipynb",
            &notebook("python", Some("days = 60  # history\nlabel = 'x'"), &["ok"]),
        );
        api
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.env.work().join(path), text).expect("write notebook");
    }

    async fn send(&self, request: Request<Body>) -> axum::response::Response {
        app(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible")
    }

    fn request(method: Method, uri: &str, body: Option<&Value>) -> Request<Body> {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("token {TOKEN}"));
        match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        }
        .expect("request")
    }

    async fn call(&self, method: Method, uri: &str, body: Option<&Value>) -> Reply {
        reply(self.send(Self::request(method, uri, body)).await).await
    }

    async fn raw(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("token {TOKEN}"));
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        reply(self.send(builder.body(body.into()).expect("request")).await).await
    }

    /// Creates an execution of `notebook`; returns its id.
    async fn run(&self, notebook: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/api/executions",
                Some(&json!({"notebook": notebook})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        let id = reply.json["id"].as_str().expect("id").to_owned();
        assert_eq!(
            reply.headers[header::LOCATION],
            format!("/api/executions/{id}").as_str()
        );
        id
    }

    /// The whole event stream of an execution (it ends when the execution does), as (event, data).
    async fn events(&self, id: &str) -> Vec<(String, Value)> {
        let reply = tokio::time::timeout(
            WAIT,
            self.call(Method::GET, &format!("/api/executions/{id}/events"), None),
        )
        .await
        .expect("the stream ends with the execution");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "text/event-stream");
        parse_sse(&reply.text)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.state
            .executor
            .as_ref()
            .expect("scheduler")
            .scheduler
            .stopped()
            .await;
        self.env.assert_no_survivors(Duration::from_secs(10));
    }
}

async fn reply(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
    }
}

fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(value).expect("event data is JSON"));
                }
            }
            Some((name?, data?))
        })
        .collect()
}

/// Asserts a 4xx with `{"message"}` containing `needle`.
fn assert_mistake(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    let message = reply.json["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {}", reply.text));
    assert!(
        message.contains(needle),
        "{message:?} should contain {needle:?}"
    );
    assert_eq!(
        reply.json.as_object().map(|o| o.len()),
        Some(1),
        "{}",
        reply.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_and_notebook_parameters() {
    let api = Api::start().await;
    let reply = api.call(Method::GET, "/api/environments", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json,
        json!([{"name": "testk", "display_name": "Test kernel (testk)", "language": "testlang"}])
    );

    let reply = api
        .call(
            Method::POST,
            "/api/notebooks/parameters",
            Some(&json!({"path": "params.ipynb"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["language"], "python");
    assert_eq!(reply.json["parameters"][0]["name"], "days");
    assert_eq!(reply.json["parameters"][0]["type"], "int");
    assert_eq!(reply.json["parameters"][0]["default"], "60");
    assert_eq!(reply.json["parameters"][0]["help"], "history");
    let reply = api
        .call(
            Method::POST,
            "/api/notebooks/parameters",
            Some(&json!({"path": "ok.ipynb"})),
        )
        .await;
    assert_eq!(reply.json["parameters"], Value::Null);

    let path = "/api/notebooks/parameters";
    for (body, needle) in [
        (
            json!({"path": "../outside.ipynb"}),
            "invalid path \"../outside.ipynb\"",
        ),
        (
            json!({"path": "/etc/passwd"}),
            "invalid path \"/etc/passwd\"",
        ),
        (
            json!({"path": "missing.ipynb"}),
            "notebook \"missing.ipynb\" not found",
        ),
        (
            json!({"path": 3}),
            "invalid type: integer `3`, expected a string",
        ),
        (
            json!({"path": "ok.ipynb", "extra": 1}),
            "unknown field `extra`",
        ),
        (json!({}), "missing field `path`"),
    ] {
        assert_mistake(
            &api.call(Method::POST, path, Some(&body)).await,
            422,
            needle,
        );
    }
    assert_mistake(
        &api.raw(Method::POST, path, Some("application/json"), "{\"path\": ")
            .await,
        400,
        "EOF",
    );
    assert_mistake(
        &api.raw(Method::POST, path, None, "{}").await,
        415,
        "Content-Type: application/json",
    );
    assert_mistake(
        &api.raw(Method::POST, path, Some("text/plain"), "{}").await,
        415,
        "Content-Type",
    );
    let huge = format!("{{\"path\": \"{}\"}}", "x".repeat(3 << 20));
    assert_mistake(
        &api.raw(Method::POST, path, Some("application/json"), huge)
            .await,
        413,
        "length limit",
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_runs_is_listed_downloaded_and_deleted() {
    let api = Api::start().await;
    let id = api.run("ok.ipynb").await;
    let events = api.events(&id).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"status"), "{events:?}");
    assert!(
        names.contains(&"progress") && names.contains(&"output"),
        "{events:?}"
    );
    let (last, data) = events.last().expect("events");
    assert_eq!(
        (last.as_str(), data["status"].as_str()),
        ("status", Some("succeeded"))
    );
    let progress: Vec<(u64, u64)> = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .map(|(_, data)| {
            (
                data["cell"].as_u64().expect("cell"),
                data["total"].as_u64().expect("total"),
            )
        })
        .collect();
    assert_eq!(progress, [(0, 2), (1, 2)]);

    let reply = api
        .call(Method::GET, &format!("/api/executions/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let execution = reply.json;
    assert_eq!(execution["status"], "succeeded");
    assert_eq!(execution["notebook"], "ok.ipynb");
    assert!(
        execution["name"]
            .as_str()
            .expect("name")
            .starts_with("ok_at_"),
        "{execution}"
    );
    assert!(execution["duration"].as_f64().expect("duration") >= 0.0);
    assert!(
        execution["ended_at"]
            .as_str()
            .expect("ended")
            .ends_with('Z')
    );
    let output_path = execution["output_path"].as_str().expect("output path");
    assert!(output_path.starts_with("executions/ok/"), "{output_path}");
    assert!(api.env.work().join(output_path).is_file());

    let reply = api
        .call(Method::GET, &format!("/api/executions/{id}/notebook"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/x-ipynb+json"
    );
    assert!(
        reply.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .contains(".ipynb")
    );
    assert_eq!(
        reply.json["cells"][0]["outputs"][0]["text"],
        json!(["hello\n"])
    );

    // Listing: filters, limits, cursors; a second execution is newer.
    let second = api.run("ok.ipynb").await;
    api.events(&second).await;
    let reply = api.call(Method::GET, "/api/executions?limit=1", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["items"][0]["id"], second.as_str());
    let cursor = reply.json["next_cursor"].as_str().expect("more").to_owned();
    let reply = api
        .call(
            Method::GET,
            &format!("/api/executions?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(reply.json["items"][0]["id"], id.as_str());
    assert_eq!(reply.json["next_cursor"], Value::Null);
    let reply = api
        .call(Method::GET, "/api/executions?status=succeeded", None)
        .await;
    assert_eq!(reply.json["items"].as_array().map(Vec::len), Some(2));
    let reply = api
        .call(Method::GET, "/api/executions?status=failed", None)
        .await;
    assert_eq!(reply.json["items"], json!([]));
    assert_mistake(
        &api.call(Method::GET, "/api/executions?status=done", None)
            .await,
        400,
        "unknown status \"done\"; use one of queued, running",
    );
    assert_mistake(
        &api.call(Method::GET, "/api/executions?limit=0", None).await,
        400,
        "limit must be 1 to 1000, got 0",
    );
    assert_mistake(
        &api.call(Method::GET, "/api/executions?limit=ten", None)
            .await,
        400,
        "limit",
    );
    assert_mistake(
        &api.call(Method::GET, "/api/executions?cursor=zzz", None)
            .await,
        400,
        "invalid cursor \"zzz\"",
    );
    assert_mistake(
        &api.call(Method::GET, "/api/executions?schedule=nope", None)
            .await,
        404,
        "schedule \"nope\" not found",
    );

    // Wrong state, unknown ids, delete with the file.
    assert_mistake(
        &api.call(Method::POST, &format!("/api/executions/{id}/cancel"), None)
            .await,
        409,
        "is succeeded: cancel is not possible",
    );
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::DELETE, ""),
        (Method::POST, "/cancel"),
        (Method::GET, "/notebook"),
        (Method::GET, "/events"),
    ] {
        let reply = api
            .call(
                method.clone(),
                &format!("/api/executions/unknown{suffix}"),
                None,
            )
            .await;
        assert_mistake(&reply, 404, "execution \"unknown\" not found");
    }
    let reply = api
        .call(
            Method::DELETE,
            &format!("/api/executions/{id}?delete_file=true"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(!api.env.work().join(output_path).exists());
    assert_mistake(
        &api.call(Method::GET, &format!("/api/executions/{id}"), None)
            .await,
        404,
        "not found",
    );
    assert_mistake(
        &api.call(
            Method::DELETE,
            &format!("/api/executions/{second}?delete_file=maybe"),
            None,
        )
        .await,
        400,
        "delete_file",
    );

    let metrics = api.call(Method::GET, "/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    for family in [
        "nbgate_executions{status=\"queued\"}",
        "nbgate_execution_queue_depth",
        "nbgate_executions_finished_total{status=\"succeeded\"}",
        "nbgate_execution_duration_seconds_count",
        "nbgate_kernels_running{owner=\"gateway\"} 0",
        "nbgate_kernels_running{owner=\"executions\"}",
    ] {
        assert!(
            metrics.text.contains(family),
            "{family} in\n{}",
            metrics.text
        );
    }
    api.stop().await;
}

/// A metric family's sample value (`name` is the whole series, labels included).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
        .parse()
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_how_late_schedules_fired() {
    let api = Api::start().await;
    let family = "nbgate_schedule_fire_lateness_seconds";
    let before = api.call(Method::GET, "/metrics", None).await.text;
    assert!(
        before.contains(&format!("# TYPE {family} histogram")),
        "{before}"
    );
    assert_eq!(sample(&before, &format!("{family}_count")), 0.0);

    let mut events = api
        .state
        .executor
        .as_ref()
        .expect("scheduler")
        .scheduler
        .subscribe(None);
    let reply = api
        .call(
            Method::POST,
            "/api/schedules",
            Some(
                &json!({"name": "tick", "notebook": "ok.ipynb", "every": "1s", "catchup": "skip"}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    // The first fire's status event comes after its row (and its lateness) was recorded.
    let fired = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("the schedule fires");
    assert!(matches!(fired, Received::Event(_)), "{fired:?}");

    let metrics = api.call(Method::GET, "/metrics", None).await.text;
    let count = sample(&metrics, &format!("{family}_count"));
    let sum = sample(&metrics, &format!("{family}_sum"));
    assert!(count >= 1.0, "{metrics}");
    // Lateness is never negative, and a fire recorded under `catchup: skip` was not missed (a
    // minute late).
    assert!((0.0..60.0 * count).contains(&sum), "{metrics}");
    assert_eq!(
        sample(&metrics, &format!("{family}_bucket{{le=\"+Inf\"}}")),
        count
    );
    let buckets: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{family}_bucket")))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .expect("value")
                .parse()
                .expect("number")
        })
        .collect();
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {metrics}"
    );
    assert!(
        metrics.contains(&format!("{family}_bucket{{le=\"0.05\"}}")),
        "the target's bound is a bucket: {metrics}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_cancel_and_parameter_mistakes() {
    let api = Api::start().await;
    let failed = api.run("fail.ipynb").await;
    api.events(&failed).await;
    let reply = api
        .call(Method::GET, &format!("/api/executions/{failed}"), None)
        .await;
    assert_eq!(reply.json["status"], "failed");
    assert_eq!(reply.json["error"]["cell_index"], 1);
    assert_eq!(reply.json["error"]["ename"], "ValueError");
    assert_eq!(reply.json["error"]["evalue"], "bad value");

    // Cancel a running execution once its hanging cell has started.
    let hang = api.run("hang.ipynb").await;
    let response = api
        .send(Api::request(
            Method::GET,
            &format!("/api/executions/{hang}/events"),
            None,
        ))
        .await;
    let mut stream = response.into_body().into_data_stream();
    let mut seen = String::new();
    while !seen.contains("\"cell\":1") {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("progress in time");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.expect("stream open").expect("chunk"),
        ));
    }
    assert_mistake(
        &api.call(Method::DELETE, &format!("/api/executions/{hang}"), None)
            .await,
        409,
        "cancel it first",
    );
    let reply = api
        .call(
            Method::POST,
            &format!("/api/executions/{hang}/cancel"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    while let Some(chunk) = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("ends in time")
    {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    let (_, last) = parse_sse(&seen).pop().expect("events");
    assert_eq!(last["status"], "cancelled", "{seen}");
    let reply = api
        .call(
            Method::GET,
            &format!("/api/executions/{hang}/notebook"),
            None,
        )
        .await;
    assert_eq!(
        reply.json["cells"][0]["outputs"][0]["text"],
        json!(["before\n"]),
        "partial output kept"
    );

    // Parameters are checked against the parameters cell.
    let api_ref = &api;
    let create = |body: Value| async move {
        api_ref
            .call(Method::POST, "/api/executions", Some(&body))
            .await
    };
    assert_mistake(
        &create(json!({"notebook": "params.ipynb", "parameters": {"dayz": 3}})).await,
        422,
        "unknown parameters [\"dayz\"]; the notebook's parameters cell declares [\"days\", \"label\"]",
    );
    assert_mistake(
        &create(json!({"notebook": "params.ipynb", "parameters": {"days": "many"}})).await,
        422,
        "parameter \"days\" must be",
    );
    assert_mistake(
        &create(json!({"notebook": "ok.ipynb", "parameters": {"x": 1}})).await,
        422,
        "no cell tagged `parameters`",
    );
    assert_mistake(
        &create(json!({"notebook": "ok.ipynb", "kernel": "nope"})).await,
        422,
        "unknown kernel \"nope\"; available: [\"testk\"]",
    );
    assert_mistake(
        &create(json!({"notebook": "../ok.ipynb"})).await,
        422,
        "invalid path",
    );
    assert_mistake(
        &create(json!({"notebook": "ok.ipynb", "timeout": -1})).await,
        422,
        "timeout must be a positive number of seconds, got -1",
    );
    assert_mistake(
        &create(json!({"notebook": "ok.ipynb", "output_dir": "/tmp"})).await,
        422,
        "invalid path \"/tmp\"",
    );
    assert_mistake(
        &create(json!({"notebook": "ok.ipynb", "parameters": [1]})).await,
        422,
        "invalid type: sequence, expected a map",
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_created_edited_run_paused_and_deleted() {
    let api = Api::start().await;
    let api_ref = &api;
    let create = |body: Value| async move {
        api_ref
            .call(Method::POST, "/api/schedules", Some(&body))
            .await
    };
    let base = json!({"name": "daily_report", "notebook": "ok.ipynb", "every": "1h", "timezone": "Asia/Tokyo"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        body
    };
    let mut neither = base.clone();
    neither.as_object_mut().expect("object").remove("every");
    assert_mistake(
        &create(with(json!({"every": null, "cron": "61 * * * *"}))).await,
        422,
        "invalid cron expression \"61 * * * *\"",
    );
    assert_mistake(
        &create(with(json!({"cron": "0 10 * * *"}))).await,
        422,
        "give exactly one of `cron` and `every`",
    );
    assert_mistake(
        &create(neither).await,
        422,
        "give exactly one of `cron` and `every`",
    );
    assert_mistake(
        &create(with(json!({"timezone": "Mars/Base"}))).await,
        422,
        "unknown time zone \"Mars/Base\"",
    );
    assert_mistake(
        &create(with(json!({"name": "Daily Report"}))).await,
        422,
        "invalid name \"Daily Report\"",
    );
    assert_mistake(
        &create(with(json!({"every": "sometimes"}))).await,
        422,
        "invalid interval \"sometimes\"",
    );
    assert_mistake(
        &create(with(json!({"overlap": "maybe"}))).await,
        422,
        "unknown variant `maybe`, expected `skip` or `queue`",
    );
    assert_mistake(
        &create(with(
            json!({"notebook": "params.ipynb", "parameters": {"nope": 1}}),
        ))
        .await,
        422,
        "declares [\"days\", \"label\"]",
    );
    assert_mistake(
        &create(with(json!({"frequency": "daily"}))).await,
        422,
        "unknown field `frequency`",
    );

    let reply = create(with(
        json!({"retries": 2, "timeout": 30, "notify": {"url": "http://127.0.0.1:9/hook"}}),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let schedule = reply.json;
    let id = schedule["id"].as_str().expect("id").to_owned();
    assert_eq!(
        reply.headers[header::LOCATION],
        format!("/api/schedules/{id}").as_str()
    );
    assert_eq!(schedule["description"], "Every hour (Asia/Tokyo)");
    assert!(
        schedule["next_run"]
            .as_str()
            .expect("next run")
            .ends_with('Z')
    );
    assert_eq!(
        (schedule["every"].as_str(), &schedule["cron"]),
        (Some("1h"), &Value::Null)
    );
    assert_eq!(
        (
            schedule["input"].as_str(),
            schedule["overlap"].as_str(),
            schedule["catchup"].as_str()
        ),
        (Some("snapshot"), Some("skip"), Some("once"))
    );
    assert_eq!(
        (schedule["timeout"].as_f64(), schedule["retries"].as_u64()),
        (Some(30.0), Some(2))
    );
    assert_eq!(
        schedule["notify"],
        json!({"url": "http://127.0.0.1:9/hook", "on_failure": true, "on_success": false})
    );
    assert_mistake(
        &create(base.clone()).await,
        422,
        "a schedule named \"daily_report\" already exists",
    );

    // By id and by name; listed.
    for key in [id.as_str(), "daily_report"] {
        let reply = api
            .call(Method::GET, &format!("/api/schedules/{key}"), None)
            .await;
        assert_eq!(
            (reply.status, reply.json["id"].as_str()),
            (StatusCode::OK, Some(id.as_str()))
        );
    }
    let reply = api.call(Method::GET, "/api/schedules", None).await;
    assert_eq!(reply.json["items"][0]["id"], id.as_str());

    // Edit: cron replaces every, null clears.
    let id_ref = &id;
    let patch = |body: Value| async move {
        api_ref
            .call(
                Method::PATCH,
                &format!("/api/schedules/{id_ref}"),
                Some(&body),
            )
            .await
    };
    let reply = patch(json!({"cron": "0 10 * * *", "timeout": null})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["description"], "Every day at 10:00 (Asia/Tokyo)");
    assert_eq!(
        (&reply.json["timeout"], reply.json["cron"].as_str()),
        (&Value::Null, Some("0 10 * * *"))
    );
    assert_mistake(
        &patch(json!({"cron": "* * *"})).await,
        422,
        "invalid cron expression",
    );
    assert_mistake(
        &patch(json!({"cron": "0 1 * * *", "every": "1h"})).await,
        422,
        "exactly one",
    );
    assert_mistake(
        &patch(json!({"retries": -1})).await,
        422,
        "invalid value: integer `-1`",
    );
    assert_mistake(
        &api.raw(
            Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some("application/json"),
            "{oops}",
        )
        .await,
        400,
        "key must be a string",
    );

    // Pause, resume, snapshot.
    let action = |name: &'static str| async move {
        api_ref
            .call(
                Method::POST,
                &format!("/api/schedules/{id_ref}/{name}"),
                None,
            )
            .await
    };
    let reply = action("pause").await;
    assert_eq!(
        (reply.json["paused"].as_bool(), &reply.json["next_run"]),
        (Some(true), &Value::Null)
    );
    let reply = action("resume").await;
    assert!(reply.json["next_run"].is_string(), "{}", reply.json);
    let reply = action("snapshot").await;
    assert!(
        reply.json["snapshot_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:")),
        "{}",
        reply.json
    );

    // Run now: an execution of the schedule, which the schedule then shows as its latest.
    let run = api
        .call(Method::POST, &format!("/api/schedules/{id}/run"), None)
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.text);
    let execution = run.json["id"].as_str().expect("id").to_owned();
    assert_eq!(run.json["schedule_id"], id.as_str());
    assert!(
        run.json["name"]
            .as_str()
            .expect("name")
            .starts_with("daily_report_at_")
    );
    api.events(&execution).await;
    let reply = api
        .call(Method::GET, "/api/schedules/daily_report", None)
        .await;
    assert_eq!(reply.json["last_execution"]["id"], execution.as_str());
    assert_eq!(reply.json["last_execution"]["status"], "succeeded");
    let reply = api
        .call(Method::GET, "/api/executions?schedule=daily_report", None)
        .await;
    assert_eq!(reply.json["items"][0]["id"], execution.as_str());
    let reply = api
        .call(
            Method::POST,
            &format!("/api/schedules/{id}/run"),
            Some(&json!({"parameters": {"x": 1}})),
        )
        .await;
    assert_mistake(&reply, 422, "no cell tagged `parameters`");
    let reply = api
        .raw(
            Method::POST,
            &format!("/api/schedules/{id}/run"),
            Some("application/json"),
            "[",
        )
        .await;
    assert_mistake(&reply, 400, "invalid JSON body");

    for (method, suffix) in [
        (Method::GET, ""),
        (Method::PATCH, ""),
        (Method::DELETE, ""),
        (Method::POST, "/run"),
        (Method::POST, "/pause"),
        (Method::POST, "/resume"),
        (Method::POST, "/snapshot"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"paused": true}));
        let reply = api
            .call(
                method.clone(),
                &format!("/api/schedules/nope{suffix}"),
                body.as_ref(),
            )
            .await;
        assert_mistake(&reply, 404, "schedule \"nope\" not found");
    }
    let output = api.env.work().join(
        api.call(Method::GET, &format!("/api/executions/{execution}"), None)
            .await
            .json["output_path"]
            .as_str()
            .expect("path"),
    );
    assert!(output.is_file());
    let reply = api
        .call(
            Method::DELETE,
            &format!("/api/schedules/{id}?delete_files=true"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(!output.exists());
    assert_mistake(
        &api.call(Method::GET, &format!("/api/executions/{execution}"), None)
            .await,
        404,
        "not found",
    );
    assert_eq!(
        api.call(Method::GET, "/api/schedules", None).await.json["items"],
        json!([])
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_installed_while_serving_is_offered_checked_and_run_without_a_restart() {
    let api = Api::start().await;
    let names = |reply: &Reply| -> Vec<String> {
        (reply.json.as_array().expect("list").iter())
            .map(|environment| environment["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let reply = api.call(Method::GET, "/api/environments", None).await;
    assert_eq!(names(&reply), ["testk"]);
    let body = json!({"notebook": "ok.ipynb", "kernel": "later"});
    let reply = api.call(Method::POST, "/api/executions", Some(&body)).await;
    assert_mistake(&reply, 422, "later");

    api.env.add_test_kernel("later", &[]);
    let reply = api.call(Method::GET, "/api/environments", None).await;
    assert_eq!(names(&reply), ["later", "testk"]);
    // The scheduler's check and the executor's run find it.
    let reply = api.call(Method::POST, "/api/executions", Some(&body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["id"].as_str().expect("id").to_owned();
    api.events(&id).await;
    let reply = (api.call(Method::GET, &format!("/api/executions/{id}"), None)).await;
    assert_eq!(reply.json["status"], "succeeded", "{}", reply.text);
    assert_eq!(reply.json["kernel"], "later");
    // So does the gateway's registry.
    let reply = (api.call(
        Method::POST,
        "/api/kernels",
        Some(&json!({"name": "later"})),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json["name"], "later");
    let kernel = reply.json["id"].as_str().expect("id").to_owned();
    let reply = (api.call(Method::DELETE, &format!("/api/kernels/{kernel}"), None)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    api.stop().await;
}

/// The names on a page of `GET /api/schedules` and its `next_cursor`.
async fn schedule_page(api: &Api, query: &str) -> (Vec<String>, Option<String>) {
    let reply = api
        .call(Method::GET, &format!("/api/schedules{query}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let names = (reply.json["items"].as_array().expect("items").iter())
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect();
    (names, reply.json["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_listed_by_name_a_page_at_a_time() {
    let api = Api::start().await;
    let api_ref = &api;
    let create = |name: &str| {
        let body = json!({"name": name, "notebook": "ok.ipynb", "every": "1h", "paused": true});
        async move {
            let reply = api_ref
                .call(Method::POST, "/api/schedules", Some(&body))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            reply.json["id"].as_str().expect("id").to_owned()
        }
    };
    let mut ids = std::collections::HashMap::new();
    for name in ["c", "a", "e", "b", "d"] {
        ids.insert(name, create(name).await);
    }
    // The default page holds them all.
    let all = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    assert_eq!(schedule_page(&api, "").await, (all, None));
    let (first, cursor) = schedule_page(&api, "?limit=2").await;
    assert_eq!(first, ["a", "b"]);
    let cursor = cursor.expect("a next page");
    // Between pages a listed schedule is deleted and two are made, one before the cursor: the
    // next pages repeat nothing and skip nothing still there.
    let reply = api
        .call(
            Method::DELETE,
            &format!("/api/schedules/{}", ids["a"]),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    create("aa").await;
    create("bb").await;
    let (second, cursor) = schedule_page(&api, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(second, ["bb", "c"]);
    let cursor = cursor.expect("a third page");
    let (third, cursor) = schedule_page(&api, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(
        (third, cursor),
        (vec!["d".to_owned(), "e".to_owned()], None)
    );

    // The newest execution comes in short.
    let run = (api.call(
        Method::POST,
        &format!("/api/schedules/{}/run", ids["e"]),
        None,
    ))
    .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.text);
    let execution = run.json["id"].as_str().expect("id").to_owned();
    api.events(&execution).await;
    let reply = api
        .call(Method::GET, "/api/schedules?limit=1&cursor=s64", None)
        .await;
    let last = &reply.json["items"][0]["last_execution"];
    assert_eq!(
        (&last["id"], &last["status"]),
        (&json!(execution), &json!("succeeded"))
    );
    let mut keys: Vec<&str> = last
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "duration",
            "ended_at",
            "fire_time",
            "id",
            "name",
            "progress",
            "reason",
            "started_at",
            "status"
        ]
    );

    for (query, needle) in [
        ("?limit=0", "limit must be 1 to 10000, got 0"),
        ("?limit=10001", "limit must be 1 to 10000, got 10001"),
        ("?limit=ten", "limit: invalid digit"),
        ("?cursor=e1f", "invalid cursor \"e1f\""),
        ("?cursor=s6", "invalid cursor \"s6\""),
        ("?cursor=sxy", "invalid cursor \"sxy\""),
    ] {
        let reply = api
            .call(Method::GET, &format!("/api/schedules{query}"), None)
            .await;
        assert_mistake(&reply, 400, needle);
    }
    api.stop().await;
}

/// Every schedule of `GET /api/schedules` by name, each checked to be what
/// `GET /api/schedules/{id}` answers for it (less its outputs' freshness, which only that has).
async fn listed_as_got(api: &Api) -> std::collections::BTreeMap<String, Value> {
    let reply = api.call(Method::GET, "/api/schedules", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut listed = std::collections::BTreeMap::new();
    for item in reply.json["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("id");
        let got = api
            .call(Method::GET, &format!("/api/schedules/{id}"), None)
            .await;
        let mut got = got.json;
        got.as_object_mut().expect("object").remove("freshness");
        assert_eq!(*item, got, "listed vs got");
        listed.insert(item["name"].as_str().expect("name").to_owned(), got);
    }
    listed
}

/// Listings reuse what they wrote for a schedule whose stored row is unchanged; each change to a
/// schedule (an edit, a resume, a pause, a run) shows in the next listing all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_to_a_schedule_shows_in_the_next_listing() {
    let api = Api::start().await;
    let mut ids = std::collections::HashMap::new();
    for name in ["edited", "untouched"] {
        let body = json!({"name": name, "notebook": "ok.ipynb", "every": "1h", "paused": true});
        let reply = api.call(Method::POST, "/api/schedules", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.insert(name, reply.json["id"].as_str().expect("id").to_owned());
    }
    let before = listed_as_got(&api).await;
    assert_eq!(before["edited"]["description"], "Every hour (UTC)");
    let edited = format!("/api/schedules/{}", ids["edited"]);

    let patch = json!({"every": "30m", "retries": 3});
    let reply = api.call(Method::PATCH, &edited, Some(&patch)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let after_edit = listed_as_got(&api).await;
    let item = &after_edit["edited"];
    assert_eq!(
        (&item["every"], &item["retries"], &item["description"]),
        (&json!("30m"), &json!(3), &json!("Every 30 minutes (UTC)"))
    );
    assert_eq!(after_edit["untouched"], before["untouched"]);

    let reply = api
        .call(Method::POST, &format!("{edited}/resume"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let item = &listed_as_got(&api).await["edited"];
    assert_eq!(item["paused"], json!(false));
    assert!(item["next_run"].is_string(), "{item}");

    let reply = api
        .call(Method::POST, &format!("{edited}/pause"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(listed_as_got(&api).await["edited"]["paused"], json!(true));

    // Each run in turn is the newest execution listed.
    for _ in 0..2 {
        let run = api.call(Method::POST, &format!("{edited}/run"), None).await;
        assert_eq!(run.status, StatusCode::CREATED, "{}", run.text);
        let execution = run.json["id"].as_str().expect("id").to_owned();
        api.events(&execution).await;
        let last = listed_as_got(&api).await["edited"]["last_execution"].clone();
        assert_eq!(
            (&last["id"], &last["status"]),
            (&json!(execution), &json!("succeeded"))
        );
    }

    let reply = api.call(Method::DELETE, &edited, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let names: Vec<String> = listed_as_got(&api).await.into_keys().collect();
    assert_eq!(names, ["untouched"]);
    api.stop().await;
}

#[tokio::test]
async fn the_openapi_document_and_the_route_table_agree() {
    let dir = tempfile::tempdir().expect("dir");
    let state = AppState::new(Config::new(TOKEN, dir.path().to_path_buf()));
    let response = app(state)
        .oneshot(Api::request(Method::GET, "/api/openapi.json", None))
        .await
        .expect("infallible");
    let document = reply(response).await.json;
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    let executor: Vec<(String, String)> = nbgate_api::executor::routes()
        .iter()
        .map(|route| {
            (
                route.path.to_owned(),
                route.method.as_str().to_ascii_lowercase(),
            )
        })
        .collect();
    for (path, method) in &executor {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let table: Vec<(String, String)> = route_table()
        .iter()
        .map(|route| {
            (
                route.path.to_owned(),
                route.method.as_str().to_ascii_lowercase(),
            )
        })
        .collect();
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let pair = (path.clone(), method.clone());
            assert!(
                executor.contains(&pair),
                "{method} {path} is documented but not an executor route"
            );
            assert!(
                table.contains(&pair),
                "{method} {path} is documented but not served"
            );
        }
    }
    // Every reference resolves.
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().expect("name");
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}

#[tokio::test]
async fn without_a_scheduler_the_executor_routes_answer_503() {
    let dir = tempfile::tempdir().expect("dir");
    let state = AppState::new(Config::new(TOKEN, dir.path().to_path_buf()));
    let response = app(state.clone())
        .oneshot(Api::request(Method::GET, "/api/executions", None))
        .await
        .expect("infallible");
    let reply = reply(response).await;
    assert_mistake(
        &reply,
        503,
        "the executor API is not enabled on this server",
    );
    let response = app(state)
        .oneshot(Api::request(Method::GET, "/metrics", None))
        .await
        .expect("infallible");
    let metrics = reply_text(response).await;
    assert!(
        metrics.contains("nbgate_kernels_running{owner=\"gateway\"} 0"),
        "{metrics}"
    );
}

async fn reply_text(response: axum::response::Response) -> String {
    reply(response).await.text
}

/// A paused schedule `name` over `ok.ipynb` with one execution that succeeded and one (its notebook
/// switched to `hang.ipynb`) running its hanging cell. Answers (schedule id, succeeded, running).
async fn a_schedule_with_a_finished_and_a_running_execution(
    api: &Api,
    name: &str,
) -> (String, Value, Value) {
    let reply = api
        .call(
            Method::POST,
            "/api/schedules",
            Some(&json!({"name": name, "notebook": "ok.ipynb", "every": "1h", "paused": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json["id"].as_str().expect("id").to_owned();
    let run_uri = format!("/api/schedules/{id}/run");
    let run_now = || api.call(Method::POST, &run_uri, None);
    let done = run_now().await.json["id"].as_str().expect("id").to_owned();
    api.events(&done).await;
    let patch = json!({"notebook": "hang.ipynb"});
    let reply = api
        .call(Method::PATCH, &format!("/api/schedules/{id}"), Some(&patch))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let scheduler = &api.state.executor.as_ref().expect("scheduler").scheduler;
    let mut events = scheduler.subscribe(None);
    let running = run_now().await.json["id"].as_str().expect("id").to_owned();
    loop {
        let received = tokio::time::timeout(WAIT, events.recv()).await;
        match received.expect("the hanging cell starts in time") {
            Received::Event(event)
                if event.execution_id == running
                    && matches!(event.kind, EventKind::Progress { cell: 1, .. }) =>
            {
                break;
            }
            Received::Closed => panic!("events closed"),
            _ => {}
        }
    }
    let get = |id: String| async move {
        api.call(Method::GET, &format!("/api/executions/{id}"), None)
            .await
            .json
    };
    (id, get(done).await, get(running).await)
}

/// Waits until execution `id` has ended; answers it.
async fn ended(api: &Api, id: &str) -> Value {
    let scheduler = &api.state.executor.as_ref().expect("scheduler").scheduler;
    let mut events = scheduler.subscribe(Some(id));
    loop {
        let reply = api
            .call(Method::GET, &format!("/api/executions/{id}"), None)
            .await;
        if reply.json["ended_at"].is_string() {
            return reply.json;
        }
        let received = tokio::time::timeout(WAIT, events.recv()).await;
        if let Received::Closed = received.expect("it ends in time") {
            panic!("events closed");
        }
    }
}

fn output_of(api: &Api, execution: &Value) -> std::path::PathBuf {
    api.env
        .work()
        .join(execution["output_path"].as_str().expect("output_path"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_schedule_with_executions_keep_leaves_them_listed_with_their_files() {
    let api = Api::start().await;
    let (id, done, running) =
        a_schedule_with_a_finished_and_a_running_execution(&api, "kept_report").await;
    let reply = api
        .call(
            Method::DELETE,
            &format!("/api/schedules/{id}?executions=keep"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_mistake(
        &api.call(Method::GET, &format!("/api/schedules/{id}"), None)
            .await,
        404,
        "not found",
    );
    // The running one is stopped, keeping its partial output.
    let stopped = ended(&api, running["id"].as_str().expect("id")).await;
    assert_eq!(stopped["status"], "cancelled");
    assert_eq!(stopped["reason"], "its schedule was deleted");
    let listed = api.call(Method::GET, "/api/executions", None).await.json;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed}");
    for (kept, status) in [(&stopped, "cancelled"), (&done, "succeeded")] {
        let now = items
            .iter()
            .find(|e| e["id"] == kept["id"])
            .unwrap_or_else(|| panic!("{} still listed", kept["id"]));
        assert_eq!(now["status"], status);
        assert_eq!(now["schedule_id"], Value::Null, "unlinked");
        assert_eq!(now["schedule_name"], "kept_report");
        assert_eq!(now["name"], kept["name"]);
        assert!(
            output_of(&api, now).is_file(),
            "{} kept",
            now["output_path"]
        );
    }
    let reply = api
        .call(
            Method::GET,
            &format!(
                "/api/executions/{}/notebook",
                stopped["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(
        reply.json["cells"][0]["outputs"][0]["text"],
        json!(["before\n"]),
        "partial output kept"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_schedule_with_executions_delete_removes_them_and_their_files() {
    let api = Api::start().await;
    let (id, done, running) =
        a_schedule_with_a_finished_and_a_running_execution(&api, "gone_report").await;
    // Contradictions and the old spelling's other values are refused, and delete nothing.
    for (query, needle) in [
        (
            "executions=maybe",
            "unknown variant `maybe`, expected `keep` or `delete`",
        ),
        (
            "delete_files=false",
            "`delete_files` is replaced by `executions`",
        ),
        (
            "executions=keep&delete_files=true",
            "`delete_files` is replaced by `executions`",
        ),
        ("delete_files=yes", "delete_files"),
    ] {
        let uri = format!("/api/schedules/{id}?{query}");
        assert_mistake(&api.call(Method::DELETE, &uri, None).await, 400, needle);
    }
    let reply = api
        .call(Method::GET, &format!("/api/schedules/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let reply = api
        .call(
            Method::DELETE,
            &format!("/api/schedules/{id}?executions=delete"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    for execution in [&done, &running] {
        let uri = format!("/api/executions/{}", execution["id"].as_str().expect("id"));
        assert_mistake(&api.call(Method::GET, &uri, None).await, 404, "not found");
    }
    assert!(!output_of(&api, &done).exists());
    let listed = api.call(Method::GET, "/api/executions", None).await.json;
    assert_eq!(listed["items"], json!([]));
    // The running one's last save comes after the rows are gone: its file goes once it stopped.
    api.shutdown.cancel();
    let scheduler = &api.state.executor.as_ref().expect("scheduler").scheduler;
    scheduler.stopped().await;
    assert!(
        !output_of(&api, &running).exists(),
        "{}",
        running["output_path"]
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_execution_keeps_its_file_unless_asked_and_never_follows_a_link() {
    let api = Api::start().await;
    let mut outputs = Vec::new();
    for _ in 0..3 {
        let id = api.run("ok.ipynb").await;
        api.events(&id).await;
        let execution = api
            .call(Method::GET, &format!("/api/executions/{id}"), None)
            .await
            .json;
        // The output carries the marker of the record it is (the Jupyter extension refuses saves
        // over it).
        let text = std::fs::read_to_string(output_of(&api, &execution)).expect("output");
        let written: Value = serde_json::from_str(&text).expect("notebook");
        let marker = json!({"execution_id": id, "execution_name": execution["name"]});
        assert_eq!(written["metadata"]["nbgate"], marker);
        outputs.push((id, output_of(&api, &execution)));
    }
    // Without `delete_file`: the record goes, the file stays.
    let (id, file) = &outputs[0];
    let reply = api
        .call(Method::DELETE, &format!("/api/executions/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(file.is_file());
    // With it: both go.
    let (id, file) = &outputs[1];
    let uri = format!("/api/executions/{id}?delete_file=true");
    assert_eq!(
        api.call(Method::DELETE, &uri, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(!file.exists());
    // An output replaced by a link out of the root: the link and its target stay.
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("precious.ipynb");
    std::fs::write(&target, "{}").expect("write");
    let (id, file) = &outputs[2];
    std::fs::remove_file(file).expect("remove");
    std::os::unix::fs::symlink(&target, file).expect("symlink");
    let uri = format!("/api/executions/{id}?delete_file=true");
    assert_eq!(
        api.call(Method::DELETE, &uri, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(target.is_file(), "the link's target is outside the root");
    assert!(file.symlink_metadata().is_ok(), "a link is never deleted");
    let uri = format!("/api/executions/{id}");
    assert_mistake(&api.call(Method::GET, &uri, None).await, 404, "not found");
    api.stop().await;
}

/// Reads `GET /api/events` until `done` holds for the events so far (each (name, data)).
async fn read_feed(
    stream: &mut (impl futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    seen: &mut String,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    loop {
        // Only whole events: the text up to the last blank line.
        let whole = seen.rfind("\n\n").map_or("", |end| &seen[..end]);
        let events = parse_sse(whole);
        if done(&events) {
            return events;
        }
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no more events in time; so far: {seen}"))
            .expect("stream open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_stream_carries_every_execution_and_schedule() {
    let api = Api::start().await;
    let anonymous = Request::get("/api/events")
        .body(Body::empty())
        .expect("request");
    assert_eq!(api.send(anonymous).await.status(), StatusCode::UNAUTHORIZED);

    let response = api
        .send(Api::request(Method::GET, "/api/events", None))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut stream = response.into_body().into_data_stream();
    let mut seen = String::new();
    let has = |events: &[(String, Value)], name: &str, key: &str, id: &str| {
        events.iter().any(|(n, data)| n == name && data[key] == id)
    };
    // `ready` first: what happens from here on is on the stream.
    let events = read_feed(&mut stream, &mut seen, |events| !events.is_empty()).await;
    assert_eq!(events[0].0, "ready", "{seen}");

    let reply = api
        .call(
            Method::POST,
            "/api/schedules",
            Some(&json!({"name": "feed", "notebook": "ok.ipynb", "every": "1h", "paused": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let schedule = reply.json["id"].as_str().expect("id").to_owned();
    let first = api.run("ok.ipynb").await;
    let second = api.run("ok.ipynb").await;
    let events = read_feed(&mut stream, &mut seen, |events| {
        has(events, "finished", "execution_id", &first)
            && has(events, "finished", "execution_id", &second)
            && has(events, "schedule_created", "schedule_id", &schedule)
    })
    .await;
    let created = events
        .iter()
        .find(|(name, data)| name == "schedule_created" && data["schedule_id"] == schedule.as_str())
        .expect("schedule_created");
    assert_eq!(created.1["schedule"]["name"], "feed");
    for id in [&first, &second] {
        // Each execution's events in the order they happened, the first and last with the record.
        let own: Vec<&(String, Value)> = events
            .iter()
            .filter(|(_, data)| data["execution_id"] == id.as_str())
            .collect();
        let names: Vec<&str> = own.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names.first(), Some(&"created"), "{names:?}");
        assert_eq!(names.last(), Some(&"finished"), "{names:?}");
        let running = names.iter().position(|n| *n == "status").expect("running");
        assert_eq!(own[running].1["status"], "running");
        let progress: Vec<u64> = own
            .iter()
            .filter(|(name, _)| name == "progress")
            .map(|(_, data)| data["cell"].as_u64().expect("cell"))
            .collect();
        assert_eq!(progress, [0, 1], "{names:?}");
        assert!(names.iter().rposition(|n| *n == "progress") > Some(running));
        // The record as read when relayed: queued, or already running (its `status` event follows).
        let first_seen = &own[0].1["execution"]["status"];
        assert!(
            first_seen == "queued" || first_seen == "running",
            "{first_seen}"
        );
        let finished = &own.last().expect("finished").1["execution"];
        assert_eq!(finished["status"], "succeeded");
        assert!(finished["ended_at"].is_string(), "{finished}");
    }

    let reply = api
        .call(Method::DELETE, &format!("/api/schedules/{schedule}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    read_feed(&mut stream, &mut seen, |events| {
        has(events, "schedule_deleted", "schedule_id", &schedule)
    })
    .await;
    drop(stream);
    api.stop().await;
}
