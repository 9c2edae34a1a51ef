#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL cluster,
# Azurite and a 3-node NATS JetStream cluster, prepares Microsoft's Python Blob SDK (interop checks), builds the guests and the
# host, runs every unit and integration test, stops the services (also on failure).
# Safe to run twice; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

. scripts/lib/services.sh
start_postgres test
start_azurite test
start_nats test
python_sdk

echo "== building guest components" >&2
guest_dir=$(scripts/build-guests.sh)
export AW_GUEST_DIR="$guest_dir"
echo "== checking the JavaScript SDK's type declarations" >&2
types=$(mktemp -d)
scripts/build-guest.sh js-types "$types" > /dev/null
diff -r "$types" guests/js/types || { echo "guests/js/types is stale: run scripts/build-guest.sh js-types" >&2; exit 1; }
rm -rf "$types"
"${AW_TOOLS_DIR:-.tools}/jco/node_modules/.bin/tsc" -p guests/js/tsconfig.json
# Every Rust file formatted, no clippy warning in the host, the SDK or a guest (guests are
# linted for the host target: clippy only reads them).
echo "== checking formatting and lints" >&2
cargo fmt --all --check
# No import circle among runtime/src modules; flow/ uses nothing of host/, grants no connector.
python3 scripts/lib/module-imports.py
cargo clippy --workspace --all-targets --features aw-runtime/otel,aw-runtime/test-hooks -- -D warnings
# `test-hooks` adds the test-only triggers of host failures (tests/host_bugs.rs); release
# builds never have them.
features=aw-runtime/otel,aw-runtime/test-hooks
echo "== building the host" >&2
cargo build -p aw-runtime -p aw-guest --all-targets --features "$features"
echo "== running tests" >&2
log=$(mktemp)
set +e
cargo test -p aw-runtime -p aw-guest --features "$features" --no-fail-fast -- --test-threads 2 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -n "${AW_TEST_ADLS_ACCOUNT_URL:-}" ]; then
    echo "== live ADLS Gen2 account test (AW_TEST_ADLS_ACCOUNT_URL is set)" >&2
    cargo test -p aw-runtime --features otel --test adls2_dfs -- --ignored live 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
set -e
# One closing line for the whole suite (cargo's own last line is the doc-test summary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
