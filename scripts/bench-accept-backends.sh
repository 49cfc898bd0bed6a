#!/usr/bin/env bash
# Accept throughput over HTTP on SQLite, on PostgreSQL with one node, and on PostgreSQL with
# two nodes (docs/BENCHMARKS.md, issue 7). Each run starts from a fresh database, with
# --no-simulator so only the accept path works, and `tongdao bench http` as the load
# (64 connections in all; with two nodes, one generator of 32 per node, run together and
# summed). Prints one line per run: backend, nodes, accepted msg/s, p99 ms.
#
# usage: scripts/bench-accept-backends.sh [rounds] [seconds]
#   PG=postgres://postgres@127.0.0.1:5432 (a server where databases may be created)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-2}"
SECONDS_EACH="${2:-10}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BIN=target/release/tongdao
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$PG/test" -qc "DROP DATABASE IF EXISTS tongdao_bench WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() {
    for _ in $(seq 1 200); do
        curl -sf "$1/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not become ready" >&2
    return 1
}

# run <label> <nodes> [database_url]
run() {
    local label="$1" nodes="$2" url="${3:-}"
    local data="$WORK/$label-$RANDOM"
    PIDS=()
    local bases=()
    for n in $(seq 1 "$nodes"); do
        local port=$((18300 + n))
        local env=()
        [ -n "$url" ] && env=(TONGDAO_DATABASE_URL="$url")
        env "${env[@]}" TONGDAO_LOG__LEVEL=warn "$BIN" serve --demo --no-simulator --no-smpp \
            --data-dir "$data" --http "127.0.0.1:$port" >/dev/null 2>&1 &
        PIDS+=($!)
        wait_ready "http://127.0.0.1:$port"
        bases+=("http://127.0.0.1:$port")
    done
    local token; token="$(cat "$data/operator.token")"
    curl -sf -X POST "${bases[0]}/admin/v1/customers/demo/topups" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' -d '{"amount": "1000000.0000", "reference": "bench"}' >/dev/null
    local per=$((64 / nodes)) outs=() loads=()
    for base in "${bases[@]}"; do
        local out="$WORK/out-$RANDOM.json"
        outs+=("$out")
        "$BIN" bench http --url "$base" --key-file "$data/demo.key" --connections "$per" \
            --duration "$SECONDS_EACH" --warmup 2 >"$out" &
        loads+=($!)
    done
    wait "${loads[@]}"
    for out in "${outs[@]}"; do tail -1 "$out" >"$out.last" && mv "$out.last" "$out"; done
    python3 - "$label" "$nodes" "${outs[@]}" <<'PY'
import json, sys
label, nodes, files = sys.argv[1], sys.argv[2], sys.argv[3:]
reports = [json.load(open(f)) for f in files]
rate = sum(r["accepted_per_sec"] for r in reports)
p99 = max(r["p99_ms"] for r in reports)
print(f"{label:<10} nodes={nodes} accepted/s={rate:,.0f} p99_ms={p99:.1f}")
PY
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${PIDS[@]}" 2>/dev/null || true
    PIDS=()
}

fresh_pg() {
    psql "$PG/test" -qc "DROP DATABASE IF EXISTS tongdao_bench WITH (FORCE)" -c "CREATE DATABASE tongdao_bench" >/dev/null
    echo "$PG/tongdao_bench"
}

for round in $(seq 1 "$ROUNDS"); do
    run sqlite 1
    run postgres 1 "$(fresh_pg)"
    run postgres 2 "$(fresh_pg)"
done
