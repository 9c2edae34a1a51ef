#!/usr/bin/env bash
# Builds the runtime (release) and every example, starts the services the examples need
# (a throwaway PostgreSQL cluster and Azurite), runs each example with aw-run, prints their
# results, and stops the services (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== building aw-run (release)" >&2
cargo build --release -p aw-runtime
echo "== building the examples" >&2
guest_dir=$(scripts/build-guests.sh)
target_dir=$(dirname "$(dirname "$guest_dir")")
aw_run="$target_dir/release/aw-run"

. scripts/lib/services.sh
start_postgres demo
start_azurite demo

# The examples' aw.toml files name a local server; the env overlay points them at the demo
# cluster, exactly as a user would point them at theirs.
export AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__PORT="$AW_PG_PORT"
export AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__USER=aw_scram
export AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__DATABASE="$AW_PG_DATABASE"
export PG_PASSWORD=scram-pass-1e5
export AUTO_WORKFLOW_CONNECTORS_ADLS2_DEFAULT__CONNECTION_STRING="$AW_AZURITE_CONNECTION_STRING"

run_example() {
    local name=$1 wasm=$2
    shift 2
    echo "== examples/$name" >&2
    (cd "examples/$name" && "$aw_run" "$guest_dir/$wasm" --profile default "$@")
}

# The Python and JavaScript examples (built by build-guests.sh into <target>/guests/<lang>/).
run_polyglot() {
    local lang=$1 name=$2 dir=$3
    echo "== examples/$dir/$name" >&2
    (cd "examples/$dir/$name" && "$aw_run" "$target_dir/guests/$lang/$name.wasm" --profile default)
}

# The demo's stand-in for a real secret store: the env provider finds `api-token` as API_TOKEN.
API_TOKEN="demo-token-$$" run_example hello aw_hello.wasm --input '{"name": "data engineer"}'
run_example pg-demo aw_pg_demo.wasm
run_example pg-etl aw_pg_etl.wasm
run_example adls-csv aw_adls_csv.wasm
run_example pg-to-adls aw_pg_to_adls.wasm
run_example pg-fanout aw_pg_fanout.wasm
run_example fanout aw_fanout.wasm --input '{"n": 1000}'
for name in pg-demo adls-csv; do
    run_polyglot py "$name" python
    run_polyglot js "$name" js
done
