//! `GET /api/openapi.json`: the executor API as an OpenAPI 3.0 document, written by hand next to the
//! DTOs. A test walks [`super::routes`] and this document both ways, so neither has a route the other
//! lacks.

use axum::Json;
use axum::http::Method;
use serde_json::{Value, json};

use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/api/openapi.json", serve)]
}

async fn serve() -> Json<Value> {
    Json(document())
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn body(name: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema(name)}}})
}

fn reply(description: &str, name: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema(name)}}})
}

fn error(description: &str) -> Value {
    reply(description, "Error")
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": kind},
           "description": description})
}

/// What every operation may answer besides its own.
fn common(mut responses: Value) -> Value {
    responses["401"] = json!({"description": "No token, or the wrong one."});
    responses["503"] = error("The server is stopping, or runs without the scheduler.");
    responses
}

fn op(summary: &str, params: Vec<Value>, request: Option<Value>, responses: Value) -> Value {
    let mut op = json!({"summary": summary, "parameters": params, "responses": common(responses)});
    if let Some(request) = request {
        op["requestBody"] = request;
    }
    op
}

pub(crate) fn document() -> Value {
    let invalid = || error("Invalid request; the message says what to fix.");
    let unknown = || error("No such execution or schedule.");
    let schedule_values = json!({"get": op("A schedule's recorded values across its runs",
        vec![id_param(), query("name", "string", "Only this value (default: every recorded name)."),
            query("limit", "integer", "The newest K runs that recorded one, 1 to 10000 (default 10000).")],
        None, json!({
        "200": reply("`{\"series\": {name: [point, …]}}`, each series oldest run first.", "ValueSeries"),
        "400": invalid(), "404": unknown(),
    }))});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "nbgate executor API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Executions and schedules of notebooks. Auth: `Authorization: token T` or \
                            `?token=T`. Errors are `{\"message\": …}`. Times are RFC 3339 UTC; durations \
                            are seconds.",
        },
        "paths": {
            "/api/environments": {"get": op("Kernelspecs as choices", vec![], None, json!({
                "200": {"description": "The environments.", "content": {"application/json":
                    {"schema": {"type": "array", "items": schema("Environment")}}}},
            }))},
            "/api/notebooks/parameters": {"post": op("A notebook's parameters cell", vec![],
                Some(body("NotebookPath")), json!({
                "200": reply("The parameters (`null` without a parameters cell).", "NotebookParameters"),
                "400": invalid(), "415": invalid(), "422": invalid(),
            }))},
            "/api/executions": {
                "post": op("Run a notebook now", vec![], Some(body("CreateExecution")), json!({
                    "201": reply("Queued; `Location` names it.", "Execution"),
                    "400": invalid(), "413": invalid(), "415": invalid(), "422": invalid(),
                })),
                "get": op("Executions, newest first", vec![
                    query("schedule", "string", "A schedule id or name."),
                    query("status", "string", "queued, running, succeeded, failed, cancelled, timed_out or skipped."),
                    query("limit", "integer", "Page size, 1 to 1000 (default 50)."),
                    query("cursor", "string", "`next_cursor` of the previous page."),
                ], None, json!({
                    "200": reply("One page.", "ExecutionPage"), "400": invalid(), "404": unknown(),
                })),
            },
            "/api/executions/{id}": {
                "get": op("One execution", vec![id_param()], None, json!({
                    "200": reply("The execution.", "Execution"), "404": unknown(),
                })),
                "delete": op("Delete an execution that is not running", vec![id_param(),
                    query("delete_file", "boolean", "Delete its output notebook too (only a file \
                        under the root; a symbolic link is left alone). Default false: the file stays.")],
                    None, json!({
                    "204": {"description": "Deleted."}, "400": invalid(), "404": unknown(),
                    "409": error("It is running: cancel it first."),
                })),
            },
            "/api/executions/{id}/cancel": {"post": op("Cancel a queued or running execution",
                vec![id_param()], None, json!({
                "200": reply("Cancelled (it was queued).", "Execution"),
                "202": reply("Stopping (it was running); it ends `cancelled`.", "Execution"),
                "404": unknown(), "409": error("It has already ended."),
            }))},
            "/api/executions/{id}/notebook": {"get": op("The output notebook", vec![id_param()], None, json!({
                "200": {"description": "The .ipynb as written so far.",
                        "content": {"application/x-ipynb+json": {"schema": {"type": "object"}}}},
                "404": error("No such execution, or no output yet."),
            }))},
            "/api/executions/{id}/events": {"get": op("Live progress (server-sent events)",
                vec![id_param()], None, json!({
                "200": {"description": "`text/event-stream`: `status` first (the execution as it stands, \
                    under `execution`), then `status`, `progress` {cell, total}, `output` {cell, output}, \
                    `notified`, `deleted`; ends after a terminal status.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "404": unknown(),
            }))},
            "/api/schedules": {
                "post": op("Create a schedule", vec![], Some(body("CreateSchedule")), json!({
                    "201": reply("Created; `Location` names it.", "Schedule"),
                    "400": invalid(), "413": invalid(), "415": invalid(), "422": invalid(),
                })),
                "get": op("Every schedule", vec![], None, json!({
                    "200": reply("All schedules (`next_cursor` is null).", "SchedulePage"),
                })),
            },
            "/api/schedules/{id}": {
                "get": op("One schedule (by id or name)", vec![id_param()], None, json!({
                    "200": reply("The schedule.", "Schedule"), "404": unknown(),
                })),
                "patch": op("Edit a schedule: given fields replace, `null` clears", vec![id_param()],
                    Some(body("PatchSchedule")), json!({
                    "200": reply("The schedule.", "Schedule"), "400": invalid(), "404": unknown(),
                    "415": invalid(), "422": invalid(),
                })),
                "delete": op("Delete a schedule; keep or delete its executions", vec![id_param(),
                    json!({"name": "executions", "in": "query", "required": false,
                        "schema": {"type": "string", "enum": ["keep", "delete"], "default": "keep"},
                        "description": "`keep`: its executions stay listed with their output \
                            notebooks, `schedule_id` null and `schedule_name` kept. `delete`: they and \
                            their output notebooks are deleted. Either way its queued executions are \
                            cancelled and its running ones stopped (ending `cancelled`, reason \
                            \"its schedule was deleted\", with `keep`)."}),
                    query("delete_files", "boolean", "Deprecated: `delete_files=true` means \
                        `executions=delete`; any other use is a 400.")], None, json!({
                    "204": {"description": "Deleted."}, "400": invalid(), "404": unknown(),
                })),
            },
            "/api/schedules/{id}/run": {"post": op("Run now", vec![id_param()], Some(json!({
                "required": false, "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"parameters": {"type": "object"}}}}}})), json!({
                "201": reply("Queued.", "Execution"), "400": invalid(), "404": unknown(), "422": invalid(),
            }))},
            "/api/schedules/{id}/pause": {"post": op("Stop firing", vec![id_param()], None, json!({
                "200": reply("The schedule.", "Schedule"), "404": unknown(),
            }))},
            "/api/schedules/{id}/resume": {"post": op("Fire again from now", vec![id_param()], None, json!({
                "200": reply("The schedule.", "Schedule"), "404": unknown(),
            }))},
            "/api/schedules/{id}/snapshot": {"post": op("Copy the notebook into the snapshot again",
                vec![id_param()], None, json!({
                "200": reply("The schedule.", "Schedule"), "404": unknown(), "422": invalid(),
            }))},
            "/api/schedules/{id}/values": schedule_values,
            "/api/executions/{id}/outputs": super::outputs::list_path(),
            "/api/executions/{id}/outputs/preview": super::outputs::preview_path(),
            "/api/executions/{id}/compare/{other}": super::compare::path(),
            "/api/openapi.json": {"get": op("This document", vec![], None, json!({
                "200": {"description": "OpenAPI 3.0.", "content": {"application/json": {"schema": {"type": "object"}}}},
            }))},
            "/metrics": {"get": op("Prometheus metrics", vec![], None, json!({
                "200": {"description": "Prometheus text format 0.0.4.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            }))},
        },
        "components": {"schemas": add_expect(super::compare::add_schemas(super::outputs::add_schemas(schemas())))},
    })
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let opt_string = json!({"type": "string", "nullable": true});
    let seconds = json!({"type": "number", "nullable": true, "description": "Seconds."});
    let time = json!({"type": "string", "format": "date-time", "nullable": true});
    let object = json!({"type": "object", "additionalProperties": true});
    let status = json!({"type": "string", "enum":
        ["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "skipped"]});
    let notify = json!({"type": "object", "required": ["url"], "properties": {
        "url": string, "on_failure": {"type": "boolean", "default": true},
        "on_success": {"type": "boolean", "default": false}}, "nullable": true});
    let schedule_fields = json!({
        "name": {"type": "string", "pattern": "^[a-z0-9_]{1,128}$"},
        "notebook": {"type": "string", "description": "Relative to the root directory."},
        "parameters": object, "allow_undeclared_parameters": {"type": "boolean"},
        "kernel": opt_string, "cron": opt_string, "every": opt_string,
        "timezone": {"type": "string", "description": "IANA name (default UTC)."},
        "paused": {"type": "boolean"}, "input": {"type": "string", "enum": ["snapshot", "live"]},
        "max_concurrent": {"type": "integer", "minimum": 1},
        "overlap": {"type": "string", "enum": ["skip", "queue"]},
        "catchup": {"type": "string", "enum": ["skip", "once", "all"]},
        "retries": {"type": "integer", "minimum": 0}, "retry_delay": seconds, "timeout": seconds,
        "cell_timeout": seconds, "notify": notify, "output_dir": string,
        "retention": {"type": "integer", "minimum": 1, "nullable": true},
    });
    let mut schedule = schedule_fields.clone();
    for (key, value) in [
        ("id", string.clone()),
        ("next_run", time.clone()),
        ("last_fire", time.clone()),
        ("description", string.clone()),
        ("snapshot_hash", opt_string.clone()),
        ("created_at", time.clone()),
        ("updated_at", time.clone()),
        (
            "last_execution",
            json!({"allOf": [schema("Execution")], "nullable": true}),
        ),
    ] {
        schedule[key] = value;
    }
    let recorded_value = json!({"description": "The JSON value (scrapbook's `json` encoder, papermill's \
            `record`; numbers exact), a string (`text` encoder), or for other encoders (`pandas`, \
            `arrow`, `display`, …) `{\"encoder\", \"summary\"}`: the summary is the text/plain \
            rendering published with it (`display=True`), else null."});
    let value_series = json!({"type": "object", "properties": {"series": {"type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "object", "properties": {
                "execution_id": string, "fire_time": time, "created_at": time, "status": status,
                "value": schema("RecordedValue")}}}}}});
    let execution_values = json!({"type": "object", "additionalProperties": schema("RecordedValue"),
        "description": "In `GET /api/executions/{id}` and each item of `GET /api/executions` \
            (one query per page): what the notebook recorded (scrapbook's `glue`, papermill's \
            `record`), name → value, in the order first recorded; a name recorded twice has its \
            last value."});
    json!({
        "Error": {"type": "object", "required": ["message"], "properties": {"message": string}},
        "Environment": {"type": "object", "properties": {
            "name": string, "display_name": string, "language": string}},
        "NotebookPath": {"type": "object", "required": ["path"], "properties": {"path": string}},
        "NotebookParameters": {"type": "object", "properties": {
            "language": opt_string, "kernel": opt_string,
            "parameters": {"type": "array", "nullable": true, "items": {"type": "object", "properties": {
                "name": string, "type": string, "default": string, "default_value": {},
                "help": string}}}}},
        "CreateExecution": {"type": "object", "required": ["notebook"], "properties": {
            "notebook": string, "parameters": object, "allow_undeclared_parameters": {"type": "boolean"},
            "kernel": opt_string, "timeout": seconds, "cell_timeout": seconds, "output_dir": string,
            "retries": {"type": "integer", "minimum": 0}, "retry_delay": seconds}},
        "Execution": {"type": "object", "properties": {
            "id": string,
            "name": {"type": "string", "description": "`<schedule name or notebook stem>_at_\
                YYYY_MM_DD_HH_MM_SS`, the time in UTC (the fire time of a scheduled fire, else when \
                it was created), `_2`… when taken, `_attempt_N` for retries: names, and the output \
                files of one folder, sort in time order."},
            "schedule_id": opt_string,
            "schedule_name": {"type": "string", "nullable": true, "description": "The schedule's \
                name; kept after the schedule is deleted with `executions=keep` (`schedule_id` is \
                then null); null for a one-off run."},
            "notebook": string,
            "status": status, "reason": opt_string, "parameters": object, "kernel": opt_string,
            "input_hash": opt_string, "attempt": {"type": "integer"}, "max_attempts": {"type": "integer"},
            "first_attempt_id": opt_string, "fire_time": time, "created_at": time, "ready_at": time,
            "started_at": time, "ended_at": time, "duration": seconds,
            "progress": {"type": "object", "nullable": true, "properties": {
                "cell": {"type": "integer", "description": "0-based index in the user's notebook (the injected-parameters cell not counted)"},
                "total": {"type": "integer", "description": "cells of the user's notebook"}}},
            "error": {"type": "object", "nullable": true, "properties": {
                "cell_index": {"type": "integer", "nullable": true,
                    "description": "0-based index in the user's notebook (the injected-parameters cell not counted)"},
                "ename": string, "evalue": string,
                "traceback": {"type": "array", "items": string}}},
            "output_path": string, "notify_error": opt_string, "timeout": seconds,
            "cell_timeout": seconds, "retry_delay": seconds,
            "values": execution_values}},
        "RecordedValue": recorded_value,
        "ValueSeries": value_series,
        "ExecutionPage": {"type": "object", "properties": {
            "items": {"type": "array", "items": schema("Execution")}, "next_cursor": opt_string}},
        "CreateSchedule": {"type": "object", "required": ["name", "notebook"],
            "description": "Exactly one of `cron` and `every`.", "properties": schedule_fields},
        "PatchSchedule": {"type": "object", "properties": schedule_fields},
        "Schedule": {"type": "object", "properties": schedule},
        "SchedulePage": {"type": "object", "properties": {
            "items": {"type": "array", "items": schema("Schedule")}, "next_cursor": opt_string}},
    })
}

/// `expect` on executions and schedules.
fn add_expect(mut schemas: Value) -> Value {
    let rules = json!({"type": "array", "items": {"type": "string"}, "maxItems": 64,
        "description": "Rules on what a run records, each `NAME OP NUMBER` on a recorded value \
        (`accuracy >= 0.8`), `rows(GLOB) OP NUMBER` on the summed rows of the recorded outputs \
        whose path (relative to the notebook's folder) matches GLOB, or `exists NAME`; OP one of \
        `< <= > >= == !=`, numbers compared as 64-bit floats. A rule that does not parse is a 422 \
        naming it. After a run that otherwise succeeded, a rule that does not hold ends it \
        `failed` with `error.ename` `ExpectationFailed` and an `evalue` naming each failing rule \
        and its value (`accuracy >= 0.8: was 0.71`)."});
    for name in [
        "CreateExecution",
        "Execution",
        "CreateSchedule",
        "PatchSchedule",
        "Schedule",
    ] {
        schemas[name]["properties"]["expect"] = rules.clone();
    }
    schemas
}
