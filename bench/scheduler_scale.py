#!/usr/bin/env python3
"""The scheduler at scale: listing 100,000 executions, listing 10,000 schedules, and fire lateness
with 10,000 schedules.

    .venv/bin/python bench/scheduler_scale.py listing            # 100,000 rows, pages of 50
    .venv/bin/python bench/scheduler_scale.py schedules          # GET /api/schedules, 10,000 schedules
    .venv/bin/python bench/scheduler_scale.py lateness           # 10,000 schedules for 120 s
    .venv/bin/python bench/scheduler_scale.py lateness --schedules 2000 --seconds 60
    NBGATE=target/debug/nbgate .venv/bin/python bench/scheduler_scale.py listing

listing: one real execution is run through `nbgate serve`, the server is stopped, the store (SQLite) is
seeded with N copies of that row in one INSERT … SELECT (ids, sequence numbers and times made unique; a
status mix and one schedule's share), then the server is started on it again and every page is fetched
by following `next_cursor` over one keep-alive connection: all rows, one status, one schedule, both.
Prints p50/p99/max milliseconds per page request (client side: request → whole JSON body read).

schedules: one schedule with one real execution is made through `nbgate serve`, the server is stopped,
the store is seeded with N-1 copies of that schedule (ids and names made unique) and R executions of
each (copies of the real one, sequence numbers unique), then the server is started again and
`GET /api/schedules` is fetched `--requests` times over one keep-alive connection, four ways interleaved:
the default first page (100), one page of 1000, every page of 1000 by `next_cursor`, and the whole list
in one request (`limit=N`, as the sidebar reads it). Prints p50/p99/max milliseconds per request or walk (request → whole JSON body read) and
checks every schedule is listed once, with its own last execution.

lateness: N schedules with 6-field crons `S * * * * *` (S = i mod 60: every schedule fires once a minute,
N/60 of them in each second) on a test-kernel notebook (`input: live`), created through the API; after
the window the server is stopped and lateness = `created_at - fire_time` of every execution row whose
fire time lies in the window (fired or recorded skipped), p50/p99/max in milliseconds. Also nbgate's own
histogram from /metrics (fire time → its batch committed): the share of fires within 50 ms, the mean.

Writes bench/out/scale/ (notebooks, nbgate's data dir) and prints one JSON line. Not a test.
"""

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler_bench import ROOT, TERMINAL, TOKEN, jupyter_env, one_cell_notebook, start_nbgate  # noqa: E402

OUT = ROOT / "bench/out/scale"


def percentiles(values):
    values = sorted(values)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
        "max": round(values[-1], 2),
    }


def stop(process):
    process.terminate()
    process.wait(timeout=120)


def database(root: Path) -> Path:
    return root / ".nbgate" / "nbgate.sqlite3"


def wait_terminal(api, execution_id, deadline_s=120):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        execution = api.call("GET", f"/api/executions/{execution_id}")
        if execution["status"] in TERMINAL:
            return execution
        time.sleep(0.1)
    sys.exit(f"execution {execution_id} did not end within {deadline_s} s")


def later_copy(k):
    """Column overrides for the copy `k` (an SQL expression) of the template execution: a first
    attempt, its times `k` seconds later."""
    times = {c: f"t.{c} + {k} * 1000" for c in ("created_at", "ready_at", "started_at", "ended_at")}
    return {"first_attempt_id": "NULL", **times}


def seed_executions(db: Path, count: int, schedule_every: int):
    """`count` copies of the one execution row: every `schedule_every`-th belongs to the schedule, the
    others are ad hoc; statuses: failed for i % 7 == 3, cancelled for i % 97 == 5, else succeeded."""
    conn = sqlite3.connect(db)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(executions)")]
    override = {
        "id": "printf('seed-%08d', n.i)",
        "seq": "t.seq + n.i",
        "name": "t.name || '_' || n.i",
        "schedule_id": f"CASE WHEN n.i % {schedule_every} = 0 THEN t.schedule_id ELSE NULL END",
        "status": "CASE WHEN n.i % 7 = 3 THEN 'failed' WHEN n.i % 97 = 5 THEN 'cancelled' "
                  "ELSE 'succeeded' END",
        **later_copy("n.i"),
    }
    select = ", ".join(override.get(c, f"t.{c}") for c in columns)
    start = time.monotonic()
    with conn:
        conn.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            f"INSERT INTO executions ({', '.join(columns)}) "
            f"SELECT {select} FROM n, (SELECT * FROM executions LIMIT 1) AS t",
            (count,))
    seeded = time.monotonic() - start
    conn.close()
    return seeded


def walk(port, query, limit):
    """Fetches every page of `GET /api/executions?{query}` over one connection; ms per request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"token {TOKEN}"}
    times, rows, cursor = [], 0, None
    while True:
        path = f"/api/executions?limit={limit}" + (f"&{query}" if query else "")
        if cursor:
            path += f"&cursor={cursor}"
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - start) * 1e3)
        if response.status != 200:
            sys.exit(f"GET {path}: {response.status} {body[:200]!r}")
        page = json.loads(body)
        rows += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            conn.close()
            return times, rows


def one_real_run(args, name):
    """A fresh root under bench/out/scale/`name` whose store holds one paused schedule `bench` and
    one real execution of it (the rows the benchmarks copy); returns (root, env, that execution)."""
    root = OUT / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    one_cell_notebook(root / "in1.ipynb")
    env = jupyter_env()
    process, api = start_nbgate(args.nbgate, root, 2, env)
    try:
        api.call("POST", "/api/schedules",
                 {"name": "bench", "notebook": "in1.ipynb", "every": "1h", "paused": True})
        template = api.call("POST", "/api/schedules/bench/run")
        wait_terminal(api, template["id"])
    finally:
        stop(process)
    return root, env, template


def bench_listing(args):
    root, env, _ = one_real_run(args, "listing")
    seeded_s = seed_executions(database(root), args.rows, args.schedule_every)
    print(f"seeded {args.rows} executions in {seeded_s:.2f} s", file=sys.stderr)

    process, api = start_nbgate(args.nbgate, root, 2, env)
    port = int(api.base.rsplit(":", 1)[1])
    summary = {"bench": "listing", "rows": args.rows + 1, "limit": args.limit,
               "seed_s": round(seeded_s, 2)}
    try:
        walk(port, "", args.limit)  # warm the page cache once
        for label, query in [("all", ""), ("status=failed", "status=failed"),
                             ("status=cancelled", "status=cancelled"),
                             ("schedule", "schedule=bench"),
                             ("schedule+status=failed", "schedule=bench&status=failed")]:
            times, rows = walk(port, query, args.limit)
            stats = percentiles(times)
            stats["rows"] = rows
            summary[label] = stats
            print(f"{label:24} {rows:7} rows, {stats['n']:5} pages: p50 {stats['p50']} ms, "
                  f"p99 {stats['p99']} ms, max {stats['max']} ms", file=sys.stderr)
    finally:
        stop(process)
    print(json.dumps(summary))


def seed_schedules(db: Path, count: int, runs: int):
    """`count - 1` copies of the one schedule (paused) and `runs` copies of the one execution for every
    schedule; the i-th copy of an execution is its schedule's newest when i == runs."""
    conn = sqlite3.connect(db)
    schedule_columns = [row[1] for row in conn.execute("PRAGMA table_info(schedules)")]
    override = {
        "id": "printf('sched-%06d', n.i)",
        "name": "printf('bench-%06d', n.i)",
        "spec": "json_set(t.spec, '$.name', printf('bench-%06d', n.i))",
    }
    select = ", ".join(override.get(c, f"t.{c}") for c in schedule_columns)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(executions)")]
    execution = {
        "id": "printf('run-%06d-%04d', s.i, r.j)",
        "seq": f"t.seq + s.i * {runs} + r.j",
        "name": "printf('run-%06d-%04d', s.i, r.j)",
        "schedule_id": "printf('sched-%06d', s.i)",
        **later_copy("r.j"),
    }
    values = ", ".join(execution.get(c, f"t.{c}") for c in columns)
    start = time.monotonic()
    with conn:
        conn.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            f"INSERT INTO schedules ({', '.join(schedule_columns)}) "
            f"SELECT {select} FROM n, (SELECT * FROM schedules LIMIT 1) AS t", (count - 1,))
        conn.execute(
            f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?), "
            f"r(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM r WHERE j < ?) "
            f"INSERT INTO executions ({', '.join(columns)}) "
            f"SELECT {values} FROM s, r, (SELECT * FROM executions LIMIT 1) AS t",
            (count - 1, runs))
    seeded = time.monotonic() - start
    conn.close()
    return seeded


def bench_schedules(args):
    root, env, template = one_real_run(args, "schedules")
    seeded_s = seed_schedules(database(root), args.schedules, args.runs)
    print(f"seeded {args.schedules} schedules, {args.runs} executions each, in {seeded_s:.2f} s",
          file=sys.stderr)

    process, api = start_nbgate(args.nbgate, root, 2, env)
    port = int(api.base.rsplit(":", 1)[1])
    summary = {"bench": "schedules", "schedules": args.schedules, "runs_each": args.runs,
               "seed_s": round(seeded_s, 2)}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"token {TOKEN}"}

        def get(path):
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                sys.exit(f"GET {path}: {response.status} {body[:200]!r}")
            return body

        def every_schedule(parse=True):
            """All pages of 1000 by `next_cursor`, as the sidebar reads them: (items, bytes). Without
            `parse`, only the page's tail is read for its cursor (the client's JSON parsing of 10 MB
            would be most of the time measured)."""
            items, size, cursor = [], 0, None
            while True:
                body = get("/api/schedules?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
                size += len(body)
                if parse:
                    page = json.loads(body)
                    items += page["items"]
                    cursor = page["next_cursor"]
                else:
                    tail = body[body.rindex(b'"next_cursor":'):]
                    cursor = json.loads(b"{" + tail)["next_cursor"]
                if not cursor:
                    return items, size

        def rss_kb():
            status = Path(f"/proc/{process.pid}/status").read_text()
            return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

        # The first whole listing after start writes every item; later ones reuse those of unchanged
        # schedules. Timed once, with the server's RSS before and after.
        summary["rss_kb_before"] = rss_kb()
        start = time.perf_counter()
        conn.request("GET", f"/api/schedules?limit={args.schedules}", headers=headers)
        cold = conn.getresponse()
        cold.read()
        if cold.status == 200:
            summary["first_whole_request_ms"] = round((time.perf_counter() - start) * 1e3, 2)
        items, summary["bytes_all"] = every_schedule()
        if len({item["id"] for item in items}) != args.schedules:
            sys.exit(f"{len(items)} schedules listed, {args.schedules} distinct expected")
        for item in items:
            last = item["last_execution"]
            if item["name"] == "bench":
                if last["id"] != template["id"]:
                    sys.exit(f"bench's last execution is {last['id']}")
            elif last["id"] != f"run-{item['id'][6:]}-{args.runs:04d}":
                sys.exit(f"{item['name']}'s last execution is {last['id']}")
        # Interleaved: the default first page, a page of 1000, every page (the whole walk), and the
        # whole list in one request (`limit` = the schedule count; an nbgate whose bound is lower
        # answers 400, and the case is left out).
        whole = f"/api/schedules?limit={args.schedules}"
        conn.request("GET", whole, headers=headers)
        response = conn.getresponse()
        body = response.read()
        one_request = response.status == 200
        if one_request:
            page = json.loads(body)
            if len(page["items"]) != args.schedules or page["next_cursor"] is not None:
                sys.exit(f"{whole}: {len(page['items'])} items, next_cursor {page['next_cursor']!r}")
            if [item["id"] for item in page["items"]] != [item["id"] for item in items]:
                sys.exit(f"{whole} lists other schedules than the pages")
        else:
            print(f"{whole}: {response.status} {body[:200]!r}; not timed", file=sys.stderr)
        cases = {"first page (default 100)": lambda: get("/api/schedules"),
                 "page of 1000": lambda: get("/api/schedules?limit=1000"),
                 "all, pages of 1000": lambda: every_schedule(parse=False)}
        if one_request:
            cases[f"all, one request (limit={args.schedules})"] = lambda: get(whole)
        times = {name: [] for name in cases}
        for attempt in range(args.requests + 1):  # the first warms the page cache, not counted
            for name, case in cases.items():
                start = time.perf_counter()
                case()
                if attempt:
                    times[name].append((time.perf_counter() - start) * 1e3)
        summary["bytes_first_page"] = len(get("/api/schedules"))
        summary["rss_kb_after"] = rss_kb()
        conn.close()
        for name, values in times.items():
            summary[name] = percentiles(values)
            print(f"GET /api/schedules, {args.schedules} schedules, {name}: "
                  f"p50 {summary[name]['p50']} ms, p99 {summary[name]['p99']} ms, "
                  f"max {summary[name]['max']} ms", file=sys.stderr)
    finally:
        stop(process)
    print(json.dumps(summary))


def test_kernel_spec(share: Path) -> str:
    """A kernelspec `benchk` running the Rust test kernel (cheap to start: the bench measures firing)."""
    binary = Path(os.environ.get("TESTKERNEL", ROOT / "target/release/nbgate-testkernel"))
    if not binary.exists():
        binary = ROOT / "target/debug/nbgate-testkernel"
    if not binary.exists():
        sys.exit("build the test kernel first: cargo build --release -p nbgate-testkernel")
    spec = share / "kernels/benchk"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(binary), "-f", "{connection_file}"],
        "display_name": "bench test kernel", "language": "testlang"}))
    return str(share)


def fire_histogram(api):
    """`nbgate_schedule_fire_lateness_seconds` from /metrics: count, sum and the ≤ 50 ms bucket (None
    from an nbgate without it)."""
    request = urllib.request.Request(api.base + "/metrics")
    request.add_header("Authorization", f"token {TOKEN}")
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    name = "nbgate_schedule_fire_lateness_seconds"
    values = {}
    for line in text.splitlines():
        for key, prefix in [("count", f"{name}_count "), ("sum", f"{name}_sum "),
                            ("le_0.05", f'{name}_bucket{{le="0.05"}} ')]:
            if line.startswith(prefix):
                values[key] = float(line[len(prefix):])
    return values if len(values) == 3 else None


def bench_lateness(args):
    root = OUT / "lateness"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = jupyter_env()
    env["JUPYTER_PATH"] = test_kernel_spec(root / "share") + ":" + env["JUPYTER_PATH"]
    (root / "tick.ipynb").write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "benchk", "display_name": "bench", "language": "testlang"}},
        "cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None,
                   "source": "echo tick", "outputs": []}]}))

    process, api = start_nbgate(args.nbgate, root, args.concurrency, env)
    summary = {"bench": "lateness", "schedules": args.schedules, "window_s": args.seconds,
               "concurrency": args.concurrency, "cores": os.cpu_count()}
    try:
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: api.call("POST", "/api/schedules", {
                "name": f"s{i:05d}", "notebook": "tick.ipynb", "cron": f"{i % 60} * * * * *",
                "input": "live", "catchup": "skip"}), range(args.schedules)))
        created_s = time.monotonic() - start
        summary["create_s"] = round(created_s, 1)
        print(f"created {args.schedules} schedules in {created_s:.1f} s", file=sys.stderr)
        # The window opens on the next whole second, after every schedule exists.
        window_start_ms = (int(time.time()) + 2) * 1000
        window_end_ms = window_start_ms + args.seconds * 1000
        # nbgate's own histogram (fire time → row committed), read half a second before the window's
        # first and last second: the fires of all but its last second.
        time.sleep(max(0.0, window_start_ms / 1000 - 0.5 - time.time()))
        first = fire_histogram(api)
        time.sleep(max(0.0, window_end_ms / 1000 - 0.5 - time.time()))
        last = fire_histogram(api)
        time.sleep(max(0.0, window_end_ms / 1000 - time.time()))
        if first and last:
            count = last["count"] - first["count"]
            within = last["le_0.05"] - first["le_0.05"]
            summary["metric"] = {"fires": count, "within_50ms": within,
                                 "fraction_within_50ms": round(within / count, 4) if count else None,
                                 "mean_ms": round((last["sum"] - first["sum"]) / count * 1000, 2)
                                 if count else None}
    finally:
        stop(process)

    conn = sqlite3.connect(database(root))
    rows = conn.execute(
        "SELECT created_at - fire_time, status FROM executions "
        "WHERE fire_time >= ? AND fire_time < ?", (window_start_ms, window_end_ms)).fetchall()
    conn.close()
    expected = args.schedules * args.seconds // 60
    lateness = percentiles([late for late, _ in rows])
    statuses = {}
    for _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    summary.update(fires_expected=expected, fires_recorded=len(rows), lateness_ms=lateness,
                   statuses=statuses)
    print(f"{len(rows)} fires recorded of {expected} due in {args.seconds} s: lateness p50 "
          f"{lateness.get('p50')} ms, p99 {lateness.get('p99')} ms, max {lateness.get('max')} ms; "
          f"{statuses}", file=sys.stderr)
    if "metric" in summary:
        print(f"/metrics, fire → row committed: {summary['metric']}", file=sys.stderr)
    print(json.dumps(summary))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nbgate", default=os.environ.get("NBGATE", str(ROOT / "target/release/nbgate")))
    sub = parser.add_subparsers(dest="bench", required=True)
    listing = sub.add_parser("listing")
    listing.add_argument("--rows", type=int, default=100_000)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--schedule-every", type=int, default=10,
                         help="every Nth seeded execution belongs to the schedule")
    schedules = sub.add_parser("schedules")
    schedules.add_argument("--schedules", type=int, default=10_000)
    schedules.add_argument("--runs", type=int, default=10, help="executions of each schedule")
    schedules.add_argument("--requests", type=int, default=50)
    lateness = sub.add_parser("lateness")
    lateness.add_argument("--schedules", type=int, default=10_000)
    lateness.add_argument("--seconds", type=int, default=120)
    lateness.add_argument("--concurrency", type=int, default=2,
                          help="nbgate's --max-concurrent-executions")
    args = parser.parse_args()
    {"listing": bench_listing, "schedules": bench_schedules,
     "lateness": bench_lateness}[args.bench](args)


if __name__ == "__main__":
    main()
