"""Drives jupyter_server in gateway mode (`--gateway-url` = nbgate) as JupyterLab would: create a session,
run `print(6*7)` over jupyter_server's WebSocket, interrupt a loop, restart, delete. Exits 0 on success.

Usage: python jupyter_server_gateway.py GATEWAY_URL GATEWAY_TOKEN ROOT_DIR
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import websocket  # websocket-client
from jupyter_core.paths import jupyter_runtime_dir

GATEWAY, GATEWAY_TOKEN, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = "lab-token"
DEADLINE = 90


def call(base, method, path, body=None, token=TOKEN):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"token {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(what, check):
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


class Kernel:
    """A client of one kernel through jupyter_server's WebSocket (legacy JSON, as the browser uses)."""

    def __init__(self, base, kernel_id):
        self.session = uuid.uuid4().hex
        url = base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {TOKEN}"], timeout=60)

    def send(self, msg_type, content, channel="shell"):
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "lab",
                  "date": "2026-01-01T00:00:00.000000Z", "version": "5.3"}
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "buffers": [], "channel": channel}))
        return msg_id

    def recv(self, deadline):
        """The next message, or a failure at `deadline` (pings do not extend it)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SystemExit("timed out waiting for a kernel message")
        self.ws.settimeout(remaining)
        return json.loads(self.ws.recv())

    def until(self, check):
        deadline = time.monotonic() + DEADLINE
        while True:
            message = self.recv(deadline)
            if check(message):
                return message

    def execute(self, code, wait=True):
        msg_id = self.send("execute_request", {"code": code, "silent": False, "store_history": True,
                                               "user_expressions": {}, "allow_stdin": False,
                                               "stop_on_error": True})
        if not wait:
            return msg_id, None, ""
        # Shell and iopub are separate sockets: the reply may come before or after `idle` (the output
        # always comes before it).
        deadline = time.monotonic() + DEADLINE
        out, reply, idle = "", None, False
        while reply is None or not idle:
            m = self.recv(deadline)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream":
                out += m["content"]["text"]
            elif m["msg_type"] == "execute_reply":
                reply = m["content"]
            elif m["msg_type"] == "status":
                idle = m["content"]["execution_state"] == "idle"
        return msg_id, reply, out


def main():
    # Port 0: jupyter_server binds a free port itself and writes it to its server-info file (a port
    # picked here and bound later could be taken meanwhile, e.g. by a kernel).
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         "--port=0", "--port-retries=0", f"--ServerApp.root_dir={ROOT}", f"--gateway-url={GATEWAY}"],
        # Tokens by environment: a command line is readable by every local process.
        env={**os.environ, "JUPYTER_TOKEN": TOKEN, "JUPYTER_GATEWAY_AUTH_TOKEN": GATEWAY_TOKEN},
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(ROOT, "jupyter_server.log"), "w"),
    )
    try:
        info_file = os.path.join(jupyter_runtime_dir(), f"jpserver-{server.pid}.json")

        def bound_port():
            if server.poll() is not None:
                raise SystemExit(f"jupyter_server exited with {server.returncode}")
            try:
                with open(info_file) as f:
                    return json.load(f)["port"]
            except (FileNotFoundError, ValueError, KeyError):
                return None  # not written yet (or half written)

        base = f"http://127.0.0.1:{wait_for('jupyter_server to bind its port', bound_port)}"
        wait_for("jupyter_server", lambda: call(base, "GET", "/api/status")[0] == 200)
        status, specs = call(base, "GET", "/api/kernelspecs")
        assert status == 200 and "python3" in specs["kernelspecs"], specs

        status, session = call(base, "POST", "/api/sessions",
                               {"path": "t.ipynb", "type": "notebook", "name": "t.ipynb",
                                "kernel": {"name": "python3"}})
        assert status == 201, (status, session)
        kernel_id = session["kernel"]["id"]
        status, listed = call(GATEWAY, "GET", "/api/kernels", token=GATEWAY_TOKEN)
        assert [k["id"] for k in listed] == [kernel_id], listed
        status, model = call(base, "GET", f"/api/kernels/{kernel_id}")
        assert status == 200, model

        kernel = Kernel(base, kernel_id)
        _, reply, out = kernel.execute("print(6*7)")
        assert reply["status"] == "ok" and out == "42\n", (reply, out)

        # Interrupted once the loop runs (a SIGINT before the cell's code starts aborts the request
        # without a reply in ipykernel).
        looping, _, _ = kernel.execute("print('looping', flush=True)\nwhile True: pass", wait=False)
        kernel.until(lambda m: m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == looping)
        status, _ = call(base, "POST", f"/api/kernels/{kernel_id}/interrupt", {})
        assert status == 204, status
        interrupted = kernel.until(lambda m: m["msg_type"] == "execute_reply"
                                   and m["parent_header"].get("msg_id") == looping)
        assert interrupted["content"]["ename"] == "KeyboardInterrupt", interrupted

        status, model = call(base, "POST", f"/api/kernels/{kernel_id}/restart", {})
        assert status == 200, (status, model)
        deadline = time.monotonic() + DEADLINE
        while True:
            # The browser re-sends until the restarted kernel answers (its sockets come back).
            _, reply, out = kernel.execute("print('after restart')")
            if reply["status"] == "ok":
                break
            assert time.monotonic() < deadline, reply
        assert reply["execution_count"] == 1, reply
        kernel.ws.close()

        status, _ = call(base, "DELETE", f"/api/sessions/{session['id']}")
        assert status == 204, status
        status, listed = call(GATEWAY, "GET", "/api/kernels", token=GATEWAY_TOKEN)
        assert listed == [], listed
        print("OK")
    finally:
        # Stop jupyter_server before the gateway (reference: pitfalls of gateway mode).
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
