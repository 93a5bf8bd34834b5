#!/usr/bin/env python3
"""Executor API throughput: N one-cell executions submitted at once to `nbgate serve`, timed until all
are terminal, against the same N notebooks run by one papermill process per job (jupyter-scheduler's
model) in a pool of 2 workers; then listing latency over the executions the store holds.

    .venv/bin/python bench/scheduler_bench.py                       # 100 jobs, release binary
    .venv/bin/python bench/scheduler_bench.py --count 20 --skip-papermill
    NBGATE=target/debug/nbgate .venv/bin/python bench/scheduler_bench.py
    .venv/bin/python bench/scheduler_bench.py --variant fork= --variant spawn=--no-fork-server

Writes bench/out/scheduler/ (notebooks, outputs, nbgate's data dir) and prints one JSON summary line.
Jupyter state goes to .cache/, as in bench/run.sh. Not a test.
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
TOKEN = "bench"
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out", "skipped"}


def jupyter_env():
    env = dict(os.environ)
    cache = ROOT / ".cache"
    env.update(
        JUPYTER_PATH=str(VENV / "share/jupyter"),
        JUPYTER_DATA_DIR=str(cache / "jupyter/data"),
        JUPYTER_CONFIG_DIR=str(cache / "jupyter/config"),
        JUPYTER_RUNTIME_DIR=str(cache / "jupyter/runtime"),
        IPYTHONDIR=str(cache / "ipython"),
        MPLCONFIGDIR=str(cache / "matplotlib"),
        JUPYTER_PLATFORM_DIRS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        PATH=f"{VENV / 'bin'}:{env.get('PATH', '')}",
        RUST_LOG="warn,zeromq=off",
    )
    for key in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


def one_cell_notebook(path: Path):
    path.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None,
                   "source": "print(0)", "outputs": []}],
    }))


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"token {TOKEN}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"null")


def start_nbgate(binary, root: Path, concurrency, env, extra=()):
    process = subprocess.Popen(
        [binary, "serve", "--port=0", f"--root-dir={root}",
         f"--max-concurrent-executions={concurrency}", *extra],
        stdout=subprocess.PIPE, env={**env, "NBGATE_TOKEN": TOKEN}, text=True)
    line = process.stdout.readline()
    prefix = "nbgate serve listening on http://127.0.0.1:"
    if not line.startswith(prefix):
        process.kill()
        sys.exit(f"nbgate serve did not start: {line!r}")
    return process, Api(int(line[len(prefix):].split("/")[0]))


def all_executions(api):
    items, cursor = [], None
    while True:
        page = api.call("GET", "/api/executions?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def bench_nbgate(api, count):
    """Submits `count` executions at once; returns (seconds to all terminal, statuses)."""
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(lambda _: api.call("POST", "/api/executions", {"notebook": "in1.ipynb"})["id"],
                           range(count)))
    submitted = time.monotonic() - start
    while True:
        mine = [e for e in all_executions(api) if e["id"] in ids]
        if all(e["status"] in TERMINAL for e in mine):
            elapsed = time.monotonic() - start
            statuses = {}
            for e in mine:
                statuses[e["status"]] = statuses.get(e["status"], 0) + 1
            return elapsed, submitted, statuses
        time.sleep(0.05)


def bench_listing(api, rounds=200):
    """Milliseconds per `GET /api/executions?limit=50` (first page), p50 and p99."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        api.call("GET", "/api/executions?limit=50")
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return round(statistics.median(times), 2), round(times[int(len(times) * 0.99) - 1], 2)


def bench_papermill(root: Path, count, workers, env):
    """One papermill process per job, `workers` at a time (jupyter-scheduler's process-per-job model)."""
    papermill = str(VENV / "bin/papermill")
    out = root / "papermill"
    out.mkdir(exist_ok=True)

    def job(i):
        return subprocess.run(
            [papermill, "--no-progress-bar", "--log-level", "WARNING", str(root / "in1.ipynb"),
             str(out / f"out{i}.ipynb"), "-k", "python3"],
            env=env, capture_output=True).returncode

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(job, range(count)))
    return time.monotonic() - start, sum(1 for c in codes if c == 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CONCURRENCY", 8)),
                        help="nbgate's --max-concurrent-executions (default 8)")
    parser.add_argument("--papermill-workers", type=int, default=2)
    parser.add_argument("--skip-papermill", action="store_true")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                        help="run nbgate once per variant with these extra `nbgate serve` arguments "
                             "(e.g. fork= --variant spawn=--no-fork-server); default: one plain run")
    parser.add_argument("--nbgate", default=os.environ.get("NBGATE", str(ROOT / "target/release/nbgate")))
    args = parser.parse_args()

    root = ROOT / "bench/out/scheduler"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    one_cell_notebook(root / "in1.ipynb")
    env = jupyter_env()
    summary = {"count": args.count, "cores": os.cpu_count(), "concurrency": args.concurrency}

    variants = [v.partition("=") for v in args.variant] or [("nbgate", "", "")]
    for label, _, extra in variants:
        process, api = start_nbgate(args.nbgate, root, args.concurrency, env, shlex.split(extra))
        try:
            elapsed, submitted, statuses = bench_nbgate(api, args.count)
            summary[label] = {"s": round(elapsed, 2), "submit_s": round(submitted, 3),
                              "statuses": statuses, "serve_args": extra}
            print(f"{label}: {args.count} executions in {elapsed:.2f} s (submitted in {submitted:.3f} s): "
                  f"{statuses}", file=sys.stderr)
            p50, p99 = bench_listing(api)
            summary[label].update(list_p50_ms=p50, list_p99_ms=p99)
            print(f"listing {args.count} executions, 50 per page: p50 {p50} ms, p99 {p99} ms",
                  file=sys.stderr)
        finally:
            process.terminate()
            process.wait(timeout=60)

    if not args.skip_papermill:
        elapsed, ok = bench_papermill(root, args.count, args.papermill_workers, env)
        summary.update(papermill_s=round(elapsed, 2), papermill_ok=ok,
                       papermill_workers=args.papermill_workers)
        print(f"papermill, one process per job, {args.papermill_workers} at a time: {args.count} in "
              f"{elapsed:.2f} s ({ok} ok)", file=sys.stderr)
        for label, _, _ in variants:
            summary[label]["speedup"] = round(summary["papermill_s"] / summary[label]["s"], 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
