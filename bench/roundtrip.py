#!/usr/bin/env python3
"""Raw execute round trip with jupyter_client (the Python reference for
`target/release/examples/roundtrip`).

    python bench/roundtrip.py --kernel python3 --count 1000

start_ms: from launching the kernel to `wait_for_ready` returning (kernel_info_reply received and
iopub connected). Then `count` executes of `x = 1`, one at a time; each is done when both its
execute_reply (shell) and the iopub `status: idle` whose parent is that request have arrived.
Prints one JSON line: {"start_ms", "median_ms", "mean_ms", "p99_ms", "count"} (p99 = nearest rank).
"""
import argparse
import json
import math
import statistics
import time

from jupyter_client.manager import KernelManager


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--code", default="x = 1")
    opts = ap.parse_args()

    t0 = time.perf_counter()
    km = KernelManager(kernel_name=opts.kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    start_ms = (time.perf_counter() - t0) * 1000
    # Drain anything left over from start-up (status messages of kernel_info).
    while kc.iopub_channel.msg_ready():
        kc.get_iopub_msg(timeout=0.1)

    samples = []
    try:
        for _ in range(opts.count):
            t = time.perf_counter()
            msg_id = kc.execute(opts.code, store_history=True, allow_stdin=False)
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"execute failed: {reply['content']}")
            while True:
                msg = kc.get_iopub_msg(timeout=30)
                if (
                    msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id
                ):
                    break
            samples.append((time.perf_counter() - t) * 1000)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    samples.sort()
    p99 = samples[max(0, math.ceil(0.99 * len(samples)) - 1)]
    print(
        json.dumps(
            {
                "start_ms": round(start_ms, 3),
                "median_ms": round(statistics.median(samples), 4),
                "mean_ms": round(statistics.fmean(samples), 4),
                "p99_ms": round(p99, 4),
                "count": len(samples),
            }
        )
    )


if __name__ == "__main__":
    main()
