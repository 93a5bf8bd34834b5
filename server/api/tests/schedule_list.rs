//! `GET /api/schedules` over more schedules than one page of the default size: 10,001 paused
//! schedules written to the store before the scheduler starts, listed through `app(state).oneshot`.
//! `limit=10000` (the largest) reads 10,000 in one request, by name, each once, with a cursor to the
//! last one; a larger limit is refused with the bound.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use nbgate_api::{AppState, Config, app};
use nbgate_scheduler::{
    DATABASE_FILE, MAX_SCHEDULE_PAGE, Recurrence, Schedule, ScheduleSpec, Scheduler,
    SchedulerConfig, SqliteStore, Store,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const TOKEN: &str = "t0ken";

/// `count` paused schedules `s00000`, `s00001`, … in a new store at `data`.
fn seed(data: &std::path::Path, count: usize) {
    let store = SqliteStore::open(&data.join(DATABASE_FILE)).expect("store");
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    for i in 0..count {
        let name = format!("s{i:05}");
        let every = Recurrence::Every("1h".into());
        let mut spec = ScheduleSpec::new(&name, "report.ipynb", every, "UTC");
        spec.paused = true;
        let schedule = Schedule {
            id: format!("id-{name}"),
            spec,
            next_run: None,
            last_fire: None,
            description: String::new(),
            snapshot_hash: None,
            created_at: at,
            updated_at: at,
        };
        store.insert_schedule(&schedule).expect("insert");
    }
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("token {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let response = app(state.clone()).oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

/// The names on a page and its `next_cursor`.
fn page(body: &Value) -> (Vec<String>, Option<String>) {
    let names = (body["items"].as_array().expect("items").iter())
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect();
    (names, body["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_schedules_come_in_one_request_and_the_rest_by_cursor() {
    let (root, data) = (
        tempfile::tempdir().expect("root"),
        tempfile::tempdir().expect("data"),
    );
    let count = MAX_SCHEDULE_PAGE + 1;
    seed(data.path(), count);
    let shutdown = CancellationToken::new();
    let config = SchedulerConfig::new(root.path(), data.path());
    let scheduler = (Scheduler::start(config, shutdown.clone()).await).expect("scheduler starts");
    let state = AppState::new(Config::new(TOKEN, root.path().to_path_buf()))
        .with_scheduler(scheduler, shutdown.clone());
    let all: Vec<String> = (0..count).map(|i| format!("s{i:05}")).collect();

    let (status, body) = get(&state, "/api/schedules?limit=10000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (names, cursor) = page(&body);
    assert_eq!(names, all[..MAX_SCHEDULE_PAGE]);
    let item = &body["items"][0];
    assert_eq!(
        (&item["every"], &item["paused"], &item["next_run"]),
        (&Value::from("1h"), &Value::Bool(true), &Value::Null)
    );
    assert_eq!(item["description"], "Every hour (UTC)");
    assert_eq!(item["last_execution"], Value::Null);
    let cursor = cursor.expect("a cursor to the last schedule");
    let (status, body) = get(
        &state,
        &format!("/api/schedules?limit=10000&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(page(&body), (all[MAX_SCHEDULE_PAGE..].to_vec(), None));

    // The default page is still 100.
    let (_, body) = get(&state, "/api/schedules").await;
    let (names, cursor) = page(&body);
    assert_eq!((names.as_slice(), cursor.is_some()), (&all[..100], true));

    let (status, body) = get(&state, "/api/schedules?limit=10001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["message"], "limit must be 1 to 10000, got 10001");

    shutdown.cancel();
    let executor = state.executor.as_ref().expect("scheduler");
    executor.scheduler.stopped().await;
}
