#!/usr/bin/env bash
# Interop: two independent SMPP client implementations, PyPI smpplib (2.2.4) and npm smpp
# (0.5.1), as customers (ESMEs) of tongdao's customer-facing SMPP server over loopback TCP.
# Usage: .ci/smpp-interop.sh [path/to/tongdao]
#
# Starts one `tongdao serve --demo` (free loopback ports, throwaway data directory), waits for
# its "SMPP listening on" line, /readyz and the demo credentials, then runs
# tests/interop/smpplib_customer.py and tests/interop/node_smpp_customer.js in turn (each
# under `timeout 120`), and stops the server it started. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tongdao}
VENV=${INTEROP_VENV:-/tmp/tongdao-interop-venv}

log() { printf '[smpp-interop] %s\n' "$*" >&2; }

if [ ! -x "$BIN" ]; then
    log "no executable at $BIN: build it with 'cargo build --release -p tongdao' or pass its path"
    exit 2
fi

# ---- client libraries -----------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import smpplib' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'smpplib==2.2.4'
fi
# npm smpp, pinned by tests/interop/package-lock.json, into tests/interop/node_modules (ignored).
(cd tests/interop && npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
node -e 'const v = require("./tests/interop/node_modules/smpp/package.json").version;
         if (v !== "0.5.1") { console.error("npm smpp is " + v + ", not 0.5.1"); process.exit(1); }'

# ---- one server --------------------------------------------------------------------------------
TMP=$(mktemp -d -t tongdao-smpp-interop.XXXXXX)
SERVER=""
cleanup() {
    local status=$?
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER" 2>/dev/null; then
            log "the server did not stop within 10 s; killing it"
            kill -9 "$SERVER" 2>/dev/null || true
        fi
        wait "$SERVER" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$TMP/server.log" ]; then
        log "FAILED; last lines of the server log ($TMP/server.log):"
        tail -n 40 "$TMP/server.log" >&2 || true
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT_HTTP=$(free_port)
PORT_SMPP=$(free_port)
while [ "$PORT_SMPP" = "$PORT_HTTP" ]; do PORT_SMPP=$(free_port); done

TONGDAO_SIMULATOR__CONTROL=127.0.0.1:0 "$BIN" serve --demo --data-dir "$TMP/data" \
    --http "127.0.0.1:$PORT_HTTP" --simulator 127.0.0.1:0 --smpp "127.0.0.1:$PORT_SMPP" \
    >"$TMP/server.log" 2>&1 &
SERVER=$!

# Ready: the log says the SMPP listener is up, /readyz answers 200, and the demo credentials are
# written (serve --demo can answer /readyz before its last demo file is there).
ready=""
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        log "the server exited before it was ready"
        exit 1
    fi
    if grep -q "SMPP listening on" "$TMP/server.log" 2>/dev/null \
        && [ -s "$TMP/data/demo.smpp" ] && [ -s "$TMP/data/demo.key" ] && [ -s "$TMP/data/operator.token" ] \
        && [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_HTTP/readyz")" = 200 ]; then
        ready=yes
        break
    fi
    sleep 0.1
done
if [ -z "$ready" ]; then
    log "the server was not ready within 30 s"
    exit 1
fi
log "server ready: smpp 127.0.0.1:$PORT_SMPP, http 127.0.0.1:$PORT_HTTP"

failed=()
echo "== smpplib $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("smpplib"))')"
timeout 120 "$VENV/bin/python" tests/interop/smpplib_customer.py \
    "127.0.0.1:$PORT_SMPP" "http://127.0.0.1:$PORT_HTTP" "$TMP/data" || failed+=("smpplib (exit $?)")
echo "== node smpp 0.5.1 on node $(node --version)"
timeout 120 node tests/interop/node_smpp_customer.js \
    "127.0.0.1:$PORT_SMPP" "http://127.0.0.1:$PORT_HTTP" "$TMP/data" || failed+=("node smpp (exit $?)")

if ! kill -0 "$SERVER" 2>/dev/null; then
    log "the server died during the run"
    failed+=("server")
fi
if [ ${#failed[@]} -ne 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "both SMPP clients passed"
