//! `nbgate executions …` and `nbgate schedules …`: the executor API from scripts, against a running
//! `nbgate serve` (`--url`, `--token`, or `NBGATE_URL` / `NBGATE_TOKEN`).
//!
//! Output: a table for lists, `field: value` lines for one resource; `--json` prints the server's JSON.
//! Answers are read into the server's own response types (`nbgate_api::executor::wire`), and an
//! execution has ended when the scheduler's `ExecutionStatus::is_terminal` says so.
//! A 4xx answer prints the server's message verbatim and exits 2 (like any bad input); an unreachable
//! server, a 5xx, or an execution that `--wait` saw end other than `succeeded` exits 1.
//!
//! # Map
//! - `args`: the subcommands and their options.
//! - this file: each command's requests and output (tables, `field: value` lines, `--json`).
//! - `values`: recorded values (an execution's; a schedule's across runs).
//! - `outputs`: an execution's recorded output files, and previews of its tables.
//! - `compare`: what differs between two executions.
//! - `pipelines`: `--after`/`--param-from`, backfill, sweeps and their tables, rerun.
//! - `http`: a small blocking HTTP/1.1 client (each command makes a few requests, so it needs neither
//!   the async runtime nor another crate).

mod args;
mod compare;
mod http;
mod outputs;
mod pipelines;
mod values;

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};

use clap::ValueEnum;
use nbgate_api::executor::wire::{
    self, ErrorDto, ExecutionDto, ExecutionSummaryDto, PageDto, ProgressDto, ScheduleDto,
};
use nbgate_scheduler::{ExecutionStatus, MAX_SCHEDULE_PAGE};
use serde_json::{Map, Value, json};

use crate::Failure;
use args::{
    ExecutionId, ExecutionsCommand, ListExecutionsArgs, NotifyOn, RunHistory, RunOptions,
    ScheduleKey, ScheduleOptions, SchedulesCommand,
};
pub use args::{ExecutionsArgs, SchedulesArgs};
use http::{Client, encode};

pub fn executions(args: ExecutionsArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let json_out = args.server.json;
    match args.command {
        ExecutionsCommand::List(list) => list_executions(&client, &list, json_out),
        ExecutionsCommand::Get(ExecutionId { id }) => {
            let execution = client.json("GET", &execution_path(&id, ""), None)?;
            print_resource(&execution, json_out);
            Ok(())
        }
        ExecutionsCommand::Create(create) => {
            let mut body = Map::new();
            body.insert("notebook".into(), json!(create.notebook));
            create.run.fill(&mut body)?;
            let execution = client.json("POST", "/api/executions", Some(&Value::Object(body)))?;
            finish_started(&client, execution, create.wait, json_out)
        }
        ExecutionsCommand::Wait(ExecutionId { id }) => {
            let execution = wait(&client, &id)?;
            print_resource(&execution, json_out);
            outcome(&execution)
        }
        ExecutionsCommand::Rerun { id, wait } => {
            let execution = client.json("POST", &execution_path(&id, "/rerun"), None)?;
            finish_started(&client, execution, wait, json_out)
        }
        ExecutionsCommand::Sweep { sweep } => {
            pipelines::sweep_table(&client, &sweep, json_out).map(|_| ())
        }
        ExecutionsCommand::Cancel(ExecutionId { id }) => {
            let execution = client.json("POST", &execution_path(&id, "/cancel"), None)?;
            print_resource(&execution, json_out);
            Ok(())
        }
        ExecutionsCommand::Delete { id, delete_file } => {
            let query = if delete_file { "?delete_file=true" } else { "" };
            client.json(
                "DELETE",
                &format!("{}{query}", execution_path(&id, "")),
                None,
            )?;
            if !json_out {
                println!("deleted execution {id}");
            }
            Ok(())
        }
        ExecutionsCommand::Values(ExecutionId { id }) => {
            values::execution_values(&client, &id, json_out)
        }
        ExecutionsCommand::Compare { a, b } => compare::compare(&client, &a, &b, json_out),
        ExecutionsCommand::Outputs(ExecutionId { id }) => {
            outputs::execution_outputs(&client, &id, json_out)
        }
        ExecutionsCommand::Preview { id, path, limit } => {
            outputs::preview(&client, &id, &path, limit, json_out)
        }
        ExecutionsCommand::Notebook { id, output } => {
            let bytes = client.call("GET", &execution_path(&id, "/notebook"), None)?;
            match &output {
                Some(path) => std::fs::write(path, &bytes)
                    .map_err(|error| Failure::run(format!("{}: {error}", path.display()))),
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(&bytes)
                        .and_then(|()| stdout.flush())
                        .map_err(|error| Failure::run(format!("standard output: {error}")))
                }
            }
        }
    }
}

pub fn schedules(args: SchedulesArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let json_out = args.server.json;
    let action = |key: &str, verb: &str| -> Result<(), Failure> {
        let schedule = client.json("POST", &schedule_path(key, verb), None)?;
        print_resource(&schedule, json_out);
        Ok(())
    };
    match args.command {
        SchedulesCommand::List => {
            // Every page, followed to the last: one request up to 10,000 schedules.
            let first = format!("/api/schedules?limit={MAX_SCHEDULE_PAGE}");
            let mut items = Vec::new();
            let mut path = first.clone();
            loop {
                let page = client.json("GET", &path, None)?;
                let page: PageDto<Value> = read(page, "a page of schedules")?;
                items.extend(page.items);
                match page.next_cursor {
                    Some(cursor) => path = format!("{first}&cursor={}", encode(&cursor)),
                    None => break,
                }
            }
            if json_out {
                print_json(&serde_json::json!({"items": items, "next_cursor": null}));
            } else {
                let schedules: Vec<ScheduleDto> = read(Value::Array(items), "schedules")?;
                print_schedules(&schedules);
            }
            Ok(())
        }
        SchedulesCommand::Get(ScheduleKey { schedule }) => {
            let schedule = client.json("GET", &schedule_path(&schedule, ""), None)?;
            print_resource(&schedule, json_out);
            Ok(())
        }
        SchedulesCommand::Create(create) => {
            let mut body = create.options.body()?;
            body.insert("name".into(), json!(create.name));
            body.insert("notebook".into(), json!(create.notebook));
            if create.paused {
                body.insert("paused".into(), json!(true));
            }
            let schedule = client.json("POST", "/api/schedules", Some(&Value::Object(body)))?;
            print_resource(&schedule, json_out);
            Ok(())
        }
        SchedulesCommand::Update(update) => {
            let mut body = update.options.body()?;
            insert(&mut body, "name", update.name);
            insert(&mut body, "notebook", update.notebook);
            for field in update.clear {
                let name = field
                    .to_possible_value()
                    .map(|v| v.get_name().replace('-', "_"));
                body.insert(name.unwrap_or_default(), Value::Null);
            }
            let path = schedule_path(&update.schedule, "");
            let schedule = client.json("PATCH", &path, Some(&Value::Object(body)))?;
            print_resource(&schedule, json_out);
            Ok(())
        }
        SchedulesCommand::Pause(ScheduleKey { schedule }) => action(&schedule, "/pause"),
        SchedulesCommand::Resume(ScheduleKey { schedule }) => action(&schedule, "/resume"),
        SchedulesCommand::Snapshot(ScheduleKey { schedule }) => action(&schedule, "/snapshot"),
        SchedulesCommand::Backfill {
            schedule,
            from,
            to,
            downstream,
        } => pipelines::backfill(&client, &schedule, [from, to], downstream, json_out),
        SchedulesCommand::Sweep {
            schedule,
            grid,
            wait,
        } => pipelines::sweep(&client, &schedule, &grid, wait, json_out),
        SchedulesCommand::Run(run) => {
            let parameters = run.parameters.collect()?;
            let body =
                (!parameters.is_empty()).then(|| json!({"parameters": parameters.to_json()}));
            let path = schedule_path(&run.schedule, "/run");
            let execution = client.json("POST", &path, body.as_ref())?;
            finish_started(&client, execution, run.wait, json_out)
        }
        SchedulesCommand::Values {
            schedule,
            name,
            limit,
        } => values::schedule_values(&client, &schedule, name.as_deref(), limit, json_out),
        SchedulesCommand::Delete {
            schedule,
            executions,
            delete_files,
            cascade,
        } => {
            let (choice, what) = match (executions, delete_files) {
                (RunHistory::Delete, _) | (_, true) => (
                    "delete",
                    "its executions and their output notebooks deleted",
                ),
                (RunHistory::Keep, false) => {
                    ("keep", "its executions and their output notebooks kept")
                }
            };
            let path = schedule_path(&schedule, "");
            let cascade = if cascade { "&cascade=true" } else { "" };
            client.json(
                "DELETE",
                &format!("{path}?executions={choice}{cascade}"),
                None,
            )?;
            if !json_out {
                let after = if cascade.is_empty() {
                    ""
                } else {
                    ", with the schedules after it"
                };
                println!("deleted schedule {schedule}{after} ({what})");
            }
            Ok(())
        }
    }
}

impl RunOptions {
    fn fill(&self, body: &mut Map<String, Value>) -> Result<(), Failure> {
        let parameters = self.parameters.collect()?;
        if !parameters.is_empty() {
            body.insert("parameters".into(), Value::Object(parameters.to_json()));
        }
        if self.allow_undeclared_parameters {
            body.insert("allow_undeclared_parameters".into(), json!(true));
        }
        insert(body, "kernel", self.kernel.clone());
        insert(body, "machine_type", self.machine_type.clone());
        insert(body, "timeout", self.timeout);
        insert(body, "cell_timeout", self.cell_timeout);
        insert(body, "output_dir", self.output_dir.clone());
        insert(body, "retries", self.retries);
        insert(body, "retry_delay", self.retry_delay);
        if !self.outputs.is_empty() {
            body.insert("outputs".into(), json!(self.outputs));
        }
        if !self.expect.is_empty() {
            body.insert("expect".into(), json!(self.expect));
        }
        Ok(())
    }
}

impl ScheduleOptions {
    /// The request body: `--body`'s object, then every option given.
    fn body(&self) -> Result<Map<String, Value>, Failure> {
        let mut body = match &self.body {
            None => Map::new(),
            Some(text) => read_body(text)?,
        };
        insert(&mut body, "cron", self.cron.clone());
        insert(&mut body, "every", self.every.clone());
        pipelines::fill(self, &mut body)?;
        insert(&mut body, "timezone", self.timezone.clone());
        self.run.fill(&mut body)?;
        insert(&mut body, "input", self.input.clone());
        insert(&mut body, "max_concurrent", self.max_concurrent);
        insert(&mut body, "overlap", self.overlap.clone());
        insert(&mut body, "catchup", self.catchup.clone());
        if let Some(url) = &self.notify {
            let on = |which| {
                self.notify_on.is_empty() && which == NotifyOn::Failure
                    || self.notify_on.contains(&which)
            };
            body.insert(
                "notify".into(),
                json!({"url": url, "on_failure": on(NotifyOn::Failure), "on_success": on(NotifyOn::Success)}),
            );
        }
        insert(&mut body, "retention", self.retention);
        insert(&mut body, "stale_after", self.stale_after);
        Ok(body)
    }
}

/// `--body`: JSON text, `@FILE`, or `@-` (standard input); it must be an object.
fn read_body(text: &str) -> Result<Map<String, Value>, Failure> {
    let text = match text.strip_prefix('@') {
        None => text.to_owned(),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| Failure::usage(format!("--body @-: {error}")))?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| Failure::usage(format!("--body @{path}: {error}")))?,
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Failure::usage("--body: give a JSON object")),
        Err(error) => Err(Failure::usage(format!("--body: not JSON: {error}"))),
    }
}

fn insert(body: &mut Map<String, Value>, field: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        body.insert(field.into(), value.into());
    }
}

fn execution_path(id: &str, suffix: &str) -> String {
    format!("/api/executions/{}{suffix}", encode(id))
}

fn schedule_path(key: &str, suffix: &str) -> String {
    format!("/api/schedules/{}{suffix}", encode(key))
}

fn list_executions(
    client: &Client,
    list: &ListExecutionsArgs,
    json_out: bool,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    let filters = [
        ("schedule", &list.schedule),
        ("status", &list.status),
        ("run_id", &list.run_id),
    ];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    if let Some(limit) = list.limit {
        query.push(format!("limit={limit}"));
    }
    let mut cursor = list.cursor.clone();
    let mut all = Vec::new();
    loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(format!("cursor={}", encode(cursor)));
        }
        let path = match page_query.is_empty() {
            true => "/api/executions".to_owned(),
            false => format!("/api/executions?{}", page_query.join("&")),
        };
        let answer = client.json("GET", &path, None)?;
        let page: PageDto<ExecutionDto> = read(answer.clone(), "a page of executions")?;
        cursor = page.next_cursor;
        if !list.all {
            if json_out {
                print_json(&answer);
            } else {
                print_executions(&page.items);
                if let Some(cursor) = &cursor {
                    eprintln!("(more: --cursor {cursor}, or --all)");
                }
            }
            return Ok(());
        }
        all.extend(page.items);
        if cursor.is_none() {
            break;
        }
    }
    if json_out {
        let page = PageDto {
            items: all,
            next_cursor: None,
        };
        print_json(&serde_json::to_value(page).unwrap_or_default());
    } else {
        print_executions(&all);
    }
    Ok(())
}

/// After `executions create` or `schedules run`: print the execution, or wait for it first.
fn finish_started(
    client: &Client,
    execution: Value,
    wait_for_it: bool,
    json_out: bool,
) -> Result<(), Failure> {
    if !wait_for_it {
        print_resource(&execution, json_out);
        return Ok(());
    }
    let started: ExecutionDto = read(execution, "an execution")?;
    let execution = wait(client, &started.id)?;
    print_resource(&execution, json_out);
    outcome(&execution)
}

/// Follows the execution's event stream to its end, then reads the execution as it ended.
fn wait(client: &Client, id: &str) -> Result<Value, Failure> {
    let response = client.send("GET", &execution_path(id, "/events"), None, None)?;
    let response = response.success()?;
    let mut lines = BufReader::new(response.body);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => return Err(client.io_error(error)),
        }
    }
    let answer = client.json("GET", &execution_path(id, ""), None)?;
    let execution: ExecutionDto = read(answer.clone(), "an execution")?;
    if !execution.status.is_terminal() {
        return Err(Failure::run(format!(
            "the server closed the event stream before execution {id} ended (it is {})",
            execution.status
        )));
    }
    Ok(answer)
}

/// The server's answer as the type it was written from (`what` names it in the error).
fn read<T: serde::de::DeserializeOwned>(answer: Value, what: &str) -> Result<T, Failure> {
    wire::from_json(answer)
        .map_err(|error| Failure::run(format!("the server's answer is not {what}: {error}")))
}

/// Exit 0 for a succeeded execution, 1 with what went wrong otherwise.
fn outcome(answer: &Value) -> Result<(), Failure> {
    let execution: ExecutionDto = read(answer.clone(), "an execution")?;
    let status = execution.status;
    if status == ExecutionStatus::Succeeded {
        return Ok(());
    }
    let why = match (&execution.error, &execution.reason) {
        (Some(error), _) => {
            // `cell_index` is 0-based in the user's notebook; people count from 1.
            let cell = error
                .cell_index
                .map(|cell| format!("cell {} raised ", cell + 1))
                .unwrap_or_default();
            let evalue = error.evalue.lines().next().unwrap_or("");
            format!(": {cell}{}: {evalue}", error.ename)
        }
        (None, Some(reason)) => format!(": {reason}"),
        (None, None) => String::new(),
    };
    Err(Failure::run(format!(
        "execution {} {status}{why}",
        execution.name
    )))
}

// ---- output ----

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// One resource: `field: value` lines (null fields left out), or the server's JSON.
fn print_resource(value: &Value, json_out: bool) {
    if json_out {
        print_json(value);
        return;
    }
    let Some(object) = value.as_object() else {
        print_json(value);
        return;
    };
    let width = object.keys().map(String::len).max().unwrap_or(0);
    for (key, field) in object {
        let special = match key.as_str() {
            "error" => wire::from_json::<ErrorDto>(field.clone())
                .ok()
                .map(|error| {
                    let cell = error
                        .cell_index
                        .map_or_else(|| "null".to_owned(), |cell| cell.to_string());
                    format!("cell {cell} {}: {}", error.ename, error.evalue)
                }),
            "last_execution" => wire::from_json::<ExecutionSummaryDto>(field.clone())
                .ok()
                .map(|last| format!("{} {} ({})", last.id, last.status, last.name)),
            "progress" => wire::from_json::<ProgressDto>(field.clone())
                .ok()
                .map(|progress| format!("{}/{} cells", progress.cell + 1, progress.total)),
            _ => None,
        };
        let text = match (special, field) {
            (_, Value::Null) => continue,
            (Some(text), _) => text,
            (None, Value::String(text)) => text.clone(),
            (None, other) => other.to_string(),
        };
        println!("{key:width$}  {text}");
    }
}

fn print_executions(executions: &[ExecutionDto]) {
    let rows = executions
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.status.to_string(),
                when_at(Some(&e.created_at)),
                e.duration
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s")),
                e.name.clone(),
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "CREATED (UTC)", "DURATION", "NAME"], rows);
}

fn print_schedules(schedules: &[ScheduleDto]) {
    let rows = schedules
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.name.clone(),
                if s.paused { "paused" } else { "active" }.to_owned(),
                when_at(s.next_run.as_deref()),
                s.last_execution
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |last| last.status.to_string()),
                s.description.clone(),
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "STATE", "NEXT RUN (UTC)", "LAST", "WHEN"],
        rows,
    );
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

/// `2026-11-29T10:00:00.000Z` → `2026-11-29 10:00:00`; `-` for none.
fn when_at(time: Option<&str>) -> String {
    match time {
        Some(time) if time.len() >= 19 => time[..19].replace('T', " "),
        Some(time) => time.to_owned(),
        None => "-".to_owned(),
    }
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", line(headers.to_vec()));
    for row in &rows {
        let _ = writeln!(stdout, "{}", line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() && std::io::stderr().is_terminal() {
        eprintln!("(none)");
    }
}
