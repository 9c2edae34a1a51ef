#!/usr/bin/env bash
# A throwaway 3-node NATS JetStream cluster on 127.0.0.1 for the cluster tests (issue 20).
#
#   tests/services/nats.sh start DIR       # start nodes n1..n3, wait for a meta leader, print env lines
#   tests/services/nats.sh stop DIR        # kill every node started from DIR (by PID) and delete DIR
#   tests/services/nats.sh restart DIR N   # start node nN again from its config (after a test killed it)
#
# Each node has its own client, route and monitoring port (all free ports picked at start) and
# its own JetStream store under DIR/nN, so a test can kill -9, SIGSTOP or restart one node and
# read its store files. DIR/nN.conf is the node's config, DIR/nN.pid its PID, DIR/nN.log its log.
# Env lines: AW_NATS_DIR, AW_NATS_URL (the three client URLs, comma-separated, as
# `--cluster` takes them), AW_NATS_CLIENT_PORTS / AW_NATS_MONITOR_PORTS (n1,n2,n3), AW_NATS_BIN.
# Installs Debian's nats-server (2.9.10 on bookworm) when it is missing.
set -euo pipefail

cmd=${1:?usage: nats.sh start|stop|restart DIR [N]}
dir=${2:?usage: nats.sh start|stop|restart DIR [N]}

# N distinct free ports (held open together while picked, so no two are the same).
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

find_bin() {
    command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true
}

# Starts node N from its config, detached, and records its PID.
start_node() {
    local n=$1 bin=$2
    nohup "$bin" -c "$dir/n$n.conf" >>"$dir/n$n.log" 2>&1 </dev/null &
    echo $! >"$dir/n$n.pid"
}

# Whether node N's monitoring endpoint (port $1) names a JetStream meta leader of a 3-node
# meta cluster (2.9.10 lists the replicas on the leader only, so the size is what is read).
has_meta_leader() {
    local jsz
    jsz=$(curl -fsS --max-time 1 "http://127.0.0.1:$1/jsz" 2>/dev/null) || return 1
    grep -q '"leader": "n[123]"' <<<"$jsz" && grep -q '"cluster_size": 3' <<<"$jsz"
}

case "$cmd" in
start)
    bin=$(find_bin)
    if [ -z "$bin" ]; then
        echo "nats.sh: installing nats-server (Debian package nats-server)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq nats-server >&2
        bin=$(find_bin)
    fi
    [ -n "$bin" ] || { echo "nats.sh: nats-server is not installed and could not be installed" >&2; exit 1; }
    command -v curl >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq curl >&2; }
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r -a ports <<<"$(free_ports 9)"
    client=("${ports[@]:0:3}") route=("${ports[@]:3:3}") mon=("${ports[@]:6:3}")
    routes=""
    for n in 0 1 2; do routes+="nats-route://127.0.0.1:${route[$n]}, "; done
    for n in 1 2 3; do
        i=$((n - 1))
        mkdir -p "$dir/n$n"
        cat >"$dir/n$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:${client[$i]}
http: 127.0.0.1:${mon[$i]}
jetstream {
    store_dir: "$dir/n$n"
    max_memory_store: 256MB
    max_file_store: 4GB
}
cluster {
    name: aw-test
    listen: 127.0.0.1:${route[$i]}
    routes: [${routes%, }]
}
CONF
        start_node "$n" "$bin"
    done
    # Ready when every node answers and one of them names a meta leader with 3 peers.
    ready=""
    for _ in $(seq 1 300); do
        ok=0
        for i in 0 1 2; do
            if has_meta_leader "${mon[$i]}"; then ok=$((ok + 1)); fi
        done
        if [ "$ok" = 3 ]; then ready=1; break; fi
        sleep 0.1
    done
    if [ -z "$ready" ]; then
        echo "nats.sh: the 3-node cluster did not elect a JetStream meta leader within 30 s; logs:" >&2
        tail -n 20 "$dir"/n*.log >&2
        for pidfile in "$dir"/n*.pid; do kill -9 "$(cat "$pidfile")" 2>/dev/null || true; done
        exit 1
    fi
    echo "AW_NATS_DIR=$dir"
    echo "AW_NATS_BIN=$bin"
    echo "AW_NATS_URL=nats://127.0.0.1:${client[0]},nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]}"
    echo "AW_NATS_CLIENT_PORTS=${client[0]},${client[1]},${client[2]}"
    echo "AW_NATS_MONITOR_PORTS=${mon[0]},${mon[1]},${mon[2]}"
    ;;
restart)
    n=${3:?usage: nats.sh restart DIR N}
    bin=$(find_bin)
    [ -f "$dir/n$n.conf" ] || { echo "nats.sh: no node n$n in $dir" >&2; exit 1; }
    start_node "$n" "$bin"
    ;;
stop)
    for pidfile in "$dir"/n*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        # A stopped (SIGSTOP) node would not die of SIGTERM: continue it first.
        kill -CONT "$pid" 2>/dev/null || true
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
*)
    echo "usage: nats.sh start|stop|restart DIR [N]" >&2
    exit 2
    ;;
esac
