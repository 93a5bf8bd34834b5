//! Schedule operations of [`SchedulerHandle`]: create (validated, snapshotted), edit, pause, resume,
//! re-snapshot, run now, delete. Each change that moves a fire time wakes the loop, which re-reads the
//! store: the in-memory view is always derived from it.

use chrono::{DateTime, Utc};

use crate::context::{Running, StopCause, content_hash, execution_name};
use crate::engine::scheduled_draft;
use crate::error::{Result, SchedulerError, StoreError, ValidationError};
use crate::events::{EventKind, ScheduleChange};
use crate::model::Page;
use crate::model::{
    Execution, ExecutionStatus, ExecutionSummary, InputMode, ParameterValues, RunHistory,
    SCHEDULE_DELETED, Schedule, SchedulePatch, ScheduleSpec,
};
use crate::service::{MAX_SCHEDULE_PAGE, SchedulerHandle, not_found};
use crate::store::StoredSchedule;
use crate::timing::Timing;
use crate::{validate, worker};

impl SchedulerHandle {
    pub async fn create_schedule(&self, mut spec: ScheduleSpec) -> Result<Schedule> {
        spec.machine_type =
            crate::machine::chosen(&self.ctx.machine_types, spec.machine_type.as_deref())?;
        let now = self.ctx.now();
        let bytes = self.check_spec(&spec).await?;
        self.check_pipeline(&spec, None, None, &bytes).await?;
        let timing = Timing::new(&spec.recurrence, &spec.timezone)?;
        let mut schedule = Schedule {
            id: uuid::Uuid::new_v4().to_string(),
            next_run: (!spec.paused).then(|| timing.next_after(now)).flatten(),
            last_fire: None,
            description: timing.describe(),
            snapshot_hash: None,
            created_at: now,
            updated_at: now,
            spec,
        };
        if schedule.spec.input == InputMode::Snapshot {
            schedule.snapshot_hash = Some(self.write_snapshot(&schedule.id, &bytes).await?);
        }
        let row = schedule.clone();
        let inserted = self
            .ctx
            .db
            .call(move |store| store.insert_schedule(&row))
            .await;
        if let Err(error) = inserted {
            let _ = std::fs::remove_file(self.ctx.snapshot_path(&schedule.id));
            return Err(match error {
                StoreError::NameTaken { name } => ValidationError::NameTaken { name }.into(),
                other => other.into(),
            });
        }
        let created = ScheduleChange::Created;
        self.ctx.events.schedule(&schedule.id, created);
        self.ctx.wake.notify_one();
        Ok(schedule)
    }

    /// Validates a spec; returns the notebook's bytes.
    async fn check_spec(&self, spec: &ScheduleSpec) -> Result<Vec<u8>> {
        for (_, check) in validate::schedule_field_checks(&self.ctx.root, spec) {
            check?;
        }
        let (bytes, notebook) = self.read_notebook(&spec.notebook).await?;
        let specs = self.ctx.runner.specs().current().await;
        for (_, check) in validate::schedule_notebook_checks(&specs, spec, &notebook) {
            check?;
        }
        crate::machine::check(
            &self.ctx.machine_types,
            spec.machine_type.as_deref(),
            spec.kernel.as_deref(),
            &notebook,
        )?;
        Ok(bytes)
    }

    /// Runs the checks of the fields named in `given` (as [`validate::FieldCheck`] names them; with
    /// `notebook`, its parameters and kernel are checked too, and the pipeline fields given against
    /// it and the other schedules) and, when a recurrence is given and it
    /// and the zone are valid, describes it and lists its next `count` fire times after now. Nothing
    /// is stored. `Err` only for what is not the request's fault (reading the notebook).
    pub async fn preview_schedule(
        &self,
        spec: &ScheduleSpec,
        given: &[&str],
        count: usize,
    ) -> Result<validate::SchedulePreview> {
        let mut checks = validate::schedule_field_checks(&self.ctx.root, spec);
        checks.retain(|(field, _)| given.contains(field));
        let mut errors = std::collections::BTreeMap::new();
        // The type as creating resolves it (none given: the default), so that a default type that
        // does not run the notebook's kernel is said here too.
        let types = &self.ctx.machine_types;
        let machine_type = match crate::machine::chosen(types, spec.machine_type.as_deref()) {
            Ok(machine_type) => machine_type,
            Err(error) => {
                errors.insert("machine_type", error);
                None
            }
        };
        if given.contains(&"notebook") {
            match self.read_notebook(&spec.notebook).await {
                Ok((_, notebook)) => {
                    let specs = self.ctx.runner.specs().current().await;
                    checks.extend(validate::schedule_notebook_checks(&specs, spec, &notebook));
                    let kernel = spec.kernel.as_deref();
                    let runs =
                        crate::machine::check(types, machine_type.as_deref(), kernel, &notebook);
                    if let Err(error) = runs {
                        errors.entry("machine_type").or_insert(error);
                    }
                    let pipeline = self.preview_pipeline(spec, given, &notebook).await?;
                    errors.extend(pipeline);
                }
                Err(SchedulerError::Validation(error)) => {
                    errors.insert("notebook", error);
                }
                Err(other) => return Err(other),
            }
        }
        for (field, check) in checks {
            if let Err(error) = check {
                errors.entry(field).or_insert(error);
            }
        }
        let recurrence = given
            .iter()
            .any(|field| ["cron", "every", "after"].contains(field));
        let timing = recurrence
            .then(|| Timing::new(&spec.recurrence, &spec.timezone).ok())
            .flatten();
        let mut next_runs = Vec::new();
        if let Some(timing) = &timing {
            let mut after = self.ctx.now();
            while next_runs.len() < count {
                let Some(next) = timing.next_after(after) else {
                    break;
                };
                next_runs.push(next.with_timezone(&timing.timezone()).fixed_offset());
                after = next;
            }
        }
        Ok(validate::SchedulePreview {
            errors,
            description: timing.map(|timing| timing.describe()),
            next_runs,
        })
    }

    async fn write_snapshot(&self, schedule_id: &str, bytes: &[u8]) -> Result<String> {
        let path = self.ctx.snapshot_path(schedule_id);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|error| SchedulerError::io("create", dir, error))?;
        }
        let partial = path.with_extension("ipynb.partial");
        tokio::fs::write(&partial, bytes)
            .await
            .map_err(|error| SchedulerError::io("write", &partial, error))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|error| SchedulerError::io("write", &path, error))?;
        Ok(content_hash(bytes))
    }

    pub async fn list_schedules(&self) -> Result<Vec<Schedule>> {
        Ok(self.ctx.db.call(|store| store.list_schedules()).await?)
    }

    /// A page of up to `limit` schedules by name, each with its newest execution (one store
    /// query); `cursor` is a `next_cursor` from the previous page. The cursor is the last name
    /// listed, so a page neither repeats nor skips a schedule when others are created or deleted
    /// between pages. The schedules come as stored ([`StoredSchedule::parse`] reads one), so a
    /// caller that keeps what it made of a row can skip the rows it has seen unchanged.
    pub async fn list_schedules_with_latest(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<(StoredSchedule, Option<ExecutionSummary>)>> {
        let after = cursor.map(schedule_cursor_name).transpose()?;
        let limit = limit.clamp(1, MAX_SCHEDULE_PAGE);
        let mut rows = self
            .ctx
            .db
            .call(move |store| store.list_schedules_with_latest(after.as_deref(), limit + 1))
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|(schedule, _)| name_cursor(&schedule.name)))
            .flatten();
        Ok(Page {
            items: rows,
            next_cursor,
        })
    }

    /// By id, or by name.
    pub async fn get_schedule(&self, id_or_name: &str) -> Result<Schedule> {
        let key = id_or_name.to_owned();
        self.ctx
            .db
            .call(move |store| match store.get_schedule(&key)? {
                Some(schedule) => Ok(Some(schedule)),
                None => store.get_schedule_by_name(&key),
            })
            .await?
            .ok_or_else(|| not_found("schedule", id_or_name))
    }

    /// Applies a patch. A new recurrence, time zone or resume recomputes the next run from now; a new
    /// notebook (input `snapshot`) or a switch to `snapshot` re-snapshots.
    pub async fn update_schedule(&self, id: &str, patch: SchedulePatch) -> Result<Schedule> {
        let mut schedule = self.get_schedule(id).await?;
        let old = schedule.spec.clone();
        let spec = &mut schedule.spec;
        macro_rules! apply {
            ($($field:ident),*) => {$(if let Some(value) = patch.$field { spec.$field = value; })*};
        }
        apply!(
            name,
            notebook,
            parameters,
            allow_undeclared_parameters,
            kernel,
            recurrence,
            timezone,
            paused,
            input,
            max_concurrent,
            overlap,
            catchup,
            retries,
            retry_delay,
            timeout,
            cell_timeout,
            notify,
            output_dir,
            retention,
            outputs,
            stale_after,
            expect,
            parameters_from,
            fire_time_parameter,
            fire_time_format,
            machine_type
        );
        spec.machine_type =
            crate::machine::chosen(&self.ctx.machine_types, spec.machine_type.as_deref())?;
        let bytes = self.check_spec(&schedule.spec).await?;
        let (id, old_name) = (Some(schedule.id.as_str()), Some(old.name.as_str()));
        self.check_pipeline(&schedule.spec, id, old_name, &bytes)
            .await?;
        let spec = &schedule.spec;
        let now = self.ctx.now();
        let timing = Timing::new(&spec.recurrence, &spec.timezone)?;
        let timing_changed = spec.recurrence != old.recurrence
            || spec.timezone != old.timezone
            || spec.paused != old.paused;
        if spec.paused {
            schedule.next_run = None;
        } else if timing_changed || schedule.next_run.is_none() {
            schedule.next_run = timing.next_after(now);
        }
        schedule.description = timing.describe();
        let resnapshot = spec.input == InputMode::Snapshot
            && (old.input != InputMode::Snapshot || spec.notebook != old.notebook);
        if resnapshot {
            schedule.snapshot_hash = Some(self.write_snapshot(&schedule.id, &bytes).await?);
        }
        schedule.updated_at = now;
        self.save(schedule).await
    }

    async fn save(&self, schedule: Schedule) -> Result<Schedule> {
        let row = schedule.clone();
        let saved = self
            .ctx
            .db
            .call(move |store| store.update_schedule(&row))
            .await
            .map_err(|error| match error {
                StoreError::NameTaken { name } => ValidationError::NameTaken { name }.into(),
                other => SchedulerError::from(other),
            })?;
        if !saved {
            return Err(not_found("schedule", &schedule.id));
        }
        let updated = ScheduleChange::Updated;
        self.ctx.events.schedule(&schedule.id, updated);
        self.ctx.wake.notify_one();
        Ok(schedule)
    }

    /// Stops firing; fire times passed while paused are not caught up on resume.
    pub async fn pause_schedule(&self, id: &str) -> Result<Schedule> {
        self.set_paused(id, true).await
    }

    pub async fn resume_schedule(&self, id: &str) -> Result<Schedule> {
        self.set_paused(id, false).await
    }

    async fn set_paused(&self, id: &str, paused: bool) -> Result<Schedule> {
        let mut schedule = self.get_schedule(id).await?;
        if schedule.spec.paused == paused {
            return Ok(schedule);
        }
        let now = self.ctx.now();
        schedule.spec.paused = paused;
        schedule.next_run = if paused {
            None
        } else {
            Timing::new(&schedule.spec.recurrence, &schedule.spec.timezone)?.next_after(now)
        };
        schedule.updated_at = now;
        self.save(schedule).await
    }

    /// Copies the notebook again into the schedule's snapshot.
    pub async fn snapshot_schedule(&self, id: &str) -> Result<Schedule> {
        let mut schedule = self.get_schedule(id).await?;
        let (bytes, _) = self.read_notebook(&schedule.spec.notebook).await?;
        schedule.snapshot_hash = Some(self.write_snapshot(&schedule.id, &bytes).await?);
        schedule.updated_at = self.ctx.now();
        self.save(schedule).await
    }

    /// Queues a run of the schedule now (never skipped by the overlap policy; it waits for a slot),
    /// with `overrides` replacing parameters of the same name.
    pub async fn run_now(&self, id: &str, overrides: ParameterValues) -> Result<Execution> {
        let schedule = self.get_schedule(id).await?;
        let mut parameters = schedule.spec.parameters.clone();
        parameters.extend(overrides);
        if !parameters.is_empty() {
            let (_, notebook) = match schedule.spec.input {
                InputMode::Live => self.read_notebook(&schedule.spec.notebook).await?,
                InputMode::Snapshot => {
                    let path = self.ctx.snapshot_path(&schedule.id);
                    let bytes = tokio::fs::read(&path)
                        .await
                        .map_err(|error| SchedulerError::io("read", &path, error))?;
                    let notebook = validate::parse_notebook(&schedule.spec.notebook, &bytes)?;
                    (bytes, notebook)
                }
            };
            let allow = schedule.spec.allow_undeclared_parameters;
            validate::check_parameters(&notebook, &parameters, allow)?;
        }
        let now: DateTime<Utc> = self.ctx.now();
        let _naming = self.ctx.naming.lock().await;
        let name = self
            .ctx
            .unique_name(execution_name(&schedule.spec.name, now), &[])
            .await?;
        let mut execution = scheduled_draft(&schedule, name, None).queued(now);
        execution.parameters = parameters;
        self.insert_queued(execution).await
    }

    /// Deletes the schedule, cancelling its queued and running executions, and keeps or deletes its
    /// executions with their output files as `history` says (see [`RunHistory`]).
    pub async fn delete_schedule(&self, id: &str, history: RunHistory) -> Result<()> {
        let schedule = self.get_schedule(id).await?;
        let ours = |running: &Running| running.schedule_id.as_deref() == Some(&schedule.id);
        if history == RunHistory::Delete {
            // Set before the rows go: a run that ends after that deletes its file itself.
            for running in self.ctx.running().values_mut().filter(|r| ours(r)) {
                running.delete_output = true;
            }
        }
        let (key, now) = (schedule.id.clone(), self.ctx.now());
        let executions = self
            .ctx
            .db
            .call(move |store| store.delete_schedule(&key, history, now))
            .await?
            .ok_or_else(|| not_found("schedule", id))?;
        for running in self.ctx.running().values_mut().filter(|r| ours(r)) {
            running.cause.get_or_insert(StopCause::ScheduleDeleted);
            running.cancel.cancel();
        }
        for execution in &executions {
            match history {
                RunHistory::Delete => {
                    worker::remove_output(&self.ctx, execution).await;
                    self.ctx.events.send(&execution.id, EventKind::Deleted);
                }
                RunHistory::Keep if execution.status == ExecutionStatus::Queued => {
                    let (status, reason) = (ExecutionStatus::Cancelled, Some(SCHEDULE_DELETED));
                    self.ctx.events.status(&execution.id, status, reason);
                }
                RunHistory::Keep => {}
            }
        }
        let _ = std::fs::remove_file(self.ctx.snapshot_path(&schedule.id));
        let deleted = ScheduleChange::Deleted;
        self.ctx.events.schedule(&schedule.id, deleted);
        self.ctx.wake.notify_one();
        Ok(())
    }
}

/// A `next_cursor` of [`SchedulerHandle::list_schedules_with_latest`]: the last name listed, in hex.
fn name_cursor(name: &str) -> String {
    let hex: String = name.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("s{hex}")
}

/// The schedule name a `next_cursor` of [`SchedulerHandle::list_schedules_with_latest`] carries:
/// its page lists the schedules named after it.
pub fn schedule_cursor_name(cursor: &str) -> Result<String> {
    let invalid = || ValidationError::InvalidCursor {
        cursor: cursor.into(),
    };
    let hex = cursor.strip_prefix('s').filter(|hex| hex.len() % 2 == 0);
    let bytes = (hex.ok_or_else(invalid)?.as_bytes().chunks(2))
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map_err(|_| invalid().into())
}
