//! Recorded values across runs: what an execution recorded (scrapbook's `glue`, papermill's
//! `record`), stored as its run goes, and a schedule's values as series over its executions.
//!
//! The worker hands each [`Progress::Recorded`](nbgate_executor::run::Progress::Recorded) to
//! [`ValueRecorder`], whose task writes them to the store in batches (one transaction per burst); the
//! run's end waits for it, so once an execution is terminal all its values are stored. Values
//! recorded before a failure, a timeout or a cancel are kept.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
pub use nbgate_executor::values::{RecordedValue, RecordedValues};
use tokio::sync::mpsc;

use crate::context::Ctx;
use crate::error::Result;
use crate::model::ExecutionStatus;
use crate::service::{SchedulerHandle, not_found};

/// Most executions one series request covers.
pub const MAX_SERIES_RUNS: usize = 10_000;

/// One value of one execution of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValuePoint {
    pub execution_id: String,
    pub fire_time: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub status: ExecutionStatus,
    pub name: String,
    pub value: RecordedValue,
}

impl SchedulerHandle {
    /// An execution's values, in the order their names were first recorded.
    pub async fn execution_values(&self, id: &str) -> Result<Vec<(String, RecordedValue)>> {
        let key = id.to_owned();
        let values = self
            .ctx
            .db
            .call(move |store| {
                Ok(match store.get_execution(&key)? {
                    Some(_) => Some(store.execution_values(&key)?),
                    None => None,
                })
            })
            .await?;
        values.ok_or_else(|| not_found("execution", id))
    }

    /// The values of several executions (a listing's page), read in one query: execution id →
    /// `[(name, value)]` in recording order; an execution that recorded nothing (or is unknown) is
    /// absent.
    pub async fn values_of_executions(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, Vec<(String, RecordedValue)>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .ctx
            .db
            .call(move |store| store.values_of_executions(&ids))
            .await?;
        let mut values: HashMap<String, Vec<(String, RecordedValue)>> = HashMap::new();
        for (execution_id, name, value) in rows {
            values.entry(execution_id).or_default().push((name, value));
        }
        Ok(values)
    }

    /// The values of a schedule (by id or name) over its newest `limit` executions that recorded
    /// one (named `name`, when given), oldest first; `limit` is clamped to 1 to [`MAX_SERIES_RUNS`]
    /// (default: that many).
    pub async fn value_series(
        &self,
        schedule: &str,
        name: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<ValuePoint>> {
        let id = self.get_schedule(schedule).await?.id;
        let name = name.map(str::to_owned);
        let limit = limit.unwrap_or(MAX_SERIES_RUNS).clamp(1, MAX_SERIES_RUNS);
        Ok(self
            .ctx
            .db
            .call(move |store| store.value_series(&id, name.as_deref(), limit))
            .await?)
    }
}

/// Stores one run's values as they are recorded.
pub(crate) struct ValueRecorder {
    sender: mpsc::UnboundedSender<(String, RecordedValue)>,
}

impl ValueRecorder {
    /// Starts the writer task of `execution_id`; it ends (and the handle resolves) once every
    /// recorder clone is dropped and what was sent is written.
    pub fn start(
        ctx: &Arc<Ctx>,
        execution_id: &str,
    ) -> (ValueRecorder, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let writer = ctx
            .tasks
            .spawn(write_values(ctx.clone(), execution_id.to_owned(), receiver));
        (ValueRecorder { sender }, writer)
    }

    pub fn record(&self, name: String, value: RecordedValue) {
        let _ = self.sender.send((name, value));
    }
}

/// Writes what arrives, a burst at a time (everything queued while the previous write ran).
async fn write_values(
    ctx: Arc<Ctx>,
    id: String,
    mut receiver: mpsc::UnboundedReceiver<(String, RecordedValue)>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = receiver.try_recv() {
            batch.push(next);
        }
        let (key, now) = (id.clone(), ctx.now());
        if let Err(error) = ctx
            .store_until_written("record values", move |store| {
                store.record_values(&key, &batch, now)
            })
            .await
        {
            tracing::error!(execution = %id, %error, "cannot record values");
        }
    }
}
