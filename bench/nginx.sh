#!/bin/bash
# bench/nginx.sh — requests/s of one nginx location protected by latchkeyd's
# HTTP verify endpoint (auth_request, the shipped etc/nginx/latchkey.conf
# block: every request makes a subrequest to latchkeyd, nothing cached in
# nginx; the Bearer key is warm in latchkeyd's verified-secret cache)
# against the same location unprotected; then the protected location with
# 10% wrong keys and 10% garbage mixed in. The location proxies to an API
# (a second nginx server answering 200), as a gateway does; the same pair
# is also measured on a static file, where nginx does least and the
# verification's share is largest. Same nginx, same wrk, alternating rounds.
# Prints the ratios; exits 77 when nginx, wrk or HTTP support is missing.
# Environment: BENCH_SECONDS per run (default 5), BENCH_ROUNDS (default 3),
# BENCH_CONNECTIONS (default 32).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/bench/wrk_lib.sh"

NGINX=$(command -v nginx 2>/dev/null || ls /usr/sbin/nginx 2>/dev/null)
[ -n "$NGINX" ] && [ -x "$NGINX" ] || skip "nginx not installed (apt-get install nginx)"
command -v wrk >/dev/null || skip "wrk not installed (apt-get install wrk)"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd was built without HTTP support"
need_cli
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}

chmod 755 "$TMP"
write_config
init_store
new_user 100 --login alice
new_apikey 100 bench --scope api
AK=$APIKEY

BASE=$((10000 + $$ % 20000)) # below the ephemeral range (32768..)
LKD_PORT=$BASE API_PORT=$((BASE + 1)) PORT=$((BASE + 2))
start_latchkeyd "http:" "  listen: 127.0.0.1:$LKD_PORT" "  trusted_proxies: [127.0.0.1]" \
    "  service_map: [\"/api/=api\", \"/static-api/=api\"]"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$LKD_PORT/healthz" && break; sleep 0.1; done

BLOCK=$(sed -n '/^upstream latchkeyd/,$p' "$LK_SRCDIR/etc/nginx/latchkey.conf" |
    sed -e "s|127.0.0.1:8087|127.0.0.1:$LKD_PORT|" -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$PORT|" \
        -e "s|127.0.0.1:9000|api_backend|")
# the shipped block's server, plus the unprotected twins and the static pair
BLOCK=${BLOCK%\}*}
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp" "$TMP/htdocs/static-open" "$TMP/htdocs/static-api"
echo ok >"$TMP/htdocs/static-open/x"
echo ok >"$TMP/htdocs/static-api/x"
chmod -R a+rX "$TMP/htdocs"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 2;
error_log $TMP/nginx/logs/error.log crit;
events { worker_connections 2048; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    upstream api_backend { server 127.0.0.1:$API_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$API_PORT;
        location / { return 200 "ok\n"; }
    }
$BLOCK
    location /open/ {
        proxy_pass http://api_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
    location /static-open/ { root $TMP/htdocs; }
    location /static-api/ {
        auth_request /_latchkey;
        root $TMP/htdocs;
    }
}
}
CONF
sed -i 's@proxy_pass http://api_backend; *# the API@proxy_pass http://api_backend;\n        proxy_http_version 1.1;\n        proxy_set_header Connection "";@' "$TMP/nginx/nginx.conf"
"$NGINX" -t -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "pid $TMP/nginx/nginx.pid;" >"$TMP/nginx.t" 2>&1 ||
    { cat "$TMP/nginx.t" >&2; die "nginx -t refused the configuration"; }
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "daemon off; pid $TMP/nginx/nginx.pid;" >"$TMP/nginx.out" 2>&1 &
CLEANUP_HOOKS+=('stop_pidfile "$TMP/nginx/nginx.pid" QUIT')
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/open/x" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/open/x" || { cat "$TMP/nginx.out" >&2; die "nginx did not start (port $PORT)"; }
[ "$(printf 'header = "Authorization: Bearer %s"\n' "$AK" | curl -s -K - -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$PORT/api/x")" = 200 ] || die "the protected location does not grant the key"

wrk_key_scripts "$AK"
wrk_warm /api/x

# The machine may be shared: the runs alternate, ROUNDS times, and each
# keeps its best round (other tenants only ever slow a run down).
open_rps=0 api_rps=0 clean_rps=0 mixed_rps=0 valid_rps=0 api_bad=0 sopen_rps=0 sapi_rps=0
for _ in $(seq "${BENCH_ROUNDS:-3}"); do
    run /open/x
    open_rps=$(max "$open_rps" "$RPS")
    run /api/x -s "$TMP/key.lua"
    api_rps=$(max "$api_rps" "$RPS")
    api_bad=$((api_bad + BAD))
    run /api/x -s "$TMP/clean.lua"
    clean_rps=$(max "$clean_rps" "$RPS")
    api_bad=$((api_bad + BAD))
    run /api/x -s "$TMP/mixed.lua"
    mixed_rps=$(max "$mixed_rps" "$RPS")
    valid_rps=$(max "$valid_rps" "$(wrk_valid_rps)")
    run /static-open/x
    sopen_rps=$(max "$sopen_rps" "$RPS")
    run /static-api/x -s "$TMP/key.lua"
    sapi_rps=$(max "$sapi_rps" "$RPS")
done

echo "nginx auth_request -> latchkeyd HTTP (2 nginx workers, 2 latchkeyd HTTP threads), wrk -t2 -c$CONNS -d${SECS}s,"
echo "best of ${BENCH_ROUNDS:-3} alternating rounds, $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg)):"
printf '  API location, unprotected:            %10.0f req/s\n' "$open_rps"
printf '  API location, latchkey (Bearer, warm): %9.0f req/s (%s refused)\n' "$api_rps" "$api_bad"
awk -v a="$api_rps" -v o="$open_rps" 'BEGIN { printf "  ratio latchkey / unprotected:         %10.2fx (target >= 0.5x)\n", a / o }'
printf '  mixed 80%% valid, 10%% wrong, 10%% junk: %10.0f req/s, valid %s req/s\n' "$mixed_rps" "$valid_rps"
printf '  the same, all valid:                  %10.0f req/s\n' "$clean_rps"
awk -v v="$valid_rps" -v a="$clean_rps" 'BEGIN { printf "  valid rate mixed / clean:             %10.2fx (target >= 0.8x)\n", v / a }'
printf '  static file, unprotected:             %10.0f req/s\n' "$sopen_rps"
printf '  static file, latchkey:                %10.0f req/s\n' "$sapi_rps"
awk -v a="$sapi_rps" -v o="$sopen_rps" 'BEGIN { printf "  ratio latchkey / unprotected (static): %9.2fx\n", a / o }'
