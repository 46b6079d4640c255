#!/bin/bash
# bench/mosquitto.sh — the real Mosquitto 2.0 broker, three ways at once:
# A mosquitto_latchkey.so (plugin_opt_config, default hash cost), B the
# broker's own password_file, D no authentication; driven by
# bench/mqtt_bench (raw sockets). One run, ratios:
#   - warm CONNECT rate and p50/p99, A vs B vs D, rounds interleaved;
#   - cold CONNECT p50 (first login of new API keys);
#   - a burst of new credentials logging in while another client does warm
#     CONNECTs: that client's p99;
#   - in-scope QoS 0 publish rate (publish + delivery ACL checks) vs D, for
#     a fresh API key, a key with 20 stored access records, and right after
#     a reconnect burst.
# Prints figures; timing never fails the run (exit 77 when the broker or
# the plugin is absent).
set -u
B=${LK_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
SECS=${BENCH_MQTT_SECONDS:-2}
ROUNDS=${BENCH_MQTT_ROUNDS:-3}
MSGS=${BENCH_MQTT_MESSAGES:-200000}
BROKER=$(command -v mosquitto || echo /usr/sbin/mosquitto)
MOD=$B/.libs/mosquitto_latchkey.so
CLIENT=$B/bench/mqtt_bench
[ -x "$BROKER" ] || { echo "mosquitto bench: skipped (no mosquitto broker)"; exit 77; }
[ -f "$MOD" ] || { echo "mosquitto bench: skipped ($MOD not built)"; exit 77; }
[ -x "$CLIENT" ] || { echo "mosquitto bench: $CLIENT not built"; exit 1; }
command -v mosquitto_passwd >/dev/null || { echo "mosquitto bench: skipped (no mosquitto_passwd)"; exit 77; }

W=$(mktemp -d "${TMPDIR:-/tmp}/lk-bench-mqtt.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cat >"$W/lk.yaml" <<CFG
store: {backend: lmdb, path: store.mdb}
limits: {apikeys_per_account: 1000}
CFG
lk() { "$B/latchkey" --config "$W/lk.yaml" "$@"; }
lk init >/dev/null || exit 1
lk user add 100 >/dev/null || exit 1
field() { tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"; }
apikey() { lk --json apikey create 100 --name "$1" --scope bench | field ApiKey; }
AK_WARM=$(apikey warm)
AK_FRESH=$(apikey fresh)
AK_20=$(apikey twenty)
AK_BURST=$(apikey burst)
: >"$W/cold1"
: >"$W/cold2"
for i in $(seq 1 50); do echo "u $(apikey cold1-$i)" >>"$W/cold1"; done
for i in $(seq 1 50); do echo "u $(apikey cold2-$i)" >>"$W/cold2"; done
mosquitto_passwd -c -b "$W/passwd" benchuser benchpass >/dev/null 2>&1 || exit 1

free_port() {
    local p
    for p in $(seq $((20000 + $$ % 20000)) 65000); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
start() { # NAME conf-lines...
    local name=$1 port
    shift
    port=$(free_port)
    printf '%s\n' "per_listener_settings false" "persistence false" "user $(id -un)" "log_dest stderr" \
        "log_type error" "log_type warning" "listener $port 127.0.0.1" "$@" >"$W/$name.conf"
    "$BROKER" -c "$W/$name.conf" 2>"$W/$name.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    eval "PORT_$name=$port"
}
start A "allow_anonymous false" "plugin $MOD" "plugin_opt_config $W/lk.yaml"
start B "allow_anonymous false" "password_file $W/passwd"
start D "allow_anonymous true"

val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; } # val NAME < "name=1 ..."
best() { sort -n | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "mosquitto $("$BROKER" -h 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p'): $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A = mosquitto_latchkey.so (default hash cost), B = password_file, D = no authentication"

# ---- warm CONNECT, rounds interleaved
"$CLIENT" connect "$PORT_A" u "$AK_WARM" 0.3 >/dev/null || { echo "A refused the warm key"; cat "$W/A.log"; exit 1; }
for r in $(seq 1 "$ROUNDS"); do
    "$CLIENT" connect "$PORT_A" u "$AK_WARM" "$SECS" >>"$W/warm.A"
    "$CLIENT" connect "$PORT_B" benchuser benchpass "$SECS" >>"$W/warm.B"
    "$CLIENT" connect "$PORT_D" "" "" "$SECS" >>"$W/warm.D"
done
wa=$(val rate <"$W/warm.A" | best) wb=$(val rate <"$W/warm.B" | best) wd=$(val rate <"$W/warm.D" | best)
pa=$(val p99 <"$W/warm.A" | sort -n | head -1)
printf 'warm CONNECT (best of %s rounds of %s s): A %s/s, B %s/s, D %s/s: A/B %s, A/D %s; A p50 %s us, p99 %s us\n' \
    "$ROUNDS" "$SECS" "$wa" "$wb" "$wd" "$(ratio "$wa" "$wb")" "$(ratio "$wa" "$wd")" \
    "$(val p50 <"$W/warm.A" | sort -n | head -1)" "$pa"

# ---- cold CONNECT: 50 API keys, each logging in for the first time
# against its floor (issue 24): one bare Argon2id verify at the same
# (default) cost, measured by bench/latchkey-bench just before and just
# after, so the target holds on any CPU.
f1=$("$B/bench/latchkey-bench" --argon2-floor 15 | val p50)
t0=$(date +%s.%N)
c=$("$CLIENT" cold "$PORT_A" "$W/cold1")
cold_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a + 0.5 }')
f2=$("$B/bench/latchkey-bench" --argon2-floor 15 | val p50)
cp50=$(echo "$c" | val p50)
echo "cold CONNECT (first login of 50 new API keys, one at a time): p50 $((cp50 / 1000)).$(printf '%03d' $((cp50 % 1000))) ms, p99 $(echo "$c" | val p99) us"
# The lower of the two: a burst of other work inflates a floor, never
# deflates it (the stricter ratio).
awk -v c="$cp50" -v a="$f1" -v b="$f2" 'BEGIN { f = a < b ? a : b; r = f > 0 ? c / f : 0;
    printf "  [%s] cold CONNECT p50 <= 1.5x one bare Argon2id verify at the same cost (floor p50 %.2f ms before, %.2f ms after): %.2fx\n",
        f <= 0 ? "not measured" : r <= 1.5 ? "met" : "MISSED", a / 1000, b / 1000, r }'

# ---- a burst of 50 new credentials while another client does warm CONNECTs
# (for as long as the burst takes: the cold phase's duration)
"$CLIENT" connect "$PORT_A" u "$AK_WARM" "$cold_s" >"$W/burst.warm" &
bw=$!
sleep 0.2
"$CLIENT" cold "$PORT_A" "$W/cold2" >"$W/burst.cold"
wait "$bw"
printf 'warm CONNECT during %s s while 50 new credentials log in: %s/s, p99 %s us, max %s us (alone: p99 %s us) [target p99 < 10 ms]\n' \
    "$cold_s" "$(val rate <"$W/burst.warm")" "$(val p99 <"$W/burst.warm")" "$(val max <"$W/burst.warm")" "$pa"

# ---- in-scope QoS 0 publishes (publish + delivery checked), vs D
# Each case is the best of 2 runs (a shared machine varies by tens of %).
pub1() { "$CLIENT" publish "$1" "$2" "$3" "$2" "$3" bench/t "$MSGS" | val rate; }
pub() { { pub1 "$@"; pub1 "$@"; } | best; }
sleep 1.5 # the burst's records written
pd=$(pub "$PORT_D" "" "")
pf=$(pub "$PORT_A" u "$AK_FRESH")
"$CLIENT" connect "$PORT_A" u "$AK_20" 0.3 >/dev/null # >= 20 access records...
sleep 1.5                                           # ...written by the flush
p20=$(pub "$PORT_A" u "$AK_20")
"$CLIENT" connect "$PORT_A" u "$AK_BURST" 0.6 >"$W/reburst" # a reconnect burst (records queued)
pb=$(pub1 "$PORT_A" u "$AK_FRESH")                         # right after it: one run
"$CLIENT" connect "$PORT_A" u "$AK_BURST" 0.6 >/dev/null
pb=$(printf '%s\n%s\n' "$pb" "$(pub1 "$PORT_A" u "$AK_FRESH")" | best)
# the same burst against D: what the reconnects cost the broker itself
"$CLIENT" connect "$PORT_D" "" "" 0.6 >"$W/reburst.D"
pdb=$(pub1 "$PORT_D" "" "")
"$CLIENT" connect "$PORT_D" "" "" 0.6 >/dev/null
pdb=$(printf '%s\n%s\n' "$pdb" "$(pub1 "$PORT_D" "" "")" | best)
echo "QoS 0 publish rate, $MSGS messages to one subscriber (best of 2 runs each; D $pd/s):"
printf '  A, fresh API key:            %s/s = %s x D\n' "$pf" "$(ratio "$pf" "$pd")"
printf '  A, key with 20 records:      %s/s = %s x D\n' "$p20" "$(ratio "$p20" "$pd")"
printf '  A, after %s reconnects:    %s/s = %s x D; D after its own %s reconnects: %s/s, A/D %s   [target >= 0.85 x D in all three]\n' \
    "$(val n <"$W/reburst")" "$pb" "$(ratio "$pb" "$pd")" "$(val n <"$W/reburst.D")" "$pdb" "$(ratio "$pb" "$pdb")"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
