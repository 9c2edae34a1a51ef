#!/usr/bin/env bash
# The Python `auto-workflow` 0.1.2 engine from PyPI, the baseline of runtime/benches/flows.rs, in a
# venv at .tools/py-engine. Prints AW_PY_ENGINE=<the venv's python>.
#
# The package requires Python >= 3.12 and Debian 12 ships 3.11. The baseline should be the
# Python users run, and distribution and python.org builds are optimised (PGO + LTO), which
# makes this engine about 25 % faster than a plain build: so a python3.13 / python3.12 on PATH
# or from pyenv is used only when it was built with --enable-optimizations; otherwise CPython
# 3.13.5 is built from Debian's source tarball (pinned by its sha256) into
# .tools/cpython-3.13.5 with --enable-optimizations --with-lto, once (about 17 minutes on two
# cores: the profile-guided build runs CPython's training tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
tools=${AW_TOOLS_DIR:-$root/.tools}
venv=$tools/py-engine
version=0.1.2
cpython=3.13.5
tarball_url=http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_${cpython}.orig.tar.xz
tarball_sha256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640

# The package at its version, on an optimised interpreter.
installed() {
    "$venv/bin/python" -c "import importlib.metadata as m, sys, sysconfig; sys.exit(m.version('auto-workflow') != '$version' or '--enable-optimizations' not in (sysconfig.get_config_var('CONFIG_ARGS') or ''))" 2>/dev/null
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
    # A failing training test must not stop the build: the profile it gathers is what counts.
    if ! (cd "$work/Python-$cpython" && ./configure --prefix="$prefix" --enable-optimizations --with-lto \
        && make -j"$(nproc)" PROFILE_TASK='-m test --pgo --timeout=1200 || true' && make install) > "$work/build.log" 2>&1; then
        tail -40 "$work/build.log" >&2
        echo "python-engine: building CPython $cpython failed" >&2
        return 1
    fi
}

# Whether $1 is a Python >= 3.12 that runs (a pyenv shim on PATH may not) and was built optimised.
usable() {
    "$1" -c 'import sys, sysconfig; sys.exit(sys.version_info < (3, 12) or "--enable-optimizations" not in (sysconfig.get_config_var("CONFIG_ARGS") or ""))' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
        if usable "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
}

if ! installed; then
    python=$(find_python)
    if [ -z "$python" ]; then
        prefix=$tools/cpython-$cpython
        if ! usable "$prefix/bin/python3.13"; then
            rm -rf "$prefix"
            build_cpython "$prefix"
        fi
        python=$prefix/bin/python3.13
    fi
    echo "python-engine: installing auto-workflow==$version into $venv ($("$python" --version))" >&2
    "$python" -m venv --clear "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "auto-workflow[connectors-postgres]==$version" "cloudpickle==3.1.3" "psycopg[binary]==3.3.9" "psycopg-pool==3.3.3" >&2
    installed || { echo "python-engine: auto-workflow==$version did not install into $venv" >&2; exit 1; }
fi
echo "AW_PY_ENGINE=$venv/bin/python"
