#!/usr/bin/env bash
# A Python venv with Microsoft's Blob SDK (azure-storage-blob, pinned), for interop tests and
# benchmarks: a client nobody here wrote. Created in .tools/py on first use; prints
# AW_PYTHON=<the venv's python>.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${AW_TOOLS_DIR:-$root/.tools}/py
version=12.26.0
if ! "$venv/bin/python" -c "import azure.storage.blob, sys; sys.exit(azure.storage.blob.__version__ != '$version')" 2>/dev/null; then
    echo "python-sdk.sh: installing azure-storage-blob==$version into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "azure-storage-blob==$version" >&2
fi
echo "AW_PYTHON=$venv/bin/python"
