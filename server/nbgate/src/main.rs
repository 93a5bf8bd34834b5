//! `nbgate`: run notebooks with parameters on real Jupyter kernels.
//!
//! # Map
//! - `cli`: the arguments (papermill's spellings for `run`).
//! - `run_cmd`: `nbgate run`: parameters, the run, the output, the exit code.
//! - `params_cmd`: `nbgate params`: the parameters a notebook declares.
//! - `serve_cmd`: `nbgate serve`: the Kernel Gateway API until SIGINT/SIGTERM.
//! - `client_cmd`: `nbgate executions …` / `nbgate schedules …`: the executor API of a running server
//!   (blocking HTTP, no runtime).
//! - `terminal`: the progress bar and `--log-output` / `--stdout-file` forwarding.
//! - `values_out`: `nbgate run`'s recorded values, printed at the end and `--values-json FILE`.
//!
//! Exit codes: 0 success; 1 a cell failed or timed out, or the kernel could not start (client
//! commands: the server is unreachable or failed, or a waited-for execution did not succeed); 2 bad
//! input (arguments, notebook, parameters, unknown kernel; a 4xx answer to a client command); 130
//! interrupted; 138 the kernel died (papermill's code for `DeadKernelError`). Failures print one line
//! `nbgate: <reason>` on stderr.

mod cli;
mod client_cmd;
mod machine_types_args;
mod params_cmd;
mod run_cmd;
mod serve_cmd;
mod terminal;
mod values_out;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// A failure the user must hear about in one line, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad input: arguments, notebook, parameters.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// The run failed.
    pub fn run(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

/// clap's errors in one line (help and version are printed as clap prints them).
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
        _ => {
            let text = error.to_string();
            let reason = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            eprintln!("nbgate: {reason} (see `nbgate --help`)");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let command = match cli.command {
        Command::Executions(args) => return exit(client_cmd::executions(args)),
        Command::Schedules(args) => return exit(client_cmd::schedules(args)),
        command => command,
    };
    // Library warnings repeat what the command reports in its own words: show errors only unless asked.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,zeromq=off")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nbgate: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Run(args) => run_cmd::run(args).await,
            Command::Params(args) => params_cmd::params(args),
            Command::Serve(args) => serve_cmd::serve(args).await,
            Command::Executions(_) | Command::Schedules(_) => unreachable!("handled above"),
        }
    });
    exit(result)
}

fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("nbgate: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
