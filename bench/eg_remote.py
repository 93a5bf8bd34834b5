#!/usr/bin/env python3
"""What nbgate's remote path (a kernel on Jupyter Enterprise Gateway) adds per cell, same run.

    .venv/bin/python bench/eg_remote.py                       # builds; 3 rounds of 200 cells
    .venv/bin/python bench/eg_remote.py --skip-build --rounds 5 --cells 200

Starts a real Enterprise Gateway from `.venv-eg` (`make venv-eg`) on a free loopback port, its stock
python3 kernelspec (kernels are EG's children), as `tests/src/eg.rs` does. Then, per round, in this
order (every step a fresh kernel):

1. **local**: `nbgate run nb.ipynb out.ipynb -k python3`, a notebook of `--cells` cells
   `x = 1\\nprint(x)`, the kernel on this machine;
2. **raw ZeroMQ**: `nbgate-kernel`'s `roundtrip` example, the same request `--cells` times over
   ZeroMQ from Rust (its own local kernel);
3. **EG through nbgate**: the same `nbgate run` with `--gateway-url EG --gateway-token T
   --gateway-kernel-username bench`;
4. **EG direct**: `POST /api/kernels` on EG, its `/api/kernels/{id}/channels` WebSocket, one
   execute (cold start: POST → first result), then `nbgate-api`'s `ws_roundtrip` example (Rust,
   legacy JSON frames, as jupyter_server's gateway client speaks) sends the same request `--cells`
   times straight to EG's WebSocket, twice on that kernel: as a plain client, like nbgate's gateway
   client (the like-for-like figure), and with `--quick-ack` (its TCP stream acknowledges every read
   at once, so it does not wait out Linux's delayed ACKs against EG's Nagle, ≈ 40 ms an execute);
   which goes first alternates by round; `DELETE` the kernel.

Per cell, for `nbgate run`: (end of the last cell − end of the first cell) / (cells − 1), from the
output notebook's papermill metadata (microseconds): every cell after the first result, the gaps
between cells (saving, bookkeeping) included. For the clients: their mean round trip (done at
`execute_reply` + iopub `status: idle`). Cold start through nbgate: process launch → end of the
first cell; EG direct: `POST /api/kernels` → its first execute's reply and idle. Each output
notebook is checked (every cell ran and printed `1`).

Prints one JSON line per measurement to stderr, then a table of medians over rounds and the
differences of the same round: nbgate over EG's own WebSocket (the plain client; target ≤ 1 ms per
cell), and over the `--quick-ack` client, and nbgate over raw ZeroMQ locally.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import websocket  # websocket-client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_bench import call  # noqa: E402
from idle_rss import free_port  # noqa: E402
from scheduler_bench import ROOT, jupyter_env  # noqa: E402

RELEASE = ROOT / "target/release"
EG_VENV = ROOT / ".venv-eg"
EG_TOKEN = "eg-bench-token"
CODE = "x = 1\nprint(x)"


class EnterpriseGateway:
    def __init__(self, env, log: Path):
        if not (EG_VENV / "bin/jupyter-enterprisegateway").exists():
            sys.exit(f"no Enterprise Gateway at {EG_VENV}: run `make venv-eg`")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        eg_env = dict(env, JUPYTER_PATH=str(EG_VENV / "share/jupyter"),
                      PATH=f"{EG_VENV / 'bin'}:{env['PATH']}", EG_IP="127.0.0.1",
                      EG_PORT=str(self.port), EG_AUTH_TOKEN=EG_TOKEN, EG_LIST_KERNELS="True")
        self.process = subprocess.Popen(
            [str(EG_VENV / "bin/jupyter-enterprisegateway")], env=eg_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/api/kernelspecs")
                return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"Enterprise Gateway did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)  # polling the port: the only way to see another process listen

    def call(self, method, path, body=None):
        return call(self.url, EG_TOKEN, method, path, body)

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def notebook(path: Path, cells: int):
    path.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                   "source": CODE, "outputs": []} for i in range(cells)],
    }))


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def nbgate_run(args, env, work: Path, extra) -> dict:
    out = work / "out.ipynb"
    out.unlink(missing_ok=True)
    launched = time.time()
    done = subprocess.run([str(RELEASE / "nbgate"), "run", "nb.ipynb", "out.ipynb", "-k", "python3",
                           *extra], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    wall = time.time() - launched
    if done.returncode != 0:
        sys.exit(f"nbgate run {' '.join(extra)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cells = json.loads(out.read_text())["cells"]
    for i, cell in enumerate(cells):
        text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
        if text != "1\n" or cell["metadata"]["papermill"]["status"] != "completed":
            sys.exit(f"nbgate run {' '.join(extra)}: cell {i} wrong: {cell['outputs']!r}")
    first = stamp(cells[0]["metadata"]["papermill"]["end_time"])
    last = stamp(cells[-1]["metadata"]["papermill"]["end_time"])
    return {"wall_s": round(wall, 3), "cold_start_ms": round((first - launched) * 1e3, 1),
            "per_cell_ms": round((last - first) * 1e3 / (len(cells) - 1), 3)}


def run_json(command, env) -> dict:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def zmq_run(args, env) -> dict:
    result = run_json([str(RELEASE / "examples/roundtrip"), "--kernel", "python3",
                       "--count", str(args.cells), "--code", CODE], env)
    return {"cold_start_ms": result["start_ms"], "per_cell_ms": result["mean_ms"],
            "p50_ms": result["median_ms"]}


def first_result(ws_url: str) -> None:
    """One execute on a new channels WebSocket, until its reply and idle."""
    socket = websocket.create_connection(ws_url, timeout=120)
    try:
        msg_id = uuid.uuid4().hex
        socket.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                       "username": "bench", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": CODE, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        replied = idle = False
        while not (replied and idle):
            message = json.loads(socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            replied |= kind == "execute_reply"
            idle |= kind == "status" and message["content"]["execution_state"] == "idle"
    finally:
        socket.close()


def eg_direct(args, env, eg: EnterpriseGateway, round_: int) -> dict:
    started = time.monotonic()
    kernel = eg.call("POST", "/api/kernels", {"name": "python3", "env": {"KERNEL_USERNAME": "bench"}})
    ws = f"ws://127.0.0.1:{eg.port}"
    results = {}
    try:
        first_result(f"{ws}/api/kernels/{kernel['id']}/channels?token={EG_TOKEN}")
        results["cold_start_ms"] = round((time.monotonic() - started) * 1e3, 1)
        # Both clients on the same kernel, which one first alternating by round.
        clients = [("plain", []), ("quick_ack", ["--quick-ack"])]
        for name, flags in clients[::-1] if round_ % 2 else clients:
            result = run_json([str(RELEASE / "examples/ws_roundtrip"), "--url", ws, "--token", EG_TOKEN,
                               "--kernel-id", kernel["id"], "--count", str(args.cells), "--warmup", "0",
                               "--code", CODE, *flags], env)
            results[name] = result
    finally:
        eg.call("DELETE", f"/api/kernels/{kernel['id']}")
    return {"cold_start_ms": results["cold_start_ms"],
            "per_cell_ms": results["plain"]["mean_ms"], "p50_ms": results["plain"]["median_ms"],
            "quick_ack_per_cell_ms": results["quick_ack"]["mean_ms"],
            "quick_ack_p50_ms": results["quick_ack"]["median_ms"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    if not args.skip_build:
        for command in (["-p", "nbgate"], ["-p", "nbgate-kernel", "--example", "roundtrip"],
                        ["-p", "nbgate-api", "--example", "ws_roundtrip"]):
            subprocess.run(["cargo", "build", "--release", *command], cwd=ROOT, check=True)
    env = jupyter_env()
    tmp = Path(tempfile.mkdtemp(prefix="nbgate-eg-bench-"))
    eg = EnterpriseGateway(env, tmp / "eg.log")
    results = {}
    try:
        notebook(tmp / "nb.ipynb", args.cells)
        remote = ["--gateway-url", eg.url, "--gateway-token", EG_TOKEN,
                  "--gateway-kernel-username", "bench"]
        for round_ in range(args.rounds):
            paths = (("local", lambda: nbgate_run(args, env, tmp, [])),
                     ("zmq", lambda: zmq_run(args, env)),
                     ("eg_nbgate", lambda: nbgate_run(args, env, tmp, remote)),
                     ("eg_direct", lambda: eg_direct(args, env, eg, round_)))
            for path, run in paths:
                result = run()
                results.setdefault(path, []).append(result)
                print(json.dumps({"path": path, "round": round_,
                                  "load": round(os.getloadavg()[0], 2), **result}), file=sys.stderr)
        left = eg.call("GET", "/api/kernels")
        if left:
            sys.exit(f"kernels left on EG: {left}")
    finally:
        eg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def median(path, key):
        return statistics.median(run[key] for run in results[path])

    def added(path, base):
        return statistics.median(a["per_cell_ms"] - b["per_cell_ms"]
                                 for a, b in zip(results[path], results[base]))

    def added_quick_ack():
        return statistics.median(a["per_cell_ms"] - b["quick_ack_per_cell_ms"]
                                 for a, b in zip(results["eg_nbgate"], results["eg_direct"]))

    rows = [("nbgate run, local kernel", "local", "per_cell_ms"),
            ("raw ZeroMQ (Rust), local kernel", "zmq", "per_cell_ms"),
            ("nbgate run --gateway-url EG", "eg_nbgate", "per_cell_ms"),
            ("EG's WebSocket direct (Rust, plain client, as nbgate's)", "eg_direct", "per_cell_ms"),
            ("EG's WebSocket direct (Rust, TCP_QUICKACK)", "eg_direct", "quick_ack_per_cell_ms")]
    print(f"| {args.cells} cells, median of {args.rounds} rounds | per cell | cold start → first result |")
    print("|---|---|---|")
    for name, path, key in rows:
        print(f"| {name} | {median(path, key):.3f} ms | {median(path, 'cold_start_ms'):.0f} ms |")
    summary = {"rounds": args.rounds, "cells": args.cells, "load": os.getloadavg()[0],
               "eg_added_per_cell_ms": round(added("eg_nbgate", "eg_direct"), 3),
               "eg_added_over_quick_ack_client_ms": round(added_quick_ack(), 3),
               "local_added_per_cell_ms": round(added("local", "zmq"), 3)}
    print(f"nbgate over EG's own WebSocket: {summary['eg_added_per_cell_ms']:+.3f} ms per cell "
          f"(target ≤ 1 ms; {summary['eg_added_over_quick_ack_client_ms']:+.3f} ms against a "
          f"TCP_QUICKACK client); "
          f"nbgate over raw ZeroMQ, local: {summary['local_added_per_cell_ms']:+.3f} ms")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
