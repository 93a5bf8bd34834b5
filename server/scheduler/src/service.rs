//! [`SchedulerHandle`]: what the API calls. Executions here; schedules in `schedules.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::context::{Ctx, Draft, StopCause, execution_name, output_path};
use crate::error::{Result, SchedulerError, ValidationError};
use crate::events::{EventKind, Subscription};
use crate::model::{
    DEFAULT_OUTPUT_DIR, Environment, Execution, ExecutionFilter, ExecutionStatus, NewExecution,
    NotebookParameters, Page, RunConfig,
};
use crate::{paths, validate, worker};

/// Largest page of a listing.
pub const MAX_PAGE: usize = 1000;

/// Largest page of the schedule listing: 10,000 schedules in one request (each read with its
/// newest execution in short through an index, ≈ 1 KB of JSON).
pub const MAX_SCHEDULE_PAGE: usize = 10_000;

/// A cheap, cloneable handle on a running scheduler.
#[derive(Clone)]
pub struct SchedulerHandle {
    pub(crate) ctx: Arc<Ctx>,
}

pub(crate) fn not_found(kind: &'static str, id: &str) -> SchedulerError {
    SchedulerError::NotFound {
        kind,
        id: id.into(),
    }
}

impl SchedulerHandle {
    /// Queues an ad-hoc run of a notebook (output under `<output_dir>/<notebook stem>/`).
    pub async fn create_execution(&self, request: NewExecution) -> Result<Execution> {
        let ctx = &self.ctx;
        let (_, notebook) = self.read_notebook(&request.notebook).await?;
        validate::check_parameters(
            &notebook,
            &request.parameters,
            request.allow_undeclared_parameters,
        )?;
        let specs = ctx.runner.specs().current().await;
        validate::check_kernel(&specs, request.kernel.as_deref(), &notebook)?;
        let machine_type =
            crate::machine::chosen(&ctx.machine_types, request.machine_type.as_deref())?;
        crate::machine::check(
            &ctx.machine_types,
            machine_type.as_deref(),
            request.kernel.as_deref(),
            &notebook,
        )?;
        let output_dir = request.output_dir.as_deref().unwrap_or(DEFAULT_OUTPUT_DIR);
        paths::output_dir(&ctx.root, output_dir)?;
        crate::outputs::check_patterns(&request.outputs)?;
        crate::expect::check_rules(&request.expect)?;
        let now = ctx.now();
        let stem = paths::name_from_stem(&request.notebook);
        let _naming = ctx.naming.lock().await;
        let name = ctx.unique_name(execution_name(&stem, now), &[]).await?;
        let execution = Draft {
            output_path: output_path(output_dir, &stem, &name),
            name,
            schedule_id: None,
            schedule_name: None,
            notebook: request.notebook,
            parameters: request.parameters,
            kernel: request.kernel,
            machine_type,
            max_attempts: request.retries.saturating_add(1),
            fire_time: None,
            run: RunConfig {
                timeout: request.timeout,
                cell_timeout: request.cell_timeout,
                retry_delay: request
                    .retry_delay
                    .unwrap_or(std::time::Duration::from_secs(60)),
                snapshot: false,
                outputs: request.outputs,
                expect: request.expect,
                pipeline: None,
            },
        }
        .queued(now);
        self.insert_queued(execution).await
    }

    pub(crate) async fn insert_queued(&self, execution: Execution) -> Result<Execution> {
        if self.ctx.shutdown.is_cancelled() {
            return Err(SchedulerError::ShuttingDown);
        }
        let row = execution.clone();
        self.ctx
            .db
            .call(move |store| store.insert_execution(&row))
            .await?;
        self.ctx.events.created(&execution);
        self.ctx.wake.notify_one();
        Ok(execution)
    }

    /// Newest first; `cursor` is a `next_cursor` from the previous page.
    pub async fn list_executions(
        &self,
        filter: ExecutionFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Execution>> {
        let before = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut rows = self
            .ctx
            .db
            .call(move |store| store.list_executions(&filter, limit + 1, before))
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|(seq, _)| encode_cursor(*seq)))
            .flatten();
        Ok(Page {
            items: rows.into_iter().map(|(_, execution)| execution).collect(),
            next_cursor,
        })
    }

    pub async fn get_execution(&self, id: &str) -> Result<Execution> {
        let key = id.to_owned();
        self.ctx
            .db
            .call(move |store| store.get_execution(&key))
            .await?
            .ok_or_else(|| not_found("execution", id))
    }

    /// The output notebook's absolute path.
    pub async fn output_file(&self, id: &str) -> Result<PathBuf> {
        let execution = self.get_execution(id).await?;
        Ok(paths::confine(&self.ctx.root, &execution.output_path)?)
    }

    /// Cancels a queued execution at once, or a running one (interrupt, then kernel shutdown and
    /// kill); it ends `cancelled` with its partial output. A run of another replica's (a shared
    /// store) is stopped by that replica, told over the replicas' bus. Answers the execution as it
    /// stands.
    pub async fn cancel_execution(&self, id: &str) -> Result<Execution> {
        let execution = self.get_execution(id).await?;
        match execution.status {
            ExecutionStatus::Queued => {
                let mut cancelled = execution.clone();
                cancelled.status = ExecutionStatus::Cancelled;
                cancelled.reason = Some("cancelled before it started".into());
                cancelled.ended_at = Some(self.ctx.now());
                let row = cancelled.clone();
                let done = self
                    .ctx
                    .db
                    .call(move |store| store.update_execution_if(&row, ExecutionStatus::Queued))
                    .await?;
                if done {
                    let reason = cancelled.reason.as_deref();
                    self.ctx.events.status(id, cancelled.status, reason);
                    return Ok(cancelled);
                }
                // It started meanwhile: cancel the run.
                Box::pin(self.cancel_execution(id)).await
            }
            ExecutionStatus::Running => {
                if let Some(running) = self.ctx.running().get_mut(id) {
                    running.cause.get_or_insert(StopCause::User);
                    running.cancel.cancel();
                    return Ok(execution);
                }
                // Another replica runs it (a shared store): its owner stops it.
                if let Some(owner) = (execution.replica.as_ref())
                    .filter(|owner| self.ctx.replica.shared && **owner != self.ctx.replica.id)
                {
                    crate::replicas::cancel_elsewhere(&self.ctx, id, owner);
                }
                Ok(execution)
            }
            status => Err(SchedulerError::WrongState {
                id: id.into(),
                status: status.to_string(),
                action: "cancel",
            }),
        }
    }

    /// Deletes a finished or queued execution, and its output notebook when `delete_file`.
    pub async fn delete_execution(&self, id: &str, delete_file: bool) -> Result<()> {
        let execution = self.get_execution(id).await?;
        if execution.status == ExecutionStatus::Running {
            return Err(SchedulerError::WrongState {
                id: id.into(),
                status: execution.status.to_string(),
                action: "delete (cancel it first)",
            });
        }
        let key = id.to_owned();
        self.ctx
            .db
            .call(move |store| store.delete_execution(&key))
            .await?;
        if delete_file {
            worker::remove_output(&self.ctx, &execution).await;
        }
        self.ctx.events.send(id, EventKind::Deleted);
        self.ctx.wake.notify_one();
        Ok(())
    }

    /// Events of one execution, or of all with `None`.
    pub fn subscribe(&self, execution_id: Option<&str>) -> Subscription {
        self.ctx.events.subscribe(execution_id.map(str::to_owned))
    }

    /// Every execution's events and every schedule's changes.
    pub fn feed(&self) -> crate::events::Feed {
        self.ctx.events.feed()
    }

    /// How late the fires recorded since start were (`/metrics`).
    pub fn fire_lateness(&self) -> crate::lateness::FireLateness {
        self.ctx.lateness.snapshot()
    }

    /// This process's `--replica-id`, recorded on the executions it starts.
    pub fn replica_id(&self) -> &str {
        &self.ctx.replica.id
    }

    /// Whether other replicas share the store (PostgreSQL).
    pub fn shares_store(&self) -> bool {
        self.ctx.replica.shared
    }

    /// The machine types executions and schedules choose from, in the file's order.
    pub fn machine_types(&self) -> &nbgate_kernel::MachineTypes {
        &self.ctx.machine_types
    }

    /// The kernelspecs, as choices (from the current read, [`nbgate_kernel::KernelSpecs::current`]).
    pub async fn environments(&self) -> Vec<Environment> {
        let read = self.ctx.runner.specs().current().await;
        let mut list: Vec<Environment> = (read.specs().iter())
            .map(|spec| Environment {
                name: spec.name.clone(),
                display_name: spec.display_name.clone(),
                language: spec.language.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The parameters cell of a notebook under the root, for forms.
    pub async fn notebook_parameters(&self, path: &str) -> Result<NotebookParameters> {
        let (_, notebook) = self.read_notebook(path).await?;
        Ok(NotebookParameters {
            language: notebook.language().map(str::to_owned),
            kernel: notebook.kernel_name().map(str::to_owned),
            parameters: validate::parameter_infos(&notebook),
        })
    }

    /// Reads and parses a notebook under the root: its bytes and the notebook.
    pub(crate) async fn read_notebook(
        &self,
        path: &str,
    ) -> Result<(Vec<u8>, nbgate_executor::Notebook)> {
        let file = paths::existing_file(&self.ctx.root, path)?;
        let bytes = tokio::fs::read(&file)
            .await
            .map_err(|error| SchedulerError::io("read", &file, error))?;
        let notebook = validate::parse_notebook(path, &bytes)?;
        Ok((bytes, notebook))
    }

    /// Waits until every task of the scheduler has ended (after the shutdown token is cancelled).
    pub async fn stopped(&self) {
        self.ctx.tasks.wait().await;
    }
}

fn encode_cursor(seq: i64) -> String {
    format!("e{seq:x}")
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    cursor
        .strip_prefix('e')
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| {
            ValidationError::InvalidCursor {
                cursor: cursor.into(),
            }
            .into()
        })
}
