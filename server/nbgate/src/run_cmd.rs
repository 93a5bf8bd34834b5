//! `nbgate run INPUT OUTPUT …`: papermill's command line on nbgate's executor.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use nbgate_executor::Notebook;
use nbgate_executor::parameters::{
    ParamValue, Parameters, parameters_from_file, parameters_from_yaml, resolve_cli_value,
};
use nbgate_executor::run::{
    CellOptions, Outcome, RunError, RunRequest, cell_timeout_from_seconds, run_notebook,
};
use nbgate_kernel::{KernelError, KernelLocation, KernelSpecs, LaunchOptions};
use tokio_util::sync::CancellationToken;

use crate::Failure;
use crate::cli::{ParameterArgs, RunArgs};
use crate::terminal::Terminal;
use crate::values_out::{self, Recording};

/// Exit code of a dead kernel, as papermill's for `DeadKernelError`.
const DEAD_KERNEL: u8 = 138;
/// Exit code after Ctrl-C.
const INTERRUPTED: u8 = 130;

pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let output = output_target(&args)?;
    let parameters = args.parameters.collect()?;
    let mut notebook = read_input(&args.input)?;
    if let Some(cwd) = &args.cwd
        && !cwd.is_dir()
    {
        return Err(Failure::usage(format!(
            "--cwd {}: not a directory",
            cwd.display()
        )));
    }
    let start_timeout = Duration::try_from_secs_f64(args.start_timeout)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--start-timeout {}: give a positive number of seconds",
                args.start_timeout
            ))
        })?;
    let location = args.gateway.location()?;
    let mut request = RunRequest {
        parameters,
        kernel_name: args.kernel.clone(),
        language: args.language.clone(),
        input_label: args.input.clone(),
        output_label: output.clone(),
        save_to: (output != "-").then(|| PathBuf::from(&output)),
        prepare_only: args.prepare_only,
        cells: CellOptions {
            cell_timeout: cell_timeout_from_seconds(args.cell_timeout),
            allow_errors: args.allow_errors,
            max_output_bytes: (args.max_output_bytes > 0).then_some(args.max_output_bytes),
            ..CellOptions::default()
        },
        launch: LaunchOptions {
            cwd: args.cwd.clone(),
            start_timeout,
            shutdown_step: nbgate_executor::run::SHUTDOWN_STEP,
            ..LaunchOptions::default()
        },
        location,
    };
    args.machine.apply(&mut request, &notebook)?;

    let show_bar = !args.no_progress_bar && (args.progress_bar || !args.log_output);
    let mut terminal = Terminal::new(
        show_bar,
        args.log_output,
        args.stdout_file.as_deref(),
        args.stderr_file.as_deref(),
    )
    .map_err(|error| Failure::usage(error.to_string()))?;
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    if matches!(request.location, KernelLocation::Gateway(_)) {
        // A remote kernel does not die with nbgate: SIGTERM ends the run as Ctrl-C does, deleting it.
        let on_term = cancel.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|error| Failure::run(format!("cannot handle SIGTERM: {error}")))?;
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                on_term.cancel();
            }
        });
    }
    let specs = KernelSpecs::from_env();
    let mut recording = Recording::new(&mut terminal);
    let result = run_notebook(&mut notebook, &request, &specs, &mut recording, cancel).await;
    let values = recording.values;
    terminal.finish();
    values_out::print(&values, &mut std::io::stderr().lock());
    let values_written = match &args.values_json {
        Some(path) => values_out::write_json(&values, path)
            .map_err(|error| Failure::run(format!("--values-json {}: {error}", path.display()))),
        None => Ok(()),
    };

    if output == "-"
        && !matches!(
            result,
            Err(RunError::Inject(_)
                | RunError::NoKernelName
                | RunError::Kernel(KernelError::KernelNotFound { .. }))
        )
    {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(notebook.to_ipynb_string().as_bytes())
            .and_then(|()| stdout.flush());
    }
    let saved = |what: &str| match output.as_str() {
        "-" => what.to_owned(),
        path => format!("{what}; output: {path}"),
    };
    match result {
        Ok(Outcome::Succeeded | Outcome::Prepared) => values_written,
        Ok(Outcome::Failed(error)) => Err(Failure::run(saved(&format!(
            "cell {} (In [{}]) raised {}: {}",
            error.cell_index,
            error
                .execution_count
                .map_or_else(|| " ".to_owned(), |count| count.to_string()),
            error.ename,
            first_line(&error.evalue)
        )))),
        Ok(Outcome::TimedOut {
            cell_index,
            message,
        }) => Err(Failure::run(saved(&format!(
            "cell {cell_index} timed out: {}",
            first_line(&message)
        )))),
        Ok(Outcome::KernelDied { cell_index, reason }) => Err(Failure {
            code: DEAD_KERNEL,
            message: saved(&format!(
                "the kernel died during cell {cell_index}: {reason}"
            )),
        }),
        Ok(Outcome::Cancelled { cell_index }) => Err(Failure {
            code: INTERRUPTED,
            message: saved(&format!("interrupted during cell {cell_index}")),
        }),
        Err(error @ (RunError::Inject(_) | RunError::NoKernelName)) => {
            Err(Failure::usage(error.to_string()))
        }
        Err(RunError::Kernel(
            error @ (KernelError::KernelNotFound { .. } | KernelError::InvalidName { .. }),
        )) => Err(Failure::usage(error.to_string())),
        Err(error) => Err(Failure::run(error.to_string())),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// OUTPUT, or `-` when it is omitted and standard output is not a terminal (papermill's rule).
fn output_target(args: &RunArgs) -> Result<String, Failure> {
    match &args.output {
        Some(output) => Ok(output.clone()),
        None if !std::io::stdout().is_terminal() => Ok("-".into()),
        None => Err(Failure::usage(
            "missing OUTPUT: give an output path, or `-` for standard output",
        )),
    }
}

fn read_input(input: &str) -> Result<Notebook, Failure> {
    if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| {
                Failure::usage(format!(
                    "cannot read the notebook from standard input: {error}"
                ))
            })?;
        return Notebook::parse(&text)
            .map_err(|error| Failure::usage(format!("standard input: {error}")));
    }
    Notebook::read(Path::new(input)).map_err(|error| Failure::usage(error.to_string()))
}

/// Parameters merged in papermill's order: base64, files, YAML, `-p`, `-r` (a later source wins, the
/// first insertion fixes the position).
impl ParameterArgs {
    pub fn collect(&self) -> Result<Parameters, Failure> {
        let mut parameters = Parameters::new();
        for encoded in &self.parameters_base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| Failure::usage(format!("-b: not base64: {error}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Failure::usage("-b: the decoded text is not UTF-8"))?;
            parameters.extend(
                parameters_from_yaml(&text)
                    .map_err(|error| Failure::usage(format!("-b: {error}")))?,
            );
        }
        for file in &self.parameters_file {
            parameters.extend(
                parameters_from_file(file)
                    .map_err(|error| Failure::usage(format!("-f {}: {error}", file.display())))?,
            );
        }
        for yaml in &self.parameters_yaml {
            parameters.extend(
                parameters_from_yaml(yaml)
                    .map_err(|error| Failure::usage(format!("-y: {error}")))?,
            );
        }
        for pair in self.parameters.chunks(2) {
            if let [name, value] = pair {
                parameters.insert(name.clone(), resolve_cli_value(value));
            }
        }
        for pair in self.parameters_raw.chunks(2) {
            if let [name, value] = pair {
                parameters.insert(name.clone(), ParamValue::Str(value.clone()));
            }
        }
        Ok(parameters)
    }
}
