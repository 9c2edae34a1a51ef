#!/usr/bin/env bash
# Runs the benchmarks (release build): runtime overhead vs bare wasmtime, and Postgres work of a
# guest vs native tokio-postgres / psql on one throwaway cluster, ADLS streaming of a guest vs the
# same REST client natively vs Microsoft's Python SDK on Azurite, and Rust, Python and JavaScript guests
# side by side (size, cold start, instantiate, Postgres vs native), and flows vs the Python
# auto-workflow 0.1.2 engine. Prints ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
. scripts/lib/services.sh
start_postgres bench
start_azurite bench
python_sdk
python_engine
guest_dir=$(scripts/build-guests.sh)
export AW_GUEST_DIR="$guest_dir"
# The Python probe once more with SQLAlchemy bundled: the polyglot benchmark reports what
# bundling it costs in size and cold start.
AW_PY_SQLALCHEMY=1 scripts/build-guest.sh py tests/guests/polyglot-probe/python "$guest_dir/../../guests/py/probe-sqlalchemy.wasm" > /dev/null
cargo bench -p aw-runtime --bench instantiate
cargo bench -p aw-runtime --bench postgres
cargo bench -p aw-runtime --bench adls2
cargo bench -p aw-runtime --bench flows
cargo bench -p aw-runtime --bench polyglot
