#!/usr/bin/env bash
# Fetches htmx 2.0.11 from npm again and checks it is the file vendored in the console.
# For the record: CI does not run it (no network there but the package registries).
set -euo pipefail
want=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent htmx.org@2.0.11 >/dev/null && tar xzf htmx.org-2.0.11.tgz)
got=$(sha256sum "$dir/package/dist/htmx.min.js" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "htmx.min.js has sha256 $got, not $want" >&2; exit 1; }
here=$(dirname "$0")/../crates/console/assets
cp "$dir/package/dist/htmx.min.js" "$here/htmx-2.0.11.min.js"
cp "$dir/package/LICENSE" "$here/LICENSE.htmx"
echo "htmx 2.0.11 vendored, sha256 $got"
