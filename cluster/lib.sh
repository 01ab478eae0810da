# Shared by cluster/up and cluster/down. A cluster lives in $CLUSTER_DIR (default .cluster/):
# pids/, logs/, pg/, fn/ (FN archives), and the files it writes (tenants.json, token.secret, env).
# Ports are the defaults plus $KASSA_PORT_OFFSET, so a test cluster can run beside the demo one.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Close inherited descriptors above 2: the daemons started here (PostgreSQL among them) would
# otherwise keep a caller's descriptors open, and a caller that watches one for our exit (a
# test's Foundation.Process, a CI pipe) would wait forever.
for _fd in /proc/$$/fd/*; do
    _fd="${_fd##*/}"
    [ "$_fd" -gt 2 ] 2>/dev/null && eval "exec $_fd>&-" 2>/dev/null
done
unset _fd
CLUSTER_DIR="${KASSA_CLUSTER_DIR:-$KASSA_ROOT/.cluster}"
OFFSET="${KASSA_PORT_OFFSET:-0}"
PG_PORT=$((55432 + OFFSET))
KAFKA_PORT=$((19092 + OFFSET))
INGRESS_PORT=$((18080 + OFFSET))
EMULATOR_PORT_OFFSET=$OFFSET
EMULATOR_CONTROL_PORT=$((20999 + OFFSET))
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"
KASSA_BIN="${KASSA_BIN:-$KASSA_ROOT/.build/debug/kassa}"
DB_CONN="host=127.0.0.1 port=$PG_PORT dbname=kassa user=postgres connect_timeout=5"
# The two-site registry's nodes (cluster/registry-ha): pg-a in site A, on the single node's port,
# and pg-b in site B.
REGISTRY_PORT_A=$PG_PORT
REGISTRY_PORT_B=$((55532 + OFFSET))

# registry_conn HOSTS PORTS [TARGET] [DBNAME]: a libpq multi-host string for the registry's
# nodes; TARGET is target_session_attrs (read-write: the primary, wherever it is; any: the first
# node that answers).
registry_conn() {
    echo "host=$1 port=$2 dbname=${4:-kassa} user=postgres target_session_attrs=${3:-read-write} connect_timeout=2"
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# alive NAME: true when the process recorded under NAME runs (a killed process not yet reaped,
# a zombie, does not count).
alive() {
    local f="$PIDS/$1.pid" pid state
    [ -f "$f" ] || return 1
    pid="$(cat "$f")"
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ]
}

# start NAME CMD...: starts CMD in its own session, logs to logs/NAME.log, records its PID.
start() {
    local name="$1"; shift
    if alive "$name"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return 0; fi
    # Appended, so a drill that restarts a process keeps what it logged before; wait_log reads
    # only what this start wrote.
    stat -c %s "$LOGS/$name.log" 2>/dev/null >"$PIDS/$name.logstart" || echo 0 >"$PIDS/$name.logstart"
    setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
    echo $! >"$PIDS/$name.pid"
    log "started $name (pid $!)"
}

# wait_port PORT SECONDS [NAME]: waits until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port="$1" deadline=$((SECONDS + $2)) name="${3:-port $1}"
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $name on $port"; return 1; fi
        if [ -n "${3:-}" ] && [ -f "$PIDS/$3.pid" ] && ! alive "$3"; then
            log "$name exited; its log:"; tail -n 30 "$LOGS/$3.log" >&2; return 1
        fi
        sleep 0.2
    done
}

# wait_log NAME PATTERN SECONDS: waits until the log of NAME has a line matching PATTERN.
wait_log() {
    local name="$1" pattern="$2" deadline=$((SECONDS + $3))
    local from=0
    [ -f "$PIDS/$name.logstart" ] && from="$(cat "$PIDS/$name.logstart")"
    until tail -c +$((from + 1)) "$LOGS/$name.log" 2>/dev/null | grep -q "$pattern"; do
        alive "$name" || { log "$name exited; its log:"; tail -n 30 "$LOGS/$name.log" >&2; return 1; }
        [ $SECONDS -lt $deadline ] || { log "timed out waiting for '$pattern' from $name"; return 1; }
        sleep 0.2
    done
}

# wait_http URL SECONDS: waits until URL answers 200.
wait_http() {
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $1"; return 1; fi
        sleep 0.2
    done
}
