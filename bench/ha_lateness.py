#!/usr/bin/env python3
"""Fire lateness and claims per second with several `nbgate serve` replicas on PostgreSQL, against one
server on SQLite.

    .venv/bin/python bench/ha_lateness.py                            # 10,000 schedules, 120 s each
    .venv/bin/python bench/ha_lateness.py --schedules 2000 --seconds 60 --config pg:3
    NBGATE=target/debug/nbgate .venv/bin/python bench/ha_lateness.py

Each configuration (`sqlite:1`, `pg:1`, `pg:3` by default: store and replicas) gets a fresh root
directory shared by its replicas (and so one data directory, `<root>/.nbgate`, as the default is) and,
on PostgreSQL, a fresh database on a server of the bench's own: Debian's `initdb` and `pg_ctl` on a
temporary directory, a unix socket, run as `postgres` when root, with the tests' settings
(`fsync=off`, `synchronous_commit=off`: tests/src/postgres.rs; `--durable` leaves them on); stopped and
removed at the end. N schedules with 6-field crons `S * * * * *` (S = i mod 60: N/60 fires in each
second) on a test-kernel notebook (`input: live`, `catchup: skip`) are created through the replicas in
turn; after the window every replica is stopped and the store is read:
- lateness = `created_at - fire_time` of every execution whose fire time lies in the window (the fire
  recorded: claimed by one replica), p50/p99/max ms, and how many fires of the window are there;
- duplicate fires: first attempts sharing a schedule and a fire time (must be 0);
- claims per second: executions started in the window (each a queued row claimed by one replica) per
  second, and each replica's share; bounded by `--concurrency` test-kernel runs per replica.
Prints one JSON line per configuration, then the ratios against `sqlite:1`. Not a test.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler_bench import ROOT, jupyter_env, start_nbgate  # noqa: E402
from scheduler_scale import percentiles, stop, test_kernel_spec  # noqa: E402

OUT = ROOT / "bench/out/ha"


class Postgres:
    """A PostgreSQL server of the bench's own on a unix socket in a temporary directory."""

    def __init__(self, durable):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                          key=lambda p: int(p.parent.parent.name))
        if not versions:
            sys.exit("PostgreSQL's server is missing: `make postgres` (as root) installs it")
        self.bin = versions[-1].parent
        self.root = os.geteuid() == 0
        # As root the server runs as `postgres`, which must reach the directory.
        self.dir = Path(tempfile.mkdtemp(prefix="nbgate-bench-pg-", dir="/tmp" if self.root else None))
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run("initdb", "-D", self.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.dir} -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.run("pg_ctl", "-D", self.dir, "-o", options, "-l", self.dir / "server.log", "-w", "start")

    def command(self, name, *args):
        program = [str(self.bin / name), *map(str, args)]
        return ["runuser", "-u", "postgres", "--", *program] if self.root else program

    def run(self, name, *args):
        done = subprocess.run(self.command(name, *args), capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def database(self, name):
        self.run("createdb", "-h", self.dir, "-U", "postgres", name)
        return f"postgres://postgres@{str(self.dir).replace('/', '%2F')}/{name}"

    def rows(self, name, sql):
        out = self.run("psql", "-h", self.dir, "-U", "postgres", "-d", name, "-At", "-F", "\t",
                       "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("\t") for line in out.splitlines() if line]

    def close(self):
        subprocess.run(self.command("pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def tick_notebook(path: Path):
    path.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "benchk", "display_name": "bench", "language": "testlang"}},
        "cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None,
                   "source": "echo tick", "outputs": []}]}))


def store_rows(store, postgres, db_name, root, start_ms, end_ms):
    """(lateness ms, status, replica, started in the window, attempt, schedule, fire time) of every
    execution fired in the window, and the number started in the window by replica."""
    fired = (f"SELECT created_at - fire_time, status, attempt, schedule_id, fire_time FROM executions "
             f"WHERE fire_time >= {start_ms} AND fire_time < {end_ms}")
    started = (f"SELECT coalesce(replica, '-'), count(*) FROM executions "
               f"WHERE started_at >= {start_ms} AND started_at < {end_ms} GROUP BY 1")
    if store == "pg":
        return postgres.rows(db_name, fired), postgres.rows(db_name, started)
    conn = sqlite3.connect(root / ".nbgate" / "nbgate.sqlite3")
    try:
        return conn.execute(fired).fetchall(), conn.execute(started).fetchall()
    finally:
        conn.close()


def bench(args, config, postgres, env):
    store, replicas = config.split(":")
    replicas = int(replicas)
    root = OUT / config.replace(":", "-")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    tick_notebook(root / "tick.ipynb")
    db_name = f"ha_{store}_{replicas}_{int(time.time())}"
    extra = ["--store", postgres.database(db_name)] if store == "pg" else []
    servers = []
    summary = {"config": config, "schedules": args.schedules, "window_s": args.seconds,
               "concurrency_per_replica": args.concurrency, "cores": os.cpu_count()}
    try:
        for i in range(replicas):
            servers.append(start_nbgate(args.nbgate, root, args.concurrency, env,
                                        [*extra, f"--replica-id=r{i}"]))
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: servers[i % replicas][1].call("POST", "/api/schedules", {
                "name": f"s{i:05d}", "notebook": "tick.ipynb", "cron": f"{i % 60} * * * * *",
                "input": "live", "catchup": "skip"}), range(args.schedules)))
        summary["create_s"] = round(time.monotonic() - start, 1)
        # The window opens on a whole second after every schedule exists.
        start_ms = (int(time.time()) + 2) * 1000
        end_ms = start_ms + args.seconds * 1000
        time.sleep(max(0.0, end_ms / 1000 + 1 - time.time()))
    finally:
        for process, _ in servers:
            stop(process)
    rows, started = store_rows(store, postgres, db_name, root, start_ms, end_ms)
    firsts = [(r[3], r[4]) for r in rows if int(r[2]) == 1]
    per_replica = {replica: int(count) for replica, count in started}
    summary.update(
        fires_expected=args.schedules * args.seconds // 60,
        fires_recorded=len(firsts),
        duplicate_fires=len(firsts) - len(set(firsts)),
        lateness_ms=percentiles([float(r[0]) for r in rows if int(r[2]) == 1]),
        claims_per_s=round(sum(per_replica.values()) / args.seconds, 1),
        started_by_replica=per_replica,
    )
    print(f"{config}: {summary['fires_recorded']} fires of {summary['fires_expected']}, lateness "
          f"p50 {summary['lateness_ms'].get('p50')} ms p99 {summary['lateness_ms'].get('p99')} ms, "
          f"{summary['duplicate_fires']} duplicates, {summary['claims_per_s']} claims/s "
          f"{per_replica}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nbgate", default=os.environ.get("NBGATE", str(ROOT / "target/release/nbgate")))
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=2,
                        help="each replica's --max-concurrent-executions")
    parser.add_argument("--config", action="append",
                        help="STORE:REPLICAS, STORE sqlite or pg (default: sqlite:1, pg:1, pg:3)")
    parser.add_argument("--durable", action="store_true",
                        help="PostgreSQL with fsync and synchronous commits (the tests turn them off)")
    args = parser.parse_args()
    configs = args.config or ["sqlite:1", "pg:1", "pg:3"]
    for config in configs:
        store, _, replicas = config.partition(":")
        if store not in ("sqlite", "pg") or not replicas.isdigit() or int(replicas) < 1 or (
                store == "sqlite" and replicas != "1"):
            sys.exit(f"--config {config}: expected sqlite:1 or pg:N")
    env = jupyter_env()
    env["JUPYTER_PATH"] = test_kernel_spec(OUT / "share") + ":" + env["JUPYTER_PATH"]
    postgres = Postgres(args.durable) if any(c.startswith("pg:") for c in configs) else None
    try:
        results = {config: bench(args, config, postgres, env) for config in configs}
    finally:
        if postgres:
            postgres.close()
    pairs = [(c, "sqlite:1") for c in results if c != "sqlite:1"]
    pairs += [(c, "pg:1") for c in results if c.startswith("pg:") and c != "pg:1"]
    for config, against in pairs:
        if against not in results:
            continue
        result, base = results[config], results[against]
        ratio = {key: round(result["lateness_ms"][key] / base["lateness_ms"][key], 2)
                 for key in ("p50", "p99") if base["lateness_ms"].get(key)}
        if base["claims_per_s"]:
            ratio["claims_per_s"] = round(result["claims_per_s"] / base["claims_per_s"], 2)
        print(f"{config} / {against}: {ratio}", file=sys.stderr)
        print(json.dumps({"ratio": f"{config} / {against}", **ratio}))


if __name__ == "__main__":
    main()
