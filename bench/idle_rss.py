#!/usr/bin/env python3
"""Idle memory of `nbgate serve`: the gateway process's resident set once it serves and settles.

    .venv/bin/python bench/idle_rss.py                       # 5 starts of target/release/nbgate
    .venv/bin/python bench/idle_rss.py --runs 7 --env MALLOC_ARENA_MAX=8 --label arenas8
    .venv/bin/python bench/idle_rss.py --nbgate path/to/nbgate -- --no-fork-server

Each run starts `nbgate serve` on a fresh temporary root and data directory (port chosen free,
token by environment), waits until `GET /api` answers, then `--settle` seconds (default 2), and reads
from /proc of the gateway process (its fork servers are other processes and not counted): VmRSS,
VmHWM, the anonymous and file-backed parts of the resident set (smaps_rollup) and the number of
threads. With `--sections`, also the binary's resident KiB by ELF section (from /proc/PID/pagemap):
`.text` (code), `.data.rel.ro` (written by the loader's relocations), the rest of the file.
Prints one JSON line per run and then the medians.
"""

import argparse
import json
import os
import re
import struct
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(process, port: int, token: str, timeout: float) -> None:
    """Waits until `GET /api` answers 200; exits with the reason if the server exits or stays silent."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api",
                                     headers={"Authorization": f"token {token}"})
    while True:
        if process.poll() is not None:
            stderr = process.stderr.read()[-2000:] if process.stderr else ""
            sys.exit(f"nbgate serve exited {process.returncode}: {stderr!r}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"nbgate serve did not answer GET /api within {timeout:.0f} s")
        time.sleep(0.05)


def proc_kib(pid: int, name: str, field: str) -> int:
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def elf_sections(binary: str) -> list[tuple[str, int, int]]:
    """(name, file offset, size) of the binary's sections that occupy the file."""
    listing = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True, text=True).stdout
    row = re.compile(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)")
    return [(m[1], int(m[3], 16), int(m[4], 16)) for m in map(row.match, listing.splitlines())
            if m and m[2] != "NOBITS" and int(m[4], 16)]


def resident_by_section(pid: int, binary: str) -> dict:
    """Resident KiB of the binary's mappings: `.text`, `.data.rel.ro` and everything else."""
    binary = os.path.realpath(binary)
    sections = elf_sections(binary)
    kib = {"text_kib": 0, "relro_kib": 0, "other_kib": 0}
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            if len(fields) < 6 or os.path.realpath(fields[5]) != binary:
                continue
            start, end = (int(address, 16) for address in fields[0].split("-"))
            pagemap.seek(start // 4096 * 8)
            entries = pagemap.read((end - start) // 4096 * 8)
            for page in range(len(entries) // 8):
                if not struct.unpack_from("<Q", entries, page * 8)[0] >> 63:  # bit 63: present
                    continue
                offset = int(fields[2], 16) + page * 4096
                name = next((name for name, at, size in sections if at <= offset < at + size), "")
                key = {".text": "text_kib", ".data.rel.ro": "relro_kib"}.get(name, "other_kib")
                kib[key] += 4
    return kib


def one_run(args, env) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="nbgate-rss-"))
    port = free_port()
    (tmp / "root").mkdir()
    process = subprocess.Popen(
        [args.nbgate, "serve", "--ip", "127.0.0.1", "--port", str(port),
         "--root-dir", str(tmp / "root"), "--data-dir", str(tmp / "data"), *args.serve_args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
    try:
        wait_until_serving(process, port, "rss", timeout=60)
        time.sleep(args.settle)
        pid = process.pid
        sections = resident_by_section(pid, args.nbgate) if args.sections else {}
        return {
            "rss_kib": proc_kib(pid, "status", "VmRSS"),
            "hwm_kib": proc_kib(pid, "status", "VmHWM"),
            "anon_kib": proc_kib(pid, "smaps_rollup", "Anonymous"),
            "file_kib": proc_kib(pid, "status", "RssFile"),
            "threads": proc_kib(pid, "status", "Threads"),
            **sections,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nbgate", default=str(REPO / "target/release/nbgate"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--label", default="")
    parser.add_argument("--sections", action="store_true",
                        help="also the binary's resident KiB: .text, .data.rel.ro, the rest")
    parser.add_argument("serve_args", nargs="*", help="more `nbgate serve` arguments (after --)")
    args = parser.parse_args()
    env = dict(os.environ, NBGATE_TOKEN="rss")
    env.update(item.split("=", 1) for item in args.env)
    runs = []
    for _ in range(args.runs):
        run = one_run(args, env)
        runs.append(run)
        print(json.dumps({"label": args.label, **run}), file=sys.stderr)
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(json.dumps({"label": args.label, "runs": len(runs), "load": os.getloadavg()[0],
                      "median": medians}))


if __name__ == "__main__":
    main()
