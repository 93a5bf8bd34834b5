"""The gateway the proxy talks to: an ``nbgate serve`` child process started on a free loopback port with
a fresh token and the Jupyter root directory, or a gateway someone else runs at a configured URL.

The token reaches the child in its environment (``NBGATE_TOKEN``), never on its command line: a command
line is readable by every local user and kernel (``/proc/*/cmdline``), and a value there that begins with
``-`` would be read as an option. Every other option is passed as one ``--name=value`` word for the same
reason.

A managed gateway is started once (at server start, or by the first request if that comes first),
reports why when it cannot start, and is stopped with the server (SIGTERM, then SIGKILL). On Linux it
also dies with the Jupyter server if that is killed outright (PR_SET_PDEATHSIG).
"""

import asyncio
import collections
import ctypes
import os
import re
import shutil
import signal
import sys

LISTENING = re.compile(r"nbgate serve listening on (http://\S+?)/?(\?token=\S*)?\s*$")


class GatewayUnavailable(Exception):
    """The gateway cannot be used; the message says why and what to do."""


def _die_with_parent():  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Gateway:
    """Where the executor API is, and its token."""

    def __init__(self, *, log, url=None, token="", command=None, start_timeout=30.0):
        self.log = log
        self.url = url
        self.token = token
        self._command = command
        self._start_timeout = start_timeout
        self._process = None
        self._started = None  # the start task, once begun
        self._error = None
        self._output = collections.deque(maxlen=30)
        self._reader = None

    @classmethod
    def remote(cls, url, token, *, log):
        return cls(log=log, url=url.rstrip("/"), token=token)

    @classmethod
    def managed(cls, *, binary, root_dir, data_dir, token, start_timeout, log):
        command = [
            binary,
            "serve",
            "--ip=127.0.0.1",
            "--port=0",
            f"--root-dir={root_dir}",
            f"--data-dir={data_dir}",
        ]
        return cls(log=log, token=token, command=command, start_timeout=start_timeout)

    def _environment(self):
        """The child's environment: the server's own, with the gateway's token (and no other)."""
        environment = dict(os.environ)
        environment["NBGATE_TOKEN"] = self.token
        return environment

    @property
    def managed_process(self):
        return self._process

    async def ensure_started(self):
        """The gateway's base URL; raises GatewayUnavailable with the reason when there is none."""
        if self._command is None:
            return self.url
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)
        if self._error:
            raise GatewayUnavailable(self._error)
        return self.url

    async def _start(self):
        binary = self._command[0]
        resolved = binary if os.path.sep in binary else shutil.which(binary)
        if not resolved or not os.access(resolved, os.X_OK):
            self._error = (
                f"nbgate is not installed: the binary {binary!r} was not found. Build it (make build-release) "
                "and set NBGATE_BINARY=/path/to/nbgate or c.NbgateApp.binary, or put nbgate on PATH; "
                "then restart JupyterLab."
            )
            self.log.error("nbgate: %s", self._error)
            return
        self.log.info("nbgate: starting %s serve", resolved)
        try:
            self._process = await asyncio.create_subprocess_exec(
                resolved,
                *self._command[1:],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self._environment(),
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as error:
            self._error = f"nbgate could not be started ({resolved}): {error}"
            self.log.error("nbgate: %s", self._error)
            return
        try:
            self.url = await asyncio.wait_for(self._await_listening(), self._start_timeout)
        except asyncio.TimeoutError:
            self._error = (
                f"nbgate did not start listening within {self._start_timeout:g} s; "
                f"its last output: {self._last_output()}"
            )
        if self.url is None and self._error is None:
            code = await self._process.wait()
            self._error = (
                f"nbgate exited with status {code} at start-up: {self._last_output()}. "
                "Fix the cause and restart JupyterLab."
            )
        if self._error:
            self.log.error("nbgate: %s", self._error)
            await self.stop()
            return
        self.log.info("nbgate: gateway listening on %s", self.url)
        self._reader = asyncio.ensure_future(self._forward_output())

    async def _await_listening(self):
        while True:
            line = await self._process.stdout.readline()
            if not line:
                return None
            text = self._remember(line)
            match = LISTENING.search(text)
            if match:
                return match.group(1).rstrip("/")

    async def _forward_output(self):
        while True:
            line = await self._process.stdout.readline()
            if not line:
                break
            text = self._remember(line)
            self.log.debug("nbgate: %s", text)
        code = await self._process.wait()
        if self._error is None and not self._stopping:
            self._error = (
                f"the nbgate gateway exited (status {code}): {self._last_output()}. Restart JupyterLab."
            )
            self.log.error("nbgate: %s", self._error)

    _stopping = False

    def _remember(self, line):
        """One line of the gateway's output, its token masked: the output is logged and quoted in errors."""
        text = line.decode("utf-8", "replace").rstrip()
        if self.token:
            text = text.replace(self.token, "<token>")
        self._output.append(text)
        return text

    def _last_output(self):
        lines = [line for line in self._output if line.strip()]
        return " | ".join(lines[-5:]) or "(no output)"

    async def stop(self, grace=5.0):
        """Stops a managed gateway (its kernels stop with it)."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._stopping = True
        self.log.info("nbgate: stopping the gateway (pid %s)", process.pid)
        try:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), grace)
        except asyncio.TimeoutError:
            self.log.warning("nbgate: the gateway did not stop in %g s; killing it", grace)
            process.kill()
            await process.wait()
        except ProcessLookupError:
            pass
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=1)
