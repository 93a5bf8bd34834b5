//! `GET /api/openapi.json`: the executor API as an OpenAPI 3.1 document, derived by utoipa. The bodies'
//! schemas come from the DTOs (`#[derive(ToSchema)]`, their doc comments the fields' descriptions), so
//! the document cannot miss a field; the operations are declared below, one per route of the table
//! (a test walks [`super::routes`] and the document both ways). Every DTO a path names is in
//! `components` (utoipa collects them). `frontend/src/generated/` keeps this document and the
//! TypeScript types generated from it; tests fail when either is stale (`make openapi` writes both).

use std::borrow::Cow;

use axum::Json;
use axum::http::Method;
use nbgate_scheduler::{AfterOn, Catchup, ExecutionStatus, InputMode, Overlap};
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::compare::ComparisonDto;
use super::dto::{
    CreateExecution, CreateSchedule, DeleteExecutionQuery, DeleteScheduleQuery, EnvironmentDto,
    ExecutionDto, ListExecutions, ListSchedules, NotebookParametersDto, NotebookPath, PageDto,
    PatchSchedule, RunNow, ScheduleDto, SchedulePreviewDto, SchedulePreviewQuery,
};
use super::outputs::{OutputsDto, PreviewDto, PreviewQuery};
use super::pipelines::{Backfill, CreateSweep, QueuedDto, SweepDto};
use super::values::{SeriesDto, SeriesQuery};
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/api/openapi.json", serve)]
}

async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as `frontend/src/generated/openapi.json` keeps it: pretty JSON and a final newline.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nbgate executor API",
        description = "Executions and schedules of notebooks. Auth: `Authorization: token T` or \
            `?token=T`. Errors are `{\"message\": …}`. Times are RFC 3339 UTC; durations are seconds."
    ),
    paths(
        environments,
        machine_types,
        notebook_parameters,
        create_execution,
        list_executions,
        get_execution,
        delete_execution,
        cancel_execution,
        execution_notebook,
        execution_events,
        all_events,
        execution_outputs,
        output_preview,
        compare_executions,
        create_schedule,
        preview_schedule,
        list_schedules,
        get_schedule,
        update_schedule,
        delete_schedule,
        run_schedule,
        pause_schedule,
        resume_schedule,
        snapshot_schedule,
        schedule_values,
        backfill_schedule,
        sweep_schedule,
        get_sweep,
        rerun_execution,
        openapi_json,
        metrics,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Common)
)]
struct ApiDoc;

/// What every operation may answer besides its own: 401 and 503.
struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let unauthorized: RefOr<Response> = ResponseBuilder::new()
            .description("No token, or the wrong one.")
            .into();
        let stopping: RefOr<Response> =
            error("The server is stopping, or runs without the scheduler.");
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.insert("401".into(), unauthorized.clone());
                responses.insert("503".into(), stopping.clone());
            }
        }
    }
}

fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(ErrorBody::schema_ref()))
                .build(),
        )
        .into()
}

/// An error's body: what to fix, or what went wrong.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // Only its schema is used: `ExecutorError` writes the body.
struct ErrorBody {
    message: String,
}

trait SchemaRef {
    fn schema_ref() -> RefOr<Schema>;
}

impl<T: ToSchema> SchemaRef for T {
    fn schema_ref() -> RefOr<Schema> {
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
    }
}

// ---- the scheduler's enums, by their serde names (built from the values, so they cannot drift) ----

/// Every [`InputMode`], [`Overlap`], [`Catchup`] and [`AfterOn`]; a test matches them exhaustively.
pub(crate) const INPUT_MODES: [InputMode; 2] = [InputMode::Snapshot, InputMode::Live];
pub(crate) const OVERLAPS: [Overlap; 2] = [Overlap::Skip, Overlap::Queue];
pub(crate) const CATCHUPS: [Catchup; 3] = [Catchup::Skip, Catchup::Once, Catchup::All];
pub(crate) const AFTER_ONS: [AfterOn; 3] =
    [AfterOn::Success, AfterOn::Failure, AfterOn::Completion];

fn names<T: Serialize>(values: &[T], description: &str) -> RefOr<Schema> {
    let names: Vec<serde_json::Value> = values
        .iter()
        .filter_map(|value| serde_json::to_value(value).ok())
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .into()
}

macro_rules! enum_schema {
    ($marker:ident, $name:literal, $values:expr, $description:literal) => {
        #[doc = $description]
        pub(crate) struct $marker;

        impl PartialSchema for $marker {
            fn schema() -> RefOr<Schema> {
                names(&$values, $description)
            }
        }

        impl ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

enum_schema!(
    ExecutionStatusSchema,
    "ExecutionStatus",
    ExecutionStatus::ALL,
    "`queued`, then `running`, then one of the terminal statuses (`skipped`: a fire dropped by the overlap policy)."
);
enum_schema!(
    InputModeSchema,
    "InputMode",
    INPUT_MODES,
    "`snapshot`: a copy of the notebook taken at creation (and on `/snapshot`); `live`: the file, read at each run."
);
enum_schema!(
    OverlapSchema,
    "Overlap",
    OVERLAPS,
    "What a fire does when `max_concurrent` executions are already queued or running: `skip` records it `skipped`, `queue` queues it."
);
enum_schema!(
    AfterOnSchema,
    "AfterOn",
    AFTER_ONS,
    "How each upstream must have ended: `success` (else the run is recorded `skipped` with the reason), `failure` (failed, timed out or cancelled; else nothing runs), `completion` (any end)."
);
enum_schema!(
    CatchupSchema,
    "Catchup",
    CATCHUPS,
    "Fire times missed while nbgate was down: `skip` drops them, `once` runs the latest, `all` runs each."
);

// ---- the operations (the handlers are in executions.rs, schedules.rs, …) ----
// Each `fn` below only carries its `#[utoipa::path]`: utoipa reads the attribute, nothing calls the fn.

/// Kernelspecs as choices
#[utoipa::path(get, path = "/api/environments", tag = "environments",
    responses((status = 200, description = "The environments.", body = Vec<EnvironmentDto>)))]
#[allow(dead_code)]
fn environments() {}

/// Machine types as choices
#[utoipa::path(get, path = "/api/machine-types", tag = "environments",
    responses((status = 200, description = "The machine types (`nbgate serve --machine-types`), in the file's order; empty when none are configured.", body = Vec<super::machine_types::MachineTypeDto>)))]
#[allow(dead_code)]
fn machine_types() {}

/// A notebook's parameters cell
#[utoipa::path(post, path = "/api/notebooks/parameters", tag = "environments",
    request_body = NotebookPath,
    responses(
        (status = 200, description = "The parameters (`null` without a parameters cell).", body = NotebookParametersDto),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "Invalid request; the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn notebook_parameters() {}

/// Run a notebook now
#[utoipa::path(post, path = "/api/executions", tag = "executions",
    request_body = CreateExecution,
    responses(
        (status = 201, description = "Queued; `Location` names it.", body = ExecutionDto,
            headers(("Location" = String, description = "`/api/executions/{id}`"))),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "Invalid request; the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_execution() {}

/// Executions, newest first
#[utoipa::path(get, path = "/api/executions", tag = "executions",
    params(ListExecutions),
    responses(
        (status = 200, description = "One page; each item with its recorded `values`.", body = PageDto<ExecutionDto>),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_executions() {}

/// One execution
#[utoipa::path(get, path = "/api/executions/{id}", tag = "executions",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 200, description = "The execution, with its recorded `values` and `outputs`.", body = ExecutionDto),
        (status = 404, description = "No such execution.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_execution() {}

/// Delete an execution that is not running
#[utoipa::path(delete, path = "/api/executions/{id}", tag = "executions",
    params(("id" = String, Path, description = "The execution's id."), DeleteExecutionQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such execution.", body = ErrorBody),
        (status = 409, description = "It is running: cancel it first.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delete_execution() {}

/// Cancel a queued or running execution
#[utoipa::path(post, path = "/api/executions/{id}/cancel", tag = "executions",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 200, description = "Cancelled (it was queued).", body = ExecutionDto),
        (status = 202, description = "Stopping (it was running); it ends `cancelled`.", body = ExecutionDto),
        (status = 404, description = "No such execution.", body = ErrorBody),
        (status = 409, description = "It has already ended.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn cancel_execution() {}

/// The output notebook
#[utoipa::path(get, path = "/api/executions/{id}/notebook", tag = "executions",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 200, description = "The .ipynb as written so far.",
            content_type = "application/x-ipynb+json", body = Object),
        (status = 404, description = "No such execution, or no output yet.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn execution_notebook() {}

/// Live progress (server-sent events)
#[utoipa::path(get, path = "/api/executions/{id}/events", tag = "executions",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 200, description = "`status` first (the execution as it stands, under `execution`), \
            then `status`, `progress` {cell, total}, `output` {cell, output}, `notified`, `deleted`; \
            ends after a terminal status.", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such execution.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn execution_events() {}

/// Every execution's and schedule's changes (server-sent events)
#[utoipa::path(get, path = "/api/events", tag = "executions",
    responses(
        (status = 200, description = "`ready` first (then read the lists), then `created`, `status`, \
            `progress`, `output`, `notified`, `finished`, `deleted` (each with `execution_id`), \
            `schedule_created`, `schedule_updated`, `schedule_deleted` (with `schedule_id`), and \
            `lagged` {missed} when the reader fell behind (read the lists again; `missed` is null \
            when another replica's events may be missing, after a replica bus was down).",
            content_type = "text/event-stream", body = String),
    ))]
#[allow(dead_code)]
fn all_events() {}

/// The files its run created or changed that its `outputs` patterns match
#[utoipa::path(get, path = "/api/executions/{id}/outputs", tag = "outputs",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 200, description = "`{\"outputs\": [file, …]}`, by path.", body = OutputsDto),
        (status = 404, description = "No such execution.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn execution_outputs() {}

/// The first rows of a recorded output table (CSV, TSV, JSON lines)
#[utoipa::path(get, path = "/api/executions/{id}/outputs/preview", tag = "outputs",
    params(("id" = String, Path, description = "The execution's id."), PreviewQuery),
    responses(
        (status = 200, description = "Columns (name, type inferred from these rows) and rows of values.", body = PreviewDto),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such execution, or the path is not one of its recorded outputs.", body = ErrorBody),
        (status = 422, description = "The output is not a table (CSV, TSV or JSON lines).", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn output_preview() {}

/// What differs between two executions (a = {id}, b = {other})
#[utoipa::path(get, path = "/api/executions/{id}/compare/{other}", tag = "executions",
    params(("id" = String, Path, description = "Execution a."), ("other" = String, Path, description = "Execution b.")),
    responses(
        (status = 200, description = "Changed entries only: all empty when the runs agree.", body = ComparisonDto),
        (status = 404, description = "No such execution (either one).", body = ErrorBody),
        (status = 422, description = "An output notebook is not valid JSON.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn compare_executions() {}

/// Create a schedule
#[utoipa::path(post, path = "/api/schedules", tag = "schedules",
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "Created; `Location` names it.", body = ScheduleDto,
            headers(("Location" = String, description = "`/api/schedules/{id}`"))),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "Invalid request; the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_schedule() {}

/// Check a schedule without creating it: errors by field, description, next runs
#[utoipa::path(post, path = "/api/schedules/preview", tag = "schedules",
    params(SchedulePreviewQuery),
    request_body(content = CreateSchedule,
        description = "Any part of a creation's body; only the fields given are checked."),
    responses(
        (status = 200, description = "The checks' results (`valid` false with `errors` by field when a given field is wrong).", body = SchedulePreviewDto),
        (status = 400, description = "The body is not JSON, or `count` is not a number.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The body is not a JSON object, or `count` is not 1 to 50.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn preview_schedule() {}

/// Schedules by name, a page at a time
#[utoipa::path(get, path = "/api/schedules", tag = "schedules",
    params(ListSchedules),
    responses(
        (status = 200, description = "One page of up to `limit` schedules, each with its newest execution in short; follow `next_cursor` for the rest (`null` on the last page).", body = PageDto<ScheduleDto>),
        (status = 400, description = "Invalid request (`limit` out of range, a cursor this listing did not give); the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_schedules() {}

/// One schedule (by id or name)
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    responses(
        (status = 200, description = "The schedule, with its outputs' `freshness`.", body = ScheduleDto),
        (status = 404, description = "No such schedule.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_schedule() {}

/// Edit a schedule: given fields replace, `null` clears
#[utoipa::path(patch, path = "/api/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    request_body = PatchSchedule,
    responses(
        (status = 200, description = "The schedule.", body = ScheduleDto),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "Invalid request; the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn update_schedule() {}

/// Delete a schedule; keep or delete its executions
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name."), DeleteScheduleQuery),
    responses(
        (status = 204, description = "Deleted (with `cascade=true`, the schedules after it too)."),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 409, description = "Other schedules run after it (the message names them): delete them first, or give `cascade=true`.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delete_schedule() {}

/// Run now
#[utoipa::path(post, path = "/api/schedules/{id}/run", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    request_body(content = Option<RunNow>, description = "Optional: parameters for this run."),
    responses(
        (status = 201, description = "Queued.", body = ExecutionDto,
            headers(("Location" = String, description = "`/api/executions/{id}`"))),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 422, description = "Invalid request; the message says what to fix.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn run_schedule() {}

/// Stop firing
#[utoipa::path(post, path = "/api/schedules/{id}/pause", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleDto),
        (status = 404, description = "No such schedule.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn pause_schedule() {}

/// Fire again from now
#[utoipa::path(post, path = "/api/schedules/{id}/resume", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleDto),
        (status = 404, description = "No such schedule.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn resume_schedule() {}

/// Copy the notebook into the snapshot again
#[utoipa::path(post, path = "/api/schedules/{id}/snapshot", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleDto),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 422, description = "The notebook cannot be read.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn snapshot_schedule() {}

/// A schedule's recorded values across its runs
#[utoipa::path(get, path = "/api/schedules/{id}/values", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id or name."), SeriesQuery),
    responses(
        (status = 200, description = "`{\"series\": {name: [point, …]}}`, each series oldest run first.", body = SeriesDto),
        (status = 400, description = "Invalid request; the message says what to fix.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn schedule_values() {}

/// Run a schedule for each of its fire times in a past (or future) range
#[utoipa::path(post, path = "/api/schedules/{id}/backfill", tag = "pipelines",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    request_body = Backfill,
    responses(
        (status = 201, description = "Queued, one per fire time in the range, each with its `fire_time` (and `fire_time_parameter`); they run `max_concurrent` at a time.", body = QueuedDto,
            headers(("Location" = String, description = "`/api/executions?schedule={id}`"))),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "A bound that is not a date, `to` before `from`, no fire time in the range (or more than the catch-up limit), or a schedule that runs `after` others.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn backfill_schedule() {}

/// Run a schedule once per combination of parameter values
#[utoipa::path(post, path = "/api/schedules/{id}/sweep", tag = "pipelines",
    params(("id" = String, Path, description = "The schedule's id or name.")),
    request_body = CreateSweep,
    responses(
        (status = 201, description = "Queued, one per combination, sharing `sweep_id`; a sweep's runs do not fire the schedules after it.", body = QueuedDto,
            headers(("Location" = String, description = "`/api/sweeps/{sweep_id}`"))),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        (status = 404, description = "No such schedule.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "An empty grid or list, more than 1000 combinations, or a value the notebook's parameters cell refuses.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn sweep_schedule() {}

/// A sweep as a table: each execution's parameters, status and recorded values
#[utoipa::path(get, path = "/api/sweeps/{id}", tag = "pipelines",
    params(("id" = String, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "One row per execution, in the grid's order.", body = SweepDto),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_sweep() {}

/// Run an ended execution again: same parameters, same input notebook
#[utoipa::path(post, path = "/api/executions/{id}/rerun", tag = "pipelines",
    params(("id" = String, Path, description = "The execution's id.")),
    responses(
        (status = 201, description = "Queued, in the same chain (`run_id`): once it succeeds, the schedules after its schedule run again after it.", body = ExecutionDto,
            headers(("Location" = String, description = "`/api/executions/{id}`"))),
        (status = 404, description = "No such execution.", body = ErrorBody),
        (status = 409, description = "It has not ended.", body = ErrorBody),
        (status = 422, description = "Its input notebook changed since it ran.", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn rerun_execution() {}

/// This document
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1.", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4.",
        content_type = "text/plain", body = String)))]
#[allow(dead_code)]
fn metrics() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variant added to one of the scheduler's enums fails to compile here until its list has it.
    #[test]
    fn the_enum_lists_name_every_variant() {
        for mode in INPUT_MODES {
            match mode {
                InputMode::Snapshot | InputMode::Live => {}
            }
        }
        for overlap in OVERLAPS {
            match overlap {
                Overlap::Skip | Overlap::Queue => {}
            }
        }
        for catchup in CATCHUPS {
            match catchup {
                Catchup::Skip | Catchup::Once | Catchup::All => {}
            }
        }
        for on in AFTER_ONS {
            match on {
                AfterOn::Success | AfterOn::Failure | AfterOn::Completion => {}
            }
        }
        let schema = serde_json::to_value(InputModeSchema::schema()).expect("schema");
        assert_eq!(schema["enum"], serde_json::json!(["snapshot", "live"]));
    }
}
