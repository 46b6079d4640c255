#!/bin/bash
# nginx.sh — latchkeyd's HTTP verify endpoint behind the real nginx (Debian's
# binary, auth_request) on 127.0.0.1 and free ports, with a private prefix
# and configuration: nothing of the system's nginx is read or touched. The
# server block is the README's, which is etc/nginx/latchkey.conf as shipped,
# with only its ports changed; the "API" is a second server block that echoes the identity
# headers it got. Driven by curl: Bearer, X-Api-Key and Basic credentials;
# 401 with WWW-Authenticate for none, wrong and garbage; 403 for scope,
# allowlist and a key disabled with the admin tool (on the very next
# request); the client address and the service only from a trusted proxy;
# /healthz and /metrics; slow and malformed HTTP clients that do not stall
# the others; a store that goes away (503, nginx 500) or a latchkeyd that
# does (nginx 500); no secret in any log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

NGINX=$(command -v nginx 2>/dev/null || ls /usr/sbin/nginx 2>/dev/null)
[ -n "$NGINX" ] && [ -x "$NGINX" ] || skip "nginx not installed (apt-get install nginx)"
"$NGINX" -V 2>&1 | grep -q -- --with-http_auth_request_module || skip "this nginx has no auth_request module"
command -v curl >/dev/null || skip "curl not installed (apt-get install curl)"
[ "${LK_HAVE_HTTP:-yes}" = yes ] || skip "latchkeyd was built without HTTP support (apt-get install libmicrohttpd-dev, then configure)"
need_cli

http_keys
new_user 200 --login bob

start_latchkeyd_http

# --- nginx: the README's block, ports changed; the API echoes headers
SHIPPED=$LK_SRCDIR/etc/nginx/latchkey.conf
[ -f "$SHIPPED" ] || die "$SHIPPED missing"
README_CONF=$(awk '/^```nginx$/ { on = 1; next } on && /^```$/ { exit } on' "$LK_SRCDIR/README.md")
[ -n "$README_CONF" ] || die "no \`\`\`nginx block in README.md"
check "the README's nginx block is etc/nginx/latchkey.conf (after its comments)" "" \
    "$(diff <(printf '%s\n' "$README_CONF") <(sed -n '/^upstream latchkeyd/,$p' "$SHIPPED"))"
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
nginx_conf() { # PORT API_PORT
    cat <<CONF
worker_processes 2;
error_log $TMP/nginx/logs/error.log info;
events { worker_connections 512; }
http {
    access_log $TMP/nginx/logs/access.log;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$2;
        location / {
            return 200 "uin=\$http_x_latchkey_uin key=\$http_x_latchkey_key_id\n";
        }
    }
$(sed -e "s|127.0.0.1:8087|127.0.0.1:$LKD_PORT|" -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$1|" \
      -e "s|127.0.0.1:9000|127.0.0.1:$2|" -e "s|location /api/ {|location ~ ^/(api\|web)/ {|" <<<"$README_CONF")
}
CONF
}
stop_nginx() { stop_pidfile "$TMP/nginx/nginx.pid" QUIT; }
CLEANUP_HOOKS+=(stop_nginx)
start_nginx() {
    local port api i
    for _ in $(seq 10); do
        free_port port
        free_port api
        nginx_conf "$port" "$api" >"$TMP/nginx/nginx.conf"
        "$NGINX" -t -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "pid $TMP/nginx/nginx.pid;" >"$TMP/nginx.t" 2>&1 ||
            { cat "$TMP/nginx.t" >&2; die "nginx -t refused the configuration"; }
        "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "daemon off; pid $TMP/nginx/nginx.pid;" \
            >"$TMP/nginx.out" 2>&1 &
        for i in $(seq 50); do
            if curl -s -o /dev/null "http://127.0.0.1:$api/"; then
                PORT=$port
                return 0
            fi
            grep -q "Address already in use" "$TMP/nginx.out" "$TMP/nginx/logs/error.log" 2>/dev/null && break
            sleep 0.1
        done
        stop_nginx
    done
    cat "$TMP/nginx.out" "$TMP/nginx/logs/error.log" >&2
    die "nginx did not start"
}
start_nginx
URL=http://127.0.0.1:$PORT

# req/headers URL [curl config lines...]: common.sh's http_req/http_headers
req() { http_req "$@"; }
headers() { http_headers "$@"; }
bearer() { req "$URL$1" "header = \"Authorization: Bearer $2\""; }
basic() { req "$URL$1" "user = \"$2:$3\""; }

# --- granted: the API sees the identity headers
check "bearer: valid key reaches the API with the uin" "200 uin=100 key=$AK_ID" "$(bearer /api/x "$AK")"
check "x-api-key: valid key" "200 uin=100 key=$AK_ID" "$(req "$URL/api/x" "header = \"X-Api-Key: $AK\"")"
check "basic: SecretId:SecretKey" "200 uin=100 key=$A_ID" "$(basic /api/x "$A_ID" "$A_SECRET")"
check "basic: login + API key" "200 uin=100 key=$AK_ID" "$(basic /api/x alice "$AK")"
check "basic: login + SecretId:SecretKey" "200 uin=100 key=$A_ID" "$(basic /api/x alice "$A_ID:$A_SECRET")"
check "a client's own X-Latchkey-Uin is replaced" "200 uin=100 key=$AK_ID" \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK\"" "header = \"X-Latchkey-Uin: 999\"")"

# --- 401: none, wrong, garbage (nginx passes latchkeyd's WWW-Authenticate)
check_match "no key: 401 + WWW-Authenticate: Bearer" '^HTTP/1.1 401.*WWW-Authenticate: Bearer realm="latchkey"' \
    "$(headers "$URL/api/x")"
check_match "wrong key: 401" '^HTTP/1.1 401.*WWW-Authenticate: Bearer' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $(wrong_last "$AK")\"")"
check_match "wrong SecretKey: 401" "^401 " "$(basic /api/x "$A_ID" "$(wrong_last "$A_SECRET")")"
check_match "garbage bearer: 401" "^401 " "$(bearer /api/x 'not-a-key')"
check_match "garbage basic: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Basic %%%notbase64"')"
check_match "another scheme: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Digest username=x"')"
check_match "another account's login: 401" "^401 " "$(basic /api/x bob "$AK")"

# --- 403: scope, allowlist; the client cannot pick the service
check_match "out of scope: 403" "^403 " "$(bearer /api/x "$AK_WEB")"
check "in scope elsewhere: 200" "200 uin=100 key=${AK_WEB:0:15}" "$(bearer /web/x "$AK_WEB")"
check_match "a client's X-Latchkey-Service is dropped by nginx" "^403 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Latchkey-Service: web\"")"
check_match "outside the allowlist: 403" "^403 " "$(bearer /api/x "$AK_FAR")"
check_match "a client's X-Forwarded-For is replaced by nginx" "^403 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"

# --- the endpoint itself: trusted and untrusted peers, codes, headers
check_match "direct, trusted peer: X-Forwarded-For honoured (right-most untrusted)" \
    "^HTTP/1.1 200.*X-Latchkey-Code: Success.*X-Latchkey-Uin: 100" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK_FAR\"" \
        "header = \"X-Forwarded-For: 203.0.113.9, 10.1.2.3, 127.0.0.1\"" "header = \"X-Latchkey-Service: api\"")"
check_match "untrusted peer (127.0.0.2): X-Forwarded-For ignored" \
    "^HTTP/1.1 403.*X-Latchkey-Code: AuthFailure.IpNotAllowed" \
    "$(headers "$LKD/verify" "interface = 127.0.0.2" "header = \"Authorization: Bearer $AK_FAR\"" \
        "header = \"X-Forwarded-For: 10.1.2.3\"" "header = \"X-Latchkey-Service: api\"")"
check_match "untrusted peer: no service from its headers" \
    "^HTTP/1.1 403.*X-Latchkey-Code: AuthFailure.UnauthorizedOperation" \
    "$(headers "$LKD/verify" "interface = 127.0.0.2" "header = \"Authorization: Bearer $AK_WEB\"" \
        "header = \"X-Latchkey-Service: web\"")"
check_match "service from X-Original-URI" "^HTTP/1.1 200" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Original-URI: /web/page\"")"
check_match "Envoy style: the original path under /verify/" "^HTTP/1.1 200" \
    "$(headers "$LKD/verify/web/page" "header = \"Authorization: Bearer $AK_WEB\"")"
check_match "HEAD works" "^HTTP/1.1 200.*X-Latchkey-Key-Id: $AK_ID" \
    "$(headers "$LKD/verify" "head" "header = \"Authorization: Bearer $AK\"" "header = \"X-Latchkey-Service: api\"")"
check_match "401 carries the code and no-store" "^HTTP/1.1 401.*Cache-Control: no-store.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$LKD/verify" "user = \"$A_ID:$(wrong_last "$A_SECRET")\"")"
check_match "other paths: 404" "^404 " "$(req "$LKD/elsewhere")"

# --- disabled with the admin tool: refused on the very next request
check "disable: works before" "200 uin=100 key=$AK_DIS_ID" "$(bearer /api/x "$AK_DIS")"
lk apikey disable "$AK_DIS_ID" >/dev/null || die "apikey disable"
check_match "disable: 403 on the very next request" "^403 " "$(bearer /api/x "$AK_DIS")"
check_match "disable: the code says why" "X-Latchkey-Code: AuthFailure.SecretIdDisabled" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK_DIS\"" "header = \"X-Latchkey-Service: api\"")"

# --- many clients at once, fresh keys (Argon2id: suspended, then resumed)
new_apikey 100 burst --scope api
AK_BURST=$APIKEY
new_key 200
B_ID=$KEY_ID
B_SECRET=$KEY_SECRET
par=$(for i in $(seq 40); do
    { if [ $((i % 4)) = 0 ]; then r=$(basic /api/x "$B_ID" "$(wrong_last "$B_SECRET")"); else r=$(bearer /api/x "$AK_BURST"); fi
      printf '%s\n' "${r%% *}"; } &
done; wait)
check "parallel: 30 granted, 10 wrong refused" "30 200|10 401|" \
    "$(printf '%s\n' "$par" | sort | uniq -c | sed 's/^ *//' | sort -k2 | tr '\n' '|')"

# --- /healthz, /metrics
check "healthz" "200 ok" "$(req "$LKD/healthz")"
metrics=$(curl -s "$LKD/metrics")
check_match "metrics: verifies by code" 'latchkey_http_verifies_total\{code="Success",status="200"\} [1-9]' "$metrics"
check_match "metrics: refusals by code" 'latchkey_http_verifies_total\{code="AuthFailure.SecretIdDisabled",status="403"\} [1-9]' "$metrics"
check_match "metrics: latency histogram" 'latchkey_http_verify_duration_seconds_bucket\{le="\+Inf"\} [1-9].*_count [1-9]' "$metrics"
check_match "metrics: cache hits, Argon2id, queue depth" \
    'latchkey_argon2_verifies_total [1-9].*latchkey_cache_hits_total [1-9].*latchkey_argon2_queue_depth 0' "$metrics"
check_match "metrics: Prometheus types" '# TYPE latchkey_http_verify_duration_seconds histogram' "$metrics"

# --- slow and malformed clients do not stall the others
slow_pids=()
for i in $(seq 6); do
    # half a request, then silence (slowloris), held open
    { exec 3<>"/dev/tcp/127.0.0.1/$LKD_PORT" && printf 'GET /verify HTTP/1.1\r\nHost: x\r\nAuthoriz' >&3 && sleep 30; } 2>/dev/null &
    slow_pids+=($!)
done
{ exec 3<>"/dev/tcp/127.0.0.1/$LKD_PORT" && head -c 3000 /dev/urandom >&3 && sleep 30; } 2>/dev/null &
slow_pids+=($!)
sleep 0.3
t0=$(date +%s%N)
ok=0
for i in $(seq 10); do
    r=$( { printf 'header = "Authorization: Bearer %s"\n' "$AK"; } |
        curl -s -K - --max-time 2 -w '%{http_code}' -o /dev/null "$URL/api/x")
    [ "$r" = 200 ] && ok=$((ok + 1))
done
check "10 requests answered while 7 slow/garbage connections are held" "10" "$ok"
echo "     (10 requests in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
malformed=$( (exec 3<>"/dev/tcp/127.0.0.1/$LKD_PORT"; printf 'BLAH\x01\x02 / HTTP/9\r\n\r\n' >&3; timeout 5 head -c 12 <&3) 2>/dev/null)
check_match "a malformed request gets a 4xx" "^HTTP/1.1 4" "$malformed"
# the connection timeout (timeout_s: 3) closes the held ones
sleep 3.5
closed=$( (exec 3<>"/dev/tcp/127.0.0.1/$LKD_PORT"; printf 'GET /healthz HTTP/1.1\r\nHo' >&3; timeout 8 cat <&3 >/dev/null; echo closed) 2>/dev/null)
check "a silent half request is closed by timeout_s" "closed" "$closed"
for p in "${slow_pids[@]}"; do kill "$p" 2>/dev/null; done
wait "${slow_pids[@]}" 2>/dev/null
check "still serving afterwards" "200 uin=100 key=$AK_ID" "$(bearer /api/x "$AK")"

# --- the store moved away under latchkeyd: 503 from it, 500 from nginx
mv "$TMP/store.mdb" "$TMP/store.away" || die "mv store"
check "store gone: healthz 503" "503 store unavailable" "$(req "$LKD/healthz")"
check_match "store gone: verify 503 with the code" "^HTTP/1.1 503.*X-Latchkey-Code: FailedOperation.Storage" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK\"" "header = \"X-Latchkey-Service: api\"")"
check_match "store gone: nginx fails closed (500)" "^500 " "$(bearer /api/x "$AK")"
mv "$TMP/store.away" "$TMP/store.mdb" || die "mv store back"
check "store back: granted again" "200 uin=100 key=$AK_ID" "$(bearer /api/x "$AK")"

# --- latchkeyd gone: nginx fails closed (500), never lets the request through
kill "$LKD_PID"
wait "$LKD_PID" 2>/dev/null
check "latchkeyd stopped cleanly" "0" "$?"
check_match "latchkeyd down: 500" "^500 " "$(bearer /api/x "$AK")"
stop_nginx

leaked=
for secret in "$A_SECRET" "$B_SECRET" "$AK" "$AK_WEB" "$AK_FAR" "$AK_DIS" "$AK_BURST"; do
    grep -qaF -- "${secret:15}" "$TMP/nginx/logs/error.log" "$TMP/nginx/logs/access.log" "$TMP/nginx.out" \
        "$TMP/latchkeyd.log" && leaked="$leaked ${secret:0:4}..."
done
check "no secret in nginx's or latchkeyd's logs" "" "$leaked"
check_match "latchkeyd logged the HTTP endpoint" "serving HTTP on 127.0.0.1:$LKD_PORT" "$(cat "$TMP/latchkeyd.log")"
finish
