//! Bad input through the whole HTTP application (`oneshot`, a real scheduler on the test kernel):
//! malformed notebooks, parameters of the wrong type or name, cron expressions, time zones, schedule
//! names, paths that try to leave the root, and bodies of the wrong JSON, type or size. Every answer
//! must be a 4xx whose message names the problem — never a 5xx, never a panic. Each test prints its
//! figure (`bad input / <area>: N cases, F failures`) and lists every failing case at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use nbgate_api::{AppState, Config, app};
use nbgate_kernel::KernelSpecs;
use nbgate_scheduler::{ExecutorRunner, Scheduler, SchedulerConfig};
use nbgate_tests::JupyterEnv;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const TOKEN: &str = "bad-input-token";
/// No single request may take longer than this (a cron that never fires must not spin).
const PER_REQUEST: Duration = Duration::from_secs(20);

/// Panics in spawned tasks (the scheduler, kernel actors: tokio's worker threads), which would
/// otherwise go unnoticed; a handler's panic fails its test directly (`oneshot` runs it inline).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("tokio-runtime-worker") {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

/// The application over a scheduler with the test kernel (`testk`) and a root with fixtures.
struct Bench {
    env: JupyterEnv,
    _data: tempfile::TempDir,
    _outside: tempfile::TempDir,
    shutdown: CancellationToken,
    state: AppState,
}

struct Answer {
    status: u16,
    message: String,
    text: String,
}

fn code_cell(source: &str, tags: &[&str]) -> Value {
    json!({"cell_type": "code", "id": uuid::Uuid::new_v4().simple().to_string(), "execution_count": null,
           "metadata": {"tags": tags}, "outputs": [], "source": source})
}

fn notebook(cells: Vec<Value>) -> Value {
    json!({"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": "testk", "display_name": "testk", "language": "python"}}})
}

/// Declares one parameter of every kind.
const PARAMETERS: &str = "n = 60\nrate = 0.5\nflag = True\nlabel = 'x'\nitems = [1, 2]\n\
                          opts = {'a': 1}\nanything = None\n";

impl Bench {
    async fn start() -> Bench {
        count_panics();
        let env = JupyterEnv::new();
        env.add_test_kernel("testk", &[]);
        let specs = KernelSpecs::with_dirs(vec![env.specs.join("kernels")]);
        let data = tempfile::tempdir().expect("data dir");
        let mut scheduler_config = SchedulerConfig::new(env.work(), data.path());
        scheduler_config.runner = Arc::new(ExecutorRunner::new(specs.clone()));
        scheduler_config.kernel_env = env.vars();
        let shutdown = CancellationToken::new();
        let scheduler = Scheduler::start(scheduler_config, shutdown.clone())
            .await
            .expect("scheduler starts");
        let mut config = Config::new(TOKEN, env.work());
        config.specs = specs;
        config.default_kernel = Some("testk".into());
        let state = AppState::new(config).with_scheduler(scheduler, shutdown.clone());

        // Fixtures: a plain notebook, one with parameters, and ways out of the root.
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(
            outside.path().join("secret.ipynb"),
            notebook(vec![code_cell("echo secret", &[])]).to_string(),
        )
        .expect("write");
        let work = env.work();
        let write = |name: &str, value: &Value| {
            std::fs::write(work.join(name), value.to_string()).expect("write")
        };
        write("ok.ipynb", &notebook(vec![code_cell("echo ok", &[])]));
        write(
            "params.ipynb",
            &notebook(vec![
                code_cell(PARAMETERS, &["parameters"]),
                code_cell("echo ok", &[]),
            ]),
        );
        std::os::unix::fs::symlink(outside.path(), work.join("link_out")).expect("symlink");
        std::os::unix::fs::symlink(
            outside.path().join("secret.ipynb"),
            work.join("link_file.ipynb"),
        )
        .expect("symlink");
        std::fs::create_dir(work.join("a_dir.ipynb")).expect("dir");
        Bench {
            env,
            _data: data,
            _outside: outside,
            shutdown,
            state,
        }
    }

    fn write_raw(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.env.work().join(name), bytes).expect("write fixture");
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("token {TOKEN}"));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(body.into()).expect("request");
        let response = tokio::time::timeout(PER_REQUEST, app(self.state.clone()).oneshot(request))
            .await
            .unwrap_or_else(|_| panic!("{uri}: no answer within {PER_REQUEST:?}"))
            .expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 26)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|json| json["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Answer {
            status,
            message,
            text,
        }
    }

    async fn post(&self, uri: &str, body: Value) -> Answer {
        self.json(Method::POST, uri, &body).await
    }

    async fn json(&self, method: Method, uri: &str, body: &Value) -> Answer {
        self.send(method, uri, Some("application/json"), body.to_string())
            .await
    }

    /// The notebook at `path` through every route that reads one: the parameters form, an ad-hoc run
    /// and a schedule (`input` snapshot or live); each must refuse it with a 422 naming `needles`.
    async fn refuse_notebook(
        &self,
        sweep: &mut Sweep,
        label: &str,
        path: &str,
        schedule: &str,
        input: &str,
        needles: &[&str],
    ) {
        let routes = [
            (
                "parameters",
                "/api/notebooks/parameters",
                json!({"path": path}),
            ),
            ("execution", "/api/executions", json!({"notebook": path})),
            (
                "schedule",
                "/api/schedules",
                json!({"name": schedule, "notebook": path, "every": "1h", "input": input}),
            ),
        ];
        for (what, uri, body) in routes {
            let answer = self.json(Method::POST, uri, &body).await;
            sweep.rejects(&format!("{what} of {label}"), &answer, Some(422), needles);
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        if let Some(executor) = &self.state.executor {
            executor.scheduler.stopped().await;
        }
        self.state.kernels.shutdown_all().await;
        self.env.assert_no_survivors(Duration::from_secs(10));
    }
}

/// Cases tried and the ones that failed, printed as the area's figure.
struct Sweep {
    area: &'static str,
    tried: usize,
    failures: Vec<String>,
}

impl Sweep {
    fn new(area: &'static str) -> Sweep {
        Sweep {
            area,
            tried: 0,
            failures: Vec::new(),
        }
    }

    /// A 4xx (exactly `status` when given) whose message contains every needle (case-insensitive).
    fn rejects(&mut self, case: &str, answer: &Answer, status: Option<u16>, needles: &[&str]) {
        self.tried += 1;
        let class_ok = (400..500).contains(&answer.status);
        let status_ok = status.is_none_or(|s| s == answer.status);
        let lower = answer.message.to_lowercase();
        let missing: Vec<&&str> = needles
            .iter()
            .filter(|n| !lower.contains(&n.to_lowercase()))
            .collect();
        let silent = answer.message.is_empty() && !needles.is_empty();
        if !class_ok || !status_ok || !missing.is_empty() || silent {
            self.failures.push(format!(
                "{case}: {} {} (expected {status:?} naming {needles:?})",
                answer.status,
                truncate(&answer.text)
            ));
        }
    }

    /// Accepted input (valid though unusual): a 2xx.
    fn accepts(&mut self, case: &str, answer: &Answer) {
        self.tried += 1;
        if !(200..300).contains(&answer.status) {
            self.failures.push(format!(
                "{case}: {} {} (expected success)",
                answer.status,
                truncate(&answer.text)
            ));
        }
    }

    fn finish(self) {
        let panics = PANICS.load(Ordering::SeqCst);
        println!(
            "bad input / {}: {} cases, {} failures, {panics} panics",
            self.area,
            self.tried,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty() && panics == 0,
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.tried,
            self.failures.join("\n")
        );
    }
}

fn truncate(text: &str) -> String {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Malformed notebooks, each with what its error must name.
fn malformed_notebooks() -> Vec<(String, Vec<u8>, &'static str)> {
    let valid = notebook(vec![code_cell("echo ok", &["parameters"])]).to_string();
    let mut cases: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let mut add = |label: &str, bytes: Vec<u8>, needle: &'static str| {
        cases.push((label.to_owned(), bytes, needle));
    };
    for text in [
        "",
        " ",
        "{",
        "}",
        "not json",
        "{'nbformat': 4}",
        "{\"cells\": [}",
    ] {
        add(&format!("text {text:?}"), text.into(), "not valid JSON");
    }
    for text in [
        "[]",
        "null",
        "42",
        "\"notebook\"",
        "true",
        "[{\"nbformat\": 4}]",
    ] {
        add(
            &format!("JSON {text}"),
            text.into(),
            "must be a JSON object",
        );
    }
    add("not UTF-8", b"\xff\xfe{\"nbformat\": 4}".to_vec(), "UTF-8");
    // Every truncation of a valid notebook at 25 points.
    let step = valid.len() / 25;
    for cut in (1..25).map(|i| i * step) {
        add(
            &format!("truncated at {cut}/{}", valid.len()),
            valid.as_bytes()[..cut].to_vec(),
            "not valid JSON",
        );
    }
    add(
        "recursion 100000 deep",
        format!("{{\"nbformat\": 4, \"metadata\": {}}}", "[".repeat(100_000)).into_bytes(),
        "not valid JSON",
    );
    let mut with = |label: &str, edit: &dyn Fn(&mut Value), needle: &'static str| {
        let mut value: Value = serde_json::from_str(&valid).expect("valid");
        edit(&mut value);
        add(label, value.to_string().into_bytes(), needle);
    };
    with(
        "nbformat 3 with worksheets",
        &|v| {
            v["nbformat"] = json!(3);
            v["nbformat_minor"] = json!(0);
            v["worksheets"] =
                json!([{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": []}]}]);
            v.as_object_mut().expect("object").remove("cells");
        },
        "nbformat 4",
    );
    for (format, needle) in [
        (json!(3), "nbformat 4"),
        (json!(2), "nbformat 4"),
        (json!(5), "nbformat 4"),
        (json!(-1), "nbformat"),
        (json!("4"), "nbformat"),
        (json!(4.5), "nbformat"),
        (json!(null), "nbformat"),
        (json!([4]), "nbformat"),
    ] {
        with(
            &format!("nbformat {format}"),
            &|v| v["nbformat"] = format.clone(),
            needle,
        );
    }
    for field in ["nbformat", "cells"] {
        with(
            &format!("no {field}"),
            &|v| {
                v.as_object_mut().expect("object").remove(field);
            },
            field,
        );
    }
    for (label, value) in [
        ("object", json!({})),
        ("string", json!("cells")),
        ("number", json!(5)),
        ("null", json!(null)),
    ] {
        with(
            &format!("cells as {label}"),
            &|v| v["cells"] = value.clone(),
            "cells",
        );
        with(
            &format!("a cell as {label}"),
            &|v| v["cells"][0] = value.clone(),
            "cells",
        );
        with(
            &format!("metadata as {label}"),
            &|v| {
                v["metadata"] = if value.is_object() {
                    json!([])
                } else {
                    value.clone()
                }
            },
            "metadata",
        );
    }
    for (field, values) in [
        (
            "cell_type",
            vec![json!(5), json!("spreadsheet"), json!(null)],
        ),
        (
            "source",
            vec![json!(5), json!([1, 2]), json!({}), json!(null)],
        ),
        ("outputs", vec![json!({}), json!("x"), json!([5])]),
        ("metadata", vec![json!([]), json!("x")]),
    ] {
        for value in values {
            with(
                &format!("cell {field} = {value}"),
                &|v| v["cells"][0][field] = value.clone(),
                field,
            );
        }
    }
    for field in ["cell_type", "source"] {
        with(
            &format!("cell without {field}"),
            &|v| {
                v["cells"][0].as_object_mut().expect("cell").remove(field);
            },
            field,
        );
    }
    with(
        "nbformat_minor as string",
        &|v| v["nbformat_minor"] = json!("five"),
        "nbformat_minor",
    );
    cases
}

/// Notebooks that are odd but valid: the API must accept them.
fn odd_but_valid_notebooks() -> Vec<(String, String)> {
    let big_source = format!("echo {}", "x".repeat(8 << 20));
    let mut outputs = Vec::new();
    // About 50 MB: 50 cells with 1 MB of stored output each.
    let chunk = "y".repeat(1 << 20);
    for i in 0..50 {
        let mut cell = code_cell(&format!("echo {i}"), &[]);
        cell["outputs"] = json!([{"output_type": "stream", "name": "stdout", "text": chunk}]);
        outputs.push(cell);
    }
    outputs.insert(0, code_cell("days = 1", &["parameters"]));
    let mut many = String::new();
    for i in 0..5000 {
        many.push_str(&format!("p{i} = {i}\n"));
    }
    // Stored outputs and counts are replaced when the notebook runs; papermill reads these too.
    let mut lenient = notebook(vec![code_cell("echo ok", &[])]);
    lenient["cells"][0]["execution_count"] = json!("x");
    lenient["cells"][0]["outputs"] = json!([{"name": "stdout", "text": "x"}]);
    vec![
        (
            "a stored output without output_type, a count that is a string".into(),
            lenient.to_string(),
        ),
        (
            "an 8 MB cell".into(),
            notebook(vec![code_cell(&big_source, &[])]).to_string(),
        ),
        ("a 50 MB notebook".into(), notebook(outputs).to_string()),
        (
            "a parameters cell that is not valid Python".into(),
            notebook(vec![code_cell("days = (\nlabel = 'x", &["parameters"])]).to_string(),
        ),
        (
            "5000 parameters".into(),
            notebook(vec![code_cell(&many, &["parameters"])]).to_string(),
        ),
        (
            "unicode everywhere".into(),
            notebook(vec![code_cell(
                "\u{e9}t\u{e9} = '\u{1F600}'  # \u{202e}",
                &["parameters"],
            )])
            .to_string(),
        ),
        ("no cells".into(), notebook(Vec::new()).to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_notebooks_are_422_naming_the_problem() {
    let bench = Bench::start().await;
    let mut sweep = Sweep::new("malformed notebooks");
    for (i, (label, bytes, needle)) in malformed_notebooks().into_iter().enumerate() {
        let name = format!("bad_{i}.ipynb");
        bench.write_raw(&name, &bytes);
        let needles: Vec<&str> = [name.as_str(), needle]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect();
        let schedule = format!("bad_{i}");
        bench
            .refuse_notebook(&mut sweep, &label, &name, &schedule, "snapshot", &needles)
            .await;
    }
    for (i, (label, text)) in odd_but_valid_notebooks().into_iter().enumerate() {
        let name = format!("odd_{i}.ipynb");
        bench.write_raw(&name, text.as_bytes());
        let answer = bench
            .post("/api/notebooks/parameters", json!({"path": name}))
            .await;
        sweep.accepts(&format!("parameters of {label}"), &answer);
        let answer = bench.post("/api/schedules", json!({"name": format!("odd_{i}"), "notebook": name, "every": "1h", "paused": true})).await;
        sweep.accepts(&format!("paused schedule of {label}"), &answer);
    }
    sweep.finish();
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_of_the_wrong_type_or_name_are_422() {
    let bench = Bench::start().await;
    let mut sweep = Sweep::new("parameters");
    let samples = [
        ("an integer", json!(7)),
        ("a float", json!(2.5)),
        ("a boolean", json!(true)),
        ("a string", json!("7")),
        ("a list", json!([1])),
        ("an object", json!({"a": 1})),
    ];
    // Which samples each declared parameter accepts (null is always accepted, as papermill does).
    let declared: [(&str, &[&str]); 6] = [
        ("n", &["an integer"]),
        ("rate", &["an integer", "a float"]),
        ("flag", &["a boolean"]),
        ("label", &["a string"]),
        ("items", &["a list"]),
        ("opts", &["an object"]),
    ];
    for (name, fits) in declared {
        for (kind, value) in &samples {
            if fits.contains(kind) {
                continue;
            }
            let parameters = json!({ name: value });
            let answer = bench
                .post(
                    "/api/executions",
                    json!({"notebook": "params.ipynb", "parameters": parameters}),
                )
                .await;
            sweep.rejects(
                &format!("{name} = {value}"),
                &answer,
                Some(422),
                &[&format!("\"{name}\""), "must be"],
            );
            let answer = bench
                .post(
                    "/api/schedules",
                    json!({"name": "typed", "notebook": "params.ipynb", "every": "1h",
                            "parameters": parameters}),
                )
                .await;
            sweep.rejects(
                &format!("schedule {name} = {value}"),
                &answer,
                Some(422),
                &[&format!("\"{name}\""), "must be"],
            );
        }
    }
    let unknown_names = [
        "nope",
        "",
        " ",
        "a b",
        "1x",
        "N",
        "__import__('os').system('touch /tmp/pwned')",
        "x\ny",
        "x = 1; import os",
        "\u{e9}t\u{e9}",
        "\0",
    ];
    for name in unknown_names {
        let answer = bench
            .post(
                "/api/executions",
                json!({"notebook": "params.ipynb", "parameters": {name: 1}}),
            )
            .await;
        sweep.rejects(
            &format!("unknown name {name:?}"),
            &answer,
            Some(422),
            &["unknown parameters", "\"rate\""],
        );
        let answer = bench
            .post(
                "/api/executions",
                json!({"notebook": "ok.ipynb", "parameters": {name: 1}}),
            )
            .await;
        sweep.rejects(
            &format!("{name:?} for a notebook without parameters cell"),
            &answer,
            Some(422),
            &["no cell tagged `parameters`"],
        );
    }
    // Undeclared names allowed: they still must be names of the language, never code.
    let identifiers = ["nope", "N", "\u{e9}t\u{e9}"];
    for name in unknown_names.iter().filter(|n| !identifiers.contains(n)) {
        let answer = bench
            .post(
                "/api/executions",
                json!({"notebook": "params.ipynb", "parameters": {*name: 1},
                        "allow_undeclared_parameters": true}),
            )
            .await;
        sweep.rejects(
            &format!("undeclared name {name:?} allowed"),
            &answer,
            Some(422),
            &["not a valid parameter name"],
        );
    }
    for shape in [
        json!([]),
        json!("n=1"),
        json!(5),
        json!(true),
        json!([["n", 1]]),
    ] {
        let answer = bench
            .post(
                "/api/executions",
                json!({"notebook": "params.ipynb", "parameters": shape}),
            )
            .await;
        sweep.rejects(
            &format!("parameters = {shape}"),
            &answer,
            Some(422),
            &["parameters"],
        );
    }
    sweep.finish();
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_time_zones_names_and_policies_are_422() {
    let bench = Bench::start().await;
    let mut sweep = Sweep::new("schedules");
    let schedule = |extra: Value| {
        let mut body = json!({"name": "s", "notebook": "ok.ipynb", "paused": true});
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        if body.get("cron").is_none() && body.get("every").is_none() {
            body["every"] = json!("1h");
        }
        body
    };
    let crons = [
        "",
        " ",
        "*",
        "* * * *",
        "* * * * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * 0 *",
        "* * * * 8",
        "-1 * * * *",
        "a b c d e",
        "*/0 * * * *",
        "*/-1 * * * *",
        "5-1 * * * *",
        "0 0 30 2 *",
        "0 0 31 4 *",
        "0 0 31 2,4,6,9,11 *",
        "@reboot",
        "@never",
        "* * * * * \0",
        "\u{0660} * * * *",
        "99999999999999999999 * * * *",
        "0 0 * * MON-FRI-SAT",
        "0 0 * JANUARY *",
    ];
    let long = "1,".repeat(10_000) + "99 * * * *";
    for (i, cron) in crons.iter().copied().chain([long.as_str()]).enumerate() {
        let body = schedule(json!({"cron": cron, "name": format!("cron_{i}")}));
        let answer = bench.post("/api/schedules", body.clone()).await;
        sweep.rejects(
            &format!("cron {:?}", truncate(cron)),
            &answer,
            Some(422),
            &["cron"],
        );
    }
    for (i, every) in [
        "",
        "0m",
        "0",
        "-5m",
        "15",
        "15 parsecs",
        "1e9 hours",
        "99999999999999999999m",
        "18446744073709551615 days",
        "1.5.5h",
        "15m 15m",
        "\0",
    ]
    .into_iter()
    .enumerate()
    {
        let body = schedule(json!({"every": every, "name": format!("every_{i}")}));
        let answer = bench.post("/api/schedules", body.clone()).await;
        sweep.rejects(
            &format!("every {every:?}"),
            &answer,
            Some(422),
            &["interval"],
        );
    }
    let answer = bench
        .post(
            "/api/schedules",
            schedule(json!({"cron": "0 * * * *", "every": "1h"})),
        )
        .await;
    sweep.rejects("cron and every", &answer, Some(422), &["exactly one"]);
    for timezone in [
        "",
        "Mars/Olympus_Mons",
        "UTC+5",
        "+05:00",
        "../../etc/localtime",
        "Europe/Paris\0",
        "Europe/",
        "/usr/share/zoneinfo/UTC",
        "\u{1F600}",
    ] {
        let answer = bench
            .post(
                "/api/schedules",
                schedule(json!({"cron": "0 10 * * *", "timezone": timezone})),
            )
            .await;
        sweep.rejects(
            &format!("timezone {timezone:?}"),
            &answer,
            Some(422),
            &["time zone"],
        );
    }
    let too_long = "x".repeat(129);
    for name in [
        "",
        "Daily",
        "a-b",
        "a b",
        too_long.as_str(),
        "../x",
        "a/b",
        "\u{e9}",
        "a\0",
        "a\n",
        ".",
        "\u{0661}",
    ] {
        let answer = bench
            .post("/api/schedules", schedule(json!({"name": name})))
            .await;
        sweep.rejects(
            &format!("name {:?}", truncate(name)),
            &answer,
            Some(422),
            &["invalid name", "a-z"],
        );
    }
    for (field, value, needle) in [
        ("max_concurrent", json!(0), "max_concurrent"),
        ("max_concurrent", json!(-1), "max_concurrent"),
        ("retries", json!(-1), "retries"),
        ("retries", json!(1.5), "retries"),
        ("retries", json!(4_294_967_296u64), "retries"),
        ("retention", json!(0), "retention"),
        ("timeout", json!(0), "timeout"),
        ("timeout", json!(-1), "timeout"),
        ("timeout", json!(1e300), "timeout"),
        ("timeout", json!("1h"), "timeout"),
        ("cell_timeout", json!(1e-12), "cell_timeout"),
        ("retry_delay", json!(-0.5), "retry_delay"),
        ("overlap", json!("sometimes"), "overlap"),
        ("catchup", json!("most"), "catchup"),
        ("input", json!("copy"), "input"),
        ("paused", json!("yes"), "paused"),
        ("kernel", json!("nope"), "available"),
        ("kernel", json!(5), "kernel"),
        ("notify", json!({"url": "ftp://host/x"}), "webhook"),
        ("notify", json!({"url": "http://"}), "webhook"),
        ("notify", json!({"url": "not a url"}), "webhook"),
        ("notify", json!({"url": "http://host:99999/"}), "webhook"),
        ("notify", json!({"url": "http://h/", "extra": 1}), "extra"),
        ("notify", json!("http://h/"), "notify"),
        ("unknown_field", json!(1), "unknown_field"),
    ] {
        let answer = bench
            .post("/api/schedules", schedule(json!({field: value})))
            .await;
        sweep.rejects(&format!("{field} = {value}"), &answer, Some(422), &[needle]);
    }
    // A taken name, then edits of the wrong shape on the existing schedule.
    let answer = bench
        .post("/api/schedules", schedule(json!({"name": "taken"})))
        .await;
    sweep.accepts("a valid schedule", &answer);
    let answer = bench
        .post("/api/schedules", schedule(json!({"name": "taken"})))
        .await;
    sweep.rejects("a taken name", &answer, None, &["already exists"]);
    for (patch, needle) in [
        (json!({"cron": "61 * * * *"}), "cron"),
        (json!({"every": "0s"}), "interval"),
        (json!({"timezone": "Nowhere/City"}), "time zone"),
        (json!({"name": "Bad Name"}), "invalid name"),
        (json!({"notebook": "../x.ipynb"}), "invalid path"),
        (json!({"output_dir": "/tmp"}), "invalid path"),
        (json!({"parameters": {"zzz": 1}}), "no cell tagged"),
        (json!({"cron": "0 * * * *", "every": "1h"}), "exactly one"),
        (json!({"retention": 0}), "retention"),
    ] {
        let answer = bench
            .json(Method::PATCH, "/api/schedules/taken", &patch)
            .await;
        sweep.rejects(&format!("PATCH {patch}"), &answer, None, &[needle]);
    }
    for key in ["nope", "..", "%2e%2e%2fetc", "%00", "TAKEN"] {
        let answer = bench
            .send(
                Method::GET,
                &format!("/api/schedules/{key}"),
                None,
                Body::empty(),
            )
            .await;
        sweep.rejects(
            &format!("GET schedule {key}"),
            &answer,
            Some(404),
            &["not found"],
        );
        let answer = bench
            .send(
                Method::POST,
                &format!("/api/schedules/{key}/run"),
                None,
                Body::empty(),
            )
            .await;
        sweep.rejects(
            &format!("run schedule {key}"),
            &answer,
            Some(404),
            &["not found"],
        );
    }
    sweep.finish();
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_never_leave_the_root() {
    let bench = Bench::start().await;
    let mut sweep = Sweep::new("paths");
    let long = "d/".repeat(3000) + "x.ipynb";
    let escapes: [(&str, &str); 12] = [
        ("..", "invalid path"),
        ("../x.ipynb", "`..`"),
        ("a/../../x.ipynb", "`..`"),
        ("/etc/passwd", "relative"),
        ("//etc/passwd", "relative"),
        ("a\0b.ipynb", "NUL"),
        ("", "empty"),
        (" ", "empty"),
        ("link_out/secret.ipynb", "symbolic link"),
        ("link_file.ipynb", "symbolic link"),
        ("a_dir.ipynb", "not found"),
        ("missing/../../x.ipynb", "`..`"),
    ];
    let not_found = [
        "%2e%2e/x.ipynb",
        "~/x.ipynb",
        "C:\\x.ipynb",
        ".",
        "./",
        long.as_str(),
    ];
    for (path, needle) in escapes
        .iter()
        .copied()
        .chain(not_found.iter().map(|p| (*p, "")))
    {
        let needles: Vec<&str> = if needle.is_empty() {
            vec!["invalid path"]
        } else {
            vec![needle]
        };
        // Missing files and folders are "not found"; everything else names the path rule.
        let needles = if needle.is_empty() && !path.contains("..") {
            vec!["not found"]
        } else {
            needles
        };
        let case = format!("{:?}", truncate(path));
        bench
            .refuse_notebook(&mut sweep, &case, path, "p", "live", &needles)
            .await;
    }
    for (dir, needle) in [
        ("../out", "`..`"),
        ("/tmp/out", "relative"),
        ("link_out", "symbolic link"),
        ("link_out/deeper", "symbolic link"),
        ("a\0b", "NUL"),
        ("", "empty"),
        ("out/../../x", "`..`"),
        ("ok.ipynb", "ok.ipynb is a file, not a folder"),
        ("ok.ipynb/sub", "ok.ipynb is a file, not a folder"),
    ] {
        let answer = bench
            .post(
                "/api/executions",
                json!({"notebook": "ok.ipynb", "output_dir": dir}),
            )
            .await;
        sweep.rejects(
            &format!("output_dir {dir:?}"),
            &answer,
            Some(422),
            &[needle],
        );
        let answer = bench
            .post(
                "/api/schedules",
                json!({"name": "o", "notebook": "ok.ipynb", "every": "1h", "output_dir": dir}),
            )
            .await;
        sweep.rejects(
            &format!("schedule output_dir {dir:?}"),
            &answer,
            Some(422),
            &[needle],
        );
    }
    // Gateway kernels: a `path` leaving the root is a 400; a `path` is read relative to the root
    // (jupyter_server's API paths) and a KERNEL_WORKING_DIR elsewhere falls back to the root (KG).
    for body in [
        json!({"path": "../.."}),
        json!({"path": "link_out"}),
        json!({"path": "a/../../.."}),
    ] {
        let answer = bench.post("/api/kernels", body.clone()).await;
        sweep.rejects(
            &format!("kernel {body}"),
            &answer,
            Some(400),
            &["inside the root"],
        );
    }
    for body in [
        json!({"path": "/etc"}),
        json!({"env": {"KERNEL_WORKING_DIR": "/"}}),
        json!({"env": {"KERNEL_WORKING_DIR": "../.."}}),
        json!({"env": {"KERNEL_WORKING_DIR": "link_out"}}),
        json!({"env": {"KERNEL_WORKING_DIR": "/tmp"}}),
    ] {
        let answer = bench.post("/api/kernels", body.clone()).await;
        sweep.accepts(&format!("kernel {body}"), &answer);
    }
    // …and every kernel started runs inside the root.
    let root = bench.env.work().canonicalize().expect("root");
    for pid in bench.env.live_processes() {
        sweep.tried += 1;
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        if !cwd.starts_with(&root) {
            sweep
                .failures
                .push(format!("kernel {pid} runs in {}", cwd.display()));
        }
    }
    for uri in [
        "/kernelspecs/testk/..%2F..%2F..%2Fetc%2Fpasswd",
        "/kernelspecs/testk/..",
        "/kernelspecs/..%2Fkernels%2Ftestk/kernel.json",
        "/kernelspecs/testk/%00",
        "/kernelspecs/testk/link",
        "/api/executions/..%2F..%2Fetc%2Fpasswd",
        "/api/executions/%00/notebook",
        "/api/executions/..%2F..%2Fetc/notebook",
    ] {
        let answer = bench.send(Method::GET, uri, None, Body::empty()).await;
        sweep.rejects(uri, &answer, Some(404), &[]);
    }
    sweep.finish();
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_the_wrong_json_type_or_size_are_4xx() {
    let bench = Bench::start().await;
    let created = bench
        .post(
            "/api/schedules",
            json!({"name": "body", "notebook": "ok.ipynb", "every": "1h", "paused": true}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mut sweep = Sweep::new("HTTP bodies");
    let routes: [(Method, &str); 7] = [
        (Method::POST, "/api/executions"),
        (Method::POST, "/api/schedules"),
        (Method::POST, "/api/notebooks/parameters"),
        (Method::PATCH, "/api/schedules/body"),
        (Method::POST, "/api/schedules/body/run"),
        (Method::POST, "/api/kernels"),
        (Method::POST, "/api/sessions"),
    ];
    let broken: Vec<(&str, Vec<u8>)> = vec![
        ("open brace", b"{".to_vec()),
        ("close brace", b"}".to_vec()),
        ("open bracket", b"[".to_vec()),
        ("nul", b"nul".to_vec()),
        ("missing value", b"{\"a\":}".to_vec()),
        ("single quotes", b"{'a': 1}".to_vec()),
        ("trailing garbage", b"{} x".to_vec()),
        ("trailing comma", b"{\"a\": 1,}".to_vec()),
        ("byte order mark", b"\xef\xbb\xbf{}".to_vec()),
        ("not UTF-8", b"{\"a\": \"\xff\"}".to_vec()),
        ("lone surrogate", b"{\"a\": \"\\ud800\"}".to_vec()),
        // Not here: `1e400` is valid JSON (RFC 8259 sets no range; numbers keep their text, and a
        // parameter `1e400` is Python's `float('inf')`, as `json.loads` reads it).
        ("deep nesting", "[".repeat(100_000).into_bytes()),
        ("NUL byte", b"{\0}".to_vec()),
    ];
    for (method, path) in &routes {
        for (label, body) in &broken {
            let answer = bench
                .send(method.clone(), path, Some("application/json"), body.clone())
                .await;
            // serde reports the first problem it meets (an unknown field may come before the syntax).
            sweep.rejects(
                &format!("{method} {path} with {label}"),
                &answer,
                None,
                &["JSON"],
            );
        }
        for (label, body) in [
            ("an array", "[]"),
            ("a string", "\"x\""),
            ("a number", "42"),
            ("true", "true"),
            ("null", "null"),
            ("an array of the fields", "[\"ok.ipynb\"]"),
        ] {
            let gateway = path.starts_with("/api/kernels") || path.starts_with("/api/sessions");
            if gateway && label == "null" {
                continue; // Kernel Gateway reads `null` as no body
            }
            let answer = bench
                .send(method.clone(), path, Some("application/json"), body)
                .await;
            sweep.rejects(&format!("{method} {path} with {label}"), &answer, None, &[]);
        }
        for size in [3 << 20, 50 << 20] {
            let body = format!("{{\"notebook\": \"{}\"}}", "x".repeat(size));
            let answer = bench
                .send(method.clone(), path, Some("application/json"), body)
                .await;
            sweep.rejects(
                &format!("{method} {path} with {} MiB", size >> 20),
                &answer,
                Some(413),
                &["limit"],
            );
        }
    }
    // The executor API reads JSON only with a JSON content type (the gateway's routes, as KG, do not ask).
    for (method, path) in &routes[..4] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/xml"),
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let answer = bench.send(method.clone(), path, content_type, "{}").await;
            sweep.rejects(
                &format!("{method} {path} as {content_type:?}"),
                &answer,
                Some(415),
                &["Content-Type"],
            );
        }
    }
    // Query strings.
    for query in [
        "status=exploded",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=100000",
        "limit=99999999999999999999999",
        "cursor=not-a-cursor",
        "cursor=%00",
        "schedule=nope",
    ] {
        let answer = bench
            .send(
                Method::GET,
                &format!("/api/executions?{query}"),
                None,
                Body::empty(),
            )
            .await;
        let needle = query.split('=').next().unwrap_or_default();
        let needles: &[&str] = if needle == "schedule" {
            &["not found"]
        } else {
            &[needle]
        };
        sweep.rejects(&format!("list with {query}"), &answer, None, needles);
    }
    sweep.finish();
    bench.stop().await;
}

/// The CLI refuses the same notebooks: exit code 2, one line naming the problem, no output written.
#[test]
fn the_cli_refuses_malformed_notebooks_with_exit_2_and_one_line() {
    let env = JupyterEnv::new();
    let work = env.work();
    let mut sweep = Sweep::new("malformed notebooks, CLI");
    for (i, (label, bytes, needle)) in malformed_notebooks().into_iter().enumerate() {
        let name = format!("bad_{i}.ipynb");
        std::fs::write(work.join(&name), &bytes).expect("write");
        for command in [vec!["run", &name, "out.ipynb"], vec!["params", &name]] {
            sweep.tried += 1;
            let output = std::process::Command::new(nbgate_tests::workspace_bin("nbgate"))
                .current_dir(&work)
                .envs(env.vars())
                .args(&command)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("nbgate runs");
            let message = String::from_utf8_lossy(&output.stderr);
            let one_line = message.lines().count() == 1 && message.starts_with("nbgate: ");
            let names = message.to_lowercase().contains(&needle.to_lowercase());
            if output.status.code() != Some(2)
                || !one_line
                || !names
                || work.join("out.ipynb").exists()
            {
                sweep.failures.push(format!(
                    "{} of {label}: {:?} {}",
                    command[0],
                    output.status.code(),
                    truncate(&message)
                ));
            }
        }
    }
    sweep.finish();
}
