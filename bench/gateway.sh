#!/usr/bin/env bash
# nbgate serve (kernels forked from its fork server, and spawned with --no-fork-server) vs Jupyter Kernel
# Gateway (list_kernels on), same run, same machine. See bench/README.md.
#
#   bench/gateway.sh                       # builds the release binary first
#   RUNS=5 COUNT=300 SKIP_BUILD=1 bench/gateway.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${RUNS:-10}"
COUNT="${COUNT:-500}"
VENV="${VENV:-$ROOT/.venv}"
OUT="$ROOT/bench/out/gateway"
NBGATE="${NBGATE:-$ROOT/target/release/nbgate}"

export JUPYTER_PATH="$VENV/share/jupyter"
export JUPYTER_DATA_DIR="$ROOT/.cache/jupyter/data"
export JUPYTER_CONFIG_DIR="$ROOT/.cache/jupyter/config"
export JUPYTER_RUNTIME_DIR="$ROOT/.cache/jupyter/runtime"
export IPYTHONDIR="$ROOT/.cache/ipython"
export JUPYTER_PLATFORM_DIRS=1
export PYDEVD_DISABLE_FILE_VALIDATION=1
export PATH="$VENV/bin:$PATH"
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_CONFIG_DIR" "$JUPYTER_RUNTIME_DIR" "$IPYTHONDIR" "$OUT"
PY="$VENV/bin/python"
TOKEN="bench-$(date +%s)"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release -p nbgate >&2
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # URL
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null -H "Authorization: token $TOKEN" "$1/api" && return 0
    sleep 0.1
  done
  echo "gateway at $1 did not come up" >&2; return 1
}
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

run_one() { # LABEL PID URL [ARGS]
  local label=$1 pid=$2 url=$3; shift 3
  wait_up "$url"
  "$PY" bench/gateway_bench.py "$label" "$url" "$TOKEN" "$pid" --runs "$RUNS" --count "$COUNT" "$@" \
    | tee -a "$OUT/results.jsonl"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

: > "$OUT/results.jsonl"

P=$(free_port)
NBGATE_TOKEN="$TOKEN" "$NBGATE" serve --port="$P" --root-dir="$OUT" > "$OUT/nbgate.log" 2>&1 & PIDS+=($!)
run_one nbgate $! "http://127.0.0.1:$P"

P=$(free_port)
NBGATE_TOKEN="$TOKEN" "$NBGATE" serve --port="$P" --root-dir="$OUT" --no-fork-server > "$OUT/nbgate-spawn.log" 2>&1 & PIDS+=($!)
run_one nbgate-spawn $! "http://127.0.0.1:$P"

P=$(free_port)
NBGATE_TOKEN="$TOKEN" "$NBGATE" serve --port="$P" --root-dir="$OUT" --prespawn 1 > "$OUT/nbgate-pool.log" 2>&1 & PIDS+=($!)
run_one nbgate-pool $! "http://127.0.0.1:$P" --pool

P=$(free_port)
KG_AUTH_TOKEN="$TOKEN" "$VENV/bin/jupyter" kernelgateway --KernelGatewayApp.ip=127.0.0.1 \
  --KernelGatewayApp.port="$P" --JupyterWebsocketPersonality.list_kernels=True \
  > "$OUT/kg.log" 2>&1 & PIDS+=($!)
run_one kernel-gateway $! "http://127.0.0.1:$P"

"$PY" - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
nb, spawn, pool, kg = (rows[k] for k in ["nbgate", "nbgate-spawn", "nbgate-pool", "kernel-gateway"])
def ratio(a, b): return f"{a / b:.1f}x" if a and b else "—"
print()
print(f"{'':32}{'nbgate':>10}{'no fork':>10}{'KG':>10}{'KG/nbgate':>11}{'no fork/nbgate':>16}")
for name, key in [("idle RSS (MB)", "idle_rss_mb"), ("idle RSS with children (MB)", "idle_tree_rss_mb"),
                  ("POST → idle, cold (ms)", "post_to_idle_cold_ms"),
                  ("WS round trip p50 (ms)", "rtt_p50_ms"), ("WS round trip p99 (ms)", "rtt_p99_ms")]:
    print(f"{name:32}{nb[key]:>10}{spawn[key]:>10}{kg[key]:>10}{ratio(kg[key], nb[key]):>11}"
          f"{ratio(spawn[key], nb[key]):>16}")
print(f"{'POST → idle, pool (ms)':32}{pool['post_to_idle_pool_ms']:>10}{'—':>10}{'—':>10}"
      f"{ratio(kg['post_to_idle_cold_ms'], pool['post_to_idle_pool_ms']):>11}")
PY
