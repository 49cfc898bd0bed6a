#!/usr/bin/env bash
# Property-based API testing: checks the running server against its own OpenAPI description
# (crates/api/openapi.json, served at /openapi.json) with schemathesis.
#
#   bash .ci/schemathesis.sh [path/to/tongdao]     # default: target/release/tongdao
#
# It installs schemathesis into a venv (SCHEMATHESIS_VENV, default
# /tmp/tongdao-schemathesis-venv) unless the pinned version is already there, starts
# `tongdao serve --demo` on a free loopback port with a throwaway data directory, runs three
# schemathesis passes (the /v1 routes with the demo API key, the /admin/v1 routes with the
# operator token, the service routes without credentials), stops the server and removes the
# data directory. It exits non-zero when schemathesis reports a failure.
#
# Only 127.0.0.1 is ever contacted. Knobs: ST_MAX_EXAMPLES (default 50), ST_SEED (default
# 20261126), ST_WORKERS (default 2), ST_TIMEOUT (seconds per pass, default 600).
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
VENV="${SCHEMATHESIS_VENV:-/tmp/tongdao-schemathesis-venv}"
BIN="${1:-target/release/tongdao}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
SEED="${ST_SEED:-20261126}"
WORKERS="${ST_WORKERS:-2}"
PASS_TIMEOUT="${ST_TIMEOUT:-600}"

log() { printf '[schemathesis.sh] %s\n' "$*" >&2; }

if [[ ! -x "$BIN" ]]; then
    log "no executable at $BIN: build it with 'cargo build --release -p tongdao' or pass its path"
    exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# ---- 1. schemathesis, pinned, in its own venv ------------------------------------------------
if [[ "$("$VENV/bin/st" --version 2>/dev/null || true)" != *"version $SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/st" --version >&2

# ---- 2. the server, on a free loopback port, with throwaway data -----------------------------
TMP="$(mktemp -d -t tongdao-schemathesis.XXXXXX)"
SERVER_PID=""
cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        # Graceful shutdown first; a server that does not stop within 10 s is killed.
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the server did not stop within 10 s; killing it"
            kill -9 "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -f "$TMP/server.log" ]]; then
        log "last lines of the server log:"
        tail -n 20 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
log "starting $BIN on $BASE (data in $TMP)"
RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --demo --data-dir "$TMP/data" --http "127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server exited before it was ready"
        cat "$TMP/server.log" >&2
        exit 1
    fi
    if python3 - "$BASE/readyz" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
        ready=yes
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    log "the server was not ready within 30 s"
    exit 1
fi
DEMO_KEY="$(tr -d '[:space:]' <"$TMP/data/demo.key")"
OPERATOR_TOKEN="$(tr -d '[:space:]' <"$TMP/data/operator.token")"

# Defence in depth: no generated callback_url may point anywhere but loopback, should the
# server ever start calling them.
cat >"$TMP/hooks.py" <<'PY'
import schemathesis

LOOPBACK_CALLBACK = "http://127.0.0.1:9/schemathesis-callback"


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("callback_url"), str):
        body["callback_url"] = LOOPBACK_CALLBACK
    return case
PY

# ---- 3. schemathesis ------------------------------------------------------------------------
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"
failed=0
run_pass() {
    local name="$1"
    shift
    log "pass '$name'"
    local started=$SECONDS
    local status=0
    SCHEMATHESIS_HOOKS="$TMP/hooks.py" timeout --kill-after=10 "$PASS_TIMEOUT" \
        "$VENV/bin/st" run "$BASE/openapi.json" \
        --url "$BASE" \
        --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers "$WORKERS" \
        --request-timeout 10 \
        --generation-database none \
        --no-color \
        "$@" || status=$?
    log "pass '$name' finished in $((SECONDS - started)) s with status $status"
    if [[ $status -ne 0 ]]; then
        failed=1
    fi
}

run_pass customer --include-path-regex '^/v1/' -H "Authorization: Bearer $DEMO_KEY"
run_pass operator --include-path-regex '^/admin/v1/' -H "Authorization: Bearer $OPERATOR_TOKEN"
run_pass service --include-path-regex '^/(healthz|readyz|metrics|openapi\.json)$'

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "the server died during the run"
    failed=1
fi
if [[ $failed -ne 0 ]]; then
    log "FAILED: schemathesis found problems (see above)"
    exit 1
fi
log "all passes green"
