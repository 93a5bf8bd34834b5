//! Output files as users meet them: a notebook on real ipykernel writes tables (CSV, TSV, JSON lines,
//! Parquet from pandas) and other files; `nbgate serve` records the ones its `outputs` patterns match that the run created
//! or changed, previews them, refuses what is not recorded or leads out of the root, keeps a failed
//! run's partial outputs, reads a large output in bounded memory, and says whether a schedule's outputs
//! are fresh.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nbgate_tests::JupyterEnv;
use nbgate_tests::serve::{Serve, notebook, proc_status_kib, size};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("hash")
        .to_owned()
}

/// The notebook's cell (in `models/`): writes tables and a binary file under its folder, and a link
/// out of the root to `outside/secret.csv` beside it.
const WRITES: &str = r#"
import os, json
os.makedirs('output/generated_sync_date=2026-01-02', exist_ok=True)
with open('output/generated_sync_date=2026-01-02/predictions.csv', 'w') as f:
    f.write('id,score,buy,label\n1,0.91,true,"a, b"\n2,0.5,false,c\n3,1,true,d\n')
os.makedirs('out', exist_ok=True)
with open('out/t.tsv', 'w') as f:
    f.write('k\tv\nx\t1\ny\t2\n')
with open('out/j.jsonl', 'w') as f:
    for i in range(4):
        f.write(json.dumps({'i': i, 'name': 'n%d' % i}) + '\n')
with open('out/model.bin', 'wb') as f:
    f.write(bytes(range(256)))
os.symlink('../../../outside/secret.csv', 'out/link.csv')
print('written')"#;

const PATTERNS: [&str; 6] = [
    "output/generated_sync_date=*/predictions.csv",
    "out/*.tsv",
    "out/*.jsonl",
    "out/*.bin",
    "out/*.csv",
    "nothing/*.parquet",
];

fn outside_file(env: &JupyterEnv) -> std::path::PathBuf {
    let outside = env.dir.path().join("outside/secret.csv");
    write(&outside, "secret\n42\n");
    outside
}

/// The server; `outside` (beside the root, `../outside/secret.csv` from it) must exist.
fn start(env: &JupyterEnv, outside: &Path) -> Serve {
    assert!(outside.is_file());
    Serve::start(env, &env.dir.path().join("data"), &[])
}

#[test]
fn outputs_in_each_format_are_recorded_and_previewed_and_nothing_else_is_read() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    let nb = env.work().join("models/model.ipynb");
    write(&nb, &notebook("python3", "python", &[WRITES]));
    // Matched but untouched by the run: not recorded.
    write(
        &env.work()
            .join("models/output/generated_sync_date=2026-01-01/predictions.csv"),
        "id\n1\n",
    );
    let server = start(&env, &outside);

    // Patterns are checked at creation.
    for bad in ["/etc/*.csv", "../*.csv", "out/../../x.csv", "out/[.csv"] {
        let (status, answer) = server.call(
            "POST",
            "/api/executions",
            Some(&json!({"notebook": "models/model.ipynb", "outputs": [bad]})),
        );
        assert_eq!(status, 422, "{bad}: {answer}");
        let message = answer["message"].as_str().expect("message");
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }

    let id = server.create(&json!({"notebook": "models/model.ipynb", "outputs": PATTERNS}));
    let execution = server.finished(&id, WAIT);
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(execution["output_patterns"], json!(PATTERNS));
    let outputs = execution["outputs"].as_array().expect("outputs").clone();
    let paths: Vec<&str> = outputs
        .iter()
        .map(|o| o["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "models/out/j.jsonl",
            "models/out/model.bin",
            "models/out/t.tsv",
            "models/output/generated_sync_date=2026-01-02/predictions.csv",
        ],
        "the link out of the root and the untouched match are not recorded"
    );
    let by_path = |path: &str| -> Value {
        outputs
            .iter()
            .find(|o| o["path"] == path)
            .cloned()
            .expect(path)
    };
    let csv = by_path("models/output/generated_sync_date=2026-01-02/predictions.csv");
    let csv_file = env
        .work()
        .join("models/output/generated_sync_date=2026-01-02/predictions.csv");
    assert_eq!(csv["rows"], 3);
    assert_eq!(
        csv["bytes"],
        std::fs::metadata(&csv_file).expect("csv").len()
    );
    assert_eq!(csv["sha256"], sha256(&csv_file));
    assert!(csv["modified"].as_str().expect("modified").ends_with('Z'));
    assert_eq!(
        csv["columns"],
        json!([{"name": "id", "type": "integer"}, {"name": "score", "type": "float"},
               {"name": "buy", "type": "boolean"}, {"name": "label", "type": "string"}])
    );
    let tsv = by_path("models/out/t.tsv");
    assert_eq!(tsv["rows"], 2);
    assert_eq!(
        tsv["columns"],
        json!([{"name": "k", "type": "string"}, {"name": "v", "type": "integer"}])
    );
    let jsonl = by_path("models/out/j.jsonl");
    assert_eq!(jsonl["rows"], 4);
    assert_eq!(
        jsonl["columns"],
        json!([{"name": "i", "type": "integer"}, {"name": "name", "type": "string"}])
    );
    let bin = by_path("models/out/model.bin");
    assert_eq!(
        (bin["bytes"].clone(), bin["rows"].clone()),
        (json!(256), Value::Null)
    );

    // The listing route answers the same files.
    let listed = server.ok("GET", &format!("/api/executions/{id}/outputs"), None);
    assert_eq!(listed["outputs"], json!(outputs));

    let preview = |query: &str| {
        server.call(
            "GET",
            &format!("/api/executions/{id}/outputs/preview?{query}"),
            None,
        )
    };
    let (status, table) =
        preview("path=models/output/generated_sync_date%3D2026-01-02/predictions.csv&limit=2");
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["columns"], csv["columns"]);
    assert_eq!(
        table["rows"],
        json!([[1, 0.91, true, "a, b"], [2, 0.5, false, "c"]])
    );
    let (status, table) = preview("path=models/out/j.jsonl");
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["rows"].as_array().expect("rows").len(), 4);
    assert_eq!(table["rows"][3], json!([3, "n3"]));

    // Only recorded paths are read: the link out of the root, a path out of the root, another file.
    for path in [
        "models/out/link.csv",
        "../outside/secret.csv",
        "models/model.ipynb",
    ] {
        let (status, answer) = preview(&format!("path={path}"));
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(!answer.to_string().contains("42"), "{answer}");
    }
    let (status, answer) = preview("path=models/out/model.bin");
    assert_eq!(status, 422, "{answer}");
    for query in [
        "path=models/out/t.tsv&limit=0",
        "path=models/out/t.tsv&limit=1001",
        "limit=5",
    ] {
        let (status, answer) = preview(query);
        assert_eq!(status, 400, "{query}: {answer}");
    }
    let (status, _) = server.call(
        "GET",
        "/api/executions/nope/outputs/preview?path=x.csv",
        None,
    );
    assert_eq!(status, 404);
    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}

#[test]
fn a_failed_run_keeps_its_partial_outputs_and_a_glob_that_matches_nothing_records_nothing() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    write(
        &env.work().join("fail.ipynb"),
        &notebook(
            "python3",
            "python",
            &[
                "open('partial.csv', 'w').write('a\\n1\\n2\\n')",
                "raise ValueError('late')",
            ],
        ),
    );
    write(
        &env.work().join("quiet.ipynb"),
        &notebook("python3", "python", &["print('no files')"]),
    );
    let server = start(&env, &outside);
    let failed = server.create(&json!({"notebook": "fail.ipynb", "outputs": ["*.csv"]}));
    let quiet = server.create(&json!({"notebook": "quiet.ipynb", "outputs": ["out/**/*.csv"]}));
    let failed = server.finished(&failed, WAIT);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["outputs"][0]["path"], "partial.csv");
    assert_eq!(failed["outputs"][0]["rows"], 2);
    let quiet = server.finished(&quiet, WAIT);
    assert_eq!(quiet["status"], "succeeded", "{quiet}");
    assert_eq!(quiet["outputs"], json!([]));
    server.stop();
}

#[test]
fn a_large_output_is_described_and_previewed_in_bounded_memory() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    // 48 MB in CI, 200 MB with NBGATE_SOAK=1: each row is 100 bytes.
    let rows = size(480_000, 2_000_000);
    let writer = format!(
        "with open('big.csv', 'w') as f:\n    f.write('id,score,label\\n')\n    \
         row = ',0.123456789,' + 'x' * 76 + '\\n'\n    \
         f.writelines('%012d%s' % (i, row) for i in range({rows}))"
    );
    write(
        &env.work().join("small.ipynb"),
        &notebook(
            "python3",
            "python",
            &["open('small.csv', 'w').write('a\\n1\\n')"],
        ),
    );
    write(
        &env.work().join("big.ipynb"),
        &notebook("python3", "python", &[&writer]),
    );
    let server = start(&env, &outside);
    // A first run with an output brings the server's peak to what any run with outputs costs.
    let warm = server.create(&json!({"notebook": "small.ipynb", "outputs": ["small.csv"]}));
    assert_eq!(server.finished(&warm, WAIT)["status"], "succeeded");
    let peak_before = proc_status_kib(server.pid(), "VmHWM");

    let id = server.create(&json!({"notebook": "big.ipynb", "outputs": ["big.csv"]}));
    let execution = server.finished(&id, Duration::from_secs(300));
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let file = env.work().join("big.csv");
    let bytes = std::fs::metadata(&file).expect("big.csv").len();
    let big = &execution["outputs"][0];
    assert_eq!(big["rows"], rows);
    assert_eq!(big["bytes"], bytes);
    assert_eq!(big["sha256"], sha256(&file));
    let started = Instant::now();
    let table = server.ok(
        "GET",
        &format!("/api/executions/{id}/outputs/preview?path=big.csv&limit=50"),
        None,
    );
    let preview_took = started.elapsed();
    assert_eq!(table["rows"].as_array().expect("rows").len(), 50);
    assert_eq!(table["rows"][49][0], 49);
    let growth_kib = proc_status_kib(server.pid(), "VmHWM").saturating_sub(peak_before);
    println!(
        "{bytes} bytes: peak RSS grew {growth_kib} KiB; preview of 50 rows took {preview_took:?}"
    );
    // Reading the file whole would raise the peak by its size at least.
    assert!(
        growth_kib * 1024 < bytes / 3,
        "the server's peak RSS grew {growth_kib} KiB for a {bytes}-byte output"
    );
    server.stop();
}

#[test]
fn a_schedule_is_fresh_after_a_successful_run_with_outputs_and_stale_otherwise() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    write(
        &env.work().join("daily.ipynb"),
        &notebook(
            "python3",
            "python",
            &["open('daily.csv', 'w').write('a\\n1\\n')"],
        ),
    );
    let server = start(&env, &outside);
    let create = |name: &str, outputs: &[&str], extra: Value| -> String {
        let mut body = json!({"name": name, "notebook": "daily.ipynb", "every": "1h",
                              "paused": true, "outputs": outputs});
        for (key, value) in extra.as_object().expect("object") {
            body[key] = value.clone();
        }
        let (status, schedule) = server.call("POST", "/api/schedules", Some(&body));
        assert_eq!(status, 201, "{schedule}");
        assert_eq!(schedule["outputs"], json!(outputs));
        schedule["id"].as_str().expect("id").to_owned()
    };
    let (status, answer) = server.call(
        "POST",
        "/api/schedules",
        Some(
            &json!({"name": "bad", "notebook": "daily.ipynb", "every": "1h", "outputs": ["/abs"]}),
        ),
    );
    assert_eq!(status, 422, "{answer}");
    let fresh = create("fresh", &["daily.csv"], json!({}));
    // Declares outputs its runs never write: a success without outputs does not count.
    let empty = create("empty", &["never/*.csv"], json!({"stale_after": 3600}));
    let never = create("never", &["daily.csv"], json!({}));

    let freshness =
        |id: &str| server.ok("GET", &format!("/api/schedules/{id}"), None)["freshness"].clone();
    for id in [&fresh, &empty, &never] {
        assert_eq!(freshness(id)["stale"], true, "before any run");
    }
    for id in [&fresh, &empty] {
        let run = server.ok("POST", &format!("/api/schedules/{id}/run"), None);
        let run = server.finished(run["id"].as_str().expect("id"), WAIT);
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let fresh_now = freshness(&fresh);
    assert_eq!(fresh_now["stale"], false, "{fresh_now}");
    assert!(fresh_now["last_success"].is_string() && fresh_now["last_output_at"].is_string());
    let empty_now = freshness(&empty);
    assert_eq!(empty_now["stale"], true, "{empty_now}");
    assert!(empty_now["last_success"].is_string() && empty_now["last_output_at"].is_null());
    assert_eq!(freshness(&never)["stale"], true);
    // The window is editable, and listed schedules leave freshness out.
    let patched = server.ok(
        "PATCH",
        &format!("/api/schedules/{fresh}"),
        Some(&json!({"stale_after": 60, "outputs": ["daily.csv", "more/*.csv"]})),
    );
    assert_eq!(patched["stale_after"], 60.0);
    assert_eq!(patched["outputs"], json!(["daily.csv", "more/*.csv"]));
    let listed = server.ok("GET", "/api/schedules", None);
    assert!(listed["items"][0].get("freshness").is_none());
    server.stop();
}

/// `nbgate ARGS…` against `server`, the token by environment.
fn cli(env: &JupyterEnv, server: &Serve, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(nbgate_tests::workspace_bin("nbgate"))
        .args(args)
        .envs(env.vars())
        .env("NBGATE_URL", format!("http://127.0.0.1:{}", server.port))
        .env("NBGATE_TOKEN", nbgate_tests::serve::TOKEN)
        .output()
        .expect("nbgate runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_declares_outputs_and_lists_and_previews_them() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    write(
        &env.work().join("nb.ipynb"),
        &notebook(
            "python3",
            "python",
            &["import os\nos.makedirs('out', exist_ok=True)\n\
               open('out/p.csv', 'w').write('id,score\\n1,0.5\\n2,0.75\\n')\n\
               open('out/q.jsonl', 'w').write('{\"k\": true}\\n')"],
        ),
    );
    let server = start(&env, &outside);
    let (code, stdout, stderr) = cli(
        &env,
        &server,
        &[
            "executions",
            "create",
            "nb.ipynb",
            "--output",
            "out/*.csv",
            "--output",
            "out/*.jsonl",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let execution: Value = serde_json::from_str(&stdout).expect("json");
    let id = execution["id"].as_str().expect("id");
    assert_eq!(
        execution["output_patterns"],
        json!(["out/*.csv", "out/*.jsonl"])
    );

    let (code, table, stderr) = cli(&env, &server, &["executions", "outputs", id]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("PATH"), "{table}");
    assert!(lines[1].starts_with("out/p.csv") && lines[1].contains("id:integer, score:float"));
    assert!(
        lines[1].split_whitespace().nth(2) == Some("2"),
        "rows: {table}"
    );
    assert!(
        lines[2].starts_with("out/q.jsonl") && lines[2].contains("k:boolean"),
        "{table}"
    );
    let (_, listed, _) = cli(&env, &server, &["executions", "outputs", id, "--json"]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[0]["rows"], 2);

    let (code, preview, stderr) = cli(
        &env,
        &server,
        &["executions", "preview", id, "out/p.csv", "--limit", "1"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        preview
            .lines()
            .map(str::split_whitespace)
            .map(Vec::from_iter)
            .collect::<Vec<_>>(),
        [vec!["id", "score"], vec!["1", "0.5"]]
    );
    let (code, _, stderr) = cli(&env, &server, &["executions", "preview", id, "nb.ipynb"]);
    assert_eq!(code, 2, "a path that is not recorded: {stderr}");
    assert!(stderr.contains("not found"), "{stderr}");

    let (code, stdout, stderr) = cli(
        &env,
        &server,
        &[
            "schedules",
            "create",
            "daily",
            "nb.ipynb",
            "--every",
            "6h",
            "--paused",
            "--output",
            "out/*.csv",
            "--stale-after",
            "7200",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let schedule: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(schedule["outputs"], json!(["out/*.csv"]));
    assert_eq!(schedule["stale_after"], 7200.0);
    let (code, _, stderr) = cli(
        &env,
        &server,
        &[
            "schedules",
            "create",
            "bad",
            "nb.ipynb",
            "--every",
            "6h",
            "--output",
            "../x.csv",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"../x.csv\""), "{stderr}");
    server.stop();
}

/// The notebook's cell: pandas (pyarrow) writes Parquet files in `pq/`: typed columns (snappy, the
/// default), 250 rows in row groups of 100 with each codec pandas users pick, a file whose second row
/// group is overwritten after writing (its footer intact), brotli (not decoded by nbgate) and a file
/// that is not Parquet at all.
const WRITES_PARQUET: &str = r#"
import datetime, os
import pandas as pd
import pyarrow.parquet as pq
os.makedirs('pq', exist_ok=True)
at = pd.Timestamp('2026-01-02 03:04:05')
pd.DataFrame({
    'id': [1, 2, 3],
    'score': [0.91, float('nan'), 1.5],
    'buy': [True, False, True],
    'label': ['a, b', 'ü', 'c'],
    'at': [at, at + pd.Timedelta(seconds=1), at + pd.Timedelta(milliseconds=1500)],
    'at_utc': pd.to_datetime([at, at, at]).tz_localize('UTC'),
    'day': [datetime.date(2026, 1, 2), datetime.date(2026, 1, 3), None],
    'tags': [[1, 2], [], [3]],
}).to_parquet('pq/types.parquet')
groups = pd.DataFrame({'i': range(250), 'name': ['n%d' % i for i in range(250)]})
for codec in ['snappy', 'gzip', 'zstd']:
    groups.to_parquet('pq/groups_%s.parquet' % codec, compression=codec, row_group_size=100)
groups.to_parquet('pq/damaged.parquet', row_group_size=100)
column = pq.ParquetFile('pq/damaged.parquet').metadata.row_group(1).column(0)
start = column.dictionary_page_offset or column.data_page_offset
with open('pq/damaged.parquet', 'r+b') as f:
    f.seek(start)
    f.write(b'\xee' * column.total_compressed_size)
groups.to_parquet('pq/brotli.parquet', compression='brotli')
with open('pq/corrupt.parquet', 'w') as f:
    f.write('id,score\n1,0.5\n')
print(pq.ParquetFile('pq/groups_zstd.parquet').metadata.num_row_groups)"#;

#[test]
fn parquet_outputs_from_pandas_are_described_from_their_footer_and_previewed_by_row_group() {
    let env = JupyterEnv::new();
    let outside = outside_file(&env);
    write(
        &env.work().join("pq.ipynb"),
        &notebook("python3", "python", &[WRITES_PARQUET]),
    );
    let server = start(&env, &outside);
    let id = server.create(&json!({"notebook": "pq.ipynb", "outputs": ["pq/*.parquet"]}));
    let execution = server.finished(&id, WAIT);
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let outputs = execution["outputs"].as_array().expect("outputs").clone();
    let by_path = |name: &str| -> Value {
        outputs
            .iter()
            .find(|o| o["path"] == format!("pq/{name}"))
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not recorded: {outputs:?}"))
    };
    assert_eq!(outputs.len(), 7, "{outputs:?}");
    for output in &outputs {
        let file = env.work().join(output["path"].as_str().expect("path"));
        assert_eq!(output["sha256"], sha256(&file), "{output}");
        assert_eq!(
            output["bytes"],
            std::fs::metadata(&file).expect("file").len()
        );
    }
    let types = by_path("types.parquet");
    assert_eq!(types["rows"], 3);
    assert_eq!(
        types["columns"],
        json!([{"name": "id", "type": "integer"}, {"name": "score", "type": "float"},
               {"name": "buy", "type": "boolean"}, {"name": "label", "type": "string"},
               {"name": "at", "type": "timestamp"}, {"name": "at_utc", "type": "timestamp"},
               {"name": "day", "type": "date"}, {"name": "tags", "type": "array"}])
    );
    let preview = |path: &str, limit: usize| {
        server.call(
            "GET",
            &format!("/api/executions/{id}/outputs/preview?path=pq/{path}&limit={limit}"),
            None,
        )
    };
    let (status, table) = preview("types.parquet", 50);
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["columns"], types["columns"]);
    assert_eq!(
        table["rows"],
        json!([
            [
                1,
                0.91,
                true,
                "a, b",
                "2026-01-02T03:04:05",
                "2026-01-02T03:04:05Z",
                "2026-01-02",
                [1, 2]
            ],
            [
                2,
                null,
                false,
                "ü",
                "2026-01-02T03:04:06",
                "2026-01-02T03:04:05Z",
                "2026-01-03",
                []
            ],
            [
                3,
                1.5,
                true,
                "c",
                "2026-01-02T03:04:06.500",
                "2026-01-02T03:04:05Z",
                null,
                [3]
            ]
        ])
    );

    // Rows and columns from the footer; a preview within the first row group and across three.
    let names: Vec<Value> = (0..250).map(|i| json!([i, format!("n{i}")])).collect();
    for codec in ["snappy", "gzip", "zstd"] {
        let name = format!("groups_{codec}.parquet");
        let file = by_path(&name);
        assert_eq!(file["rows"], 250, "{file}");
        assert_eq!(
            file["columns"],
            json!([{"name": "i", "type": "integer"}, {"name": "name", "type": "string"}])
        );
        let (status, table) = preview(&name, 50);
        assert_eq!(status, 200, "{name}: {table}");
        assert_eq!(table["rows"], json!(names[..50]), "{name}");
        let (status, table) = preview(&name, 1000);
        assert_eq!(status, 200, "{name}: {table}");
        assert_eq!(table["rows"], json!(names), "{name}");
    }

    // The damaged second row group is never read by a preview that stays in the first one.
    assert_eq!(by_path("damaged.parquet")["rows"], 250);
    let (status, table) = preview("damaged.parquet", 100);
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["rows"], json!(names[..100]));
    let (status, answer) = preview("damaged.parquet", 101);
    assert_eq!(status, 422, "{answer}");
    let message = answer["message"].as_str().expect("message");
    assert!(
        message.starts_with(
            "output \"pq/damaged.parquet\" cannot be previewed: it is not a valid Parquet file"
        ),
        "{message}"
    );

    // Brotli: described from the footer, but its pages are not decoded.
    let brotli = by_path("brotli.parquet");
    assert_eq!(brotli["rows"], 250);
    let (status, answer) = preview("brotli.parquet", 5);
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("BROTLI") && m.contains("snappy")),
        "{answer}"
    );

    // Not Parquet at all: recorded with its size and hash only, and a 422 naming the file.
    let corrupt = by_path("corrupt.parquet");
    assert_eq!(
        (corrupt["rows"].clone(), corrupt["columns"].clone()),
        (Value::Null, Value::Null),
        "{corrupt}"
    );
    let (status, answer) = preview("corrupt.parquet", 5);
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"].as_str().is_some_and(
            |m| m.contains("\"pq/corrupt.parquet\"") && m.contains("not a valid Parquet file")
        ),
        "{answer}"
    );
    server.stop();
    env.assert_no_survivors(Duration::from_secs(10));
}
