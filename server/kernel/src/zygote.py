# nbgate's kernel fork server ("zygote") for ipykernel. Embedded in the nbgate binary and run as
# `python -c <this file>` by server/kernel/src/zygote.rs, which documents the protocol and the process
# chain. In short: import ipykernel once, then fork one child per kernel request; each child becomes the
# kernel exactly as `python -m ipykernel_launcher ARGS` would, in its own session, tied to this process
# by PR_SET_PDEATHSIG (this process is tied to nbgate the same way).
#
# Protocol, one JSON object per line. nbgate -> stdin:
#   {"id": N, "args": [...], "env": {...}, "cwd": "/dir", "output": "/path/to/fifo"}
# stdout -> nbgate:
#   {"ready": PID}                      once, after the imports
#   {"id": N, "pid": P} | {"id": N, "error": "..."}
#   {"exited": P, "code": C} | {"exited": P, "signal": S}
# The zygote exits when its stdin closes. It never starts a thread, a zmq context or an event loop: a
# fork only copies the calling thread, and PR_SET_PDEATHSIG fires when that thread ends.

import sys

if sys.path and sys.path[0] == "":
    # `-c` put the working directory first; nothing is imported from there.
    del sys.path[0]

import os

# ipykernel reads JPY_PARENT_PID when it is imported (a trait default): its parent poller then watches
# this process, which is every kernel's parent.
os.environ["JPY_PARENT_PID"] = str(os.getpid())

import atexit  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import runpy  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import IPython  # noqa: E402, F401
import ipykernel.ipkernel  # noqa: E402, F401
import ipykernel.kernelapp  # noqa: E402, F401
import jupyter_client  # noqa: E402, F401
import zmq  # noqa: E402, F401

# What a kernel would otherwise import while it initialises (≈200 ms of CPU, most of it debugpy for
# ipykernel's debugger). Optional: a missing one is imported (or not) by the kernel as usual.
for module in (
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "tornado.platform.asyncio",
    "tornado.queues",
    "sqlite3",
    "psutil",
):
    try:
        __import__(module)
    except Exception:  # noqa: BLE001
        pass

PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)
ZYGOTE = os.getpid()


def send(message):
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def exit_code(code):
    """The process exit code `sys.exit(code)` would give."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def become_kernel(request, output, settled, selector, pidfds):
    """In the forked child: set the process up as a fresh `python -m ipykernel_launcher` and run it."""
    code = 1
    try:
        os.setsid()
        if LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(70)
        if os.getppid() != ZYGOTE:  # the zygote died between fork and prctl
            os._exit(71)
        # Tell the zygote: the kernel leads its own group and dies with it, its pid may be handed out.
        os.close(settled)
        # Nothing of the zygote's stays open in the kernel.
        selector.close()
        for fd in pidfds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(ZYGOTE)
        time.tzset()
        os.chdir(request["cwd"])
        # As `python -m` has them: the working directory first on the path, argv[0] the module's file.
        sys.path.insert(0, os.getcwd())
        sys.argv = ["-m", *request["args"]]
        sys.orig_argv = [sys.executable, "-m", "ipykernel_launcher", *request["args"]]
        gc.enable()
        try:
            runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit:
            code = exit_code(exit.code)
        except BaseException:
            traceback.print_exc()
            code = 1
        # What the interpreter does at exit: join non-daemon threads, run atexit, flush.
        threading._shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code)


def fork(request, selector, pidfds):
    # The reader end is open in nbgate, so this does not block; blocking again for the kernel's writes.
    output = os.open(request["output"], os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(output, True)
    wait, settled = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(wait)
            become_kernel(request, output, settled, selector, pidfds)  # never returns
    except BaseException:
        os.close(wait)
        raise
    finally:
        os.close(output)
        os.close(settled)
    try:
        os.read(wait, 1)  # end of file once the child has settled (or died)
    finally:
        os.close(wait)
    pidfd = os.pidfd_open(pid)
    pidfds[pidfd] = pid
    selector.register(pidfd, selectors.EVENT_READ)
    return pid


def reap(pidfd, selector, pidfds):
    pid = pidfds.pop(pidfd)
    selector.unregister(pidfd)
    os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        send({"exited": pid, "signal": os.WTERMSIG(status)})
    else:
        send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def main():
    os.close(os.pidfd_open(ZYGOTE))  # fails early where pidfds are missing: nbgate then spawns
    # Imported objects stay out of the collector, so children do not copy their pages by touching them.
    gc.freeze()
    gc.disable()
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    pidfds = {}
    pending = b""
    send({"ready": ZYGOTE})
    while True:
        for key, _ in selector.select():
            if key.fd != 0:
                reap(key.fd, selector, pidfds)
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return  # nbgate is gone; the kernels follow through their parent-death signal
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                try:
                    send({"id": request["id"], "pid": fork(request, selector, pidfds)})
                except OSError as error:
                    send({"id": request["id"], "error": str(error)})


main()
