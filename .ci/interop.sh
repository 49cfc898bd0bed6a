#!/usr/bin/env bash
# Interop: PyPI smpplib, an independent SMPP implementation, as the ESME against tongdao's
# SMSC simulator over loopback TCP. Usage: .ci/interop.sh [path/to/tongdao]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tongdao}
VENV=${INTEROP_VENV:-/tmp/tongdao-interop-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import smpplib' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'smpplib==2.2.4'
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" smsc-sim --listen "127.0.0.1:$PORT" --control 127.0.0.1:0 > /tmp/tongdao-interop-sim.log 2>&1 &
SIM=$!
trap 'kill "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true' EXIT
# Wait for the simulator to say it listens (polling connect() on a free port can connect a
# socket to itself on Linux and report a listener that is not there).
for _ in $(seq 1 200); do
    if grep -q "listening on" /tmp/tongdao-interop-sim.log 2>/dev/null; then break; fi
    sleep 0.1
done
timeout 120 "$VENV/bin/python" tests/interop/smpplib_esme.py "$PORT"
