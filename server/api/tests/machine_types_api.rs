//! Machine types on the executor API (through `app().oneshot`, on the test kernel): the list, the
//! default type applied to executions and schedules that name none, an unknown type refused with a
//! 422 naming the known ones, a schedule's type edited with PATCH (and reset with `null`), each shown
//! in GET and in the lists, and the `machine_type` label of the executions metrics.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use nbgate_api::{AppState, Config, app};
use nbgate_kernel::{KernelLocation, KernelSpecs, MachineTypes};
use nbgate_scheduler::{ExecutorRunner, Scheduler, SchedulerConfig};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const TOKEN: &str = "t0ken";

const TYPES: &str = r#"
[[machine_type]]
name = "small"
description = "1 CPU, 2 GiB"
cpus = 1

[[machine_type]]
name = "large"
description = "The whole machine"
default = true
"#;

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("token {TOKEN}"));
    let request = match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

#[tokio::test]
async fn machine_types_are_listed_applied_refused_edited_and_counted() {
    let env = JupyterEnv::new();
    env.add_test_kernel("testk", &[]);
    let notebook = json!({"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "c0", "metadata": {}, "source": "echo hello", "outputs": [], "execution_count": null}],
        "metadata": {"kernelspec": {"name": "testk", "display_name": "testk", "language": "testlang"}}});
    std::fs::write(env.work().join("ok.ipynb"), notebook.to_string()).expect("notebook");
    let specs = KernelSpecs::with_dirs(vec![env.specs.join("kernels")]);
    let data = tempfile::tempdir().expect("data dir");
    let mut scheduler_config = SchedulerConfig::new(env.work(), data.path());
    scheduler_config.runner = Arc::new(ExecutorRunner::new(specs.clone()));
    scheduler_config.kernel_env = env.vars();
    scheduler_config.machine_types =
        MachineTypes::parse(TYPES, Path::new("types.toml"), &KernelLocation::Local).expect("types");
    let shutdown = CancellationToken::new();
    let scheduler = Scheduler::start(scheduler_config, shutdown.clone())
        .await
        .expect("scheduler starts");
    let mut config = Config::new(TOKEN, env.work());
    config.specs = specs;
    let state = AppState::new(config).with_scheduler(scheduler.clone(), shutdown.clone());

    let (status, list) = call(&state, Method::GET, "/api/machine-types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([
            {"name": "small", "description": "1 CPU, 2 GiB", "default": false, "location": "local"},
            {"name": "large", "description": "The whole machine", "default": true, "location": "local"},
        ])
    );

    // Unknown: 422 naming the known ones; nothing created.
    let (status, body) = call(
        &state,
        Method::POST,
        "/api/executions",
        Some(json!({"notebook": "ok.ipynb", "machine_type": "gpu"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "unknown machine type \"gpu\"; known: small, large"
    );

    // The Execute dialog's preview says the same at the field, before anything is created.
    let (status, preview) = call(
        &state,
        Method::POST,
        "/api/schedules/preview",
        Some(json!({"notebook": "ok.ipynb", "machine_type": "gpu"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview["errors"]["machine_type"],
        "unknown machine type \"gpu\"; known: small, large"
    );
    let (_, preview) = call(
        &state,
        Method::POST,
        "/api/schedules/preview",
        Some(json!({"notebook": "ok.ipynb", "machine_type": "small"})),
    )
    .await;
    assert_eq!(preview["errors"].get("machine_type"), None, "{preview}");

    // None given: the default; given: that one. Both in GET and in the list.
    let (status, default) = call(
        &state,
        Method::POST,
        "/api/executions",
        Some(json!({"notebook": "ok.ipynb"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{default}");
    assert_eq!(default["machine_type"], "large");
    let (status, small) = call(
        &state,
        Method::POST,
        "/api/executions",
        Some(json!({"notebook": "ok.ipynb", "machine_type": "small"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    let small_id = small["id"].as_str().expect("id");
    let (_, got) = call(
        &state,
        Method::GET,
        &format!("/api/executions/{small_id}"),
        None,
    )
    .await;
    assert_eq!(got["machine_type"], "small");
    let (_, listed) = call(&state, Method::GET, "/api/executions", None).await;
    let types: Vec<&Value> = (listed["items"].as_array().expect("items").iter())
        .map(|item| &item["machine_type"])
        .collect();
    assert_eq!(types, [&json!("small"), &json!("large")], "newest first");

    // Schedules: the default on create, edited by PATCH, reset by null, refused when unknown.
    let (status, schedule) = call(
        &state,
        Method::POST,
        "/api/schedules",
        Some(
            json!({"name": "daily", "notebook": "ok.ipynb", "cron": "0 10 * * *", "paused": true}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
    assert_eq!(schedule["machine_type"], "large");
    let uri = format!("/api/schedules/{}", schedule["id"].as_str().expect("id"));
    let (status, edited) = call(
        &state,
        Method::PATCH,
        &uri,
        Some(json!({"machine_type": "small"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["machine_type"], "small");
    let (_, listed) = call(&state, Method::GET, "/api/schedules", None).await;
    assert_eq!(listed["items"][0]["machine_type"], "small");
    let (status, body) = call(
        &state,
        Method::PATCH,
        &uri,
        Some(json!({"machine_type": "gpu"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "unknown machine type \"gpu\"; known: small, large"
    );
    let (_, reset) = call(
        &state,
        Method::PATCH,
        &uri,
        Some(json!({"machine_type": null})),
    )
    .await;
    assert_eq!(reset["machine_type"], "large");

    // Both executions end; the finished counter carries their types.
    let mut events = scheduler.subscribe(None);
    for id in [default["id"].as_str().expect("id"), small_id] {
        tokio::time::timeout(Duration::from_secs(60), async {
            while !scheduler
                .get_execution(id)
                .await
                .expect("get")
                .status
                .is_terminal()
            {
                let _ = events.recv().await;
            }
        })
        .await
        .expect("the executions end");
    }
    let ended = scheduler.get_execution(small_id).await.expect("get");
    assert_eq!(ended.status.to_string(), "succeeded", "{:?}", ended.reason);
    let wanted = [
        "nbgate_executions_finished_total{status=\"succeeded\",machine_type=\"small\"} 1",
        "nbgate_executions_finished_total{status=\"succeeded\",machine_type=\"large\"} 1",
        "nbgate_executions{status=\"queued\",machine_type=\"small\"} 0",
    ];
    // The metrics task counts from the same events, possibly a moment after this test saw them: let
    // it run until it has.
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, text) = call(&state, Method::GET, "/metrics", None).await;
            let text = text.as_str().unwrap_or_default().to_owned();
            if wanted.iter().all(|line| text.contains(line)) {
                return text;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(text.is_ok(), "the metrics carry the machine_type label");

    shutdown.cancel();
    scheduler.stopped().await;
    env.assert_no_survivors(Duration::from_secs(10));
}
