#!/usr/bin/env bash
# Azurite (Microsoft's Blob storage emulator) for the test suite and the demo.
#
#   tests/services/azurite.sh start DIR   # start two emulators on free ports, print env lines
#   tests/services/azurite.sh stop DIR    # stop them and delete DIR
#
# Both keep everything in memory and never call home (--disableTelemetry):
#   - plain HTTP, Shared Key / SAS auth: AW_AZURITE_BLOB_URL, AW_AZURITE_CONNECTION_STRING;
#   - HTTPS with `--oauth basic` (Entra ID bearer tokens accepted), a self-signed certificate for
#     localhost / 127.0.0.1: AW_AZURITE_HTTPS_URL, AW_AZURITE_CA;
#   - AW_AZURITE_BIN, for tests that run (and stop) a private emulator.
# Installs azurite@3.35.0 from npm into .tools/azurite on first use (newer releases need
# Node >= 21), and the Node.js / npm Debian packages when they are missing.
set -euo pipefail

cmd=${1:?usage: azurite.sh start|stop DIR}
dir=${2:?usage: azurite.sh start|stop DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${AW_TOOLS_DIR:-$root/.tools}
version=3.35.0
account=devstoreaccount1
# The emulator's published, well-known development key (not a secret).
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_listening() {
    local port=$1 log=$2
    for _ in $(seq 1 150); do
        if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
            return 0
        fi
        sleep 0.1
    done
    echo "azurite.sh: the emulator did not listen on port $port within 15 s; its log:" >&2
    cat "$log" >&2
    return 1
}

case "$cmd" in
start)
    if ! command -v npm >/dev/null; then
        echo "azurite.sh: installing Node.js and npm (Debian packages)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq nodejs npm >&2
    fi
    bin="$tools/azurite/node_modules/.bin/azurite-blob"
    if [ ! -x "$bin" ]; then
        echo "azurite.sh: installing azurite@$version (npm) into $tools/azurite" >&2
        mkdir -p "$tools/azurite"
        npm install --prefix "$tools/azurite" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
    fi
    command -v openssl >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq openssl >&2; }
    rm -rf "$dir"
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
    common=(--blobHost 127.0.0.1 --inMemoryPersistence --loose --skipApiVersionCheck --disableTelemetry)
    http_port=$(free_port)
    (cd "$dir" && exec "$bin" "${common[@]}" --blobPort "$http_port" \
        >"$dir/http.log" 2>&1) &
    echo $! >"$dir/http.pid"
    https_port=$(free_port)
    (cd "$dir" && exec "$bin" "${common[@]}" --blobPort "$https_port" \
        --oauth basic --cert "$dir/server.crt" --key "$dir/server.key" \
        >"$dir/https.log" 2>&1) &
    echo $! >"$dir/https.pid"
    wait_listening "$http_port" "$dir/http.log"
    wait_listening "$https_port" "$dir/https.log"
    url="http://127.0.0.1:$http_port/$account"
    echo "AW_AZURITE_DIR=$dir"
    echo "AW_AZURITE_BLOB_URL=$url"
    echo "AW_AZURITE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$url;"
    echo "AW_AZURITE_ACCOUNT=$account"
    echo "AW_AZURITE_KEY=$key"
    echo "AW_AZURITE_HTTPS_URL=https://localhost:$https_port/$account"
    echo "AW_AZURITE_CA=$dir/server.crt"
    echo "AW_AZURITE_BIN=$bin"
    ;;
stop)
    for name in http https; do
        if [ -f "$dir/$name.pid" ]; then
            pid=$(cat "$dir/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
    ;;
*)
    echo "usage: azurite.sh start|stop DIR" >&2
    exit 2
    ;;
esac
