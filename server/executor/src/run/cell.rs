//! Executing cells one by one on a kernel, with nbclient's semantics as papermill configures it.
//!
//! For each code cell: send `execute_request` (`allow_stdin: false`, `stop_on_error` unless the cell may
//! raise), then read the kernel's events until both the shell reply and the iopub `idle` for that request
//! have arrived. Everything with another parent is ignored (late output of earlier cells, other clients).
//! Deadlines: the cell timeout runs until the reply (then the kernel is interrupted and the cell fails),
//! and after the reply the iopub `idle` must come within `iopub_timeout`.

use std::time::Duration;

use jupyter_protocol::ExecuteRequest;
use nbgate_kernel::{Channel, Kernel, KernelEvent, KernelEvents, RawMessage};
use serde_json::Value;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::events::{Progress, ProgressSink};
use crate::notebook::{Cell, Notebook};
use crate::outputs::{Effect, OutputCollector};
use crate::papermill::{
    TimingEvent, clear_execution_timing, record_execution_timing, timing_from_header_date,
};
use crate::values::ValueExtractor;

/// Tag that lets a cell raise without stopping the run.
pub const RAISES_EXCEPTION_TAG: &str = "raises-exception";
/// Tag that skips a cell.
pub const SKIP_EXECUTION_TAG: &str = "skip-execution";

/// After the kernel died, how long messages it sent before dying may still trickle in from the sockets.
pub const DEATH_DRAIN: Duration = Duration::from_millis(250);

/// How long an interrupted cell gets to deliver its reply and last outputs before the run gives up on it
/// (ipykernel answers an interrupt in milliseconds; a kernel that has not answered by then is wedged).
pub const INTERRUPT_GRACE: Duration = Duration::from_millis(500);

/// [`INTERRUPT_GRACE`] for a kernel on a gateway: the interrupt is a request to the gateway, which
/// signals the kernel, and the traceback comes back through the gateway's relay, two more hops that
/// take hundreds of milliseconds on a loaded gateway host.
pub const REMOTE_INTERRUPT_GRACE: Duration = Duration::from_secs(2);

/// Each step of stopping a run's kernel (`shutdown_request`, then SIGTERM, then SIGKILL). With the
/// interrupt grace, a cell wedged past its timeout ends the run within 1.5 s of the timeout, not the 3.5 s
/// of the kernel crate's default step.
pub const SHUTDOWN_STEP: Duration = Duration::from_secs(1);

/// Knobs of the cell loop.
#[derive(Debug, Clone)]
pub struct CellOptions {
    /// Limit on waiting for a cell's reply; `None` waits forever.
    pub cell_timeout: Option<Duration>,
    /// After the reply, the wait for the iopub `idle` (nbclient's `iopub_timeout`).
    pub iopub_timeout: Duration,
    /// Record errors and keep going (nbclient's `allow_errors`).
    pub allow_errors: bool,
    /// Most bytes of output one cell keeps (`None`: everything).
    pub max_output_bytes: Option<usize>,
}

/// The default per-cell output limit: generous for plots and tables, bounded for floods.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;

impl Default for CellOptions {
    fn default() -> Self {
        Self {
            cell_timeout: None,
            iopub_timeout: Duration::from_secs(4),
            allow_errors: false,
            max_output_bytes: Some(DEFAULT_MAX_OUTPUT_BYTES),
        }
    }
}

/// How one cell ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CellEnd {
    /// Ran (or was skipped) and may be followed by the next cell.
    Done,
    /// Raised, and errors are not allowed here: the run stops.
    Raised,
    /// Ran past the cell timeout (`message` is nbclient's text); the kernel was interrupted.
    TimedOut { message: String },
    /// The iopub `idle` never came after the reply.
    IopubTimeout,
    /// The kernel died (or was restarted by someone else) while the cell ran.
    KernelDied { reason: String },
    /// The run was cancelled; the kernel was interrupted.
    Cancelled,
}

/// Whether nbclient executes the cell: code, non-blank, not tagged `skip-execution`.
pub fn should_execute(cell: &Cell) -> bool {
    cell.is_code() && !cell.source().trim().is_empty() && !cell.has_tag(SKIP_EXECUTION_TAG)
}

/// Runs the cells of one notebook on one kernel, keeping the display-id map across cells.
pub struct CellRunner<'a> {
    kernel: &'a Kernel,
    events: KernelEvents,
    collector: OutputCollector,
    values: ValueExtractor,
    options: CellOptions,
    cancel: CancellationToken,
}

/// What the wait for one request has seen so far.
#[derive(Default)]
struct Pending {
    reply: Option<Value>,
    idle: bool,
}

impl<'a> CellRunner<'a> {
    /// Subscribes to `kernel` before anything is sent, so nothing published for our requests is missed.
    pub fn new(kernel: &'a Kernel, options: CellOptions, cancel: CancellationToken) -> Self {
        Self {
            events: kernel.subscribe(),
            kernel,
            collector: OutputCollector::with_limit(options.max_output_bytes),
            values: ValueExtractor::new(),
            options,
            cancel,
        }
    }

    /// How long an interrupted cell gets to report its end, by where its kernel runs.
    fn interrupt_grace(&self) -> Duration {
        if self.kernel.location() == "local" {
            INTERRUPT_GRACE
        } else {
            REMOTE_INTERRUPT_GRACE
        }
    }

    /// Executes cell `index` of `notebook`, reporting outputs to `sink`.
    pub async fn execute(
        &mut self,
        notebook: &mut Notebook,
        index: usize,
        sink: &mut dyn ProgressSink,
    ) -> CellEnd {
        let Some(cell) = notebook.cell_mut(index) else {
            return CellEnd::Done;
        };
        if !should_execute(cell) {
            return CellEnd::Done;
        }
        let allows_errors = self.options.allow_errors || cell.has_tag(RAISES_EXCEPTION_TAG);
        clear_execution_timing(cell);
        let code = cell.source().to_owned();
        cell.outputs_mut().clear();
        self.collector.start_cell();
        self.values.start_cell();

        let request = RawMessage::new_typed(
            ExecuteRequest {
                code: code.clone(),
                silent: false,
                store_history: true,
                user_expressions: None,
                allow_stdin: false,
                stop_on_error: !allows_errors,
            },
            self.kernel.session(),
            None,
            self.kernel.signer(),
        );
        let request = match self
            .kernel
            .send(Channel::Shell, request.clone())
            .await
            .map(|()| request)
        {
            Ok(request) => request,
            Err(error) => {
                return CellEnd::KernelDied {
                    reason: error.to_string(),
                };
            }
        };
        let msg_id = match request.routing() {
            Ok(routing) => routing.msg_id,
            Err(error) => {
                return CellEnd::KernelDied {
                    reason: error.to_string(),
                };
            }
        };

        let started = Instant::now();
        let cell_deadline = self.options.cell_timeout.map(|timeout| started + timeout);
        let mut pending = Pending::default();
        let mut iopub_deadline = None;
        let mut timed_out: Option<String> = None;
        let mut cancelled = false;
        // Set when the kernel died: keep reading what it sent before, until `drain_deadline`.
        let mut died: Option<CellEnd> = None;
        let mut drain_deadline = None;

        while pending.reply.is_none() || !pending.idle {
            let deadline = if died.is_some() {
                drain_deadline
            } else if timed_out.is_some() || cancelled {
                iopub_deadline
            } else if pending.reply.is_none() {
                cell_deadline
            } else {
                iopub_deadline
            };
            tokio::select! {
                event = self.events.recv() => {
                    let Some(event) = event else {
                        return died.unwrap_or(CellEnd::KernelDied { reason: "the kernel is gone".into() });
                    };
                    let end = self.handle_event(event, notebook, index, &msg_id, &mut pending, sink);
                    if let Some(end) = end && died.is_none() {
                        died = Some(end);
                        drain_deadline = Some(Instant::now() + DEATH_DRAIN);
                    }
                    if pending.reply.is_some() && iopub_deadline.is_none() {
                        iopub_deadline = Some(Instant::now() + self.options.iopub_timeout);
                    }
                }
                () = wait_until(deadline) => {
                    if let Some(end) = died {
                        return end;
                    }
                    if let Some(message) = timed_out {
                        return CellEnd::TimedOut { message };
                    }
                    if cancelled {
                        return CellEnd::Cancelled;
                    }
                    if pending.reply.is_some() {
                        return CellEnd::IopubTimeout;
                    }
                    // The cell ran too long: interrupt, then give it a moment to report how it ended.
                    let seconds = self.options.cell_timeout.map_or(0.0, |t| t.as_secs_f64());
                    timed_out = Some(timeout_message(seconds, &code));
                    let _ = self.kernel.interrupt().await;
                    iopub_deadline = Some(Instant::now() + self.interrupt_grace());
                }
                () = self.cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    let _ = self.kernel.interrupt().await;
                    iopub_deadline = Some(Instant::now() + self.interrupt_grace());
                }
            }
        }
        if let Some(end) = died {
            return end;
        }
        if let Some(message) = timed_out {
            return CellEnd::TimedOut { message };
        }
        if cancelled {
            return CellEnd::Cancelled;
        }
        let failed = pending
            .reply
            .as_ref()
            .and_then(|reply| reply.get("status"))
            .and_then(Value::as_str)
            == Some("error");
        if failed && !allows_errors {
            CellEnd::Raised
        } else {
            CellEnd::Done
        }
    }

    /// Applies one event; returns how the cell ended when the event ends it.
    fn handle_event(
        &mut self,
        event: KernelEvent,
        notebook: &mut Notebook,
        index: usize,
        msg_id: &str,
        pending: &mut Pending,
        sink: &mut dyn ProgressSink,
    ) -> Option<CellEnd> {
        let (channel, message) = match event {
            KernelEvent::Message { channel, message } => (channel, message),
            KernelEvent::Died { status } => {
                let reason = match self.kernel.location() {
                    "local" => format!("Kernel died ({status})"),
                    // A gateway kernel's end is seen as its WebSocket closing; no exit status.
                    gateway => {
                        format!("the connection to the kernel on gateway {gateway} was lost")
                    }
                };
                return Some(CellEnd::KernelDied { reason });
            }
            KernelEvent::Restarting | KernelEvent::Restarted | KernelEvent::ShutDown => {
                return Some(CellEnd::KernelDied {
                    reason: "the kernel was restarted or shut down during the cell".into(),
                });
            }
            KernelEvent::Lagged(missed) => {
                sink.report(Progress::Warning(format!(
                    "nbgate fell behind the kernel and lost {missed} messages of cell {index}"
                )));
                return None;
            }
            KernelEvent::BadSignature { channel } => {
                sink.report(Progress::Warning(format!(
                    "dropped a message with an invalid signature on {channel}"
                )));
                return None;
            }
            KernelEvent::Heartbeat { .. } => return None,
        };
        let location = self.kernel.location();
        if channel == Channel::IoPub
            && location != "local"
            && let Some(state) = nbgate_kernel::gateway::reported_death(&message)
        {
            // Said before the handle's `Died`, which then adds nothing.
            let what = match state {
                "dead" => "could not restart the kernel",
                _ => "found the kernel dead",
            };
            let reason =
                format!("gateway {location} {what} (its process or its host stopped answering)");
            return Some(CellEnd::KernelDied { reason });
        }
        let Ok(routing) = message.routing() else {
            return None;
        };
        if routing.parent_msg_id.as_deref() != Some(msg_id) {
            return None;
        }
        let Ok(content) = message.content_json() else {
            return None;
        };
        let date = header_date(&message.header);
        match (channel, routing.msg_type.as_str()) {
            (Channel::Shell, "execute_reply") => {
                if let Some(cell) = notebook.cell_mut(index) {
                    record_execution_timing(cell, TimingEvent::ExecuteReply, &date);
                }
                pending.reply = Some(content);
            }
            (Channel::IoPub, msg_type) => {
                // Before the collector: a value is recorded even when its output is over the limit.
                for (name, value) in self.values.extract(msg_type, &content) {
                    sink.report(Progress::Recorded { index, name, value });
                }
                let cells = notebook.cells_mut();
                if let Some(cell) = cells.get_mut(index) {
                    match (
                        msg_type,
                        content.get("execution_state").and_then(Value::as_str),
                    ) {
                        ("status", Some("busy")) => {
                            record_execution_timing(cell, TimingEvent::Busy, &date);
                        }
                        ("status", Some("idle")) => {
                            record_execution_timing(cell, TimingEvent::Idle, &date);
                        }
                        ("execute_input", _) => {
                            record_execution_timing(cell, TimingEvent::ExecuteInput, &date);
                        }
                        _ => {}
                    }
                }
                match self.collector.apply(cells, index, msg_type, &content) {
                    Effect::Idle => pending.idle = true,
                    Effect::Appended(position) => {
                        if let Some(output) =
                            cells.get(index).and_then(|c| c.outputs().get(position))
                        {
                            sink.report(Progress::Output {
                                index,
                                output: output.clone(),
                            });
                        }
                    }
                    Effect::Changed | Effect::None => {}
                }
            }
            // stdin is disabled (allow_stdin: false): an input_request is never answered.
            _ => {}
        }
        None
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The header's date as nbclient records it, or now when the header has none.
fn header_date(header: &[u8]) -> String {
    serde_json::from_slice::<Value>(header)
        .ok()
        .and_then(|header| {
            header
                .get("date")
                .and_then(Value::as_str)
                .map(timing_from_header_date)
        })
        .unwrap_or_else(|| crate::papermill::nbclient_timestamp(chrono::Utc::now()))
}

/// nbclient's `CellTimeoutError` text.
pub fn timeout_message(seconds: f64, source: &str) -> String {
    let lines: Vec<&str> = source.trim().split('\n').collect();
    let preview = if lines.len() < 11 {
        source.to_owned()
    } else {
        format!(
            "{}\n...\n{}",
            lines[..5].join("\n"),
            lines[lines.len() - 5..].join("\n")
        )
    };
    let preview = if source.is_empty() {
        "Cell contents not found.".to_owned()
    } else {
        preview
    };
    format!(
        "A cell timed out while it was being executed, after {} seconds.\n\
         The message was: Cell execution timed out.\n\
         Here is a preview of the cell contents:\n\
         -------------------\n\
         {preview}\n\
         -------------------\n",
        crate::pyjson::py_float_repr(seconds).trim_end_matches(".0")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeout_message_matches_nbclient() {
        assert_eq!(
            timeout_message(1.0, "while True: continue"),
            "A cell timed out while it was being executed, after 1 seconds.\n\
             The message was: Cell execution timed out.\n\
             Here is a preview of the cell contents:\n\
             -------------------\n\
             while True: continue\n\
             -------------------\n"
        );
    }

    #[test]
    fn long_cells_are_previewed_by_their_ends() {
        let source: Vec<String> = (0..12).map(|i| format!("line{i}")).collect();
        let message = timeout_message(2.5, &source.join("\n"));
        assert!(message.contains("after 2.5 seconds"));
        assert!(message.contains("line4\n...\nline7"), "{message}");
        assert!(!message.contains("line5\n"), "{message}");
    }

    #[test]
    fn blank_skipped_and_non_code_cells_are_not_executed() {
        assert!(should_execute(&Cell::new_code("print(1)")));
        assert!(!should_execute(&Cell::new_code("  \n\t")));
        assert!(!should_execute(&Cell::new_markdown("# title")));
        let mut skipped = Cell::new_code("print(1)");
        skipped
            .metadata_mut()
            .insert("tags".into(), json!([SKIP_EXECUTION_TAG]));
        assert!(!should_execute(&skipped));
    }
}
