#!/usr/bin/env python3
"""Which functions an idle `nbgate serve` runs: the symbol order file of the release link.

    .venv/bin/python bench/order_symbols.py            # target/release/nbgate -> server/nbgate/symbol-order.txt
    .venv/bin/python bench/order_symbols.py --check    # how many of the file's symbols the binary still has

Starts `nbgate serve` under valgrind's callgrind (every function executed, exactly, whatever page it
lies in) the way bench/idle_rss.py does: a fresh root and data directory, the token by environment.
It waits until `GET /api` answers, lets the server idle `--settle` seconds (its timers run), asks
callgrind to dump, and stops the server. The functions of the nbgate binary that ran, by their
linker (mangled) names, most instructions executed first, are written one a line (the
linker reads no comments): `server/nbgate/build.rs` hands
the file to the linker (`--symbol-ordering-file`) in release builds, which places these functions
together at the start of `.text`. The kernel maps file pages 64 KB around each page fault, so
scattered start-up code makes half of `.text` resident; grouped, a few hundred KB.

Symbols the binary no longer has (renamed, inlined, a new `.llvm.N` suffix after a code change) are
skipped by the linker without a warning; `--check` counts them. Regenerate after larger changes.
Needs valgrind.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from idle_rss import free_port, wait_until_serving  # bench/ is the script's path

REPO = Path(__file__).resolve().parent.parent
ORDER_FILE = REPO / "server/nbgate/symbol-order.txt"


def profile(binary: str, settle: float, workdir: Path) -> Path:
    """Runs the idle server under callgrind; returns the dump of the gateway process."""
    port = free_port()
    (workdir / "root").mkdir()
    out = workdir / "callgrind.out"
    command = ["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no",
               "--child-silent-after-fork=yes", f"--callgrind-out-file={out}",
               binary, "serve", "--ip", "127.0.0.1", "--port", str(port),
               "--root-dir", str(workdir / "root"), "--data-dir", str(workdir / "data")]
    env = dict(os.environ, NBGATE_TOKEN="order")
    with open(workdir / "valgrind.log", "w") as log:
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until_serving(process, port, "order", timeout=300)  # valgrind is slow to start
        time.sleep(settle)
        # A dump now holds start-up, the request and the idle timers, not the shutdown.
        subprocess.run(["callgrind_control", "--dump=idle", str(process.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    dumps = sorted(workdir.glob("callgrind.out.*"))
    if not dumps:
        sys.exit(f"callgrind wrote no dump; see {workdir / 'valgrind.log'}")
    return dumps[0]


def executed_functions(dump: Path, binary: str) -> dict[str, int]:
    """Function name -> instructions executed in it, for the functions of `binary` in a callgrind dump.

    The format names each object and function once as `ob=(N) name` / `fn=(N) name` and by
    `(N)` afterwards; cost lines follow their `fn=`; `cfn=`/`calls=` lines name callees, whose
    own costs come under their own `fn=`.
    """
    binary = os.path.realpath(binary)
    objects: dict[str, str] = {}
    names: dict[str, str] = {}
    costs: dict[str, int] = {}
    current_object, current_function, skip_next = "", None, False
    compressed = re.compile(r"\((\d+)\)(?: (.*))?")

    def resolve(table: dict[str, str], value: str) -> str:
        match = compressed.fullmatch(value)
        if not match:
            return value
        if match.group(2) is not None:
            table[match.group(1)] = match.group(2)
        return table[match.group(1)]

    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            current_object = resolve(objects, line[3:])
        elif line.startswith("fn="):
            name = resolve(names, line[3:])
            current_function = name if os.path.realpath(current_object) == binary else None
        elif line.startswith(("cob=",)):
            resolve(objects, line[4:])
        elif line.startswith(("cfn=", "cfi=", "cfl=")):
            if line.startswith("cfn="):
                resolve(names, line[4:])
        elif line.startswith("calls="):
            skip_next = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            if skip_next:
                skip_next = False
            elif current_function is not None:
                fields = line.split()
                if len(fields) >= 2:
                    costs[current_function] = costs.get(current_function, 0) + int(fields[1])
    return costs


def binary_symbols(binary: str) -> set[str]:
    listing = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                             text=True).stdout
    return {fields[2] for fields in (line.split() for line in listing.splitlines())
            if len(fields) == 3 and fields[1] in "tTwW"}


def check(binary: str) -> None:
    wanted = ORDER_FILE.read_text().split()
    present = binary_symbols(binary)
    found = sum(name in present for name in wanted)
    print(f"{found} of {len(wanted)} symbols of {ORDER_FILE.relative_to(REPO)} are in {binary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nbgate", default=str(REPO / "target/release/nbgate"))
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds the server idles under valgrind after GET /api answered")
    parser.add_argument("--out", default=str(ORDER_FILE))
    parser.add_argument("--check", action="store_true", help="only count the file's symbols in the binary")
    args = parser.parse_args()
    if args.check:
        check(args.nbgate)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="nbgate-order-"))
    try:
        costs = executed_functions(profile(args.nbgate, args.settle, workdir), args.nbgate)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    present = binary_symbols(args.nbgate)
    ordered = sorted((name for name in costs if name in present), key=lambda name: (-costs[name], name))
    Path(args.out).write_text("".join(name + "\n" for name in ordered))
    print(f"{len(ordered)} functions ({len(costs) - len(ordered)} names not in the symbol table) -> {args.out}")


if __name__ == "__main__":
    main()
