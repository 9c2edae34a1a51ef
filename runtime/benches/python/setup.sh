#!/usr/bin/env bash
# The Python `auto-workflow` 0.1.2 engine from PyPI, the baseline of runtime/benches/flows.rs, in a
# venv at .tools/py-engine. Prints AW_PY_ENGINE=<the venv's python>.
#
# The package requires Python >= 3.12 and Debian 12 ships 3.11. A python3.13 or python3.12 that
# runs (on PATH, or a pyenv build) is used; failing that, CPython 3.13.5 is built from Debian's
# source tarball (pinned by its sha256) into .tools/cpython-3.13.5: a plain `./configure &&
# make` (no PGO/LTO), about three minutes on two cores, once.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
tools=${AW_TOOLS_DIR:-$root/.tools}
venv=$tools/py-engine
version=0.1.2
cpython=3.13.5
tarball_url=http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_${cpython}.orig.tar.xz
tarball_sha256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640

installed() {
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('auto-workflow') != '$version')" 2>/dev/null
}

build_cpython() {
    local prefix=$1 work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    echo "python-engine: building CPython $cpython into $prefix (log: $work/build.log)" >&2
    local missing=()
    for pkg in libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "python-engine: installing ${missing[*]} (Debian packages)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq "${missing[@]}" >&2
    fi
    curl -fsSL "$tarball_url" -o "$work/src.tar.xz"
    echo "$tarball_sha256  $work/src.tar.xz" | sha256sum -c --quiet - >&2
    tar -C "$work" -xf "$work/src.tar.xz"
    if ! (cd "$work/Python-$cpython" && ./configure --prefix="$prefix" && make -j"$(nproc)" && make install) > "$work/build.log" 2>&1; then
        tail -40 "$work/build.log" >&2
        echo "python-engine: building CPython $cpython failed" >&2
        return 1
    fi
}

# The first Python >= 3.12 that actually runs (a pyenv shim on PATH may not).
find_python() {
    local candidate
    for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$candidate"
            return
        fi
    done
}

if ! installed; then
    python=$(find_python)
    if [ -z "$python" ]; then
        prefix=$tools/cpython-$cpython
        [ -x "$prefix/bin/python3.13" ] || build_cpython "$prefix"
        python=$prefix/bin/python3.13
    fi
    echo "python-engine: installing auto-workflow==$version into $venv ($("$python" --version))" >&2
    "$python" -m venv --clear "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "auto-workflow[connectors-postgres]==$version" "cloudpickle==3.1.3" "psycopg[binary]==3.3.9" "psycopg-pool==3.3.3" >&2
    installed
fi
echo "AW_PY_ENGINE=$venv/bin/python"
