#!/usr/bin/env bash
# nbgate vs papermill / jupyter_client benchmark. See bench/README.md.
#
#   bench/run.sh                 # N=5 rounds, builds release binaries first
#   N=3 SKIP_BUILD=1 bench/run.sh
#
# Interleaved: every round runs each tool once per workload, so drift in machine load hits all of them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-5}"
COUNT="${COUNT:-1000}"
WARMUP="${WARMUP:-1}"
VENV="${VENV:-$ROOT/.venv}"
OUT="$ROOT/bench/out"
RESULTS="$OUT/results.jsonl"

# Jupyter / IPython / matplotlib state stays out of $HOME.
export JUPYTER_PATH="$VENV/share/jupyter"
export JUPYTER_DATA_DIR="$ROOT/.cache/jupyter/data"
export JUPYTER_CONFIG_DIR="$ROOT/.cache/jupyter/config"
export JUPYTER_RUNTIME_DIR="$ROOT/.cache/jupyter/runtime"
export IPYTHONDIR="$ROOT/.cache/ipython"
export MPLCONFIGDIR="$ROOT/.cache/matplotlib"
export JUPYTER_PLATFORM_DIRS=1
export PYDEVD_DISABLE_FILE_VALIDATION=1
export PATH="$VENV/bin:$PATH"   # the python3 kernelspec's argv starts with plain `python`
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_CONFIG_DIR" "$JUPYTER_RUNTIME_DIR" "$IPYTHONDIR" "$MPLCONFIGDIR" "$OUT"

PY="$VENV/bin/python"
PAPERMILL="$VENV/bin/papermill"
NBGATE="${NBGATE:-$ROOT/target/release/nbgate}"
ROUNDTRIP="${ROUNDTRIP:-$ROOT/target/release/examples/roundtrip}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  echo "== cargo build --release" >&2
  cargo build --release -p nbgate >&2 || echo "WARNING: cargo build -p nbgate failed" >&2
  cargo build --release -p nbgate-kernel --example roundtrip >&2 \
    || echo "WARNING: cargo build --example roundtrip failed" >&2
fi
have_nbgate=0; [[ -x "$NBGATE" ]] && have_nbgate=1
have_roundtrip=0; [[ -x "$ROUNDTRIP" ]] && have_roundtrip=1
if (( ! have_nbgate )); then echo "WARNING: $NBGATE missing: nbgate runs skipped" >&2; fi
if (( ! have_roundtrip )); then echo "WARNING: $ROUNDTRIP missing: Rust round trip skipped" >&2; fi

"$PY" bench/make_nbs.py "$OUT" >&2

# Probe: a binary that exists but cannot run notebooks yet (work in progress) is skipped, loudly.
if (( have_nbgate )); then
  rm -f "$OUT/probe.ipynb"
  if ! (cd "$OUT" && "$NBGATE" run in1.ipynb probe.ipynb -k python3) > "$OUT/nbgate-probe.log" 2>&1 \
     || ! "$PY" bench/check_out.py "$OUT/probe.ipynb" 1 >> "$OUT/nbgate-probe.log" 2>&1; then
    echo "WARNING: '$NBGATE run' does not execute notebooks yet (see $OUT/nbgate-probe.log): nbgate runs skipped" >&2
    have_nbgate=0
  fi
fi
: > "$RESULTS"

now() { echo "$EPOCHREALTIME"; }

# record TOOL WORKLOAD ROUND SECONDS
record() { printf '{"tool": "%s", "workload": "%s", "round": %d, "wall_s": %s}\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }

# time_run TOOL WORKLOAD ROUND OUTFILE CMD...   (cwd = bench/out; output discarded unless it fails)
# After the timed run (outside the timing), OUTFILE is checked: every cell executed with its output.
time_run() {
  local tool=$1 workload=$2 round=$3 outfile=$4; shift 4
  local t0 t1 log="$OUT/$tool-$workload.log"
  rm -f "$OUT/$outfile"
  t0=$(now)
  if ! (cd "$OUT" && "$@") > "$log" 2>&1; then
    echo "FAILED: $*  (log: $log)" >&2; tail -20 "$log" >&2; exit 1
  fi
  t1=$(now)
  if ! "$PY" bench/check_out.py "$OUT/$outfile" "${workload#cells}" >> "$log" 2>&1; then
    echo "FAILED: $tool wrote a wrong $outfile (log: $log)" >&2; tail -5 "$log" >&2; exit 1
  fi
  local dt; dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
  if (( round > 0 )); then record "$tool" "$workload" "$round" "$dt"; fi
  printf '  round %d  %-8s %-12s %7.3f s\n' "$round" "$tool" "$workload" "$dt" >&2
}

# The round trips execute the same kind of cell as in200.ipynb (make_nbs.py), so that the floor
# "kernel start + 200 x round trip" is for the same work.
CELL_CODE=$'x = 1\nprint(x)'

# roundtrip_run TOOL ROUND CMD...   (the command prints one JSON line)
roundtrip_run() {
  local tool=$1 round=$2; shift 2
  local line
  line=$("$@" 2> "$OUT/$tool-roundtrip.log" | tail -n 1)
  if [[ "$line" != \{* ]]; then echo "FAILED: $* printed '$line'" >&2; tail -20 "$OUT/$tool-roundtrip.log" >&2; exit 1; fi
  if (( round > 0 )); then
    printf '{"tool": "%s", "workload": "roundtrip", "round": %d, "result": %s}\n' "$tool" "$round" "$line" >> "$RESULTS"
  fi
  printf '  round %d  %-8s %-12s %s\n' "$round" "$tool" "roundtrip" "$line" >&2
}

for (( r = 1 - WARMUP; r <= N; r++ )); do
  if (( r <= 0 )); then echo "== warm-up round (not counted)" >&2; else echo "== round $r of $N" >&2; fi
  for cells in 1 200; do
    if (( have_nbgate )); then
      time_run nbgate "cells$cells" "$r" "out-nbgate-$cells.ipynb" "$NBGATE" run "in$cells.ipynb" "out-nbgate-$cells.ipynb" -k python3
    fi
    time_run papermill "cells$cells" "$r" "out-papermill-$cells.ipynb" "$PAPERMILL" --no-progress-bar --log-level WARNING \
      "in$cells.ipynb" "out-papermill-$cells.ipynb" -k python3
  done
  if (( have_roundtrip )); then
    roundtrip_run nbgate "$r" "$ROUNDTRIP" --kernel python3 --count "$COUNT" --code "$CELL_CODE"
  fi
  roundtrip_run jupyter_client "$r" "$PY" bench/roundtrip.py --kernel python3 --count "$COUNT" --code "$CELL_CODE"
done

"$PY" bench/report.py "$RESULTS"
