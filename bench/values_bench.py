#!/usr/bin/env python3
"""What recording values costs: `nbgate run` on a 200-cell notebook whose every cell records a value,
against the same notebook publishing the same bytes under a mimetype nbgate does not record.

    .venv/bin/python bench/values_bench.py [--rounds 5] [--nbgate target/release/nbgate]

Both notebooks make the kernel do the same work (one raw display of the same payload per cell), so the
difference is nbgate's: reading each value from its message, keeping it, writing `--values-json`. A third
notebook records with the real `sb.glue` (scrapbook's own Python cost, a JSON-schema check per value,
included) for reference. Rounds are interleaved; the report gives medians. Writes to bench/out/values/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "values"
CELLS = 200
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
SCRAP = "application/scrapbook.scrap.json+json"


def raw_display(mimetype: str, i: int) -> str:
    payload = {"name": f"v{i}", "data": i / 7, "encoder": "json", "version": 1}
    metadata = {"scrapbook": {"name": f"v{i}", "data": True, "display": False}}
    return f"x = {i}\ndisplay({{{mimetype!r}: {payload!r}}}, metadata={metadata!r}, raw=True)"


def write(name: str, first: str, body) -> Path:
    nb = new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nb.cells = [new_code_cell(first)] + [new_code_cell(body(i)) for i in range(CELLS - 1)]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    path = OUT / name
    nbformat.write(nb, str(path))
    return path


def run(nbgate: str, notebook: Path) -> tuple[float, int]:
    values = notebook.with_suffix(".values.json")
    start = time.perf_counter()
    done = subprocess.run(
        [nbgate, "run", str(notebook), str(notebook.with_suffix(".out.ipynb")),
         f"--values-json={values}", "--no-progress-bar"],
        capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{notebook.name}: exit {done.returncode}\n{done.stderr}")
    return elapsed, len(json.loads(values.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nbgate", default=str(ROOT / "target" / "release" / "nbgate"))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    prelude = "from IPython.display import display"
    notebooks = {
        "not recorded": (write("plain200.ipynb", prelude,
                               lambda i: raw_display("application/x-bench+json", i)), 0),
        "recorded": (write("record200.ipynb", prelude, lambda i: raw_display(SCRAP, i)), CELLS - 1),
        "sb.glue": (write("glue200.ipynb", "import scrapbook as sb",
                          lambda i: f"x = {i}\nsb.glue('v{i}', {i} / 7)"), CELLS - 1),
    }
    times = {label: [] for label in notebooks}
    for round_ in range(args.rounds + 1):  # round 0 warms up (imports, page cache)
        for label, (path, expected) in notebooks.items():
            elapsed, count = run(args.nbgate, path)
            if count != expected:
                sys.exit(f"{label}: {count} values recorded, expected {expected}")
            if round_ > 0:
                times[label].append(elapsed)
    base = statistics.median(times["not recorded"])
    print(f"{CELLS} cells, {args.rounds} rounds (+1 warm-up), medians:")
    for label, samples in times.items():
        median = statistics.median(samples)
        print(f"  {label:13} {median:6.3f} s  ({min(samples):.3f}–{max(samples):.3f})  "
              f"{(median / base - 1) * 100:+5.1f} % vs not recorded")


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    main()
