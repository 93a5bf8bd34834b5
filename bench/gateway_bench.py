"""Kernel Gateway API benchmark: one gateway (nbgate serve or jupyter kernelgateway), measured from outside.

Usage: gateway_bench.py LABEL BASE_URL TOKEN PID [--runs N] [--count N] [--pool]

Prints one JSON line: idle RSS of the gateway process (MB, before any kernel; also with its child processes,
i.e. nbgate's fork servers), POST /api/kernels → kernel
idle (ms: POST, open the WebSocket with the legacy JSON protocol, kernel_info_request → reply and
status idle), and the WebSocket execute round trip of `1+1` (execute_reply and status idle both
received; p50/p99 ms). With --pool, also POST → idle for kernels served by the warm pool.
"""

import argparse
import json
import os
import statistics
import time
import urllib.request
import uuid

import websocket  # websocket-client


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"token {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read()
        return json.loads(text) if text else None


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def tree_rss_kb(pid):
    """RSS of `pid` and its descendants (kB)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_kb(current) or 0
        except OSError:
            pass
        todo += children.get(current, [])
    return total


class Client:
    def __init__(self, base, token, kernel_id):
        self.session = uuid.uuid4().hex
        url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=120)
        self.ws.sock.setsockopt(6, 1, 1)  # TCP_NODELAY on the client side too

    def request(self, msg_type, content):
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "bench",
                  "date": "2026-01-01T00:00:00.000000Z", "version": "5.3"}
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell"}))
        return msg_id

    def wait_done(self, msg_id, reply_type):
        replied = idle = False
        while not (replied and idle):
            m = json.loads(self.ws.recv())
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == reply_type:
                replied = True
            elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                idle = True


def post_to_idle(base, token, pooled=False):
    t0 = time.perf_counter()
    model = call(base, token, "POST", "/api/kernels", {"name": "python3"})
    client = Client(base, token, model["id"])
    client.wait_done(client.request("kernel_info_request", {}), "kernel_info_reply")
    elapsed = (time.perf_counter() - t0) * 1000
    return elapsed, model["id"], client


def wait_pool(base, token):
    deadline = time.monotonic() + 120
    while call(base, token, "GET", "/api/health").get("pooled", 0) < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the pool did not refill")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("label")
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("pid", type=int)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--pool", action="store_true")
    args = parser.parse_args()
    base, token = args.base.rstrip("/"), args.token

    time.sleep(2)  # let the gateway settle before sampling its idle footprint
    idle_rss = rss_kb(args.pid)
    idle_tree_rss = tree_rss_kb(args.pid)

    cold = []
    for _ in range(args.runs):
        if args.pool:
            break
        ms, kid, client = post_to_idle(base, token)
        cold.append(ms)
        client.ws.close()
        call(base, token, "DELETE", f"/api/kernels/{kid}")

    pool = []
    if args.pool:
        for _ in range(args.runs):
            wait_pool(base, token)
            ms, kid, client = post_to_idle(base, token, pooled=True)
            pool.append(ms)
            client.ws.close()
            call(base, token, "DELETE", f"/api/kernels/{kid}")

    # Round trip on one kernel.
    _, kid, client = post_to_idle(base, token)
    code = {"code": "1+1", "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}
    for _ in range(20):  # warm-up
        client.wait_done(client.request("execute_request", code), "execute_reply")
    rtt = []
    for _ in range(args.count):
        t0 = time.perf_counter()
        client.wait_done(client.request("execute_request", code), "execute_reply")
        rtt.append((time.perf_counter() - t0) * 1000)
    client.ws.close()
    call(base, token, "DELETE", f"/api/kernels/{kid}")
    rtt.sort()

    def median(values):
        return round(statistics.median(values), 1) if values else None

    print(json.dumps({
        "label": args.label,
        "idle_rss_mb": round(idle_rss / 1024, 1) if idle_rss else None,
        "idle_tree_rss_mb": round(idle_tree_rss / 1024, 1) if idle_tree_rss else None,
        "post_to_idle_cold_ms": median(cold),
        "post_to_idle_cold_min_max": [round(min(cold), 1), round(max(cold), 1)] if cold else None,
        "post_to_idle_pool_ms": median(pool),
        "rtt_p50_ms": round(rtt[len(rtt) // 2], 2),
        "rtt_p99_ms": round(rtt[min(len(rtt) - 1, int(len(rtt) * 0.99))], 2),
        "count": args.count,
    }))


if __name__ == "__main__":
    main()
