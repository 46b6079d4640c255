#!/bin/bash
# bench/nginx_module.sh — requests/s of one nginx API location protected by
# ngx_http_auth_latchkey_module (the shipped etc/nginx/latchkey-module.conf
# block: every request asks latchkeyd over its UNIX socket; the Bearer key
# is warm in latchkeyd's verified-secret cache) against the same location
# unprotected and against auth_request to latchkeyd's HTTP endpoint (the
# shipped etc/nginx/latchkey.conf block); then the module with 10% wrong
# keys and 10% garbage mixed in. Every location proxies to an API (a second
# nginx server answering 200), as a gateway does. Same nginx, same wrk,
# alternating rounds; prints the ratios. For scale, the module's location
# once more with a stand-in for latchkeyd that answers every verify at once
# without any work (lkd_driver peer): the floor of asking any service over
# a UNIX socket, which no change to latchkeyd can pass. Exits 77 when
# nginx, wrk or the module is missing. Environment: BENCH_SECONDS per run (default 5),
# BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (default 32).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/bench/wrk_lib.sh"

NGINX=$(command -v nginx 2>/dev/null || ls /usr/sbin/nginx 2>/dev/null)
[ -n "$NGINX" ] && [ -x "$NGINX" ] || skip "nginx not installed (apt-get install nginx)"
command -v wrk >/dev/null || skip "wrk not installed (apt-get install wrk)"
MODULE=$LK_BUILDDIR/plugins/nginx/build/objs/ngx_http_auth_latchkey_module.so
[ -f "$MODULE" ] || skip "the nginx module was not built (apt-get install nginx-dev, then configure)"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd was built without HTTP support (the auth_request comparison)"
need_cli
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}

chmod 755 "$TMP"
write_config
init_store
new_user 100 --login alice
new_apikey 100 bench --scope api
AK=$APIKEY

# The guessers' target: an access key hashed at the default cost (t=2,
# 4 MiB), so each wrong SecretKey costs latchkeyd a real Argon2id.
sed 's/^hash: .*/hash: {opslimit: 2, memlimit_kib: 4096}/' "$CONF" >"$TMP/hash.yaml"
chmod 600 "$TMP/hash.yaml"
CONF_BENCH=$CONF CONF=$TMP/hash.yaml
new_key 100
CONF=$CONF_BENCH
FLOOD_ID=$KEY_ID

nginx_worker_user
mkdir -m 755 "$TMP/peer"
PEER_SOCK=$TMP/peer/peer.sock
coproc PEER { exec "$LK_BUILDDIR/tests/daemon/lkd_driver" peer "$PEER_SOCK"; }
PEER_PID=$PEER_PID
CLEANUP_HOOKS+=('kill "$PEER_PID" 2>/dev/null')
read -r -t 10 line <&"${PEER[0]}" && [ "$line" = ready ] || die "lkd_driver peer did not start"
free_port LKD_PORT
# throttle off: every guess reaches the Argon2id pool (the flood below)
start_latchkeyd "$LKD_ALLOW" "argon2_workers: 2" "throttle_failures: 0" "http:" "  listen: 127.0.0.1:$LKD_PORT" "  trusted_proxies: [127.0.0.1]" \
    "  service_map: [\"/ar/=api\"]"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$LKD_PORT/healthz" && break; sleep 0.1; done

# bench_conf PORT API_PORT: the module's server block as shipped (its
# /api/ location, and that location again as /floor/ asking the stand-in
# peer), plus the unprotected twin and the auth_request pair (the shipped
# recipe's locations, /api/ renamed /ar/).
bench_conf() {
    local mod floor ar_top ar_locs
    mod=$(sed -n '/^map \$uri/,$p' "$LK_SRCDIR/etc/nginx/latchkey-module.conf" |
        sed -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$1|" -e "s|/run/latchkey/latchkeyd.sock|$LKD_SOCK|" \
            -e "s|127.0.0.1:9000|api_backend|")
    floor=$(printf '%s\n' "$mod" | sed -n '/location \/api\/ {/,/^    }/p' |
        sed -e "s|location /api/ {|location /floor/ {\n        auth_latchkey_socket $PEER_SOCK;|")
    ar_top=$(sed -n '/^upstream latchkeyd/,/^}/p; /^map \$latchkey_path/,/^}/p' "$LK_SRCDIR/etc/nginx/latchkey.conf" |
        sed -e "s|127.0.0.1:8087|127.0.0.1:$LKD_PORT|")
    ar_locs=$(sed -n '/^server {/,$p' "$LK_SRCDIR/etc/nginx/latchkey.conf" | sed -e '1,/listen/d' -e '$d' |
        sed -e "s|location /api/ {|location /ar/ {|" -e "s|127.0.0.1:9000|api_backend|")
    cat <<CONF
load_module $MODULE;
$NGINX_USER_LINE
worker_processes 2;
error_log $TMP/nginx/logs/error.log crit;
events { worker_connections 2048; }
http {
$(nginx_private off)
    upstream api_backend { server 127.0.0.1:$2; keepalive 32; }
    server {
        listen 127.0.0.1:$2;
        location / { return 200 "ok\n"; }
    }
$ar_top
${mod%\}*}
$floor
$ar_locs
    location /open/ {
        proxy_pass http://api_backend;
    }
}
}
CONF
}
# every proxied location keeps its upstream connections, as a gateway would
conf_keepalive() { bench_conf "$@" | sed 's@proxy_pass http://api_backend;.*@proxy_pass http://api_backend;\n        proxy_http_version 1.1;\n        proxy_set_header Connection "";@'; }
start_nginx conf_keepalive
for p in /api/x /ar/x /floor/x; do
    [ "$(printf 'header = "Authorization: Bearer %s"\n' "$AK" | curl -s -K - -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$PORT$p")" = 200 ] || die "$p does not grant the key"
done

wrk_key_scripts "$AK"
wrk_warm /api/x
wrk_warm /floor/x

open_rps=0 mod_rps=0 ar_rps=0 clean_rps=0 valid_rps=0 bad=0 floor_rps=0
pair_mod=() pair_floor=() pair_lkd=() # this round's ratios' operands
for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    run /open/x
    open_rps=$(max "$open_rps" "$RPS")
    round_open=$RPS
    run /api/x -s "$TMP/key.lua"
    mod_rps=$(max "$mod_rps" "$RPS")
    round_mod=$RPS
    bad=$((bad + BAD))
    run /ar/x -s "$TMP/key.lua"
    ar_rps=$(max "$ar_rps" "$RPS")
    bad=$((bad + BAD))
    run /api/x -s "$TMP/clean.lua"
    clean_rps=$(max "$clean_rps" "$RPS")
    bad=$((bad + BAD))
    run /api/x -s "$TMP/mixed.lua"
    valid_rps=$(max "$valid_rps" "$(wrk_valid_rps)")
    run /floor/x -s "$TMP/key.lua"
    floor_rps=$(max "$floor_rps" "$RPS")
    bad=$((bad + BAD))
    pair_mod+=("$round_mod" "$round_open") pair_floor+=("$RPS" "$round_open") pair_lkd+=("$round_mod" "$RPS")
done

echo "nginx: ngx_http_auth_latchkey_module vs auth_request vs unprotected (2 nginx workers), wrk -t2 -c$CONNS -d${SECS}s,"
echo "best of ${BENCH_ROUNDS:-3} alternating rounds, $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg)):"
printf '  API location, unprotected:              %10.0f req/s\n' "$open_rps"
printf '  API location, module (Bearer, warm):    %10.0f req/s\n' "$mod_rps"
printf '  API location, auth_request (same key):  %10.0f req/s\n' "$ar_rps"
printf '  API location, module, no-op peer:       %10.0f req/s (lkd_driver peer: Success at once)\n' "$floor_rps"
printf '  valid requests refused (must be 0):     %10d\n' "$bad"
awk -v a="$mod_rps" -v o="$open_rps" 'BEGIN { printf "  ratio module / unprotected:             %10.2fx (target >= 0.9x)\n", a / o }'
awk -v a="$mod_rps" -v o="$ar_rps" 'BEGIN { printf "  ratio module / auth_request:            %10.2fx\n", a / o }'
awk -v v="$valid_rps" -v a="$clean_rps" 'BEGIN { printf "  module, valid rate mixed / clean:       %10.2fx (target >= 0.8x)\n", v / a }'
awk -v a="$floor_rps" -v o="$open_rps" 'BEGIN { printf "  floor: no-op peer / unprotected:        %10.2fx (the transport alone)\n", a / o }'
awk -v a="$mod_rps" -v o="$floor_rps" 'BEGIN { printf "  ratio module / no-op peer:              %10.2fx (what latchkeyd itself costs)\n", a / o }'
echo "paired in each round (median, range):"
echo "  module / unprotected:                   $(spread "${pair_mod[@]}")"
echo "  no-op peer / unprotected:               $(spread "${pair_floor[@]}")"
echo "  module / no-op peer:                    $(spread "${pair_lkd[@]}")"

# A guessers' flood through the same location: 8 connections sending
# distinct well-formed wrong SecretKeys for FLOOD_ID (none repeats within a
# run, so none is coalesced or remembered), which keeps both Argon2id
# threads busy, while the warm API key is served on 8 connections of its
# own. Its p99 with and without the flood, same run.
"$LK_BUILDDIR/tests/daemon/lkd_driver" wrongkeys 20000 | {
    echo "local h = {"
    FLOOD_ID=$FLOOD_ID perl -MMIME::Base64 -ne 'chomp; printf qq("Basic %s",\n), encode_base64("$ENV{FLOOD_ID}:$_", "")'
    cat <<'LUA'
}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", nil, { ["Authorization"] = h[(n - 1) % #h + 1] })
end
LUA
} >"$TMP/flood.lua"
# wrk's "99%" latency line in milliseconds
p99_ms() { awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v) }'; }
quiet_p99=$(wrk -t1 -c8 -d"${SECS}s" --latency -s "$TMP/key.lua" "http://127.0.0.1:$PORT/api/x" | p99_ms)
a0=$(lkd_stat Argon2Verifies)
wrk -t1 -c8 -d"$((SECS + 2))s" -s "$TMP/flood.lua" "http://127.0.0.1:$PORT/api/x" >"$TMP/flood.out" 2>&1 &
FLOOD=$!
sleep 1 # the pool fills
out=$(wrk -t1 -c8 -d"${SECS}s" --latency -s "$TMP/key.lua" "http://127.0.0.1:$PORT/api/x")
a1=$(lkd_stat Argon2Verifies)
wait "$FLOOD"
flood_p99=$(printf '%s\n' "$out" | p99_ms)
flood_bad=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
echo "nginx module: warm API key (wrk -t1 -c8 --latency) while 8 connections send wrong SecretKeys (Argon2id t=2, 4 MiB):"
printf '  p99 without the flood:                  %10.2f ms\n' "$quiet_p99"
printf '  p99 during the flood:                   %10.2f ms (target < 5 ms)\n' "$flood_p99"
printf '  Argon2id verifies during it:            %10.0f /s (latchkeyd, 2 threads)\n' "$(awk -v a="$a0" -v b="$a1" -v s="$SECS" 'BEGIN { print (b - a) / (s + 1) }')"
printf '  valid requests refused (must be 0):     %10d\n' "${flood_bad:-0}"
