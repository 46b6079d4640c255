#!/bin/bash
# mosquitto.sh — mosquitto_latchkey.so inside the real broker, exercised with
# the stock mosquitto_pub / mosquitto_sub clients: CONNECT authentication by
# SecretId and by API key, topic ACLs from API key scopes, keys disabled
# while the broker runs, init failures. Bounded: every client has a timeout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

BROKER=/usr/sbin/mosquitto
[ -x "$BROKER" ] || BROKER=$(command -v mosquitto 2>/dev/null)
[ -n "$BROKER" ] && [ -x "$BROKER" ] || skip "mosquitto broker not installed"
command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || skip "mosquitto clients not installed"
MOD=$LK_BUILDDIR/.libs/mosquitto_latchkey.so
[ -f "$MOD" ] || die "$MOD not built"
need_cli

check "exports only mosquitto_plugin_*" "mosquitto_plugin_cleanup mosquitto_plugin_init mosquitto_plugin_version" \
    "$(nm -D --defined-only "$MOD" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')"

write_config
init_store
new_user 100
new_key 100
ID=$KEY_ID
SECRET=$KEY_SECRET
new_key 100
ID2=$KEY_ID
SECRET2=$KEY_SECRET
new_apikey 100 mqtt-sensors --scope sensors,alerts/ --allow-ip 127.0.0.1/32
AK=$APIKEY
AK_ID=$APIKEY_ID
new_apikey 100 mqtt-all
AK_ALL=$APIKEY
new_apikey 100 mqtt-elsewhere --allow-ip 10.0.0.0/8
AK_FAR=$APIKEY

BROKER_PID=
PORT=
stop_broker() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
        BROKER_PID=
    fi
}
CLEANUP_HOOKS+=(stop_broker)

# broker_conf PORT [plugin_opt lines...]; BROKER_USER: the user it runs as
broker_conf() {
    local port=$1
    shift
    printf '%s\n' "per_listener_settings false" "allow_anonymous false" "persistence false" \
        "user ${BROKER_USER:-$(id -un)}" "log_dest stderr" "log_type all" "listener $port 127.0.0.1" "plugin $MOD" "$@" \
        >"$TMP/mosquitto.conf"
}

# Start the broker on a free port: try from a per-process base, move on when
# the bind fails. Ready when the broker says it is running.
start_broker() { # [plugin_opt lines...] (default: plugin_opt_config $CONF)
    local port=$((20000 + $$ % 20000)) tries i
    [ $# -gt 0 ] || set -- "plugin_opt_config $CONF"
    for tries in $(seq 1 20); do
        broker_conf "$port" "$@"
        "$BROKER" -c "$TMP/mosquitto.conf" >"$TMP/broker.log" 2>&1 &
        BROKER_PID=$!
        for i in $(seq 1 50); do
            if grep -q ' running$' "$TMP/broker.log"; then
                PORT=$port
                return 0
            fi
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_broker
        grep -qi 'address already in use' "$TMP/broker.log" || {
            cat "$TMP/broker.log" >&2
            return 1
        }
        port=$((port + 1))
    done
    return 1
}

# Init failures: the broker must refuse to start, and say why.
init_fails() { # NAME EXPECTED-LOG-REGEX plugin_opt lines...
    local name=$1 re=$2 rc
    shift 2
    broker_conf $((20000 + ($$ + 7) % 20000)) "$@"
    timeout 10 "$BROKER" -c "$TMP/mosquitto.conf" >"$TMP/init.log" 2>&1
    rc=$?
    check "init fails: $name" 1 "$([ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && echo 1)"
    check_match "init fails: $name: logged" "$re" "$(cat "$TMP/init.log")"
}
init_fails "no plugin_opt_config" "plugin_opt_config .* is required"
init_fails "config file missing" "latchkey: cannot open $TMP/none.yaml" "plugin_opt_config $TMP/none.yaml"
init_fails "unknown option" "unknown option plugin_opt_frobnicate" "plugin_opt_config $CONF" "plugin_opt_frobnicate 1"
# a config whose store does not exist (a mistyped store.path): refused, not created
write_config "$TMP/missing.yaml" "$TMP/missing-store.mdb"
init_fails "store missing" "latchkey: .*missing-store\.mdb not found" "plugin_opt_config $TMP/missing.yaml"
check "store missing: not created" 0 "$([ -e "$TMP/missing-store.mdb" ] && echo 1 || echo 0)"

start_broker || die "cannot start mosquitto"
echo "broker on 127.0.0.1:$PORT (pid $BROKER_PID)"

# Unique client ids (clients run in subshells, so the counter lives in a file).
echo 0 >"$TMP/n"
next_id() { local n; n=$(($(cat "$TMP/n") + 1)); echo "$n" >"$TMP/n"; echo "lk-$1-$n"; }
# pub USER PASS TOPIC MESSAGE : retained, QoS 1; prints "EXIT|output"
pub() {
    local out rc
    out=$(timeout 15 mosquitto_pub -h 127.0.0.1 -p "$PORT" -i "$(next_id pub)" -u "$1" -P "$2" -t "$3" -m "$4" -r -q 1 2>&1)
    rc=$?
    printf '%s|%s' "$rc" "$out"
}
# sub USER PASS TOPIC [WAIT] : first message or nothing within WAIT seconds
sub() {
    local out rc
    out=$(timeout 15 mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$(next_id sub)" -u "$1" -P "$2" -t "$3" -C 1 -W "${4:-5}" 2>&1)
    rc=$?
    printf '%s|%s' "$rc" "$out"
}
refused() { # NAME RESULT
    check_match "$1: refused, not authorised" "^[1-9][0-9]*\|.*not authori[sz]ed" "$2"
}

# ---- SecretId / SecretKey
check "SecretId: publish" "0|" "$(pub "$ID" "$SECRET" lk/test hello-secretid)"
check "SecretId: subscriber receives it" "0|hello-secretid" "$(sub "$ID" "$SECRET" lk/test)"
refused "SecretId: wrong secret" "$(pub "$ID" "$SECRET2" lk/test x)"
refused "SecretId: truncated secret" "$(pub "$ID" "${SECRET%??}" lk/test x)"
raw_pub() {
    local out rc
    out=$(timeout 15 mosquitto_pub -h 127.0.0.1 -p "$PORT" "$@" -t lk/test -m x 2>&1)
    rc=$?
    printf "%s|%s" "$rc" "$out"
}
refused "no credentials" "$(raw_pub)"
refused "user name without password" "$(raw_pub -u "$ID")"

# ---- API keys: any user name, the key as password; scope = topic prefixes
check "API key: publish inside scope" "0|" "$(pub sensor-1 "$AK" sensors/temp 21.5)"
check "API key: subscriber inside scope receives" "0|21.5" "$(sub whoever "$AK" 'sensors/#')"
check "SecretId sees the API key's message" "0|21.5" "$(sub "$ID" "$SECRET" sensors/temp)"
check "API key: raw prefix entry (alerts/)" "0|" "$(pub x "$AK" alerts/fire hot)"
check "API key (scope all): reads any topic" "0|hello-secretid" "$(sub x "$AK_ALL" lk/test)"
# Writes outside the scope are dropped by the broker (MQTT 3.1.1 has no
# negative PUBACK); prove it by reading the topic back with full rights.
pub sensor-1 "$AK" other/topic leaked >/dev/null
check "API key: publish outside scope is dropped" "27|Timed out" "$(sub "$ID" "$SECRET" other/topic 2)"
pub sensor-1 "$AK" sensorsX/temp leaked >/dev/null
check "API key: 'sensors' does not cover 'sensorsX'" "27|Timed out" "$(sub "$ID" "$SECRET" sensorsX/temp 2)"
check "API key: subscription outside scope is denied" "0|All subscription requests were denied." \
    "$(sub x "$AK" lk/test 2)"
refused "API key: client IP not in allowlist" "$(pub x "$AK_FAR" sensors/temp x)"
refused "API key: wrong key" "$(pub x "$(wrong_last "$AK")" sensors/temp x)"
refused "API key: SecretKey as API key" "$(pub x "$SECRET" sensors/temp x)"

# ---- disabled and deleted keys, changed while the broker runs
lk key disable "$ID2" >/dev/null || die "key disable"
refused "disabled key" "$(pub "$ID2" "$SECRET2" lk/test x)"
lk key disable "$ID2" >/dev/null
lk key delete "$ID2" >/dev/null || die "key delete"
refused "deleted key" "$(pub "$ID2" "$SECRET2" lk/test x)"

check "API key works before it is disabled" "0|" "$(pub x "$AK" sensors/hum 40)"
# A subscriber connected with the key stays connected; after the disable it
# must receive nothing more (every delivery passes the ACL check).
LIVE_ID=$(next_id live)
timeout 15 mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$LIVE_ID" -u live -P "$AK" -t sensors/live -C 2 -W 3 \
    >"$TMP/live.out" 2>&1 &
LIVE=$!
for i in $(seq 1 50); do grep -q "$LIVE_ID" "$TMP/broker.log" && grep -q "SUBSCRIBE from $LIVE_ID" "$TMP/broker.log" && break; sleep 0.1; done
pub "$ID" "$SECRET" sensors/live before >/dev/null
lk apikey disable "$AK_ID" >/dev/null || die "apikey disable"
refused "API key disabled while the broker runs: next connect" "$(pub x "$AK" sensors/temp x)"
pub "$ID" "$SECRET" sensors/live after >/dev/null
wait "$LIVE"
check "connected client gets nothing after its key is disabled" "before" "$(grep -v '^Timed out' "$TMP/live.out")"
check_match "broker log names the API key, not the user name" "as $LIVE_ID .*u'$AK_ID'" \
    "$(grep "$LIVE_ID" "$TMP/broker.log")"

# A publisher connected with an API key, its record kept by the plugin
# (issue 14: re-read only when the store's generation changes): the disable
# must stop its very next publish, with nothing else happening in between.
new_apikey 100 mqtt-live-pub --scope sensors
LP_AK=$APIKEY
LP_AK_ID=$APIKEY_ID
PSUB_ID=$(next_id psub)
timeout 20 mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$PSUB_ID" -u "$ID" -P "$SECRET" -t sensors/pubtest -C 3 -W 6 \
    >"$TMP/psub.out" 2>&1 &
PSUB=$!
for i in $(seq 1 50); do grep -q "SUBSCRIBE from $PSUB_ID" "$TMP/broker.log" && break; sleep 0.1; done
mkfifo "$TMP/pub.fifo"
timeout 20 mosquitto_pub -h 127.0.0.1 -p "$PORT" -i "$(next_id lpub)" -u x -P "$LP_AK" -t sensors/pubtest -l \
    <"$TMP/pub.fifo" >"$TMP/lpub.out" 2>&1 &
LPUB=$!
exec 7>"$TMP/pub.fifo"
echo first >&7
echo first-again >&7
for i in $(seq 1 50); do grep -qx first-again "$TMP/psub.out" && break; sleep 0.1; done
lk apikey disable "$LP_AK_ID" >/dev/null || die "apikey disable"
echo second >&7
exec 7>&-
wait "$LPUB"
wait "$PSUB"
check "connected publisher: publishes before the disable delivered, none after" "first
first-again" "$(grep -v '^Timed out' "$TMP/psub.out")"

# A key that expires while its client is connected: no store change marks
# that moment (the generation stays), so the plugin's kept record must carry
# the expiry and refuse from then on.
t0=$(date +%s)
new_apikey 100 mqtt-expiring --scope sensors --expires 6s
EX_AK=$APIKEY
ESUB_ID=$(next_id esub)
timeout 25 mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$ESUB_ID" -u "$ID" -P "$SECRET" -t sensors/exptest -C 3 -W 12 \
    >"$TMP/esub.out" 2>&1 &
ESUB=$!
for i in $(seq 1 50); do grep -q "SUBSCRIBE from $ESUB_ID" "$TMP/broker.log" && break; sleep 0.1; done
mkfifo "$TMP/epub.fifo"
timeout 25 mosquitto_pub -h 127.0.0.1 -p "$PORT" -i "$(next_id epub)" -u x -P "$EX_AK" -t sensors/exptest -l \
    <"$TMP/epub.fifo" >"$TMP/epub.out" 2>&1 &
EPUB=$!
exec 7>"$TMP/epub.fifo"
echo before-expiry >&7
for i in $(seq 1 50); do grep -qx before-expiry "$TMP/esub.out" && break; sleep 0.1; done
while [ "$(date +%s)" -le $((t0 + 7)) ]; do sleep 0.2; done # past the expiry
echo after-expiry >&7
exec 7>&-
wait "$EPUB"
wait "$ESUB"
check "connected publisher: publishes before its key expires delivered, none after" "before-expiry" \
    "$(grep -v '^Timed out' "$TMP/esub.out")"

# ---- logs: refusals are explained, secrets never appear
check_match "refusals logged with the reason" "latchkey: client .* refused .*AuthFailure\.SignatureFailure" \
    "$(cat "$TMP/broker.log")"
leak=0
for s in "$SECRET" "$SECRET2" "$AK" "$AK_ALL" "$AK_FAR"; do grep -qF -- "$s" "$TMP/broker.log" && leak=1; done
check "no secret in the broker log" 0 "$leak"

# Clean shutdown runs mosquitto_plugin_cleanup (lk_close).
kill "$BROKER_PID"
wait "$BROKER_PID"
check "broker exits cleanly on SIGTERM" 0 "$?"
BROKER_PID=

# ---- through latchkeyd: the packaged broker's own user, with a store it
# cannot read (plugin_opt_socket; the service owns the store)
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1 && [ -x "$LK_BUILDDIR/latchkeyd" ]; then
    start_latchkeyd "allow_uids: [0, $(id -u mosquitto)]"
    new_apikey 100 via-socket --scope sensors
    SK_AK=$APIKEY
    SK_AK_ID=$APIKEY_ID
    check "the broker's user cannot read the store" "refused" \
        "$(runuser -u mosquitto -- cat "$TMP/store.mdb" >/dev/null 2>&1 && echo read || echo refused)"
    # The plugin is loaded after the broker drops to its user: the module
    # itself must be readable by it (the build tree is root's).
    mkdir -p "$TMP/lkd/lib"
    cp "$MOD" "$LK_BUILDDIR"/.libs/liblatchkey.so* "$TMP/lkd/lib/" 2>/dev/null
    chmod -R a+rX "$TMP/lkd/lib"
    MOD_ROOT=$MOD
    MOD=$TMP/lkd/lib/$(basename "$MOD_ROOT")
    BROKER_USER=mosquitto
    # The sanitizer build's module loads the ASan runtime late, which
    # verify_asan_link_order=0 allows; but a broker that dropped root can
    # no longer read its /proc/self/environ, where ASan looks for that
    # option: preload the runtime instead (as sshd.sh does).
    ASAN_RT=$(ldd "$MOD_ROOT" 2>/dev/null | awk '/libclang_rt\.asan/ {print $3}')
    LD_PRELOAD="${ASAN_RT:-${LD_PRELOAD:-}}" LD_LIBRARY_PATH="$TMP/lkd/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        start_broker "plugin_opt_socket $LKD_SOCK" ||
        die "broker (user mosquitto, plugin_opt_socket) did not start"
    check_match "socket: the broker runs as mosquitto" "^mosquitto$" "$(ps -o user= -p "$BROKER_PID" | tr -d ' ')"
    check "socket: API key publishes inside its scope" "0|" "$(pub x "$SK_AK" sensors/temp 21)"
    check "socket: SecretId publishes" "0|" "$(pub "$ID" "$SECRET" lk/test x)"
    refused "socket: wrong API key" "$(pub x "$(wrong_last "$SK_AK")" sensors/temp x)"
    check "socket: a subscriber with the SecretId receives it" "0|21" "$(sub "$ID" "$SECRET" sensors/temp)"
    pub x "$SK_AK" other/socket-topic leaked >/dev/null
    check "socket: publish outside the scope is dropped (ACL through the service)" "27|Timed out" \
        "$(sub "$ID" "$SECRET" other/socket-topic 2)"
    lk apikey disable "$SK_AK_ID" >/dev/null || die "apikey disable"
    refused "socket: key disabled with the admin tool: next connect" "$(pub x "$SK_AK" sensors/temp x)"
    kill "$BROKER_PID"
    wait "$BROKER_PID"
    BROKER_PID=
    MOD=$MOD_ROOT
    BROKER_USER=
else
    echo "note: not root, no user mosquitto, or latchkeyd not built: the unprivileged-broker run was skipped"
fi
finish
