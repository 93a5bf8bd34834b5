#!/usr/bin/env python3
"""What output files cost: a run declaring a large CSV as an output (recorded: SHA-256, rows and
columns, one streaming pass), then previews of its first 50 rows, against a real `nbgate serve`.

    .venv/bin/python bench/outputs_bench.py [--size-mb 1024] [--rounds 20] [--nbgate target/release/nbgate]

The CSV (100-byte rows) is written once to bench/out/outputs/root/big.csv; the notebook only touches it
(`os.utime`), so the run's own cost is the kernel's start and the recording. Reports: the execution's
duration and the same notebook's without `outputs` (the difference is the recording of SIZE MB), the
median and worst of ROUNDS previews of the first 50 rows (target ≤ 100 ms for 1 GB), and the server's
peak resident memory (VmHWM) before and after.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "outputs"
TOKEN = "bench"
ROW = ",0.123456789," + "x" * 76 + "\n"  # with a 12-digit id: 100 bytes


def write_csv(path: Path, size_mb: int) -> None:
    rows = size_mb * 1_000_000 // 100
    if path.exists() and path.stat().st_size == 15 + rows * 100:
        return
    with open(path, "w") as f:
        f.write("id,score,label\n")
        chunk = 100_000
        for start in range(0, rows, chunk):
            f.write("".join("%012d%s" % (i, ROW) for i in range(start, min(rows, start + chunk))))


def notebook(path: Path) -> None:
    cell = {"cell_type": "code", "id": "touch", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "import os\nos.utime('big.csv')"}
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [cell], "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--nbgate", default=str(ROOT / "target" / "release" / "nbgate"))
    args = parser.parse_args()
    root = OUT / "root"
    root.mkdir(parents=True, exist_ok=True)
    write_csv(root / "big.csv", args.size_mb)
    notebook(root / "touch.ipynb")
    data = OUT / "data"
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ, NBGATE_TOKEN=TOKEN, RUST_LOG="warn",
               JUPYTER_PATH=str(ROOT / ".venv" / "share" / "jupyter"))
    server = subprocess.Popen([args.nbgate, "serve", "--port=0", f"--root-dir={root}", f"--data-dir={data}"],
                              stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        api = f"http://127.0.0.1:{port}/api"

        def call(method: str, path: str, body=None):
            request = urllib.request.Request(api + path, method=method, headers={
                "Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
                data=None if body is None else json.dumps(body).encode())
            with urllib.request.urlopen(request) as response:
                return json.load(response)

        def run(outputs):
            created = call("POST", "/executions", {"notebook": "touch.ipynb", "outputs": outputs})
            while True:
                execution = call("GET", f"/executions/{created['id']}")
                if execution["status"] not in ("queued", "running"):
                    return execution
                time.sleep(0.05)

        plain = run([])
        peak_before = vm_hwm_kib(server.pid)
        recorded = run(["big.csv"])
        assert recorded["status"] == "succeeded", recorded
        big = recorded["outputs"][0]
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            table = call("GET", f"/executions/{recorded['id']}/outputs/preview?path=big.csv&limit=50")
            times.append((time.perf_counter() - start) * 1000)
            assert len(table["rows"]) == 50
        peak_after = vm_hwm_kib(server.pid)
        report = {
            "size_bytes": big["bytes"], "rows": big["rows"],
            "run_without_outputs_s": plain["duration"], "run_recording_s": recorded["duration"],
            "preview_50_median_ms": round(statistics.median(times), 2),
            "preview_50_max_ms": round(max(times), 2),
            "server_peak_rss_kib_before": peak_before, "server_peak_rss_kib_after": peak_after,
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
