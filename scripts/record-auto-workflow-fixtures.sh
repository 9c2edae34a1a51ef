#!/usr/bin/env bash
# Records tests/fixtures/auto-workflow/*.json: what the Python auto-workflow 0.1.2 package gives
# for the flow files of tests/guests/auto-workflow (cases.json), run natively against a
# throwaway PostgreSQL. tests/auto_workflow.rs runs the same files under aw-run and compares.
#
#   scripts/record-auto-workflow-fixtures.sh [CASE...]
#
# The package needs Python >= 3.12: python3.13 / python3.12 on PATH or under pyenv, or
# AW_RECORD_PYTHON. It is installed into .tools/py-record (with psycopg) once.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/lib/services.sh

venv=${AW_TOOLS_DIR:-$root/.tools}/py-record
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('auto-workflow') != '0.1.2')" 2>/dev/null; then
    python=${AW_RECORD_PYTHON:-}
    if [ -z "$python" ]; then
        for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[23]*/bin/python3; do
            if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
                python=$(command -v "$candidate")
                break
            fi
        done
    fi
    [ -n "$python" ] || { echo "record: no Python >= 3.12 found; set AW_RECORD_PYTHON" >&2; exit 2; }
    echo "== installing auto-workflow 0.1.2 into $venv ($("$python" --version))" >&2
    "$python" -m venv --clear "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "auto-workflow[connectors-postgres]==0.1.2" "psycopg[binary]==3.3.9" "psycopg-pool==3.3.3" >&2
fi

start_postgres record
dsn="host=$AW_PG_HOST port=$AW_PG_PORT dbname=$AW_PG_DATABASE sslmode=disable"
for profile in DEFAULT EXAMPLE; do
    export "AUTO_WORKFLOW_CONNECTORS_POSTGRES_${profile}__DSN=$dsn user=aw_trust"
done
export AW_RECORD_ADMIN_DSN="$dsn user=aw_admin"
# persist=True results go to a directory store, as tests/auto_workflow.rs configures aw-run.
artifacts=$(mktemp -d /tmp/aw-record-artifacts.XXXXXX)
_aw_cleanups+=("rm -rf '$artifacts'")
export AUTO_WORKFLOW_ARTIFACT_STORE=filesystem AUTO_WORKFLOW_ARTIFACT_STORE_PATH=$artifacts
"$venv/bin/python" scripts/lib/record_auto_workflow.py "$@"
