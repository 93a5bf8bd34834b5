//! The client commands' arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::ParameterArgs;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server, `http[s]://HOST:PORT[/PREFIX]`; a `?token=T` in it is used as the token.
    #[arg(
        long,
        env = "NBGATE_URL",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8888",
        global = true
    )]
    pub(super) url: String,
    /// The server's token (`nbgate serve --token`).
    #[arg(long, env = "NBGATE_TOKEN", hide_env_values = true, global = true)]
    pub(super) token: Option<String>,
    /// For an https URL: a PEM file of CA certificates to trust besides the system's (a private CA,
    /// a self-signed certificate).
    #[arg(long, env = "NBGATE_CA_FILE", value_name = "FILE", global = true)]
    pub(super) ca_file: Option<PathBuf>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub(super) json: bool,
}

#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    #[command(flatten)]
    pub(super) server: ServerArgs,
    #[command(subcommand)]
    pub(super) command: ExecutionsCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum ExecutionsCommand {
    /// Executions, newest first.
    List(ListExecutionsArgs),
    /// One execution.
    Get(ExecutionId),
    /// Run a notebook once.
    Create(Box<CreateExecutionArgs>),
    /// Wait until an execution ends; exit 0 if it succeeded, 1 otherwise.
    Wait(ExecutionId),
    /// Cancel a queued or running execution (its partial output is kept).
    Cancel(ExecutionId),
    /// Run an ended execution again, with the same parameters and input notebook; in a chain, the
    /// schedules after it run again after it.
    Rerun {
        /// The execution's id.
        id: String,
        /// Wait until the new execution ends; exit 0 if it succeeded, 1 otherwise.
        #[arg(long)]
        wait: bool,
    },
    /// A sweep's executions as a table: parameters that vary, status, recorded values.
    Sweep {
        /// The sweep's id (`schedules sweep` prints it).
        sweep: String,
    },
    /// Delete an execution's record (refused while it runs: cancel it first).
    Delete {
        /// The execution's id.
        id: String,
        /// Delete its output notebook too (without it, the file stays).
        #[arg(long, alias = "delete-files")]
        delete_file: bool,
    },
    /// The values an execution recorded (scrapbook's `glue`, papermill's `record`).
    Values(ExecutionId),
    /// The output files an execution's run created or changed (its `--output` patterns' matches).
    Outputs(ExecutionId),
    /// What differs between two executions: parameters, recorded values, output files, cells.
    Compare {
        /// Execution A's id.
        a: String,
        /// Execution B's id.
        b: String,
    },
    /// The first rows of one of an execution's recorded output tables (CSV, TSV, JSON lines).
    Preview {
        /// The execution's id.
        id: String,
        /// The output's path, as `executions outputs` lists it.
        path: String,
        /// Rows, 1 to 1000.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Write an execution's output notebook to standard output or a file.
    Notebook {
        /// The execution's id.
        id: String,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(super) struct ExecutionId {
    /// The execution's id.
    pub(super) id: String,
}

#[derive(Debug, Args)]
pub(super) struct ListExecutionsArgs {
    /// Only this schedule's executions (id or name).
    #[arg(long)]
    pub(super) schedule: Option<String>,
    /// Only this chain's executions (the `run_id` they share, the first one's id), oldest first.
    #[arg(long, conflicts_with_all = ["cursor", "all"])]
    pub(super) run_id: Option<String>,
    /// Only executions with this status (queued, running, succeeded, failed, cancelled, timed_out,
    /// skipped).
    #[arg(long)]
    pub(super) status: Option<String>,
    /// Executions per page (server default 50, at most 1000).
    #[arg(long)]
    pub(super) limit: Option<usize>,
    /// Start after this cursor (a page's `next_cursor`).
    #[arg(long)]
    pub(super) cursor: Option<String>,
    /// Follow the cursors to the last page.
    #[arg(long)]
    pub(super) all: bool,
}

#[derive(Debug, Args)]
pub(super) struct CreateExecutionArgs {
    /// The notebook, relative to the server's root directory.
    pub(super) notebook: String,
    #[command(flatten)]
    pub(super) run: RunOptions,
    /// Wait until the execution ends; exit 0 if it succeeded, 1 otherwise.
    #[arg(long)]
    pub(super) wait: bool,
}

#[derive(Debug, Args)]
pub struct SchedulesArgs {
    #[command(flatten)]
    pub(super) server: ServerArgs,
    #[command(subcommand)]
    pub(super) command: SchedulesCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum SchedulesCommand {
    /// Every schedule, with its next run and latest execution.
    List,
    /// One schedule.
    Get(ScheduleKey),
    /// Create a schedule.
    Create(CreateScheduleArgs),
    /// Change a schedule: only the options given change (parameters, when given, replace them all).
    Update(UpdateScheduleArgs),
    /// Stop firing a schedule.
    Pause(ScheduleKey),
    /// Fire a paused schedule again.
    Resume(ScheduleKey),
    /// Run a schedule now.
    Run(RunScheduleArgs),
    /// Copy the notebook again into the schedule's snapshot.
    Snapshot(ScheduleKey),
    /// Run a schedule once for each of its fire times from one day to another, each with its
    /// fire time (and `--fire-time-parameter`).
    Backfill {
        /// The schedule's id or name.
        schedule: String,
        /// The first day, YYYY-MM-DD in the schedule's time zone (or an RFC 3339 time).
        #[arg(long, value_name = "DAY")]
        from: String,
        /// The last day, inclusive (or an RFC 3339 time).
        #[arg(long, value_name = "DAY")]
        to: String,
        /// Run the schedules after it after each of these runs too.
        #[arg(long)]
        downstream: bool,
    },
    /// Run a schedule once per combination of parameter values (`-g P=1,2,3 -g Q=a,b`: six runs).
    Sweep {
        /// The schedule's id or name.
        schedule: String,
        /// A parameter and its values, comma-separated, each typed like `-p`'s (`7`, `1e3`,
        /// `True`, else text); or a JSON list (`P=[1, "a,b"]`). Repeat for more parameters.
        #[arg(
            short = 'g',
            long = "grid",
            value_name = "NAME=V1,V2,…",
            required = true
        )]
        grid: Vec<String>,
        /// Wait until every run ends, then print the table; exit 1 unless all succeeded.
        #[arg(long)]
        wait: bool,
    },
    /// A schedule's recorded values across its runs, oldest run first.
    Values {
        /// The schedule's id or name.
        schedule: String,
        /// Only this value (default: every recorded name).
        #[arg(long)]
        name: Option<String>,
        /// Only the newest K runs that recorded one.
        #[arg(long, value_name = "K")]
        limit: Option<usize>,
    },
    /// Delete a schedule; its queued and running executions are cancelled.
    Delete {
        /// The schedule's id or name.
        schedule: String,
        /// Its executions: `keep` them with their output notebooks (still listed, no longer linked
        /// to a schedule), or `delete` them and their output notebooks.
        #[arg(long, value_enum, default_value_t = RunHistory::Keep)]
        executions: RunHistory,
        /// The older spelling of `--executions delete`.
        #[arg(
            long,
            alias = "delete-file",
            hide = true,
            conflicts_with = "executions"
        )]
        delete_files: bool,
        /// Delete the schedules that run after it (and theirs) too; without it, a schedule others
        /// run after is not deleted.
        #[arg(long)]
        cascade: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct ScheduleKey {
    /// The schedule's id or name.
    pub(super) schedule: String,
}

/// What `schedules delete` does with the schedule's executions (the API's `executions=`).
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub(super) enum RunHistory {
    Keep,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub(super) enum NotifyOn {
    Failure,
    Success,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Clearable {
    Kernel,
    /// Back to the server's default machine type.
    MachineType,
    Timeout,
    CellTimeout,
    Notify,
    Retention,
    StaleAfter,
    FireTimeParameter,
    FireTimeFormat,
}

/// How each upstream of `--after` must have ended (the API's `after.on`).
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub(super) enum AfterOn {
    /// Succeeded; otherwise this schedule's run is recorded skipped with the reason.
    Success,
    /// Failed, timed out or was cancelled; otherwise nothing runs.
    Failure,
    /// Ended, however.
    Completion,
}

/// How an execution runs, for ad-hoc executions and schedules alike; each option given becomes a
/// field of the request body.
#[derive(Debug, Args)]
pub(super) struct RunOptions {
    #[command(flatten)]
    pub(super) parameters: ParameterArgs,
    /// Accept parameters the notebook's parameters cell does not declare.
    #[arg(long)]
    pub(super) allow_undeclared_parameters: bool,
    /// Kernel (kernelspec name); default: the notebook's.
    #[arg(short = 'k', long)]
    pub(super) kernel: Option<String>,
    /// Machine type to run on (`GET /api/machine-types`); default: the server's default type.
    #[arg(long, value_name = "NAME")]
    pub(super) machine_type: Option<String>,
    /// Fail a run after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(super) timeout: Option<f64>,
    /// Fail a cell that runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(super) cell_timeout: Option<f64>,
    /// Output directory under the root (default `executions`).
    #[arg(long, value_name = "DIR")]
    pub(super) output_dir: Option<String>,
    /// Attempts after a failure.
    #[arg(long, value_name = "N")]
    pub(super) retries: Option<u32>,
    /// Seconds before the first retry (doubled at each attempt).
    #[arg(long, value_name = "SECONDS")]
    pub(super) retry_delay: Option<f64>,
    /// A file the run writes, as a glob pattern relative to the notebook's folder
    /// (`output/day=*/predictions.csv`); recorded after the run. Repeat for more.
    #[arg(long = "output", value_name = "GLOB")]
    pub(super) outputs: Vec<String>,
    /// A rule the run must meet, else it fails: `NAME OP NUMBER` on a recorded value
    /// (`accuracy >= 0.8`), `rows(GLOB) OP NUMBER`, or `exists NAME`. Repeat for more.
    #[arg(long = "expect", value_name = "RULE")]
    pub(super) expect: Vec<String>,
}

/// The schedule options `create` and `update` share; each one given becomes a field of the body.
#[derive(Debug, Args)]
pub(super) struct ScheduleOptions {
    /// Cron expression, 5 fields (minute precision) or 6 (seconds first).
    #[arg(long, conflicts_with_all = ["every", "after"])]
    pub(super) cron: Option<String>,
    /// A friendly interval instead of a cron expression (`15m`, `2h`, `1d`).
    #[arg(long, conflicts_with = "after")]
    pub(super) every: Option<String>,
    /// Run after this schedule instead of by time; repeat to run once each of them has ended.
    #[arg(long, value_name = "SCHEDULE")]
    pub(super) after: Vec<String>,
    /// How the `--after` schedules must have ended (default: success).
    #[arg(long, value_enum, requires = "after")]
    pub(super) on: Option<AfterOn>,
    /// A parameter whose value comes from an upstream when a run starts: `NAME=UPSTREAM.values.V`
    /// (a value it recorded), `NAME=UPSTREAM.parameters.P` or `NAME=fire_time`. Repeat for more.
    #[arg(long = "param-from", value_name = "NAME=REFERENCE")]
    pub(super) param_from: Vec<String>,
    /// The parameter that receives each run's fire time (`RUN_DATE`).
    #[arg(long, value_name = "NAME")]
    pub(super) fire_time_parameter: Option<String>,
    /// The fire time's strftime format, in the schedule's zone (default `%Y-%m-%d`).
    #[arg(long, value_name = "FORMAT")]
    pub(super) fire_time_format: Option<String>,
    /// IANA time zone of the cron expression (default UTC).
    #[arg(long, alias = "tz")]
    pub(super) timezone: Option<String>,
    #[command(flatten)]
    pub(super) run: RunOptions,
    /// `snapshot` (copy the notebook now) or `live` (read it at each run).
    #[arg(long)]
    pub(super) input: Option<String>,
    /// Executions of this schedule running at once.
    #[arg(long, value_name = "N")]
    pub(super) max_concurrent: Option<u32>,
    /// When max_concurrent are active at a fire: `skip` (record it skipped) or `queue`.
    #[arg(long)]
    pub(super) overlap: Option<String>,
    /// Fires missed while nbgate was down: `skip`, `once` or `all`.
    #[arg(long)]
    pub(super) catchup: Option<String>,
    /// Webhook URL that receives a JSON notice when an execution ends.
    #[arg(long, value_name = "URL")]
    pub(super) notify: Option<String>,
    /// Which endings the webhook hears about (default: failure).
    #[arg(long, value_delimiter = ',', requires = "notify")]
    pub(super) notify_on: Vec<NotifyOn>,
    /// Keep only the newest N executions (and their files).
    #[arg(long, value_name = "N")]
    pub(super) retention: Option<u32>,
    /// The outputs are stale when no successful run wrote them within this many seconds (default:
    /// twice the schedule's period).
    #[arg(long, value_name = "SECONDS")]
    pub(super) stale_after: Option<f64>,
    /// A JSON object (or `@FILE`, `@-` for standard input) with any request fields; options override it.
    #[arg(long, value_name = "JSON")]
    pub(super) body: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct CreateScheduleArgs {
    /// The schedule's name: 1 to 128 of a-z, 0-9, _.
    pub(super) name: String,
    /// The notebook, relative to the server's root directory.
    pub(super) notebook: String,
    #[command(flatten)]
    pub(super) options: ScheduleOptions,
    /// Create it paused.
    #[arg(long)]
    pub(super) paused: bool,
}

#[derive(Debug, Args)]
pub(super) struct UpdateScheduleArgs {
    /// The schedule's id or name.
    pub(super) schedule: String,
    /// Rename it.
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Run another notebook.
    #[arg(long)]
    pub(super) notebook: Option<String>,
    #[command(flatten)]
    pub(super) options: ScheduleOptions,
    /// Reset options to their defaults.
    #[arg(long, value_delimiter = ',')]
    pub(super) clear: Vec<Clearable>,
}

#[derive(Debug, Args)]
pub(super) struct RunScheduleArgs {
    /// The schedule's id or name.
    pub(super) schedule: String,
    /// Overrides of the schedule's parameters for this run.
    #[command(flatten)]
    pub(super) parameters: ParameterArgs,
    /// Wait until the execution ends; exit 0 if it succeeded, 1 otherwise.
    #[arg(long)]
    pub(super) wait: bool,
}
