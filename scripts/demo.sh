#!/usr/bin/env bash
# Builds the runtime (release) and every example, starts the services the examples need,
# runs each example with aw-run, prints their results, and stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building aw-run (release)" >&2
cargo build --release -p aw-runtime
echo "== building the examples" >&2
guest_dir=$(scripts/build-guests.sh)
target_dir=$(dirname "$(dirname "$guest_dir")")
aw_run="$target_dir/release/aw-run"

# No example needs a service yet; connector examples start theirs here and stop them on exit.
cleanup() { :; }
trap cleanup EXIT

echo "== examples/hello" >&2
# The demo's stand-in for a real secret store: the env provider finds `api-token` as API_TOKEN.
API_TOKEN="demo-token-$$" "$aw_run" "$guest_dir/aw_hello.wasm" \
    --config examples/hello/aw.toml --profile default --input '{"name": "data engineer"}'
