"""Kernel Gateway API throughput: `nbgate serve` vs `jupyter kernelgateway`, same run, same machine.

Usage: gateway_throughput.py [--kernels 10] [--clients 5] [--seconds 10] [--nbgate target/release/nbgate]

For each gateway: K kernels (python3), C clients per kernel, each client its own WebSocket (legacy JSON,
as jupyter_server in gateway mode speaks it) and session, running `1+1` back to back (an execution is
done when its execute_reply and its status idle arrived) for S seconds, all clients started together.
Reports executions/s completed and WebSocket messages/s the clients received (every execution's iopub
also goes to the kernel's other clients), then the nbgate/KG ratios. Results are appended to
bench/out/gateway/throughput.jsonl. Jupyter state stays under the project's .cache, as in gateway.sh.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway_bench import Client, call  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "gateway")
TOKEN = f"bench-{os.getpid()}"
CODE = {"code": "1+1", "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base, process):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{base}: the gateway exited with {process.returncode}")
        try:
            request = urllib.request.Request(base + "/api", headers={"Authorization": f"token {TOKEN}"})
            with urllib.request.urlopen(request, timeout=5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{base} did not come up")


def drive(client, seconds, start, count):
    """One closed-loop client: `count` = [executions, messages received]."""
    start.wait()
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        msg_id = client.request("execute_request", CODE)
        replied = idle = False
        while not (replied and idle):
            text = client.ws.recv()
            count[1] += 1
            if msg_id not in text:  # another client's output: counted, not parsed
                continue
            message = json.loads(text)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "execute_reply":
                replied = True
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                idle = True
        count[0] += 1


def throughput(base, kernels, clients, seconds):
    ids = [call(base, TOKEN, "POST", "/api/kernels", {"name": "python3"})["id"] for _ in range(kernels)]
    conns = [Client(base, TOKEN, kid) for kid in ids for _ in range(clients)]
    for conn in conns:  # every session answers before the clock starts
        conn.wait_done(conn.request("kernel_info_request", {}), "kernel_info_reply")
    start = threading.Barrier(len(conns) + 1)
    counts = [[0, 0] for _ in conns]
    threads = [threading.Thread(target=drive, args=(conn, seconds, start, count))
               for conn, count in zip(conns, counts)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    for conn in conns:
        conn.ws.close()
    for kid in ids:
        call(base, TOKEN, "DELETE", f"/api/kernels/{kid}")
    return sum(c[0] for c in counts) / elapsed, sum(c[1] for c in counts) / elapsed


def measure(label, argv, env, args):
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    log = open(os.path.join(OUT, f"throughput-{label}.log"), "w")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, process)
        executions, messages = throughput(base, args.kernels, args.clients, args.seconds)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    row = {"label": label, "kernels": args.kernels, "clients": args.clients, "seconds": args.seconds,
           "executions_per_s": round(executions, 1), "messages_per_s": round(messages, 1)}
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernels", type=int, default=10)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--nbgate", default=os.path.join(ROOT, "target", "release", "nbgate"))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    venv_bin = os.path.dirname(sys.executable)
    cache = os.path.join(ROOT, ".cache")
    env = dict(os.environ, PATH=f"{venv_bin}:{os.environ.get('PATH', '')}",
               JUPYTER_PATH=os.path.join(os.path.dirname(venv_bin), "share", "jupyter"),
               JUPYTER_DATA_DIR=f"{cache}/jupyter/data", JUPYTER_CONFIG_DIR=f"{cache}/jupyter/config",
               JUPYTER_RUNTIME_DIR=f"{cache}/jupyter/runtime", IPYTHONDIR=f"{cache}/ipython",
               JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    nbgate = measure("nbgate", [args.nbgate, "serve", "--port={port}", f"--root-dir={OUT}"],
                     dict(env, NBGATE_TOKEN=TOKEN), args)
    kg = measure("kernel-gateway", [os.path.join(venv_bin, "jupyter"), "kernelgateway",
                                    "--KernelGatewayApp.ip=127.0.0.1", "--KernelGatewayApp.port={port}",
                                    "--JupyterWebsocketPersonality.list_kernels=True"],
                 dict(env, KG_AUTH_TOKEN=TOKEN), args)
    with open(os.path.join(OUT, "throughput.jsonl"), "a") as results:
        for row in (nbgate, kg):
            results.write(json.dumps(row) + "\n")
    print(f"\n{args.kernels} kernels × {args.clients} clients, {args.seconds:g} s{'':8}"
          f"{'nbgate':>10}{'KG':>10}{'nbgate/KG':>11}")
    for name, key in [("executions/s", "executions_per_s"), ("WebSocket messages/s", "messages_per_s")]:
        print(f"{name:40}{nbgate[key]:>10}{kg[key]:>10}{nbgate[key] / kg[key]:>10.1f}x")


if __name__ == "__main__":
    main()
