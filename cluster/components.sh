# How each of the cluster's own processes is started, shared by cluster/up (the first start)
# and cluster/start (a drill bringing one back after kill -9). Needs lib.sh. The speed and
# topology are fixed by cluster/up in $CLUSTER_DIR/settings, so a restart matches the first start.
# Drills may add flags for one start: KASSA_EMULATOR_FLAGS, KASSA_DISPATCHER_FLAGS.
SETTINGS="$CLUSTER_DIR/settings"

# save_settings: records SPEED and TOPOLOGY for later restarts (cluster/up).
save_settings() {
    printf 'SPEED=%q\nTOPOLOGY=%q\n' "$SPEED" "$TOPOLOGY" >"$SETTINGS"
}

# load_settings: the values cluster/up recorded (cluster/start).
load_settings() {
    [ -f "$SETTINGS" ] || { log "no $SETTINGS: run cluster/up first"; return 1; }
    source "$SETTINGS"
}

start_emulator() {
    # shellcheck disable=SC2086  # the flags are words on purpose
    start emulator "$KASSA_BIN" emulator --topology "$TOPOLOGY" --data-dir "$CLUSTER_DIR/fn" --speed "$SPEED" \
        --port-offset "$EMULATOR_PORT_OFFSET" --control-port "$EMULATOR_CONTROL_PORT" ${KASSA_EMULATOR_FLAGS:-}
    wait_port "$("$KASSA_BIN" emulator --topology "$TOPOLOGY" --port-offset "$EMULATOR_PORT_OFFSET" --print-last-port)" 60 emulator
}

start_ingress() {
    [ -f "$CLUSTER_DIR/token.secret" ] || head -c 32 /dev/urandom >"$CLUSTER_DIR/token.secret"
    chmod 600 "$CLUSTER_DIR/token.secret"
    start ingress "$KASSA_BIN" ingress --db "$DB_CONN" --kafka "127.0.0.1:$KAFKA_PORT" \
        --port "$INGRESS_PORT" --token-secret-file "$CLUSTER_DIR/token.secret"
    wait_http "http://127.0.0.1:$INGRESS_PORT/readyz" 60
}

# start_dispatcher NAME SITE: the dispatcher joins the consumer group named in
# $CLUSTER_DIR/dispatcher-group (a replay drill writes a fresh one), else kassa-dispatchers.
start_dispatcher() {
    local group=kassa-dispatchers
    [ -f "$CLUSTER_DIR/dispatcher-group" ] && group="$(cat "$CLUSTER_DIR/dispatcher-group")"
    # shellcheck disable=SC2086
    start "dispatcher-$1" "$KASSA_BIN" dispatcher --db "$DB_CONN" --kafka "127.0.0.1:$KAFKA_PORT" \
        --name "$1-$OFFSET" --site "$2" --group "$group" ${KASSA_DISPATCHER_FLAGS:-}
}

# wait_dispatcher NAME: until the consumer group handed it partitions (~3 s on a first join).
wait_dispatcher() {
    wait_log "dispatcher-$1" "\[Dispatcher\] partitions assigned" 60
}
