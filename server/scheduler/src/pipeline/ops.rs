//! Pipeline operations of [`SchedulerHandle`]: a chain's executions, backfill, sweeps, rerun, and
//! deleting a schedule others run after.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{dependants, refs};
use crate::context::{execution_name, unique_name};
use crate::engine::scheduled_draft;
use crate::error::{Result, SchedulerError, ValidationError};
use crate::model::{
    Execution, InputMode, PipelineRun, Recurrence, RunHistory, Schedule, ScheduleSpec,
};
use crate::service::{SchedulerHandle, not_found};
use crate::store::Grouping;
use crate::timing::{MAX_CATCHUP, Timing};
use crate::validate;
use nbgate_executor::values::RecordedValue;

/// The most executions one sweep makes.
pub const MAX_SWEEP: usize = 1000;

/// One execution of a sweep: its parameters and status are on it, with what it recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub execution: Execution,
    pub values: Vec<(String, RecordedValue)>,
}

fn invalid(field: &str, reason: impl Into<String>) -> SchedulerError {
    ValidationError::InvalidPipeline {
        field: field.into(),
        reason: reason.into(),
    }
    .into()
}

impl SchedulerHandle {
    /// Checks a schedule's `after`, `parameters_from` and fire time fields (`id`, `old_name`: the
    /// schedule edited and its name before the edit).
    pub(crate) async fn check_pipeline(
        &self,
        spec: &ScheduleSpec,
        id: Option<&str>,
        old_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<()> {
        let notebook = validate::parse_notebook(&spec.notebook, bytes)?;
        // Other schedules matter only to a schedule that runs after some, or one renamed (whose
        // dependants would lose it): creating one of thousands of timed schedules reads none.
        let renamed = old_name.is_some_and(|old| old != spec.name);
        let schedules = if renamed || matches!(spec.recurrence, Recurrence::After(_)) {
            self.list_schedules().await?
        } else {
            Vec::new()
        };
        refs::check(spec, id, old_name, &notebook, &schedules)?;
        Ok(())
    }

    /// For a preview: the first problem of the pipeline fields among `given` (`after`,
    /// `parameters_from`, `fire_time_parameter`, `fire_time_format`), checked against `notebook` and
    /// the schedules as they are, under the field it belongs to.
    pub(crate) async fn preview_pipeline(
        &self,
        spec: &ScheduleSpec,
        given: &[&str],
        notebook: &nbgate_executor::Notebook,
    ) -> Result<Option<(&'static str, ValidationError)>> {
        const FIELDS: [&str; 4] = [
            "after",
            "parameters_from",
            "fire_time_parameter",
            "fire_time_format",
        ];
        if !FIELDS.iter().any(|field| given.contains(field)) {
            return Ok(None);
        }
        let schedules = self.list_schedules().await?;
        let Err(error) = refs::check(spec, None, None, notebook, &schedules) else {
            return Ok(None);
        };
        let field = match &error {
            ValidationError::InvalidPipeline { field, .. } => {
                let top = field.split('.').next().unwrap_or_default();
                FIELDS.into_iter().find(|known| *known == top)
            }
            ValidationError::Cycle { .. } => Some("after"),
            _ => None,
        };
        Ok(field
            .filter(|field| given.contains(field))
            .map(|field| (field, error)))
    }

    /// The executions of a chain (`run_id`), oldest first.
    pub async fn run_executions(&self, run_id: &str) -> Result<Vec<Execution>> {
        let key = run_id.to_owned();
        Ok(self
            .ctx
            .db
            .call(move |store| store.grouped_executions(Grouping::Run, &key))
            .await?)
    }

    /// Deletes a schedule; one that others run after is refused unless `cascade`, which deletes
    /// them (and theirs) first. Returns the names deleted, the schedule's last.
    pub async fn delete_schedule_cascade(
        &self,
        id: &str,
        history: RunHistory,
        cascade: bool,
    ) -> Result<Vec<String>> {
        let schedule = self.get_schedule(id).await?;
        let schedules = self.list_schedules().await?;
        // Dependants of dependants too, nearest first.
        let mut order: Vec<&Schedule> = Vec::new();
        let mut frontier = vec![schedule.spec.name.clone()];
        while let Some(name) = frontier.pop() {
            for dependant in dependants(&schedules, &name) {
                if dependant.id != schedule.id && !order.iter().any(|s| s.id == dependant.id) {
                    order.push(dependant);
                    frontier.push(dependant.spec.name.clone());
                }
            }
        }
        if !order.is_empty() && !cascade {
            return Err(SchedulerError::HasDependants {
                name: schedule.spec.name.clone(),
                dependants: order.iter().map(|s| s.spec.name.clone()).collect(),
            });
        }
        let mut deleted = Vec::new();
        for dependant in order.iter().rev() {
            self.delete_schedule(&dependant.id, history).await?;
            deleted.push(dependant.spec.name.clone());
        }
        self.delete_schedule(&schedule.id, history).await?;
        deleted.push(schedule.spec.name);
        Ok(deleted)
    }

    /// Queues one execution per fire time of the schedule's recurrence from `from` to `to`
    /// (dates, inclusive, in the schedule's time zone; or RFC 3339 times), each with its fire time
    /// (and `fire_time_parameter`); they run `max_concurrent` at a time. With `downstream`, the
    /// schedules after it run after each, as after a fire.
    pub async fn backfill(
        &self,
        id: &str,
        from: &str,
        to: &str,
        downstream: bool,
    ) -> Result<Vec<Execution>> {
        let schedule = self.get_schedule(id).await?;
        let spec = &schedule.spec;
        if let Recurrence::After(_) = spec.recurrence {
            return Err(invalid(
                "backfill",
                format!(
                    "{:?} runs after other schedules, not by time: backfill its upstream with \
                     downstream=true",
                    spec.name
                ),
            ));
        }
        let timing = Timing::new(&spec.recurrence, &spec.timezone)?;
        let start = bound("from", from, timing.timezone(), false)?;
        let end = bound("to", to, timing.timezone(), true)?;
        if end <= start {
            return Err(invalid("to", format!("{to:?} is before from {from:?}")));
        }
        let mut fires = Vec::new();
        let mut cursor = start - chrono::Duration::milliseconds(1);
        while let Some(next) = timing.next_after(cursor).filter(|next| *next < end) {
            if fires.len() == MAX_CATCHUP {
                return Err(invalid(
                    "backfill",
                    format!("the range holds more than {MAX_CATCHUP} fire times: split it"),
                ));
            }
            fires.push(next);
            cursor = next;
        }
        if fires.is_empty() {
            return Err(invalid(
                "backfill",
                format!(
                    "{} has no fire time from {from} to {to}",
                    schedule.description
                ),
            ));
        }
        let now = self.ctx.now();
        let made: Vec<(String, Option<DateTime<Utc>>)> = fires
            .into_iter()
            .map(|fire| (execution_name(&spec.name, fire), Some(fire)))
            .collect();
        self.insert_made(&schedule, made, now, |execution| {
            if !downstream {
                no_downstream(execution);
            }
        })
        .await
    }

    /// Queues one execution per combination of `grid`'s values (parameter → list), over the
    /// schedule's own parameters, sharing a new sweep id. Sweeps do not fire dependants.
    pub async fn sweep(
        &self,
        id: &str,
        grid: Map<String, Value>,
    ) -> Result<(String, Vec<Execution>)> {
        let schedule = self.get_schedule(id).await?;
        if grid.is_empty() {
            return Err(invalid(
                "grid",
                "give at least one parameter and its values",
            ));
        }
        let mut combinations: Vec<Map<String, Value>> = vec![Map::new()];
        for (name, values) in &grid {
            let Some(values) = values.as_array().filter(|v| !v.is_empty()) else {
                return Err(invalid(
                    &format!("grid.{name}"),
                    "give a non-empty list of values",
                ));
            };
            if combinations.len().saturating_mul(values.len()) > MAX_SWEEP {
                return Err(invalid(
                    "grid",
                    format!("more than {MAX_SWEEP} combinations: sweep fewer values"),
                ));
            }
            combinations = combinations
                .into_iter()
                .flat_map(|base| {
                    values.iter().map(move |value| {
                        let mut next = base.clone();
                        next.insert(name.clone(), value.clone());
                        next
                    })
                })
                .collect();
        }
        let notebook = self.schedule_notebook(&schedule).await?;
        let allow = schedule.spec.allow_undeclared_parameters;
        for combination in &combinations {
            let mut parameters = schedule.spec.parameters.clone();
            parameters.extend(combination.clone());
            validate::check_parameters(&notebook, &parameters, allow)?;
        }
        let sweep_id = uuid::Uuid::new_v4().to_string();
        let now = self.ctx.now();
        let base = execution_name(&schedule.spec.name, now);
        let made = combinations.iter().map(|_| (base.clone(), None)).collect();
        let mut next = combinations.into_iter();
        let made = self
            .insert_made(&schedule, made, now, |execution| {
                execution.parameters.extend(next.next().unwrap_or_default());
                execution.sweep_id = Some(sweep_id.clone());
                no_downstream(execution);
            })
            .await?;
        Ok((sweep_id, made))
    }

    /// A sweep's executions, oldest first, with their recorded values.
    pub async fn sweep_rows(&self, sweep_id: &str) -> Result<Vec<SweepRow>> {
        let key = sweep_id.to_owned();
        let executions = self
            .ctx
            .db
            .call(move |store| store.grouped_executions(Grouping::Sweep, &key))
            .await?;
        if executions.is_empty() {
            return Err(not_found("sweep", sweep_id));
        }
        let ids = executions.iter().map(|e| e.id.clone()).collect();
        let mut values = self.values_of_executions(ids).await?;
        Ok(executions
            .into_iter()
            .map(|execution| SweepRow {
                values: values.remove(&execution.id).unwrap_or_default(),
                execution,
            })
            .collect())
    }

    /// Runs an ended execution again with the same parameters and the same input notebook (refused
    /// if the input changed since); in its chain (same `run_id`), the schedules after it run again
    /// after it.
    pub async fn rerun(&self, id: &str) -> Result<Execution> {
        let original = self.get_execution(id).await?;
        if !original.status.is_terminal() {
            return Err(SchedulerError::WrongState {
                id: id.into(),
                status: original.status.to_string(),
                action: "rerun (wait for it to end, or cancel it)",
            });
        }
        if let Some(expected) = &original.input_hash {
            let bytes = match (&original.schedule_id, original.run.snapshot) {
                (Some(schedule_id), true) => {
                    let path = self.ctx.snapshot_path(schedule_id);
                    tokio::fs::read(&path)
                        .await
                        .map_err(|error| SchedulerError::io("read", &path, error))?
                }
                _ => self.read_notebook(&original.notebook).await?.0,
            };
            let now_hash = crate::context::content_hash(&bytes);
            if &now_hash != expected {
                return Err(invalid(
                    "rerun",
                    format!(
                        "the input notebook changed since {} ran ({expected} then, {now_hash} \
                         now): run the schedule instead",
                        original.name
                    ),
                ));
            }
        }
        let now = self.ctx.now();
        let base = match original.name.rsplit_once("_attempt_") {
            Some((base, _)) => base.to_owned(),
            None => original.name.clone(),
        };
        let _naming = self.ctx.naming.lock().await;
        let name = self.ctx.unique_name(format!("{base}_rerun"), &[]).await?;
        let mut execution = crate::context::Draft {
            output_path: Path::new(&original.output_path)
                .with_file_name(format!("{name}.ipynb"))
                .display()
                .to_string(),
            name,
            schedule_id: original.schedule_id.clone(),
            schedule_name: original.schedule_name.clone(),
            notebook: original.notebook.clone(),
            parameters: original.parameters.clone(),
            kernel: original.kernel.clone(),
            machine_type: original.machine_type.clone(),
            max_attempts: original.max_attempts,
            fire_time: original.fire_time,
            run: original.run.clone(),
        }
        .queued(now);
        execution.run_id = original.run_id.clone().or(execution.run_id);
        execution.sweep_id = original.sweep_id.clone();
        if let Some(pipeline) = &mut execution.run.pipeline
            && original.input_hash.is_some()
        {
            // It ran: its parameters are the resolved ones.
            pipeline.resolved = true;
        }
        self.insert_queued(execution).await
    }

    /// The schedule's notebook as its runs read it (snapshot or live).
    async fn schedule_notebook(&self, schedule: &Schedule) -> Result<nbgate_executor::Notebook> {
        match schedule.spec.input {
            InputMode::Live => Ok(self.read_notebook(&schedule.spec.notebook).await?.1),
            InputMode::Snapshot => {
                let path = self.ctx.snapshot_path(&schedule.id);
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|error| SchedulerError::io("read", &path, error))?;
                Ok(validate::parse_notebook(&schedule.spec.notebook, &bytes)?)
            }
        }
    }

    /// Inserts executions of `schedule` named from `made` (base name, fire time), each adjusted by
    /// `adjust`, in one transaction.
    async fn insert_made(
        &self,
        schedule: &Schedule,
        made: Vec<(String, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
        mut adjust: impl FnMut(&mut Execution),
    ) -> Result<Vec<Execution>> {
        if self.ctx.shutdown.is_cancelled() {
            return Err(SchedulerError::ShuttingDown);
        }
        let _naming = self.ctx.naming.lock().await;
        let schedule = schedule.clone();
        let mut executions = self
            .ctx
            .db
            .call(move |store| {
                let mut taken: Vec<String> = Vec::new();
                let mut executions = Vec::new();
                for (base, fire) in made {
                    let name = unique_name(store, base, |n| taken.iter().any(|t| t == n))?;
                    taken.push(name.clone());
                    executions.push(scheduled_draft(&schedule, name, fire).queued(now));
                }
                Ok(executions)
            })
            .await?;
        executions.iter_mut().for_each(&mut adjust);
        let rows = executions.clone();
        self.ctx
            .db
            .call(move |store| store.insert_executions(&rows))
            .await?;
        for execution in &executions {
            self.ctx.events.created(execution);
        }
        self.ctx.wake.notify_one();
        Ok(executions)
    }
}

fn no_downstream(execution: &mut Execution) {
    execution
        .run
        .pipeline
        .get_or_insert_with(PipelineRun::default)
        .no_downstream = true;
}

/// A backfill bound: a date (its start, or for `to` its end, in the schedule's zone) or an RFC 3339
/// time.
fn bound(field: &str, text: &str, tz: chrono_tz::Tz, end: bool) -> Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        let at = at.with_timezone(&Utc);
        return Ok(if end {
            at + chrono::Duration::milliseconds(1)
        } else {
            at
        });
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        invalid(
            field,
            format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"),
        )
    })?;
    let day = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Midnight may fall in a DST gap: the first instant of the day then.
    (0..=3)
        .find_map(|hour| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(hour)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| invalid(field, format!("{text:?} has no start in {}", tz.name())))
}
