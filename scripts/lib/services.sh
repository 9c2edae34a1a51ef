# Sourced by scripts/*.sh: starts the services tests, demos and benchmarks need, exports their
# coordinates, and stops every one of them when the script exits (also on failure).
#
#   start_postgres NAME   # a throwaway cluster (tests/services/postgres.sh): AW_PG_*
#   start_azurite NAME    # two in-memory Azurite emulators (tests/services/azurite.sh): AW_AZURITE_*
#   start_nats NAME       # a 3-node NATS JetStream cluster (tests/services/nats.sh): AW_NATS_*
#   python_sdk            # a venv with Microsoft's azure-storage-blob: AW_PYTHON
#   python_engine         # a venv with the Python auto-workflow 0.1.2 engine: AW_PY_ENGINE
_aw_cleanups=()
_aw_cleanup() {
    local c
    for c in "${_aw_cleanups[@]}"; do eval "$c" || true; done
}
trap _aw_cleanup EXIT

# Reads KEY=VALUE lines (values may hold `;` and `=`) and exports them.
_aw_export_lines() {
    local line
    while IFS= read -r line; do export "${line?}"; done
}

start_postgres() {
    AW_PG_RUN_DIR=$(mktemp -d "/tmp/aw-$1-pg.XXXXXX")
    chmod 755 "$AW_PG_RUN_DIR"
    _aw_cleanups+=("tests/services/postgres.sh stop '$AW_PG_RUN_DIR'")
    echo "== starting PostgreSQL" >&2
    _aw_export_lines < <(tests/services/postgres.sh start "$AW_PG_RUN_DIR")
}

# Starts tests/services/KIND.sh in a new directory (stopped and deleted on exit) and exports
# the lines it prints.
_aw_start_service() {
    local kind=$1 name=$2 label=$3 dir
    dir=$(mktemp -d "/tmp/aw-$name-$kind.XXXXXX")
    _aw_cleanups+=("tests/services/$kind.sh stop '$dir'")
    echo "== starting $label" >&2
    _aw_export_lines < <(tests/services/"$kind".sh start "$dir")
}

start_azurite() {
    _aw_start_service azurite "$1" Azurite
}

start_nats() {
    _aw_start_service nats "$1" "a 3-node NATS JetStream cluster"
}

python_sdk() {
    echo "== preparing Microsoft's Python SDK (azure-storage-blob)" >&2
    _aw_export_lines < <(tests/services/python-sdk.sh)
}

python_engine() {
    echo "== preparing the Python auto-workflow 0.1.2 engine (benchmark baseline)" >&2
    _aw_export_lines < <(runtime/benches/python/setup.sh)
}
