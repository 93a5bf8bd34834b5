//! `GET /api/executions/{id}/compare/{other}`: what differs between two executions — parameters,
//! recorded values, recorded output files and the output notebooks' cells (changed entries only).
//! The scheduler does the work ([`nbgate_scheduler::compare`]); the route is named `{id}` like the
//! other execution routes (the router wants one name per position).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use nbgate_scheduler::compare::{CellChange, Comparison, OutputChange, OutputSide};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

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
) -> Result<Json<ComparisonDto>, ExecutorError> {
    let comparison = state.scheduler()?.compare_executions(&id, &other).await?;
    Ok(Json(comparison.into()))
}

/// What differs between executions a and b: changed entries only, all empty when the runs agree.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Comparison)]
pub struct ComparisonDto {
    /// name → `[a, b]`; null for a side without it.
    #[schema(value_type = HashMap<String, Vec<Value>>)]
    pub parameters: Map<String, Value>,
    /// Recorded values: name → `[a, b]`; null for a side that did not record it.
    #[schema(value_type = HashMap<String, Vec<Value>>)]
    pub values: Map<String, Value>,
    /// Recorded output files, by path, whose sha256, bytes or rows differ or that one side only
    /// recorded (that side null).
    pub outputs: Vec<OutputChangeDto>,
    /// Cells by the user's index (the injected-parameters cell and papermill's error markers left
    /// out) whose source or outputs differ. Outputs are compared by their text, images by the hash
    /// of their data.
    pub cells: Vec<CellChangeDto>,
}

/// A recorded output file that differs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = OutputChange)]
pub struct OutputChangeDto {
    pub path: String,
    pub a: Option<OutputSideDto>,
    pub b: Option<OutputSideDto>,
}

/// One side of an output file that differs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = OutputSide)]
pub struct OutputSideDto {
    pub sha256: String,
    pub bytes: u64,
    pub rows: Option<u64>,
}

/// A cell whose source or outputs differ.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = CellChange)]
pub struct CellChangeDto {
    /// 0-based, in the user's notebook.
    pub index: usize,
    pub source_changed: bool,
    pub outputs_changed: bool,
    /// That side's outputs as text (streams, text/plain, `ename: evalue`, images as
    /// `<image/png sha256:…>`), at most 4 KB; null when that notebook has no such cell.
    pub a: Option<String>,
    /// As `a`, for execution b.
    pub b: Option<String>,
}

impl From<Comparison> for ComparisonDto {
    fn from(comparison: Comparison) -> Self {
        let Comparison {
            parameters,
            values,
            outputs,
            cells,
        } = comparison;
        ComparisonDto {
            parameters,
            values,
            outputs: outputs.into_iter().map(OutputChangeDto::from).collect(),
            cells: cells.into_iter().map(CellChangeDto::from).collect(),
        }
    }
}

impl From<OutputChange> for OutputChangeDto {
    fn from(change: OutputChange) -> Self {
        let side = |side: Option<OutputSide>| {
            side.map(
                |OutputSide {
                     sha256,
                     bytes,
                     rows,
                 }| OutputSideDto {
                    sha256,
                    bytes,
                    rows,
                },
            )
        };
        OutputChangeDto {
            path: change.path,
            a: side(change.a),
            b: side(change.b),
        }
    }
}

impl From<CellChange> for CellChangeDto {
    fn from(change: CellChange) -> Self {
        let CellChange {
            index,
            source_changed,
            outputs_changed,
            a,
            b,
        } = change;
        CellChangeDto {
            index,
            source_changed,
            outputs_changed,
            a,
            b,
        }
    }
}
