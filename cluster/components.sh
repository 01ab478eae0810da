# How each of the cluster's own processes is started, shared by cluster/up (the first start)
# and cluster/start (a drill bringing one back after kill -9). Needs lib.sh. The speed and
# topology are fixed by cluster/up in $CLUSTER_DIR/settings, so a restart matches the first start.
# Drills and benchmarks may add flags for one start: KASSA_EMULATOR_FLAGS, KASSA_DISPATCHER_FLAGS,
# KASSA_INGRESS_FLAGS.
SETTINGS="$CLUSTER_DIR/settings"

# save_settings: records SPEED, TOPOLOGY, SITES and DB_CONN for later restarts (cluster/up).
save_settings() {
    printf 'SPEED=%q\nTOPOLOGY=%q\nSITES=%q\nDB_CONN=%q\n' "$SPEED" "$TOPOLOGY" "$SITES" "$DB_CONN" >"$SETTINGS"
}

# load_settings: the values cluster/up recorded (cluster/start).
load_settings() {
    [ -f "$SETTINGS" ] || { log "no $SETTINGS: run cluster/up first"; return 1; }
    source "$SETTINGS"
}

# Two sites: each site's modules run in an emulator of their own (emulator-a, emulator-b), so a
# drill can lose one site's kassas; one site: a single emulator for the whole topology.
# The WAN link listens for each site's modules on the same ports at a loopback address of that
# site's own (127.0.1.1 for A, 127.0.2.1 for B; all of 127/8 is loopback), so it needs no port
# range of its own that could collide with another cluster's ports.
wan_host() { case "$1" in A) echo 127.0.1.1 ;; B) echo 127.0.2.1 ;; esac; }
WAN_CONTROL_PORT=$((20997 + OFFSET))

# emulator_control_port SITE: site A keeps the single-site port, site B takes the one below.
emulator_control_port() {
    case "$1" in A|"") echo "$EMULATOR_CONTROL_PORT" ;; B) echo $((EMULATOR_CONTROL_PORT - 1)) ;; esac
}

# start_emulator [SITE]
start_emulator() {
    local site="${1:-}" name=emulator site_flags=()
    if [ -n "$site" ]; then name="emulator-${site,,}"; site_flags=(--site "$site"); fi
    # shellcheck disable=SC2086  # the flags are words on purpose
    start "$name" "$KASSA_BIN" emulator --topology "$TOPOLOGY" "${site_flags[@]}" --data-dir "$CLUSTER_DIR/fn" \
        --speed "$SPEED" --port-offset "$EMULATOR_PORT_OFFSET" --control-port "$(emulator_control_port "$site")" \
        ${KASSA_EMULATOR_FLAGS:-}
    wait_port "$("$KASSA_BIN" emulator --topology "$TOPOLOGY" "${site_flags[@]}" --port-offset "$EMULATOR_PORT_OFFSET" --print-last-port)" 60 "$name"
}

# site_ports SITE: FIRST-LAST module ports of the site.
site_ports() {
    "$KASSA_BIN" emulator --topology "$TOPOLOGY" --site "$1" --port-offset "$EMULATOR_PORT_OFFSET" --print-port-range
}

# site_db_conn SITE [TARGET]: the registry as a process in SITE reaches it: its own site's node
# directly, the other site's node through the WAN link, so a partition or WAN latency between the
# sites reaches registry traffic too. TARGET as in registry_conn: read-write (default) finds the
# primary; any reads from the own site's node whatever its role (an ingress's reads). One site:
# the registry's own string.
site_db_conn() {
    if [ "${SITES:-1}" != 2 ]; then echo "$DB_CONN"; return; fi
    case "$1" in
        A) registry_conn "127.0.0.1,$(wan_host B)" "$REGISTRY_PORT_A,$REGISTRY_PORT_B" "${2:-read-write}" ;;
        B) registry_conn "127.0.0.1,$(wan_host A)" "$REGISTRY_PORT_B,$REGISTRY_PORT_A" "${2:-read-write}" ;;
    esac
}

# start_wan_link: the WAN between sites A and B. Link "A->B" carries site A's traffic to site B
# (its modules and its registry node, at site B's WAN address, same ports), "B->A" the reverse.
start_wan_link() {
    local a b
    a="$(site_ports A)"; b="$(site_ports B)"
    cat >"$CLUSTER_DIR/wan.yaml" <<YAML
# Written by cluster/up: the WAN between the sites (kassa wan-link).
links:
  - name: "A->B"
    latency_ms: 0
    routes:
      - {listen: "$(wan_host B):$b", target: "127.0.0.1:$b"}
      - {listen: "$(wan_host B):$REGISTRY_PORT_B", target: "127.0.0.1:$REGISTRY_PORT_B"}
  - name: "B->A"
    latency_ms: 0
    routes:
      - {listen: "$(wan_host A):$a", target: "127.0.0.1:$a"}
      - {listen: "$(wan_host A):$REGISTRY_PORT_A", target: "127.0.0.1:$REGISTRY_PORT_A"}
YAML
    start wan-link "$KASSA_BIN" wan-link --config "$CLUSTER_DIR/wan.yaml" --control-port "$WAN_CONTROL_PORT"
    wait_http "http://127.0.0.1:$WAN_CONTROL_PORT/livez" 30
}

# start_ingress [SITE]: site B's ingress listens on the port after site A's.
start_ingress() {
    local site="${1:-}" name=ingress port="$INGRESS_PORT"
    if [ -n "$site" ]; then name="ingress-${site,,}"; [ "$site" = B ] && port=$((INGRESS_PORT + 1)); fi
    [ -f "$CLUSTER_DIR/token.secret" ] || head -c 32 /dev/urandom >"$CLUSTER_DIR/token.secret"
    chmod 600 "$CLUSTER_DIR/token.secret"
    start "$name" "$KASSA_BIN" ingress --db "$(site_db_conn "${site:-A}")" --db-reads "$(site_db_conn "${site:-A}" any)" --kafka "127.0.0.1:$KAFKA_PORT" \
        --port "$port" --token-secret-file "$CLUSTER_DIR/token.secret" ${KASSA_INGRESS_FLAGS:-}
    wait_http "http://127.0.0.1:$port/readyz" 60
}

# start_dispatcher NAME: its site is the name's first letter (a1 → A). The dispatcher joins the
# consumer group named in $CLUSTER_DIR/dispatcher-group (a replay drill writes a fresh one), else
# kassa-dispatchers. With two sites it reaches the other site's kassas through the WAN link.
start_dispatcher() {
    local group=kassa-dispatchers site via=()
    site="$(printf '%s' "${1:0:1}" | tr '[:lower:]' '[:upper:]')"
    [ -f "$CLUSTER_DIR/dispatcher-group" ] && group="$(cat "$CLUSTER_DIR/dispatcher-group")"
    if [ "${SITES:-1}" = 2 ]; then
        case "$site" in A) via=(--via "B=$(wan_host B):+0") ;; B) via=(--via "A=$(wan_host A):+0") ;; esac
    fi
    # shellcheck disable=SC2086
    start "dispatcher-$1" "$KASSA_BIN" dispatcher --db "$(site_db_conn "$site")" --kafka "127.0.0.1:$KAFKA_PORT" \
        --name "$1-$OFFSET" --site "$site" --group "$group" "${via[@]}" ${KASSA_DISPATCHER_FLAGS:-}
}

# wait_dispatcher NAME: until the consumer group handed it partitions (~3 s on a first join).
wait_dispatcher() {
    wait_log "dispatcher-$1" "\[Dispatcher\] partitions assigned" 60
}
