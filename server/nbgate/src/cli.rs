//! Command-line arguments. `nbgate run` takes papermill's options (and their spellings), so an existing
//! papermill command line works unchanged.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nbgate",
    version,
    about = "Run Jupyter notebooks with parameters on real kernels, headless or on a schedule."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Execute a notebook with parameters (papermill-compatible).
    Run(RunArgs),
    /// Show the parameters a notebook declares in its `parameters` cell.
    Params(ParamsArgs),
    /// Serve the Jupyter Kernel Gateway API (REST + WebSocket) on real kernels.
    Serve(crate::serve_cmd::ServeArgs),
    /// Executions on a running `nbgate serve`: list, get, create, wait, cancel, delete, notebook.
    Executions(crate::client_cmd::ExecutionsArgs),
    /// Schedules on a running `nbgate serve`: list, get, create, update, pause, resume, run, delete.
    Schedules(crate::client_cmd::SchedulesArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The notebook to run (`-` reads standard input).
    pub input: String,
    /// Where to write the executed notebook (`-` writes standard output; may be omitted when
    /// standard output is a pipe).
    pub output: Option<String>,
    #[command(flatten)]
    pub parameters: ParameterArgs,
    /// Kernel (kernelspec name); default: the notebook's.
    #[arg(short = 'k', long = "kernel", value_name = "KERNEL")]
    pub kernel: Option<String>,
    /// Language of the notebook, for parameter rendering; default: the notebook's.
    #[arg(short = 'l', long = "language", value_name = "LANGUAGE")]
    pub language: Option<String>,
    /// Working directory of the kernel.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub machine: crate::machine_types_args::RunMachineType,
    /// Fail a cell that runs longer than this many seconds (the kernel is interrupted first).
    #[arg(
        long = "cell-timeout",
        alias = "execution-timeout",
        alias = "execution_timeout",
        value_name = "SECONDS"
    )]
    pub cell_timeout: Option<f64>,
    /// Give up when the kernel is not ready after this many seconds.
    #[arg(
        long = "start-timeout",
        alias = "start_timeout",
        value_name = "SECONDS",
        default_value_t = 60.0
    )]
    pub start_timeout: f64,
    /// Write the parameterised notebook without executing it.
    #[arg(long = "prepare-only")]
    pub prepare_only: bool,
    /// Keep at most this many bytes of output per cell, then a note (0 keeps everything).
    #[arg(long = "max-output-bytes", value_name = "BYTES", default_value_t = nbgate_executor::run::DEFAULT_MAX_OUTPUT_BYTES)]
    pub max_output_bytes: usize,
    /// Record cell errors and keep executing.
    #[arg(long = "allow-errors")]
    pub allow_errors: bool,
    /// Forward the notebook's output to the terminal while it runs.
    #[arg(long = "log-output")]
    pub log_output: bool,
    /// Append the notebook's stdout stream text to this file.
    #[arg(long = "stdout-file", value_name = "FILE")]
    pub stdout_file: Option<PathBuf>,
    /// Append the notebook's stderr stream text to this file.
    #[arg(long = "stderr-file", value_name = "FILE")]
    pub stderr_file: Option<PathBuf>,
    /// Write the values the notebook recorded (scrapbook's `glue`, papermill's `record`) to this
    /// file as one JSON object `{name: value}`, also when a cell failed.
    #[arg(long = "values-json", value_name = "FILE")]
    pub values_json: Option<PathBuf>,
    /// Show a progress bar (default on a terminal unless --log-output).
    #[arg(long = "progress-bar", overrides_with = "no_progress_bar")]
    pub progress_bar: bool,
    /// Never show a progress bar.
    #[arg(long = "no-progress-bar")]
    pub no_progress_bar: bool,
    /// Accepted for papermill compatibility (nbgate logs through RUST_LOG).
    #[arg(long = "log-level", value_name = "LEVEL", hide = true)]
    pub log_level: Option<String>,
}

#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// The notebook to inspect.
    pub notebook: PathBuf,
    /// Print the parameters as JSON (name, type, default, help).
    #[arg(long)]
    pub json: bool,
}

/// Parameters as papermill takes them; merged in its order by [`ParameterArgs::collect`].
#[derive(Debug, Args)]
pub struct ParameterArgs {
    /// A parameter whose value's type is resolved like papermill (`True`, `None`, `7`, `1e3`, else text).
    #[arg(short = 'p', long = "parameters", num_args = 2, allow_hyphen_values = true, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    pub parameters: Vec<String>,
    /// A parameter kept as a string.
    #[arg(short = 'r', long = "parameters-raw", alias = "parameters_raw", num_args = 2, allow_hyphen_values = true, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    pub parameters_raw: Vec<String>,
    /// Parameters from a YAML file (JSON too, read as YAML like papermill does).
    #[arg(
        short = 'f',
        long = "parameters-file",
        alias = "parameters_file",
        value_name = "FILE"
    )]
    pub parameters_file: Vec<PathBuf>,
    /// Parameters as YAML text.
    #[arg(
        short = 'y',
        long = "parameters-yaml",
        alias = "parameters_yaml",
        value_name = "YAML",
        allow_hyphen_values = true
    )]
    pub parameters_yaml: Vec<String>,
    /// Parameters as base64-encoded YAML text.
    #[arg(
        short = 'b',
        long = "parameters-base64",
        alias = "parameters_base64",
        value_name = "B64"
    )]
    pub parameters_base64: Vec<String>,
}

/// Where kernels start: on a Kernel Gateway-compatible server, or here. Shared by `run` and `serve`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Start kernels on this Kernel Gateway-compatible server (Jupyter Enterprise Gateway), from its
    /// kernelspecs, instead of on this machine.
    #[arg(long = "gateway-url", env = "NBGATE_GATEWAY_URL", value_name = "URL")]
    pub gateway_url: Option<String>,
    /// The gateway's token (sent as `Authorization: token …`); prefer the environment variable.
    #[arg(
        long = "gateway-token",
        env = "NBGATE_GATEWAY_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub gateway_token: Option<String>,
    /// `KERNEL_USERNAME` sent to the gateway; default: the user nbgate runs as.
    #[arg(long = "gateway-kernel-username", value_name = "NAME")]
    pub gateway_kernel_username: Option<String>,
}

impl GatewayArgs {
    /// The gateway when a URL is given, else this machine.
    pub fn location(&self) -> Result<nbgate_kernel::KernelLocation, crate::Failure> {
        match self.gateway_url.as_deref().filter(|url| !url.is_empty()) {
            Some(url) => Ok(nbgate_kernel::KernelLocation::Gateway(
                nbgate_kernel::Gateway {
                    url: url.to_owned(),
                    token: self.gateway_token.clone(),
                    kernel_username: self.gateway_kernel_username.clone(),
                },
            )),
            None if self.gateway_kernel_username.is_some() => Err(crate::Failure::usage(
                "--gateway-kernel-username needs --gateway-url (or NBGATE_GATEWAY_URL)",
            )),
            None => Ok(nbgate_kernel::KernelLocation::Local),
        }
    }
}
