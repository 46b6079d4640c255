#!/bin/bash
# nginx_module.sh — ngx_http_auth_latchkey_module (plugins/nginx) in the real
# nginx (Debian's binary, load_module of the built .so) on 127.0.0.1 and
# free ports, with a private prefix and configuration, asking a real
# latchkeyd over its UNIX socket. The server block is
# etc/nginx/latchkey-module.conf as shipped (doc/nginx.md's module block),
# with only its ports and socket changed; more locations test the other
# directives. The "API" is a second server block that echoes what it got.
# Driven by curl: grants (Bearer, X-Api-Key, Basic); 401 with
# WWW-Authenticate for none, wrong, unknown, garbage and expired, and for a
# key disabled with the admin tool (the very next request), scope through
# the map, an allowlist (with and without real_ip): refused before its
# secret is checked, a request is answered as an unproven credential (issue
# 19, finding 18; the real reason is in the key's records); the variables; the
# credential stripped before proxying unless auth_latchkey_pass_credentials
# on; a latchkeyd that never answers holds only its own requests (the
# event loop does not block: one worker process), and the verifies waiting
# at once share one connection to it; latchkeyd killed: 503
# for every request, none allowed; restarted: served; no secret in a log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

NGINX=$(command -v nginx 2>/dev/null || ls /usr/sbin/nginx 2>/dev/null)
[ -n "$NGINX" ] && [ -x "$NGINX" ] || skip "nginx not installed (apt-get install nginx)"
MODULE=$LK_BUILDDIR/plugins/nginx/build/objs/ngx_http_auth_latchkey_module.so
[ "${LK_HAVE_NGINX:-yes}" = yes ] && [ -f "$MODULE" ] || skip "the nginx module was not built (apt-get install nginx-dev, then configure)"
command -v curl >/dev/null || skip "curl not installed (apt-get install curl)"
need_cli

http_keys
new_user 200 --login bob

nginx_worker_user
start_latchkeyd "$LKD_ALLOW"

# --- the shipped example is doc/nginx.md's block
SHIPPED=$LK_SRCDIR/etc/nginx/latchkey-module.conf
[ -f "$SHIPPED" ] || die "$SHIPPED missing"
README_CONF=$(awk '/^```nginx$/ { on = 1; buf = ""; next } on && /^```$/ { if (buf ~ /auth_latchkey on/) { printf "%s", buf; exit } on = 0; next } on { buf = buf $0 "\n" }' "$LK_SRCDIR/doc/nginx.md")
[ -n "$README_CONF" ] || die "no \`\`\`nginx block with auth_latchkey in doc/nginx.md"
check "doc/nginx.md's module block is etc/nginx/latchkey-module.conf (after its comments)" "" \
    "$(diff <(printf '%s\n' "$README_CONF") <(sed -n '/^map \$uri/,$p' "$SHIPPED"))"

# Stand-ins for latchkeyd (tests/plugins/fake_latchkeyd.pl), one socket
# each: "silent" listens and never answers (the module gives up after
# auth_latchkey_timeout without holding anyone else; its status file
# "CONNECTIONS VERIFIES OPEN" shows that the verifies waiting at once share
# one connection, issue 22); the others misbehave in the multiplexed
# exchange (answers out of order, an unknown request id, another op, a
# truncated frame).
start_fake() { # MODE: its socket in $FAKE_SOCK, its status file in $FAKE_STATUS
    FAKE_SOCK=$TMP/lkd/$1.sock FAKE_STATUS=$TMP/$1.status
    perl "$LK_SRCDIR/tests/plugins/fake_latchkeyd.pl" "$1" "$FAKE_SOCK" "$FAKE_STATUS" &
    CLEANUP_HOOKS+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
    for _ in $(seq 100); do [ -S "$FAKE_SOCK" ] && [ -f "$FAKE_STATUS" ] && return 0; sleep 0.05; done
    die "fake_latchkeyd.pl $1 did not start"
}
start_fake silent
SILENT=$FAKE_SOCK SILENT_STATUS=$FAKE_STATUS
for mode in swap unknown op trunc; do
    start_fake "$mode"
    printf -v "FAKE_${mode}_SOCK" %s "$FAKE_SOCK"
done

nginx_conf() { # PORT API_PORT
    cat <<CONF
load_module $MODULE;
$NGINX_USER_LINE
worker_processes 1;
error_log $TMP/nginx/logs/error.log info;
events { worker_connections 512; }
http {
$(nginx_private)
    server {
        listen 127.0.0.1:$2;
        location = /recipe-verify { # answers as latchkeyd's HTTP endpoint would
            add_header X-Latchkey-Uin 4242;
            add_header X-Latchkey-Key-Id recipe-key;
            return 200 "";
        }
        location / {
            return 200 "uin=\$http_x_latchkey_uin key=\$http_x_latchkey_key_id auth=\$http_authorization apikey=\$http_x_api_key\n";
        }
    }
$(sed -n '/^map \$uri/,$p' "$SHIPPED" | sed -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$1|" \
      -e "s|/run/latchkey/latchkeyd.sock|$LKD_SOCK|" -e "s|127.0.0.1:9000|127.0.0.1:$2|" \
      -e "s|location /api/ {|location ~ ^/(api\|web\|apifoo)/ {|")
    server {
        listen 127.0.0.1:$3;
        auth_latchkey_socket $LKD_SOCK;
        auth_latchkey_header X-Api-Key;
        location /vars/ {
            auth_latchkey on;
            auth_latchkey_service api;
            auth_latchkey_realm "test realm";
            add_header X-Uin \$latchkey_uin always;
            add_header X-Key-Id \$latchkey_key_id always;
            add_header X-Code \$latchkey_code always;
            proxy_pass http://127.0.0.1:$2;
        }
        location /pass/ {
            auth_latchkey on;
            auth_latchkey_service api;
            auth_latchkey_pass_credentials on;
            proxy_pass http://127.0.0.1:$2;
        }
        location /realip/ {
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Forwarded-For;
            auth_latchkey on;
            auth_latchkey_service api;
            proxy_set_header X-Latchkey-Uin \$latchkey_uin;
            proxy_set_header X-Latchkey-Key-Id \$latchkey_key_id;
            proxy_pass http://127.0.0.1:$2;
        }
        location /silent/ {
            auth_latchkey on;
            auth_latchkey_socket $SILENT;
            auth_latchkey_timeout 3s;
            proxy_pass http://127.0.0.1:$2;
        }
        location /open/ {
            proxy_pass http://127.0.0.1:$2;
        }
        # the hostile stand-ins: the service comes from the query (gN: granted, uin N)
        location /swap/ {
            auth_latchkey on;
            auth_latchkey_socket $FAKE_swap_SOCK;
            auth_latchkey_service \$arg_svc;
            add_header X-Uin \$latchkey_uin always;
            add_header X-Key-Id \$latchkey_key_id always;
            proxy_pass http://127.0.0.1:$2;
        }
$(for mode in unknown op trunc; do
    sock=FAKE_${mode}_SOCK
    printf '        location /%s/ {\n            auth_latchkey on;\n            auth_latchkey_socket %s;\n' "$mode" "${!sock}"
    printf '            auth_latchkey_timeout 5s;\n            proxy_pass http://127.0.0.1:%s;\n        }\n' "$2"
done)
        # The auth_request recipe (etc/nginx/latchkey.conf) in the same
        # nginx: its variables share the module's names.
        location /recipe/ {
            auth_request /_recipe;
            auth_request_set \$latchkey_uin \$upstream_http_x_latchkey_uin;
            auth_request_set \$latchkey_key_id \$upstream_http_x_latchkey_key_id;
            proxy_set_header X-Latchkey-Uin \$latchkey_uin;
            proxy_set_header X-Latchkey-Key-Id \$latchkey_key_id;
            proxy_pass http://127.0.0.1:$2;
        }
        location = /_recipe {
            internal;
            proxy_pass http://127.0.0.1:$2/recipe-verify;
        }
    }
}
CONF
}
start_nginx nginx_conf
MORE=$MORE_PORT
URL=http://127.0.0.1:$PORT
URL2=http://127.0.0.1:$MORE

req() { http_req "$@"; }
headers() { http_headers "$@"; }
bearer() { req "$URL$1" "header = \"Authorization: Bearer $2\""; }
basic() { req "$URL$1" "user = \"$2:$3\""; }

# --- granted: the API sees the identity, never the credential
check "bearer: granted, identity passed, Authorization stripped" "200 uin=100 key=$AK_ID auth= apikey=" \
    "$(bearer /api/x "$AK")"
check "x-api-key: granted, X-Api-Key stripped" "200 uin=100 key=$AK_ID auth= apikey=" \
    "$(req "$URL/api/x" "header = \"X-Api-Key: $AK\"")"
check "basic: SecretId:SecretKey" "200 uin=100 key=$A_ID auth= apikey=" "$(basic /api/x "$A_ID" "$A_SECRET")"
check "basic: login + API key" "200 uin=100 key=$AK_ID auth= apikey=" "$(basic /api/x alice "$AK")"
check "a client's own X-Latchkey-Uin is replaced" "200 uin=100 key=$AK_ID auth= apikey=" \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK\"" "header = \"X-Latchkey-Uin: 999\"")"
check "other headers still reach the API after the strip" "200 uin=100 key=$AK_ID auth= apikey=" \
    "$(req "$URL/api/x" "header = \"X-A: 1\"" "header = \"Authorization: Bearer $AK\"" "header = \"X-B: 2\"")"
# wrk (and other clients) may send Authorization before Host: the first
# header of the request is then the one removed.
raw_first() { # PATH: the status line's code, Authorization sent as the first header
    local out
    out=$( { exec 3<>"/dev/tcp/127.0.0.1/$PORT" &&
        printf 'GET %s HTTP/1.1\r\nAuthorization: Bearer %s\r\nHost: x\r\nConnection: close\r\n\r\n' "$1" "$AK" >&3 &&
        timeout 10 cat <&3; } 2>/dev/null)
    printf '%s' "$out" | tr -d '\r' | sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p; /^uin=/p' | tr '\n' ' '
}
check "Authorization as the first header: stripped, the rest proxied intact" "200 uin=100 key=$AK_ID auth= apikey=" \
    "$(raw_first /api/x | sed 's/ *$//')"
check "pass_credentials on: the API gets the credential" "200 uin= key= auth=Bearer $AK apikey=" \
    "$(req "$URL2/pass/x" "header = \"Authorization: Bearer $AK\"")"

# --- variables, in response headers
h=$(headers "$URL2/vars/x" "header = \"Authorization: Bearer $AK\"")
check_match "vars: \$latchkey_uin, \$latchkey_key_id, \$latchkey_code on a grant" \
    "^HTTP/1.1 200.*X-Uin: 100\|X-Key-Id: $AK_ID\|X-Code: Success" "$h"
h=$(headers "$URL2/vars/x" "user = \"$A_ID:$(wrong_last "$A_SECRET")\"")
check_match "vars: a refusal has its code, no uin" "^HTTP/1.1 401.*X-Code: AuthFailure.SignatureFailure" "$h"
check "vars: no X-Uin on a refusal" "" "$(printf '%s\n' "$h" | grep -i '^X-Uin:')"

# --- 401: none, wrong, unknown, garbage, expired
h=$(headers "$URL/api/x")
check_match "no key: 401 + WWW-Authenticate: Bearer" '^HTTP/1.1 401.*WWW-Authenticate: Bearer realm="latchkey"' "$h"
check_match "no key: WWW-Authenticate: Basic too" 'WWW-Authenticate: Basic realm="latchkey", charset="UTF-8"' "$h"
check_match "auth_latchkey_realm" 'WWW-Authenticate: Bearer realm="test realm"' "$(headers "$URL2/vars/x")"
check_match "wrong key: 401" '^HTTP/1.1 401.*WWW-Authenticate: Bearer' \
    "$(headers "$URL/api/x" "header = \"Authorization: Bearer $(wrong_last "$AK")\"")"
check_match "wrong SecretKey: 401" "^401 " "$(basic /api/x "$A_ID" "$(wrong_last "$A_SECRET")")"
new_apikey 100 deleted --scope api
AK_GONE=$APIKEY
{ lk apikey disable "$APIKEY_ID" && lk apikey delete "$APIKEY_ID"; } >/dev/null || die "apikey delete"
check_match "unknown (deleted) key: 401" "^HTTP/1.1 401.*X-Code: AuthFailure.SecretIdNotFound" \
    "$(headers "$URL2/vars/x" "header = \"Authorization: Bearer $AK_GONE\"")"
check_match "garbage bearer: 401" "^401 " "$(bearer /api/x 'not-a-key')"
check_match "garbage basic: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Basic %%%notbase64"')"
check_match "another scheme: 401" "^401 " "$(req "$URL/api/x" 'header = "Authorization: Digest username=x"')"
check_match "another account's login: 401" "^401 " "$(basic /api/x bob "$AK")"
check_match "basic: empty user + API key: 401" "^401 " "$(basic /api/x "" "$AK")"
new_apikey 100 short-lived --scope api --expires 1s
AK_EXP=$APIKEY
# Poll until the expiry has passed (no timed verdict: a generous deadline).
for _ in $(seq 200); do
    r=$(headers "$URL2/vars/x" "header = \"Authorization: Bearer $AK_EXP\"")
    case $r in *"HTTP/1.1 200"*) sleep 0.1 ;; *) break ;; esac
done
check_match "expired key: 401 SecretIdExpired" "^HTTP/1.1 401.*WWW-Authenticate: Bearer.*X-Code: AuthFailure.SecretIdExpired" "$r"

# --- refused before the secret (401, as a wrong secret): scope through the map, allowlist, real_ip
check_match "out of scope (web key on /api/): 401" "^401 " "$(bearer /api/x "$AK_WEB")"
check "in scope elsewhere: 200" "200 uin=100 key=${AK_WEB:0:15} auth= apikey=" "$(bearer /web/x "$AK_WEB")"
check_match "api key on /web/: 401" "^401 " "$(bearer /web/x "$AK")"
check_match "/apifoo/x: no service, a scoped key is refused (401)" "^401 " "$(bearer /apifoo/x "$AK")"
for p in /web/../api/x /web/%2e%2e/api/x /web//../api/x; do
    check_match "web key, $p: routed to /api, 401" "^401 " \
        "$(req "$URL$p" path-as-is "header = \"Authorization: Bearer $AK_WEB\"")"
done
check_match "outside the allowlist: 401" "^401 " "$(bearer /api/x "$AK_FAR")"
check_match "a client's X-Forwarded-For is no address without real_ip" "^401 " \
    "$(req "$URL/api/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"
check "real_ip from a trusted proxy: the allowlist sees 10.1.2.3" "200 uin=100 key=${AK_FAR:0:15} auth= apikey=" \
    "$(req "$URL2/realip/x" "header = \"Authorization: Bearer $AK_FAR\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"
check_match "real_ip: an address outside the allowlist: 401" "^401 " \
    "$(req "$URL2/realip/x" "header = \"Authorization: Bearer $AK\"" "header = \"X-Forwarded-For: 10.1.2.3\"")"

# --- disabled with the admin tool: refused on the very next request
check "disable: works before" "200 uin=100 key=$AK_DIS_ID auth= apikey=" "$(bearer /api/x "$AK_DIS")"
lk apikey disable "$AK_DIS_ID" >/dev/null || die "apikey disable"
check_match "disable: 401 on the very next request" "^HTTP/1.1 401.*X-Code: AuthFailure.SignatureFailure" \
    "$(headers "$URL2/vars/x" "header = \"Authorization: Bearer $AK_DIS\"")"

# --- many clients at once, fresh keys (Argon2id in latchkeyd)
check_parallel_burst

# --- a latchkeyd that never answers: 503 after the timeout, and the one
# worker keeps serving everyone else meanwhile (the event loop never blocks)
silent_out=$TMP/silent.out
SILENT_REQS=()
for i in 1 2 3; do
    ( req "$URL2/silent/x" "header = \"Authorization: Bearer $AK\"" >"$silent_out.$i" ) &
    SILENT_REQS+=($!)
done
for _ in $(seq 200); do # wait until the module has sent the three verifies
    [ "$(cut -d' ' -f2 "$SILENT_STATUS")" -ge 3 ] && break
    sleep 0.05
done
check "three verifies waiting at once share one connection to latchkeyd (one worker)" "1 3 1" "$(cat "$SILENT_STATUS")"
served=$(for i in $(seq 5); do r=$(bearer /api/x "$AK"); printf '%s\n' "${r%% *}"; done | sort | uniq -c | sed 's/^ *//')
check "while requests wait on a silent latchkeyd, the others are served" "5 200" "$served"
check "the waiting requests were not answered meanwhile" "" "$(cat "$silent_out".*)"
wait "${SILENT_REQS[@]}"
check "the silent latchkeyd's requests: 503 after auth_latchkey_timeout" "503 503 503" \
    "$(for i in 1 2 3; do r=$(cat "$silent_out.$i"); printf '%s ' "${r%% *}"; done | sed 's/ $//')"
# Their ids stay taken on that connection (a late answer is dropped, never
# given to another request), so no new verify goes there, and it is closed
# once none waits on it: a latchkeyd that stops answering does not leave the
# worker a connection per LK_NGX_SLOTS timeouts.
for _ in $(seq 200); do [ "$(cut -d' ' -f3 "$SILENT_STATUS")" = 0 ] && break; sleep 0.05; done
check "the silent latchkeyd's connection is closed once its requests timed out" 0 "$(cut -d' ' -f3 "$SILENT_STATUS")"

# --- the multiplexed exchange, against hostile answers (fake_latchkeyd.pl)
concurrent() { # NAME URL...: each URL at once with the good key; the headers in $TMP/NAME.N
    local name=$1 i=0 pids=()
    shift
    for u in "$@"; do
        i=$((i + 1))
        ( headers "$u" "header = \"Authorization: Bearer $AK\"" >"$TMP/$name.$i" ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}
status_of() { sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$1"; }
concurrent swap "$URL2/swap/x?svc=g7" "$URL2/swap/x?svc=d1" "$URL2/swap/x?svc=g8" "$URL2/swap/x?svc=d2"
got=$(for i in 1 2 3 4; do
    printf '%s:%s:%s ' "$(status_of "$TMP/swap.$i")" "$(sed -n 's/^X-Uin: //p' "$TMP/swap.$i")" \
        "$(sed -n 's/^X-Key-Id: //p' "$TMP/swap.$i")"
done | sed 's/ $//')
check "answers in the reverse order, in one write: each request gets its own verdict and identity" \
    "200:7:k-g7 401:: 200:8:k-g8 401::" "$got"
check "the four verifies went on one connection" "1 4 1" "$(cat "$TMP/swap.status")"
for mode in unknown op trunc; do
    concurrent "$mode" "$URL2/$mode/x" "$URL2/$mode/x" "$URL2/$mode/x"
done
hostile() { for i in 1 2 3; do printf '%s ' "$(status_of "$TMP/$1.$i")"; done | sed 's/ $//'; }
check "a \"Success\" under a request id never asked: 503 for every request, none granted" "503 503 503" \
    "$(hostile unknown)"
check "a \"Success\" for another op than the verify: 503 for every request, none granted" "503 503 503" \
    "$(hostile op)"
check "half an answer, then the connection closed (retried once): 503 for every request" "503 503 503" \
    "$(hostile trunc)"

# --- under load (a key this path refuses, and a good one, each in a loop):
# latchkeyd killed: 503, none allowed; restarted: served; nginx reloaded
load_start() {
    LOAD_OUT=$TMP/load.$1
    rm -f "$TMP/load.stop"
    : >"$LOAD_OUT"
    (
        while [ ! -e "$TMP/load.stop" ]; do
            r=$(bearer /api/x "$AK_WEB") # any 200 would be a wrongful grant
            printf '%s\n' "${r%% *}" >>"$LOAD_OUT"
        done
    ) &
    LOAD=$!
    (
        while [ ! -e "$TMP/load.stop" ]; do
            r=$(bearer /api/x "$AK")
            printf 'ok:%s\n' "${r%% *}" >>"$LOAD_OUT"
        done
    ) &
    LOAD2=$!
    for _ in $(seq 200); do [ "$(wc -l <"$LOAD_OUT")" -ge 10 ] && break; sleep 0.05; done
}
load_stop() {
    touch "$TMP/load.stop"
    wait "$LOAD" "$LOAD2"
}
served() { wc -l <"$TMP/nginx/logs/access.log"; }
wait_served() { # N: until nginx has answered N more requests (a generous deadline)
    local before
    before=$(served)
    for _ in $(seq 400); do [ "$(served)" -ge $((before + $1)) ] && break; sleep 0.05; done
}
load_start kill
# and wrk, so that many verifies wait on the multiplexed connection when
# latchkeyd dies: the refused key must get no 2xx, and no request may hang
# (wrk stops on SIGINT and reports; its timeouts would show as errors)
if command -v wrk >/dev/null; then
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$AK_WEB" >"$TMP/refused.lua"
    chmod 600 "$TMP/refused.lua"
    wrk -t1 -c8 -d600s --timeout 30s -s "$TMP/refused.lua" "$URL/api/x" >"$TMP/wrk.out" 2>&1 &
    WRK=$!
    wait_served 200
fi
kill "$LKD_PID"
wait "$LKD_PID" 2>/dev/null
down=$(for i in $(seq 10); do r=$(bearer /api/x "$AK"); printf '%s\n' "${r%% *}"; done | sort | uniq -c | sed 's/^ *//')
check "latchkeyd down: every request 503" "10 503" "$down"
h=$(headers "$URL2/vars/x" "header = \"Authorization: Bearer $AK\"")
check_match "latchkeyd down: 503, code FailedOperation.Storage" "^HTTP/1.1 503.*X-Code: FailedOperation.Storage" "$h"
start_latchkeyd "$LKD_ALLOW"
if [ -n "${WRK:-}" ]; then
    wait_served 200 # by the restarted latchkeyd too
    kill -INT "$WRK"
    wait "$WRK"
    total=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$TMP/wrk.out")
    refused=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$TMP/wrk.out")
    check "wrk through the kill: every answer to the refused key is a refusal (of ${total:-?})" "${total:-none}" \
        "${refused:-0}"
    check "wrk through the kill: no request hung or failed" "" "$(grep 'Socket errors' "$TMP/wrk.out")"
fi
load_stop
# (401 as an unproven credential, then 403 once its refusals throttle the key)
check "under load, through the kill: the refused key never granted" "" "$(grep -E '^[0-9]' "$LOAD_OUT" | grep -vE '^(401|403|503)$')"
check "under load, through the kill: the good key 200 or 503, nothing else" "" \
    "$(grep '^ok:' "$LOAD_OUT" | grep -v '^ok:200$' | grep -v '^ok:503$')"
check "restarted: served again" "200 uin=100 key=$AK_ID auth= apikey=" "$(bearer /api/x "$AK")"

# nginx -s reload three times under load: new workers, the old ones drop
# their idle connections to latchkeyd and exit; every answer is the right
# one and none hangs (curl's 20 s limit would show as 000).
MASTER=$(cat "$TMP/nginx/nginx.pid")
workers() { pgrep -P "$MASTER" | sort | tr '\n' ' '; }
load_start reload
for _ in 1 2 3; do
    before=$(workers)
    kill -HUP "$MASTER"
    for _ in $(seq 400); do # until a worker that was not there before runs
        now=$(workers)
        new=$(comm -13 <(tr ' ' '\n' <<<"$before" | sort) <(tr ' ' '\n' <<<"$now" | sort) | grep -c .)
        [ "$new" -ge 1 ] && break
        sleep 0.05
    done
    for _ in $(seq 40); do [ "$(wc -l <"$LOAD_OUT")" -ge 5 ] && break; sleep 0.05; done
done
load_stop
check "reloads under load: the refused key always refused (401, or 403 throttled)" "" "$(grep -E '^[0-9]' "$LOAD_OUT" | grep -vE '^(401|403)$')"
check "reloads under load: the good key always 200" "" "$(grep '^ok:' "$LOAD_OUT" | grep -v '^ok:200$')"
for _ in $(seq 600); do [ "$(workers | wc -w)" = 1 ] && break; sleep 0.05; done
check "reloads: the old workers exited (one worker left)" 1 "$(workers | wc -w)"
check "reloads: the old workers left no connection open" "" "$(grep 'open socket' "$TMP/nginx/logs/error.log")"
check "the auth_request recipe's variables of the same names still work beside the module" \
    "200 uin=4242 key=recipe-key auth= apikey=" "$(req "$URL2/recipe/x")"
check "an unprotected location is not checked" "200 uin= key= auth= apikey=" "$(req "$URL2/open/x")"

stop_nginx
leaked=
for secret in "$A_SECRET" "$B_SECRET" "$AK" "$AK_WEB" "$AK_FAR" "$AK_DIS" "$AK_BURST" "$AK_EXP" "$AK_GONE"; do
    grep -qaF -- "${secret:15}" "$TMP/nginx/logs/error.log" "$TMP/nginx/logs/access.log" "$TMP/nginx.out" \
        "$TMP/latchkeyd.log" && leaked="$leaked ${secret:0:4}..."
done
check "no secret in nginx's or latchkeyd's logs" "" "$leaked"
check_match "nginx logged why it answered 503" "auth_latchkey: .*(cannot connect|timed out)" \
    "$(cat "$TMP/nginx/logs/error.log")"
finish
