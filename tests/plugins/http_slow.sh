#!/bin/bash
# http_slow.sh — slowloris against latchkeyd's HTTP endpoint (issue 19,
# finding 13), no proxy: as many connections as daemon.http.max_connections
# each send a header byte every 0.5 s, well inside timeout_s, so an
# inactivity timeout never fires. /healthz must still be answered: every
# request has to arrive whole within timeout_s of its connection (or of the
# previous answer on it). Bounded: 40 connections on 127.0.0.1, trickling
# for at most 40 s; /healthz is polled for up to 20 s (it needs ~2). Then
# one untrusted address (127.0.0.2) is held to max_connections_per_ip.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

command -v curl >/dev/null || skip "curl not installed (apt-get install curl)"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd was built without HTTP support (apt-get install libmicrohttpd-dev, then configure)"
need_cli
write_config
init_store

NSLOW=40
free_port LKD_PORT
start_latchkeyd "http:" "  listen: 127.0.0.1:$LKD_PORT" "  trusted_proxies: [127.0.0.1]" "  threads: 2" \
    "  timeout_s: 2" "  max_connections: $NSLOW"
LKD=http://127.0.0.1:$LKD_PORT
for _ in $(seq 50); do curl -s -o /dev/null "$LKD/healthz" && break; sleep 0.1; done
check "healthz before" "200 ok" "$(http_req "$LKD/healthz")"

# trickle: open NSLOW connections, begin a request on each, then one more
# header byte on every connection each 0.5 s; "open N" in $TMP/slow once
# they are open, "cut N" at the end: on how many a write failed (closed by
# latchkeyd); that count in $TMP/slow.cut as it grows.
trickle() {
    trap '' PIPE
    local fds=() dead=() fd i j cut=0
    for i in $(seq "$NSLOW"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$LKD_PORT" || break
        printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' >&"$fd"
        fds+=("$fd")
    done
    echo "open ${#fds[@]}" >"$TMP/slow"
    for i in $(seq 80); do
        [ -e "$TMP/slow.stop" ] && break
        for j in "${!fds[@]}"; do
            [ -n "${dead[j]:-}" ] || printf 'x' >&"${fds[j]}" 2>/dev/null ||
                { dead[j]=1; cut=$((cut + 1)); echo "$cut" >"$TMP/slow.cut"; }
        done
        sleep 0.5
    done
    echo "cut $cut" >>"$TMP/slow"
}
trickle &
TRICKLE=$!
CLEANUP_HOOKS+=("touch $TMP/slow.stop; kill $TRICKLE 2>/dev/null; wait $TRICKLE 2>/dev/null")
for _ in $(seq 200); do [ -s "$TMP/slow" ] && break; sleep 0.1; done
check "the slow connections are open" "open $NSLOW" "$(head -1 "$TMP/slow" 2>/dev/null)"

t0=$(date +%s)
got=
while [ $(($(date +%s) - t0)) -lt 20 ]; do
    got=$(curl -s --max-time 2 "$LKD/healthz")
    [ "$got" = ok ] && break
    sleep 0.2
done
check "healthz answered while $NSLOW connections trickle header bytes" "ok" "$got"
echo "     (answered after $(($(date +%s) - t0)) s)"
metrics=$(curl -s --max-time 5 "$LKD/metrics")
check_match "metrics: the slow requests were cut by the deadline" \
    "latchkey_http_request_timeouts_total [1-9]" "$metrics"
# a write fails on the second try after latchkeyd's close (the first draws the reset)
for _ in $(seq 200); do [ -s "$TMP/slow.cut" ] && break; sleep 0.1; done
touch "$TMP/slow.stop"
wait "$TRICKLE"
check_match "the slow connections were closed by latchkeyd" "^cut [1-9]" "$(tail -1 "$TMP/slow")"
check "still serving" "200 ok" "$(http_req "$LKD/healthz")"

# --- one address that is not a trusted proxy (127.0.0.2) may hold
# max_connections_per_ip (4) connections; 8 slow uploads from it (a body
# byte every 0.5 s, timeout_s 30 so none is cut meanwhile): 4 refused, and
# the trusted proxy's address is still served.
kill "$LKD_PID"
wait "$LKD_PID" 2>/dev/null
free_port LKD_PORT
start_latchkeyd "http:" "  listen: 127.0.0.1:$LKD_PORT" "  trusted_proxies: [127.0.0.1]" "  threads: 2" \
    "  timeout_s: 30" "  max_connections_per_ip: 4"
LKD=http://127.0.0.1:$LKD_PORT
for _ in $(seq 50); do curl -s -o /dev/null "$LKD/healthz" && break; sleep 0.1; done
slow_pids=()
for i in $(seq 8); do
    { for _ in $(seq 50); do printf x; sleep 0.5; done; } 2>/dev/null |
        curl -s -o /dev/null --interface 127.0.0.2 -T - -H 'Expect:' --max-time 25 "$LKD/verify" &
    slow_pids+=($!)
done
CLEANUP_HOOKS+=("kill ${slow_pids[*]} 2>/dev/null")
refused=
for _ in $(seq 200); do
    refused=$(curl -s --max-time 5 "$LKD/metrics" | sed -n 's/^latchkey_http_per_ip_refused_total //p')
    [ "${refused:-0}" -ge 4 ] && break
    sleep 0.1
done
check "8 slow uploads from 127.0.0.2: 4 over max_connections_per_ip refused" "4" "$refused"
check "the trusted proxy's address is served meanwhile" "200 ok" "$(http_req "$LKD/healthz")"
kill "${slow_pids[@]}" 2>/dev/null
wait "${slow_pids[@]}" 2>/dev/null
finish
