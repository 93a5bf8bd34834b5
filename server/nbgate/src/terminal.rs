//! What `nbgate run` shows while it works: a progress bar on a terminal (cells done of all cells,
//! elapsed time), `--log-output` forwarding, and `--stdout-file` / `--stderr-file` copies of the
//! notebook's streams.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nbgate_executor::run::Progress;
use serde_json::Value;

pub struct Terminal {
    bar: Option<ProgressBar>,
    log_output: bool,
    stdout_file: Option<File>,
    stderr_file: Option<File>,
}

fn open_append(path: Option<&Path>) -> io::Result<Option<File>> {
    path.map(|path| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))
    })
    .transpose()
}

impl Terminal {
    pub fn new(
        progress_bar: bool,
        log_output: bool,
        stdout_file: Option<&Path>,
        stderr_file: Option<&Path>,
    ) -> io::Result<Self> {
        let bar = (progress_bar && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "Executing {bar:30} {pos}/{len} cells [{elapsed_precise}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Ok(Self {
            bar,
            log_output,
            stdout_file: open_append(stdout_file)?,
            stderr_file: open_append(stderr_file)?,
        })
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }

    fn log(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn stream(&mut self, output: &Value) {
        let text = output["text"].as_str().unwrap_or("");
        let file = match output["name"].as_str() {
            Some("stderr") => self.stderr_file.as_mut(),
            _ => self.stdout_file.as_mut(),
        };
        if let Some(file) = file {
            let _ = file.write_all(text.as_bytes());
        }
        if self.log_output {
            self.log(text.trim_end_matches('\n'));
        }
    }
}

impl nbgate_executor::run::ProgressSink for Terminal {
    fn report(&mut self, progress: Progress) {
        match progress {
            Progress::Started { total, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(total as u64);
                }
            }
            Progress::KernelReady { kernel, .. } => {
                if self.log_output {
                    self.log(&format!("Executing notebook with kernel: {kernel}"));
                }
            }
            Progress::CellStarted { index, .. } => {
                if self.log_output {
                    self.log(&format!("Executing Cell {:-<40}", index + 1));
                }
            }
            Progress::Output { output, .. } => match output["output_type"].as_str() {
                Some("stream") => self.stream(&output),
                Some("display_data" | "execute_result") if self.log_output => {
                    if let Some(text) = output["data"]["text/plain"].as_str() {
                        self.log(text);
                    }
                }
                _ => {}
            },
            Progress::CellFinished { index, .. } => {
                if self.log_output {
                    self.log(&format!("Ending Cell {:-<43}", index + 1));
                }
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            Progress::Warning(warning) => self.log(&format!("nbgate: warning: {warning}")),
            // Printed at the end of the run, once each (`run_cmd`).
            Progress::Recorded { .. } => {}
        }
    }
}
