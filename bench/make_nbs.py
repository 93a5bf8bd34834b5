#!/usr/bin/env python3
"""Write the benchmark notebooks: in1.ipynb (1 cell `print(0)`) and in200.ipynb (200 cells `x = i; print(x)`).

    python bench/make_nbs.py [OUT_DIR]      # default: bench/out
"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def make(sources):
    nb = new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nb.cells = [new_code_cell(src) for src in sources]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "out"
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(make(["print(0)"]), str(out / "in1.ipynb"))
    nbformat.write(make([f"x = {i}\nprint(x)" for i in range(200)]), str(out / "in200.ipynb"))
    print(f"wrote {out}/in1.ipynb and {out}/in200.ipynb")


if __name__ == "__main__":
    main()
