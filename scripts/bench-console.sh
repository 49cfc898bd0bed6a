#!/usr/bin/env bash
# The console's page times next to an API call's, on a release build of `serve --demo`:
# after 2,000 messages through the API, N sequential GETs of each page (p50 and p95 in ms,
# curl's time_total), signed in as the demo's users. Usage:
#   scripts/bench-console.sh target/release/tongdao [N]
set -euo pipefail
bin=${1:?path to the tongdao binary}
n=${2:-300}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" serve --demo --data-dir "$dir/data" --http 127.0.0.1:0 --simulator 127.0.0.1:0 --smpp 127.0.0.1:0 \
    > "$dir/out" 2>/dev/null &
pid=$!
for _ in $(seq 1 100); do grep -q '^listening on' "$dir/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$dir/out")
key=$(cat "$dir/data/demo.key")
for _ in $(seq 1 20); do
    body='{"to": ['$(printf '"+86138%08d",' $(seq 1 100) | sed 's/,$//')'], "text": "Your code is 4096."}'
    curl -sf -o /dev/null -H "authorization: Bearer $key" -H 'content-type: application/json' -d "$body" "$base/v1/messages"
done
sign_in() { # area email → cookie jar
    local jar="$dir/$1.jar" csrf password
    password=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dir/data/demo.users" "$2")
    csrf=$(curl -s -c "$jar" -b "$jar" "$base/$1/sign-in" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
    curl -s -o /dev/null -c "$jar" -b "$jar" -H "origin: $base" \
        --data-urlencode "csrf=$csrf" --data-urlencode "email=$2" --data-urlencode "password=$password" "$base/$1/sign-in"
    echo "$jar"
}
portal=$(sign_in console dev@demo)
ops=$(sign_in ops ops@demo)
measure() { # label, curl args...
    local label=$1; shift
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
    [ "$code" = 200 ] || { echo "$label: HTTP $code, not 200" >&2; exit 1; }
    for _ in $(seq 1 "$n"); do curl -s -o /dev/null -w '%{time_total}\n' "$@"; done | sort -n |
        awk -v label="$label" '{t[NR]=$1} END {printf "%-28s p50 %6.2f ms  p95 %6.2f ms\n", label, t[int(NR*0.5)]*1000, t[int(NR*0.95)]*1000}'
}
measure "GET /v1/balance (API)" -H "authorization: Bearer $key" "$base/v1/balance"
measure "GET /console/ (dashboard)" -b "$portal" "$base/console/"
measure "GET /console/messages" -b "$portal" "$base/console/messages"
measure "GET /ops/ (dashboard)" -b "$ops" "$base/ops/"
measure "GET /ops/carriers" -b "$ops" "$base/ops/carriers"
