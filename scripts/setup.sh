#!/usr/bin/env bash
# Installs what building and testing need and is safe to run twice:
# the wasm32-wasip2 target of the pinned toolchain (rust-toolchain.toml) and iproute2 (tc).
# Later connectors add their services' packages here (PostgreSQL, Azurite).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not installed; install Rust with rustup first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 target" >&2
    rustup target add wasm32-wasip2
fi
# The fault-injection tests (tests/faults.rs) drop a proxy's packets with iproute2's `tc`.
if ! command -v tc >/dev/null 2>&1; then
    echo "setup: installing iproute2 (tc)" >&2
    apt-get update -qq >&2
    apt-get install -y -qq iproute2 >&2
fi
