#!/usr/bin/env bash
# Builds every guest component (examples and test guests): the Rust ones for wasm32-wasip2 in
# release mode (guests are small and the release build is what users ship), the Python and
# JavaScript ones with scripts/build-guest.sh into <target>/guests/<py|js>/<name>.wasm.
# Prints the Rust guests' output directory.
set -euo pipefail
cd "$(dirname "$0")/.."

GUESTS=(aw-hello aw-pg-demo aw-pg-etl aw-adls-csv aw-pg-to-adls aw-fanout aw-pg-fanout aw-probe aw-other-world aw-pg-probe aw-adls-probe aw-flow-probe aw-conformance aw-hostile)
# language, source directory, component name
POLYGLOT=(
    "py examples/python/pg-demo pg-demo"
    "py examples/python/adls-csv adls-csv"
    "py tests/guests/conformance/python conformance"
    "py tests/guests/polyglot-probe/python probe"
    "py tests/guests/seed-compat/python seed-compat"
    "py tests/guests/auto-workflow auto-workflow"
    "js examples/js/pg-demo pg-demo"
    "js examples/js/adls-csv adls-csv"
    "js tests/guests/conformance/js conformance"
    "js tests/guests/polyglot-probe/js probe"
    "js tests/guests/seed-compat/js seed-compat"
)
args=()
for g in "${GUESTS[@]}"; do args+=(-p "$g"); done
cargo build --quiet --release --target wasm32-wasip2 "${args[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# Python and JavaScript side by side (one core each); each language's builds in sequence, as
# they share a toolchain install on first use.
build_lang() {
    local want=$1 spec lang dir name
    for spec in "${POLYGLOT[@]}"; do
        read -r lang dir name <<< "$spec"
        [ "$lang" = "$want" ] || continue
        scripts/build-guest.sh "$lang" "$dir" "$target_dir/guests/$lang/$name.wasm" > /dev/null
    done
}
build_lang py & py_pid=$!
build_lang js & js_pid=$!
status=0
wait "$py_pid" || status=1
wait "$js_pid" || status=1
[ "$status" = 0 ] || { echo "build-guests: a Python or JavaScript guest failed to build" >&2; exit 1; }
echo "$target_dir/wasm32-wasip2/release"
