#!/usr/bin/env python3
"""Summarise bench/out/results.jsonl (written by bench/run.sh): medians, ratios, targets.

    python bench/report.py bench/out/results.jsonl [--json summary.json]
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TARGET_SPEEDUP_200 = 8.0  # papermill / nbgate, 200 cells
TARGET_MODEL_RATIO = 1.3  # nbgate-200 / (kernel start + 200 x raw round trip)
TARGET_1_CELL_S = 0.4  # nbgate, 1 cell


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, unit="", digits=3):
    return "—" if x is None else f"{x:.{digits}f}{unit}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?", default=str(Path(__file__).resolve().parent / "out" / "results.jsonl"))
    ap.add_argument("--json", help="also write the summary here")
    opts = ap.parse_args()

    wall = defaultdict(list)  # (tool, workload) -> [seconds]
    rt = defaultdict(lambda: defaultdict(list))  # tool -> field -> [values]
    for line in Path(opts.results).read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec["workload"] == "roundtrip":
            for k in ("start_ms", "median_ms", "mean_ms", "p99_ms"):
                if k in rec["result"]:
                    rt[rec["tool"]][k].append(rec["result"][k])
        else:
            wall[(rec["tool"], rec["workload"])].append(rec["wall_s"])

    rounds = max((len(v) for v in wall.values()), default=0)
    s = {
        "rounds": rounds,
        "papermill_1_s": med(wall[("papermill", "cells1")]),
        "papermill_200_s": med(wall[("papermill", "cells200")]),
        "nbgate_1_s": med(wall[("nbgate", "cells1")]),
        "nbgate_200_s": med(wall[("nbgate", "cells200")]),
    }
    for tool in ("nbgate", "jupyter_client"):
        for k in ("start_ms", "median_ms", "mean_ms", "p99_ms"):
            s[f"{tool}_rt_{k}"] = med(rt[tool][k]) if rt[tool].get(k) else None
    s["speedup_1"] = ratio(s["papermill_1_s"], s["nbgate_1_s"])
    s["speedup_200"] = ratio(s["papermill_200_s"], s["nbgate_200_s"])
    # The floor nbgate-200 can reach: start one kernel + 200 raw execute round trips of the same cell
    # (nbgate's own client). 200 round trips take 200 x their mean (the median would understate a sum).
    model_src = "nbgate" if s["nbgate_rt_median_ms"] is not None else "jupyter_client"
    per_cell = s[f"{model_src}_rt_mean_ms"] or s[f"{model_src}_rt_median_ms"]
    if per_cell is not None:
        s["model_200_s"] = (s[f"{model_src}_rt_start_ms"] + 200 * per_cell) / 1000
    else:
        s["model_200_s"] = None
    s["model_source"] = model_src
    s["nbgate_200_over_model"] = ratio(s["nbgate_200_s"], s["model_200_s"])
    s["roundtrip_speedup"] = ratio(s["jupyter_client_rt_median_ms"], s["nbgate_rt_median_ms"])

    w = sys.stdout.write
    w(f"\nmedians over {rounds} round(s)\n\n")
    w(f"{'workload':<28}{'papermill':>12}{'nbgate':>12}{'papermill/nbgate':>18}\n")
    w(f"{'1 cell (wall)':<28}{fmt(s['papermill_1_s'], ' s'):>12}{fmt(s['nbgate_1_s'], ' s'):>12}"
      f"{fmt(s['speedup_1'], 'x', 2):>18}\n")
    w(f"{'200 cells (wall)':<28}{fmt(s['papermill_200_s'], ' s'):>12}{fmt(s['nbgate_200_s'], ' s'):>12}"
      f"{fmt(s['speedup_200'], 'x', 2):>18}\n\n")
    w(f"{'raw round trip':<28}{'jupyter_client':>16}{'nbgate':>12}{'jc/nbgate':>12}\n")
    for k, label in (("start_ms", "kernel start"), ("median_ms", "execute median"), ("mean_ms", "execute mean"),
                     ("p99_ms", "execute p99")):
        a, b = s[f"jupyter_client_rt_{k}"], s[f"nbgate_rt_{k}"]
        w(f"{label:<28}{fmt(a, ' ms', 2):>16}{fmt(b, ' ms', 2):>12}{fmt(ratio(a, b), 'x', 2):>12}\n")
    w(f"\nnbgate 200 cells vs kernel start + 200 x round trip ({model_src}): "
      f"{fmt(s['nbgate_200_s'], ' s')} / {fmt(s['model_200_s'], ' s')} = {fmt(s['nbgate_200_over_model'], 'x', 2)}\n\n")

    def check(name, value, ok):
        w(f"  {'—' if value is None else ('PASS' if ok else 'FAIL'):<5} {name}\n")

    w("targets\n")
    check(f"200 cells >= {TARGET_SPEEDUP_200:g}x faster than papermill", s["speedup_200"],
          s["speedup_200"] is not None and s["speedup_200"] >= TARGET_SPEEDUP_200)
    check(f"200 cells within {TARGET_MODEL_RATIO:g}x of kernel start + 200 x round trip", s["nbgate_200_over_model"],
          s["nbgate_200_over_model"] is not None and s["nbgate_200_over_model"] <= TARGET_MODEL_RATIO)
    check(f"1 cell <= {TARGET_1_CELL_S:g} s", s["nbgate_1_s"],
          s["nbgate_1_s"] is not None and s["nbgate_1_s"] <= TARGET_1_CELL_S)

    out = opts.json or str(Path(opts.results).with_name("summary.json"))
    Path(out).write_text(json.dumps(s, indent=1) + "\n")
    w(f"\nsummary: {out}\n")


if __name__ == "__main__":
    main()
