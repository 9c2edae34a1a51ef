#!/usr/bin/env bash
# Builds every guest component (examples and test guests) for wasm32-wasip2, in release mode
# (guests are small and the release build is what users ship). Prints the output directory.
set -euo pipefail
cd "$(dirname "$0")/.."

GUESTS=(aw-hello aw-pg-demo aw-pg-etl aw-adls-csv aw-pg-to-adls aw-fanout aw-pg-fanout aw-probe aw-other-world aw-pg-probe aw-adls-probe aw-flow-probe aw-conformance)
args=()
for g in "${GUESTS[@]}"; do args+=(-p "$g"); done
cargo build --quiet --release --target wasm32-wasip2 "${args[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "$target_dir/wasm32-wasip2/release"
