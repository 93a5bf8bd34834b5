#!/usr/bin/env python3
"""Check that a benchmark output notebook really ran: every code cell has an execution_count and the
stdout output its source prints (`print(0)` -> "0\n", `x = i; print(x)` -> "i\n").

    python bench/check_out.py OUT.ipynb N_CELLS
"""
import json
import sys


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    nb = json.load(open(path, encoding="utf-8"))
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    if len(cells) != n:
        sys.exit(f"{path}: {len(cells)} code cells, expected {n}")
    for i, cell in enumerate(cells):
        text = "".join(
            "".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
            for o in cell.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stdout"
        )
        want = "0\n" if n == 1 else f"{i}\n"
        if cell.get("execution_count") is None or text != want:
            sys.exit(f"{path}: cell {i} not executed as expected (count {cell.get('execution_count')}, stdout {text!r})")


if __name__ == "__main__":
    main()
