//! `GET /api/machine-types`: the machine types executions and schedules may choose
//! (`nbgate serve --machine-types`), for the Execute dialog.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use nbgate_kernel::MachineType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ExecutorError;
use crate::AppState;
use crate::routes::Route;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/api/machine-types", list)]
}

/// A machine type, offered as a choice (`machine_type` in requests).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = MachineType)]
pub struct MachineTypeDto {
    #[schema(example = "cpu-4")]
    pub name: String,
    #[schema(example = "4 CPUs, 15 GB RAM")]
    pub description: String,
    /// The one used when a request names none.
    pub default: bool,
    /// Where its kernels start: `local` or the gateway's URL.
    #[schema(example = "local")]
    pub location: String,
}

impl From<&MachineType> for MachineTypeDto {
    fn from(machine_type: &MachineType) -> Self {
        MachineTypeDto {
            name: machine_type.name.clone(),
            description: machine_type.description.clone(),
            default: machine_type.default,
            location: machine_type.location.label().to_owned(),
        }
    }
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<MachineTypeDto>>, ExecutorError> {
    let scheduler = state.scheduler()?;
    Ok(Json(
        scheduler
            .machine_types()
            .iter()
            .map(MachineTypeDto::from)
            .collect(),
    ))
}
