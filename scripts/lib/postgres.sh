# Sourced by scripts/*.sh: start_postgres NAME starts a throwaway cluster through
# tests/services/postgres.sh, exports its AW_PG_* coordinates, and stops it when the script exits.
start_postgres() {
    AW_PG_RUN_DIR=$(mktemp -d "/tmp/aw-$1-pg.XXXXXX")
    chmod 755 "$AW_PG_RUN_DIR"
    trap 'tests/services/postgres.sh stop "$AW_PG_RUN_DIR" || true' EXIT
    echo "== starting PostgreSQL" >&2
    local line
    while IFS= read -r line; do export "${line?}"; done < <(tests/services/postgres.sh start "$AW_PG_RUN_DIR")
}
