#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite and the demo.
#
#   tests/services/postgres.sh start DIR   # initdb into DIR, start on a free port, print env lines
#   tests/services/postgres.sh stop DIR    # stop it (immediately) and delete DIR
#
# The cluster listens on 127.0.0.1 only, with TLS (a self-signed server certificate for
# localhost / 127.0.0.1, CA:FALSE so rustls accepts it) and one role per auth method:
#   aw_scram (scram-sha-256), aw_md5 (password stored as md5), aw_trust (trust): the roles
#   guests connect as, not superusers (the database role bounds what a guest's SQL can do:
#   README, Security), members of aw_guests, which owns nothing but may use what any of them
#   or the setup creates in aw_test;
#   aw_admin (superuser, trust on 127.0.0.1): the tests' own setup and checks, never a guest;
#   postgres (superuser, trust on the cluster's private socket only).
# Installs the server from Debian's packages when it is missing.
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    bin=$(find_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "postgres.sh: installing PostgreSQL (Debian package postgresql)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql openssl >&2
        bin=$(find_bin)
    fi
    command -v openssl >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq openssl >&2; }
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
CONF
    cat >"$dir/data/pg_hba.conf" <<HBA
local all postgres trust
host  all aw_admin 127.0.0.1/32 trust
host  all aw_trust 127.0.0.1/32 trust
host  all aw_md5   127.0.0.1/32 md5
host  all all      127.0.0.1/32 scram-sha-256
HBA
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null
    psql=("$bin/psql" -h "$dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -q)
    as_postgres "${psql[@]}" -d postgres <<SQL
CREATE DATABASE aw_test;
SET password_encryption = 'scram-sha-256';
CREATE ROLE aw_guests NOLOGIN;
CREATE ROLE aw_scram LOGIN NOSUPERUSER IN ROLE aw_guests PASSWORD 'scram-pass-1e5';
SET password_encryption = 'md5';
CREATE ROLE aw_md5 LOGIN NOSUPERUSER IN ROLE aw_guests PASSWORD 'md5-pass';
CREATE ROLE aw_trust LOGIN NOSUPERUSER IN ROLE aw_guests;
CREATE ROLE aw_admin LOGIN SUPERUSER;
-- Tests read other sessions' activity and end them, as an operator would.
GRANT pg_read_all_stats, pg_signal_backend TO aw_guests;
SQL
    as_postgres "${psql[@]}" -d aw_test <<SQL
GRANT CREATE, TEMPORARY ON DATABASE aw_test TO aw_guests;
GRANT ALL ON SCHEMA public TO aw_guests;
ALTER DEFAULT PRIVILEGES FOR ROLE aw_admin, aw_scram, aw_md5, aw_trust IN SCHEMA public GRANT ALL ON TABLES TO aw_guests;
ALTER DEFAULT PRIVILEGES FOR ROLE aw_admin, aw_scram, aw_md5, aw_trust IN SCHEMA public GRANT ALL ON SEQUENCES TO aw_guests;
ALTER DEFAULT PRIVILEGES FOR ROLE aw_admin, aw_scram, aw_md5, aw_trust GRANT USAGE ON TYPES TO aw_guests;
SQL
    echo "AW_PG_DIR=$dir"
    echo "AW_PG_BIN=$bin"
    echo "AW_PG_HOST=127.0.0.1"
    echo "AW_PG_PORT=$port"
    echo "AW_PG_DATABASE=aw_test"
    echo "AW_PG_CA=$dir/server.crt"
    ;;
stop)
    bin=$(find_bin)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
