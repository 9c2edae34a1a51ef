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

start_azurite() {
    local dir
    dir=$(mktemp -d "/tmp/aw-$1-azurite.XXXXXX")
    _aw_cleanups+=("tests/services/azurite.sh stop '$dir'")
    echo "== starting Azurite" >&2
    _aw_export_lines < <(tests/services/azurite.sh start "$dir")
}

start_nats() {
    local dir
    dir=$(mktemp -d "/tmp/aw-$1-nats.XXXXXX")
    _aw_cleanups+=("tests/services/nats.sh stop '$dir'")
    echo "== starting a 3-node NATS JetStream cluster" >&2
    _aw_export_lines < <(tests/services/nats.sh start "$dir")
}

python_sdk() {
    echo "== preparing Microsoft's Python SDK (azure-storage-blob)" >&2
    _aw_export_lines < <(tests/services/python-sdk.sh)
}

python_engine() {
    echo "== preparing the Python auto-workflow 0.1.2 engine (benchmark baseline)" >&2
    _aw_export_lines < <(runtime/benches/python/setup.sh)
}
