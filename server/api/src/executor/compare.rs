//! `GET /api/executions/{id}/compare/{other}`: what differs between two executions — parameters,
//! recorded values, recorded output files and the output notebooks' cells (changed entries only).
//! The scheduler does the work ([`nbgate_scheduler::compare`]); the route is named `{id}` like the
//! other execution routes (the router wants one name per position).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use nbgate_scheduler::compare::Comparison;
use serde_json::{Value, json};

use super::ExecutorError;
use crate::AppState;
use crate::routes::Route;

pub(super) const PATH: &str = "/api/executions/{id}/compare/{other}";

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, PATH, compare)]
}

async fn compare(
    State(state): State<AppState>,
    Path((id, other)): Path<(String, String)>,
) -> Result<Json<Comparison>, ExecutorError> {
    let comparison = state.scheduler()?.compare_executions(&id, &other).await?;
    Ok(Json(comparison))
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The route in the OpenAPI document.
pub(super) fn path() -> Value {
    let param = |name: &str, description: &str| {
        json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"},
            "description": description})
    };
    let error = |description: &str| {
        json!({"description": description,
            "content": {"application/json": {"schema": schema_ref("Error")}}})
    };
    json!({"get": {
        "summary": "What differs between two executions (a = {id}, b = {other})",
        "parameters": [param("id", "Execution a."), param("other", "Execution b.")],
        "responses": {
            "200": {"description": "Changed entries only: all empty when the runs agree.",
                "content": {"application/json": {"schema": schema_ref("Comparison")}}},
            "401": {"description": "No token, or the wrong one."},
            "404": error("No such execution (either one)."),
            "422": error("An output notebook is not valid JSON."),
            "503": error("The server is stopping, or runs without the scheduler."),
        },
    }})
}

/// Adds the `Comparison` schema.
pub(super) fn add_schemas(mut schemas: Value) -> Value {
    let pairs = json!({"type": "object", "additionalProperties": {"type": "array",
        "minItems": 2, "maxItems": 2, "items": {}}});
    let mut parameters = pairs.clone();
    parameters["description"] = json!("name → [a, b]; null for a side without it.");
    let mut values = pairs;
    values["description"] = json!(
        "Recorded values: name → [a, b]; null for a side that did not \
        record it."
    );
    let side = json!({"type": "object", "nullable": true, "properties": {
        "sha256": {"type": "string"}, "bytes": {"type": "integer"},
        "rows": {"type": "integer", "nullable": true}}});
    let summary = json!({"type": "string", "nullable": true, "description": "That side's \
        outputs as text (streams, text/plain, `ename: evalue`, images as `<image/png sha256:…>`), \
        at most 4 KB; null when that notebook has no such cell."});
    schemas["Comparison"] = json!({"type": "object", "properties": {
        "parameters": parameters,
        "values": values,
        "outputs": {"type": "array", "description": "Recorded output files, by path, whose \
            sha256, bytes or rows differ or that one side only recorded (that side null).",
            "items": {"type": "object", "properties": {"path": {"type": "string"},
                "a": side.clone(), "b": side}}},
        "cells": {"type": "array", "description": "Cells by the user's index (the \
            injected-parameters cell and papermill's error markers left out) whose source or \
            outputs differ. Outputs are compared by their text, images by the hash of their data.",
            "items": {"type": "object", "properties": {"index": {"type": "integer"},
                "source_changed": {"type": "boolean"}, "outputs_changed": {"type": "boolean"},
                "a": summary.clone(), "b": summary}}},
    }});
    schemas
}
