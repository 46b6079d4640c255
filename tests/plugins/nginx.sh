#!/bin/bash
# nginx.sh — latchkeyd's HTTP verify endpoint behind the real nginx (Debian's
# binary, auth_request) on 127.0.0.1 and free ports, with a private prefix
# and configuration: nothing of the system's nginx is read or touched. The
# server block is doc/nginx.md's, which is etc/nginx/latchkey.conf as shipped,
# with only its ports changed; the "API" is a second server block that echoes the identity
# headers it got. Driven by curl: Bearer, X-Api-Key and Basic credentials;
# 401 with WWW-Authenticate for none, wrong and garbage, and (a wrong
# secret's answer: refused before the secret is checked) for scope,
# allowlist and a key disabled with the admin tool (on the very next
# request), whose reasons the access records keep; the client address and
# the service only from a trusted proxy, the service on the path nginx
# routed (dot-segment variants, /apifoo, a decoded CR/LF); Basic with an
# empty user (401);
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

# --- nginx: doc/nginx.md's block, ports changed; the API echoes headers
SHIPPED=$LK_SRCDIR/etc/nginx/latchkey.conf
[ -f "$SHIPPED" ] || die "$SHIPPED missing"
README_CONF=$(awk '/^```nginx$/ { on = 1; next } on && /^```$/ { exit } on' "$LK_SRCDIR/doc/nginx.md")
[ -n "$README_CONF" ] || die "no \`\`\`nginx block in doc/nginx.md"
check "doc/nginx.md's nginx block is etc/nginx/latchkey.conf (after its comments)" "" \
    "$(diff <(printf '%s\n' "$README_CONF") <(sed -n '/^upstream latchkeyd/,$p' "$SHIPPED"))"
nginx_conf() { # PORT API_PORT
    cat <<CONF
worker_processes 2;
error_log $TMP/nginx/logs/error.log info;
events { worker_connections 512; }
http {
$(nginx_private)
    server {
        listen 127.0.0.1:$2;
        location / {
            return 200 "uin=\$http_x_latchkey_uin key=\$http_x_latchkey_key_id\n";
        }
    }
$(sed -e "s|127.0.0.1:8087|127.0.0.1:$LKD_PORT|" -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$1|" \
      -e "s|127.0.0.1:9000|127.0.0.1:$2|" -e "s|location /api/ {|location ~ ^/(api\|web\|apifoo)/ {|" <<<"$README_CONF")
}
CONF
}
start_nginx nginx_conf
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
check_match "no key: nginx passes the code" '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.MissingCredential' \
    "$(headers "$URL/api/x")"
check_match "no key at the endpoint: its own code, 401" '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.MissingCredential' \
    "$(headers "$LKD/verify")"
check_match "wrong SecretKey: nginx passes the code" '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure' \
    "$(headers "$URL/api/x" "user = \"$A_ID:$(wrong_last "$A_SECRET")\"")"
check_match "latchkeyd logs the denial with the client's address, no secret" \
    "latchkeyd: denied AuthFailure.SignatureFailure: key $A_ID, address 127.0.0.1, service api" \
    "$(cat "$TMP/latchkeyd.log")"
check_match "latchkeyd logs a request with no credential, with the client's address" \
    "latchkeyd: denied AuthFailure.MissingCredential: key -, address 127.0.0.1, service -" "$(cat "$TMP/latchkeyd.log")"
check "latchkeyd's log holds no secret" "" "$(grep -F -e "${A_SECRET:8}" -e "${AK:8}" "$TMP/latchkeyd.log")"
check_match "garbage bearer: nginx passes the code" '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.InvalidSecretId' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer not-a-key\"")"
check_match "out of scope: an unproven credential, nginx passes the code with its 401" \
    '^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"")"
check_match "a path latchkeyd refuses whatever the key: nginx passes the code with its 403" \
    '^HTTP/1.1 403.*X-Latchkey-Code: AuthFailure.UnauthorizedOperation' \
    "$(headers "$URL/api/%25x" "header = \"Authorization: Bearer $AK\"")"
check_match "wrong key: 401" '^HTTP/1.1 401.*WWW-Authenticate: Bearer' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $(wrong_last "$AK")\"")"
check_match "wrong SecretKey: 401" "^401 " "$(basic /api/x "$A_ID" "$(wrong_last "$A_SECRET")")"
check_match "garbage bearer: 401" "^401 " "$(bearer /api/x 'not-a-key')"
check_match "garbage basic: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Basic %%%notbase64"')"
check_match "another scheme: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Digest username=x"')"
check_match "another account's login: 401" "^401 " "$(basic /api/x bob "$AK")"
# issue 19, finding 12: no user name is no way around the identity check
check_match "basic: empty user + API key: 401, as Apache" "^401 " "$(basic /api/x "" "$AK")"
check_match "basic: empty user + SecretId:SecretKey: 401" "^401 " "$(basic /api/x "" "$A_ID:$A_SECRET")"

# --- scope, allowlist; the client cannot pick the service. Refused before
# the secret is checked, so answered as a wrong secret would be (401): a
# caller that has not proven the key learns nothing of its rules (issue 19)
check_match "out of scope: 401" "^401 " "$(bearer /api/x "$AK_WEB")"
check "in scope elsewhere: 200" "200 uin=100 key=${AK_WEB:0:15}" "$(bearer /web/x "$AK_WEB")"
# --- the service is decided on the path nginx routes (issue 19, finding 1)
check_dot_segments "$URL"
check "web key, /web/../web/x: still its own service" "200 uin=100 key=${AK_WEB:0:15}" \
    "$(req "$URL/web/../web/x" path-as-is "header = \"Authorization: Bearer $AK_WEB\"")"
check_match "api key, /apifoo/x: \"/api\" covers whole segments only (401)" "^401 " "$(bearer /apifoo/x "$AK")"
check_match "/apifoo/x from the endpoint: the code tells nothing" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK\"" "header = \"X-Original-URI: /apifoo/x\"")"
check_match "a refused path from the endpoint: the code says why" "^HTTP/1.1 403.*X-Latchkey-Code: AuthFailure.UnauthorizedOperation" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK\"" "header = \"X-Original-URI: /api/%2e%2e%2fapi/x\"")"
check "api key, /web/..%2fapi/x: nginx routes it to /api/x, and so does the service" "200 uin=100 key=$AK_ID" \
    "$(req "$URL/web/..%2fapi/x" path-as-is "header = \"Authorization: Bearer $AK\"")"
check_match "a routed path unsafe in a header (%25): 403 for any key" "^403 " \
    "$(req "$URL/api/100%25" "header = \"Authorization: Bearer $AK\"")"
check_match "a decoded CR/LF injects no header (X-Latchkey-Service: web)" "^403 " \
    "$(req "$URL/api/x%0d%0aX-Latchkey-Service:%20web" "header = \"Authorization: Bearer $AK_WEB\"")"
check_match "a client's X-Latchkey-Service is dropped by nginx" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_WEB\"" "header = \"X-Latchkey-Service: web\"")"
check_match "outside the allowlist: 401" "^401 " "$(bearer /api/x "$AK_FAR")"
check_match "a client's X-Forwarded-For is replaced by nginx" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"

# --- the endpoint itself: trusted and untrusted peers, codes, headers
check_match "direct, trusted peer: X-Forwarded-For honoured (right-most untrusted)" \
    "^HTTP/1.1 200.*X-Latchkey-Code: Success.*X-Latchkey-Uin: 100" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK_FAR\"" \
        "header = \"X-Forwarded-For: 203.0.113.9, 10.1.2.3, 127.0.0.1\"" "header = \"X-Latchkey-Service: api\"")"
check_match "untrusted peer (127.0.0.2): X-Forwarded-For ignored" \
    "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$LKD/verify" "interface = 127.0.0.2" "header = \"Authorization: Bearer $AK_FAR\"" \
        "header = \"X-Forwarded-For: 10.1.2.3\"" "header = \"X-Latchkey-Service: api\"")"
check_match "untrusted peer: no service from its headers" \
    "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
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
check_match "disable: 401 on the very next request" "^401 " "$(bearer /api/x "$AK_DIS")"
check_match "disable: the code tells the caller nothing" "^HTTP/1.1 401.*X-Latchkey-Code: AuthFailure.SignatureFailure" \
    "$(headers "$LKD/verify" "header = \"Authorization: Bearer $AK_DIS\"" "header = \"X-Latchkey-Service: api\"")"
# the operator learns why from the key's access records (latchkeyd's
# flusher writes them off the request path: wait for them)
records_show() { # KEY_ID CODE: within 10 s
    for _i in $(seq 100); do
        lk records "$1" 2>/dev/null | grep -q "$2" && { echo yes; return; }
        sleep 0.1
    done
    echo no
}
check "the records say why: disabled" yes "$(records_show "$AK_DIS_ID" 'AuthFailure\.SecretIdDisabled')"
check "the records say why: scope" yes "$(records_show "${AK_WEB:0:15}" 'AuthFailure\.UnauthorizedOperation')"
check "the records say why: allowlist" yes "$(records_show "${AK_FAR:0:15}" 'AuthFailure\.IpNotAllowed')"

# --- many clients at once, fresh keys (Argon2id: suspended, then resumed)
check_parallel_burst

# --- /healthz, /metrics
check "healthz" "200 ok" "$(req "$LKD/healthz")"
metrics=$(curl -s "$LKD/metrics")
check_match "metrics: verifies by code" 'latchkey_http_verifies_total\{code="Success",status="200"\} [1-9]' "$metrics"
check_match "metrics: refusals by code" 'latchkey_http_verifies_total\{code="AuthFailure.SignatureFailure",status="401"\} [1-9]' "$metrics"
# (UnauthorizedOperation stays: the answer to a path refused whatever the key)
check "metrics: no answer told a key's state or rules" "" \
    "$(printf '%s\n' "$metrics" | grep -E 'code="AuthFailure\.(SecretIdDisabled|IpNotAllowed)"')"
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
