#!/usr/bin/env bash
# Turns a Python or JavaScript guest source directory into a component:
#   scripts/build-guest.sh py DIR [OUT.wasm]     (DIR holds main.py)
#   scripts/build-guest.sh js DIR [OUT.wasm]     (DIR holds main.js)
#   scripts/build-guest.sh js-types [OUT_DIR]    (regenerates guests/js/types/ from wit/)
# The toolchains are installed on first use, pinned, into .tools/ (or $AW_TOOLS_DIR):
# componentize-py for Python, componentize-js + jco (and jco's bundler) for JavaScript.
# Both build against the `flow` world of wit/, so a guest can use every connector and spawn
# tasks. Skips the build when OUT is newer than the sources, the SDK and the WIT. Prints OUT
# (default: target/guests/<lang>/<dir name>.wasm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${AW_TOOLS_DIR:-$root/.tools}
COMPONENTIZE_PY=0.25.1
# Pure-Python libraries bundled into every Python guest (the SDK's SQLAlchemy dialect and
# helpers need them); wheels for any platform, for the CPython 3.14 componentize-py embeds.
# Bundled when the guest's sources mention sqlalchemy (it doubles the component and adds
# about a third to a cached cold start); AW_PY_SQLALCHEMY=1 / 0 forces it either way.
SQLALCHEMY=2.1.9
TYPING_EXTENSIONS=4.16.0
COMPONENTIZE_JS=0.23.0
JCO=1.33.0

usage() { echo "usage: scripts/build-guest.sh py|js DIR [OUT.wasm] | js-types" >&2; exit 2; }

# The JavaScript toolchain, installed once per pinned version pair.
install_jco() {
    modules=$tools/jco
    if [ "$(cat "$modules/.versions" 2>/dev/null)" != "$COMPONENTIZE_JS $JCO" ]; then
        echo "build-guest: installing componentize-js $COMPONENTIZE_JS and jco $JCO into $modules" >&2
        mkdir -p "$modules"
        (cd "$modules" && { [ -f package.json ] || echo '{"private": true}' > package.json; } &&
            npm install --no-audit --no-fund --silent \
                "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" "@bytecodealliance/jco@$JCO" >&2)
        echo "$COMPONENTIZE_JS $JCO" > "$modules/.versions"
    fi
}

if [ "${1:-}" = js-types ]; then
    install_jco
    # jco reads the WIT through WASI: give it a path relative to the working directory.
    types_out=${2:-$root/guests/js/types}
    (cd "$root" && "$modules/node_modules/.bin/jco" guest-types wit --world-name flow -o "$types_out" -q >&2)
    echo "$types_out"
    exit 0
fi
[ $# -ge 2 ] || usage
lang=$1
src=$(cd "$2" && pwd)
name=$(basename "$src")
out=${3:-$root/target/guests/$lang/$name.wasm}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# Up to date: nothing among the sources, the SDK or the WIT is newer than the output.
up_to_date() {
    [ -f "$out" ] && [ -z "$(find "$src" "$root/wit" "$@" -newer "$out" -type f -print -quit)" ]
}

case "$lang" in
py)
    [ -f "$src/main.py" ] || { echo "build-guest: $src has no main.py" >&2; exit 2; }
    sdk=$root/guests/python
    venv=$tools/componentize-py
    if [ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
        echo "build-guest: installing componentize-py $COMPONENTIZE_PY into $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" >&2
    fi
    libs=$tools/py-guest-libs
    if [ "$(cat "$libs/.versions" 2>/dev/null)" != "$SQLALCHEMY $TYPING_EXTENSIONS" ]; then
        echo "build-guest: installing SQLAlchemy $SQLALCHEMY (pure Python) into $libs" >&2
        rm -rf "$libs"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --platform any --python-version 3.14 --implementation py --target "$libs" \
            "sqlalchemy==$SQLALCHEMY" "typing_extensions==$TYPING_EXTENSIONS" >&2
        echo "$SQLALCHEMY $TYPING_EXTENSIONS" > "$libs/.versions"
    fi
    if ! up_to_date "$sdk" "$libs/.versions"; then
        echo "build-guest: componentize-py $src -> $out" >&2
        # Run from a scratch directory (componentize-py leaves nothing of value in the working
        # directory; it does leave __pycache__/ beside the sources, which git ignores).
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        paths=(-p "$sdk" -p "$src")
        bundle=${AW_PY_SQLALCHEMY:-auto}
        if [ "$bundle" = auto ]; then
            if grep -rqi --include='*.py' sqlalchemy "$src"; then bundle=1; else bundle=0; fi
        fi
        [ "$bundle" = 0 ] || paths+=(-p "$libs")
        (cd "$work" && "$venv/bin/componentize-py" -d "$root/wit" -w flow componentize aw_component \
            "${paths[@]}" -o "$out.tmp" >&2)
        mv "$out.tmp" "$out"
    fi
    ;;
js)
    [ -f "$src/main.js" ] || { echo "build-guest: $src has no main.js" >&2; exit 2; }
    sdk=$root/guests/js
    if ! up_to_date "$sdk"; then
        install_jco
        echo "build-guest: componentize-js $src -> $out" >&2
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        # One ES module: the guest's main.js and the SDK, bundled; the WIT imports stay external.
        printf 'import %s;\nexport { run, runTask, describe, flows, graph } from %s;\n' \
            "$(node -e 'console.log(JSON.stringify(process.argv[1]))' "$src/main.js")" \
            "$(node -e 'console.log(JSON.stringify(process.argv[1]))' "$sdk/aw/component.js")" > "$work/entry.js"
        node "$sdk/bundle.mjs" "$modules" "$work/entry.js" "$work/bundle.js" "$sdk/aw/index.js" >&2
        # http and fetch-event are disabled: a guest gets no network of its own.
        "$modules/node_modules/.bin/componentize-js" --wit "$root/wit" --world-name flow \
            -d http -d fetch-event --out "$out.tmp" "$work/bundle.js" >&2
        mv "$out.tmp" "$out"
    fi
    ;;
*) usage ;;
esac
echo "$out"
