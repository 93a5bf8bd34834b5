#!/usr/bin/env python3
"""What `nbgate serve`'s kernel WebSocket adds to an execute, against raw ZeroMQ from Rust, same run.

    .venv/bin/python bench/ws_vs_zmq.py                      # builds, 3 rounds × 1000 executes, python3 and testk
    .venv/bin/python bench/ws_vs_zmq.py --rounds 5 --count 2000 --skip-build --kernels testk

Both clients are Rust, built with `--release`: `nbgate-kernel`'s `roundtrip` example (starts its own
kernel, talks ZeroMQ) and `nbgate-api`'s `ws_roundtrip` example (connects to
`/api/kernels/{id}/channels` of a kernel `nbgate serve` started; legacy JSON frames). The same
request (`--code`, default `x = 1`, for python3; `--testk-code`, default empty, for testk), sequential, each done at `execute_reply` + iopub `status: idle`
with its parent; the first `--warmup` of the WebSocket run are not counted. Rounds alternate WS and
ZeroMQ. Two kernels: `python3` (ipykernel; its own ~ms per execute dominates and varies) and `testk`,
the Rust test kernel (answers in microseconds, so what the path adds is most of what is measured).
`nbgate serve` runs with `--no-fork-server`, so both kernels are started the same way (spawned).

Prints one JSON line per run and a table: per kernel, the medians over rounds of each client's
p50/p99 and the WS − ZeroMQ difference at p50 (target ≤ 0.3 ms).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler_bench import ROOT, TOKEN, jupyter_env, start_nbgate  # noqa: E402

RELEASE = ROOT / "target/release"


def test_kernel(share: Path) -> None:
    binary = RELEASE / "nbgate-testkernel"
    spec = share / "kernels/testk"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(binary), "-f", "{connection_file}"],
        "display_name": "test kernel", "language": "testlang"}))


def run_json(command, env) -> dict:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def code(args, kernel: str) -> str:
    return args.testk_code if kernel == "testk" else args.code


def ws_round(args, env, kernel: str, root: Path) -> dict:
    process, api = start_nbgate(str(RELEASE / "nbgate"), root, 1, env, ["--no-fork-server"])
    try:
        created = api.call("POST", "/api/kernels", {"name": kernel})
        url = api.base.replace("http://", "ws://")
        result = run_json([str(RELEASE / "examples/ws_roundtrip"), "--url", url, "--token", TOKEN,
                           "--kernel-id", created["id"], "--count", str(args.count),
                           "--warmup", str(args.warmup), "--code", code(args, kernel)], env)
        api.call("DELETE", f"/api/kernels/{created['id']}")
        return result
    finally:
        process.terminate()
        process.wait(timeout=30)


def zmq_round(args, env, kernel: str) -> dict:
    return run_json([str(RELEASE / "examples/roundtrip"), "--kernel", kernel,
                     "--count", str(args.count), "--code", code(args, kernel)], env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--code", default="x = 1", help="for python3")
    parser.add_argument("--testk-code", default="", help="for testk (empty: no command)")
    parser.add_argument("--kernels", default="python3,testk")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    if not args.skip_build:
        for command in (["-p", "nbgate", "-p", "nbgate-testkernel"],
                        ["-p", "nbgate-kernel", "--example", "roundtrip"],
                        ["-p", "nbgate-api", "--example", "ws_roundtrip"]):
            subprocess.run(["cargo", "build", "--release", *command], cwd=ROOT, check=True)
    env = jupyter_env()
    tmp = Path(tempfile.mkdtemp(prefix="nbgate-ws-"))
    try:
        share = tmp / "share"
        test_kernel(share)
        env["JUPYTER_PATH"] = f"{share}:{env['JUPYTER_PATH']}"
        root = tmp / "root"
        root.mkdir()
        results = {}
        for kernel in args.kernels.split(","):
            for round_ in range(args.rounds):
                for path, run in (("ws", lambda: ws_round(args, env, kernel, root)),
                                  ("zmq", lambda: zmq_round(args, env, kernel))):
                    result = run()
                    results.setdefault((kernel, path), []).append(result)
                    print(json.dumps({"kernel": kernel, "path": path, "round": round_,
                                      "load": round(os.getloadavg()[0], 2), **result}),
                          file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def median(kernel, path, key):
        return statistics.median(run[key] for run in results[(kernel, path)])

    print(f"| kernel | WebSocket p50 / p99 | raw ZeroMQ p50 / p99 | WS − ZeroMQ at p50 |")
    print("|---|---|---|---|")
    summary = {}
    for kernel in args.kernels.split(","):
        ws = (median(kernel, "ws", "median_ms"), median(kernel, "ws", "p99_ms"))
        zmq = (median(kernel, "zmq", "median_ms"), median(kernel, "zmq", "p99_ms"))
        added = statistics.median(
            w["median_ms"] - z["median_ms"]
            for w, z in zip(results[(kernel, "ws")], results[(kernel, "zmq")]))
        summary[kernel] = {"ws_p50": ws[0], "ws_p99": ws[1], "zmq_p50": zmq[0], "zmq_p99": zmq[1],
                           "added_p50": round(added, 3)}
        print(f"| {kernel} | {ws[0]:.3f} / {ws[1]:.3f} ms | {zmq[0]:.3f} / {zmq[1]:.3f} ms "
              f"| {added:+.3f} ms |")
    print(json.dumps({"rounds": args.rounds, "count": args.count,
                      "load": os.getloadavg()[0], "kernels": summary}))


if __name__ == "__main__":
    main()
