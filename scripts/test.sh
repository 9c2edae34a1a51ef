#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL cluster,
# builds the guests and the host, runs every unit and integration test, stops the cluster
# (also on failure). Safe to run twice; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

pg_dir=$(mktemp -d /tmp/aw-test-pg.XXXXXX)
chmod 755 "$pg_dir"
cleanup() { tests/services/postgres.sh stop "$pg_dir" || true; }
trap cleanup EXIT
echo "== starting PostgreSQL" >&2
while IFS= read -r line; do export "${line?}"; done < <(tests/services/postgres.sh start "$pg_dir")

echo "== building guest components" >&2
guest_dir=$(scripts/build-guests.sh)
export AW_GUEST_DIR="$guest_dir"
echo "== building the host" >&2
cargo build -p aw-runtime -p aw-guest --all-targets
echo "== running tests" >&2
cargo test -p aw-runtime -p aw-guest -- --test-threads 2
